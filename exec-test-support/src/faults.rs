//! Daemons that misbehave on cue, for the fault tests: a proxy in front of
//! a real daemon that cuts the connections it is told to, and a fake daemon
//! whose every answer the test writes.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;

/// A request as a fake daemon reads it.
#[derive(Debug, Clone)]
pub struct Request {
    /// The request line and headers.
    pub head: String,
    /// The body (by `Content-Length`).
    pub body: Vec<u8>,
}

impl Request {
    /// The request line: `POST /path HTTP/1.1`.
    pub fn line(&self) -> &str {
        self.head.lines().next().unwrap_or("")
    }

    /// The value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

/// Reads one request (head and body) from `stream`; `None` at its end.
pub async fn read_request(stream: &mut UnixStream) -> Option<Request> {
    let mut bytes = Vec::new();
    let mut byte = [0u8; 1];
    while !bytes.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte).await {
            Ok(1) => bytes.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8_lossy(&bytes).into_owned();
    let mut request = Request {
        head,
        body: Vec::new(),
    };
    let length: usize = request
        .header("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    request.body.resize(length, 0);
    stream.read_exact(&mut request.body).await.ok()?;
    Some(request)
}

/// An HTTP/1.1 answer of `status` with a JSON `body`.
pub fn json_answer(status: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The `101` answer to a websocket upgrade `request`, as a server makes it.
pub fn websocket_accept(request: &Request) -> Vec<u8> {
    let key = request.header("sec-websocket-key").unwrap_or("");
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    )
    .into_bytes()
}

/// A fake daemon on a unix socket: each connection is handed to the test's
/// handler, which reads requests and writes whatever it likes. Stopped
/// (its socket removed) when dropped.
#[derive(Debug)]
pub struct FakeDaemon {
    /// Its socket.
    pub socket: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl FakeDaemon {
    /// Listens on `dir/fake.sock`, running `handler` for each connection.
    pub fn start<F, Fut>(dir: &Path, handler: F) -> Self
    where
        F: Fn(UnixStream) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let socket = dir.join("fake.sock");
        let _ = std::fs::remove_file(&socket);
        let listener = UnixListener::bind(&socket).expect("bind the fake daemon's socket");
        let handler = Arc::new(handler);
        let task = tokio::spawn(async move {
            while let Ok((connection, _)) = listener.accept().await {
                tokio::spawn(handler(connection));
            }
        });
        Self { socket, task }
    }

    /// `unix:///path/to/fake.sock`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }
}

impl Drop for FakeDaemon {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.socket);
    }
}

/// A proxy on a unix socket (or loopback TCP) in front of a daemon's unix
/// socket. Connections whose request head `cuttable` picks are cut on
/// [`cut`](Proxy::cut); [`stop`](Proxy::stop) cuts them all and stops
/// listening, as a daemon that goes away. Made by
/// [`delaying_incus_control`](Proxy::delaying_incus_control), it holds back
/// the upgrade of every Incus exec's control websocket instead.
#[derive(Debug)]
pub struct Proxy {
    /// Where it listens: `unix:///…` or `tcp://127.0.0.1:PORT`.
    pub host: String,
    cut: watch::Sender<u64>,
    heads: Arc<Mutex<Vec<String>>>,
    upgrades: Arc<Mutex<Vec<&'static str>>>,
    task: tokio::task::JoinHandle<()>,
    socket: Option<PathBuf>,
}

impl Proxy {
    /// A proxy to the daemon at `upstream` (a unix socket) listening on a
    /// socket in `dir` (or on loopback TCP when `dir` is `None`).
    pub async fn start(upstream: &Path, dir: Option<&Path>, cuttable: fn(&str) -> bool) -> Self {
        Self::spawn(upstream, dir, cuttable, None, Arc::default()).await
    }

    /// A proxy to an Incus daemon at `upstream` that holds every exec's
    /// control websocket upgrade back for `delay` before passing it on, as
    /// a slow network or a loaded client would. It learns which secret is
    /// control's from the exec answers it carries; the order in which it
    /// passed the upgrades on is [`upgrades`](Proxy::upgrades).
    pub async fn delaying_incus_control(
        upstream: &Path,
        dir: Option<&Path>,
        delay: Duration,
    ) -> Self {
        let upgrades = Arc::default();
        let control = DelayedControl {
            delay,
            secrets: Arc::default(),
            upgrades: Arc::clone(&upgrades),
        };
        Self::spawn(upstream, dir, |_| false, Some(control), upgrades).await
    }

    /// The websocket upgrades a
    /// [`delaying_incus_control`](Proxy::delaying_incus_control) proxy
    /// passed on to the daemon, in order: `"control"` or `"data"`.
    pub fn upgrades(&self) -> Vec<&'static str> {
        self.upgrades.lock().map(|u| u.clone()).unwrap_or_default()
    }

    async fn spawn(
        upstream: &Path,
        dir: Option<&Path>,
        cuttable: fn(&str) -> bool,
        control: Option<DelayedControl>,
        upgrades: Arc<Mutex<Vec<&'static str>>>,
    ) -> Self {
        let (cut, _) = watch::channel(0u64);
        let heads = Arc::new(Mutex::new(Vec::new()));
        let upstream = upstream.to_owned();
        let (host, socket, accept): (String, Option<PathBuf>, Accept) = match dir {
            Some(dir) => {
                let socket = dir.join("proxy.sock");
                let _ = std::fs::remove_file(&socket);
                let listener = UnixListener::bind(&socket).expect("bind the proxy");
                (
                    format!("unix://{}", socket.display()),
                    Some(socket),
                    Accept::Unix(listener),
                )
            }
            None => {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind the proxy");
                let address = listener.local_addr().expect("its address");
                (format!("tcp://{address}"), None, Accept::Tcp(listener))
            }
        };
        let (cut_signal, recorded) = (cut.clone(), heads.clone());
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let client: Box<dyn Duplex> = match &accept {
                    Accept::Unix(l) => match l.accept().await {
                        Ok((s, _)) => Box::new(s),
                        Err(_) => break,
                    },
                    Accept::Tcp(l) => match l.accept().await {
                        Ok((s, _)) => Box::new(s),
                        Err(_) => break,
                    },
                };
                let upstream = upstream.clone();
                let mut cut = cut_signal.subscribe();
                let recorded = recorded.clone();
                let control = control.clone();
                connections.spawn(async move {
                    let mut client = client;
                    let Ok(mut daemon) = UnixStream::connect(&upstream).await else {
                        return;
                    };
                    // The first bytes say what the connection is for.
                    let mut first = vec![0u8; 8192];
                    let Ok(n) = client.read(&mut first).await else {
                        return;
                    };
                    first.truncate(n);
                    let head = String::from_utf8_lossy(&first).into_owned();
                    let pick = cuttable(&head);
                    if let Ok(mut heads) = recorded.lock() {
                        heads.push(head.lines().next().unwrap_or("").to_owned());
                    }
                    if let Some(control) = &control {
                        control.hold_back(&head).await;
                    }
                    if daemon.write_all(&first).await.is_err() {
                        return;
                    }
                    if let Some(control) = &control {
                        control.relay(client, daemon).await;
                        return;
                    }
                    let copy = tokio::io::copy_bidirectional(&mut client, &mut daemon);
                    if pick {
                        tokio::select! {
                            _ = copy => {}
                            _ = cut.changed() => {}
                        }
                    } else {
                        let _ = copy.await;
                    }
                });
            }
            // Stopped: every connection goes with the listener.
            connections.abort_all();
        });
        Self {
            host,
            cut,
            heads,
            upgrades,
            task,
            socket,
        }
    }

    /// Cuts every connection `cuttable` picked, now.
    pub fn cut(&self) {
        self.cut.send_modify(|n| *n += 1);
    }

    /// The request lines of the connections seen so far.
    pub fn requests(&self) -> Vec<String> {
        self.heads.lock().map(|h| h.clone()).unwrap_or_default()
    }

    /// Stops listening and cuts every connection: the daemon "went away".
    pub fn stop(&self) {
        self.task.abort();
        if let Some(socket) = &self.socket {
            let _ = std::fs::remove_file(socket);
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What a [`Proxy::delaying_incus_control`] proxy holds back, and the
/// control secrets of the exec operations it has seen created.
#[derive(Debug, Clone)]
struct DelayedControl {
    delay: Duration,
    secrets: Arc<Mutex<HashSet<String>>>,
    upgrades: Arc<Mutex<Vec<&'static str>>>,
}

impl DelayedControl {
    const KEY: &'static [u8] = br#""control":""#;

    /// Holds the request `head` back for the delay if it upgrades a control
    /// websocket; notes each upgrade as it goes on.
    async fn hold_back(&self, head: &str) {
        let line = head.lines().next().unwrap_or("");
        let Some((_, query)) = line.split_once("secret=") else {
            return;
        };
        let secret = query.split([' ', '&']).next().unwrap_or("");
        let control = self
            .secrets
            .lock()
            .map(|s| s.contains(secret))
            .unwrap_or(false);
        if control {
            tokio::time::sleep(self.delay).await;
        }
        if let Ok(mut upgrades) = self.upgrades.lock() {
            upgrades.push(if control { "control" } else { "data" });
        }
    }

    /// Copies both ways, noting every control secret the daemon's answers
    /// carry before the client can read (and use) it.
    async fn relay(&self, client: Box<dyn Duplex>, daemon: UnixStream) {
        let (mut client_reads, mut client_writes) = tokio::io::split(client);
        let (mut daemon_reads, mut daemon_writes) = daemon.into_split();
        let up = tokio::io::copy(&mut client_reads, &mut daemon_writes);
        let down = async {
            let mut window: Vec<u8> = Vec::new();
            let mut buffer = vec![0u8; 64 * 1024];
            loop {
                let n = match daemon_reads.read(&mut buffer).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                window.extend_from_slice(&buffer[..n]);
                self.note(&window);
                // Keep enough to find a key split across two reads.
                let keep = window.len().saturating_sub(256);
                window.drain(..keep);
                if client_writes.write_all(&buffer[..n]).await.is_err() {
                    return;
                }
            }
        };
        tokio::select! {
            _ = up => {}
            () = down => {}
        }
    }

    fn note(&self, bytes: &[u8]) {
        let mut rest = bytes;
        while let Some(at) = rest.windows(Self::KEY.len()).position(|w| w == Self::KEY) {
            rest = &rest[at + Self::KEY.len()..];
            let Some(end) = rest.iter().position(|&b| b == b'"') else {
                return;
            };
            if let Ok(mut secrets) = self.secrets.lock() {
                secrets.insert(String::from_utf8_lossy(&rest[..end]).into_owned());
            }
            rest = &rest[end..];
        }
    }
}

enum Accept {
    Unix(UnixListener),
    Tcp(tokio::net::TcpListener),
}

trait Duplex: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Duplex for T {}
