//! A thin client of the Incus REST API: HTTP/1.1 over the unix socket or
//! HTTPS (pooled connections), websockets, the exec operation and the
//! events listener that catches every operation's end.

use crate::error::{IncusError, Result};
use crate::tls;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use std::collections::HashMap;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::watch;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};

/// How long connecting (and the TLS handshake) may take.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request may wait for its answer (not the command: requests
/// never wait for it).
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest answer body read.
const MAX_BODY: usize = 16 * 1024 * 1024;
/// How long a finished operation's result is kept for a late waiter.
const KEEP_FINISHED: Duration = Duration::from_secs(300);

/// Where the daemon is.
#[derive(Debug, Clone)]
pub(crate) enum Transport {
    /// The local unix socket.
    Unix(PathBuf),
    /// A remote daemon over HTTPS.
    Https {
        host: String,
        port: u16,
        server_name: rustls::pki_types::ServerName<'static>,
        tls: Tls,
        /// The client certificate's fingerprint, for messages.
        client_fingerprint: String,
    },
}

/// The TLS connector (its configuration holds the client key: not shown).
#[derive(Clone)]
pub(crate) struct Tls(pub(crate) tokio_rustls::TlsConnector);

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls(TLS 1.3, pinned server certificate)")
    }
}

/// Which way a websocket's data flows, as far as this side is concerned.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Direction {
    /// Written and read.
    Both,
    /// Only read: a write that finds the daemon gone counts as written.
    Receiving,
}

/// A connection to the daemon.
pub(crate) enum Stream {
    Unix(UnixStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    /// A connection this side only reads from: a write that finds the
    /// daemon gone counts as written (see [`Client::websocket_on`]).
    Receiving(Box<Stream>),
}

/// A write's result on a [`Stream::Receiving`]: the daemon closed the
/// connection, which is for the reads to find out.
fn written_anyway<T>(result: Poll<std::io::Result<T>>, written: T) -> Poll<std::io::Result<T>> {
    match result {
        Poll::Ready(Err(e))
            if matches!(
                e.kind(),
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
            ) =>
        {
            Poll::Ready(Ok(written))
        }
        other => other,
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::Receiving(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::Receiving(s) => {
                written_anyway(Pin::new(s.as_mut()).poll_write(cx, buf), buf.len())
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Receiving(s) => written_anyway(Pin::new(s.as_mut()).poll_flush(cx), ()),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Unix(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Receiving(s) => written_anyway(Pin::new(s.as_mut()).poll_shutdown(cx), ()),
        }
    }
}

/// A websocket to the daemon.
pub(crate) type WebSocket = WebSocketStream<Stream>;

/// The envelope of every answer.
#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(default)]
    error: String,
    #[serde(default)]
    metadata: serde_json::Value,
}

/// An operation as the API shows it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Operation {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) status: String,
    #[serde(default)]
    pub(crate) status_code: u16,
    #[serde(default)]
    pub(crate) err: String,
    #[serde(default)]
    pub(crate) metadata: Option<serde_json::Value>,
}

impl Operation {
    /// Finished: success, failure or cancelled.
    pub(crate) fn is_final(&self) -> bool {
        self.status_code >= 200
    }

    /// The exit code (`metadata.return`), if the operation carries one.
    pub(crate) fn return_code(&self) -> Option<i64> {
        self.metadata.as_ref()?.get("return")?.as_i64()
    }

    /// The secret of websocket `fd` (`"0"`, `"1"`, `"2"`, `"control"`).
    pub(crate) fn fd_secret(&self, fd: &str) -> Option<&str> {
        self.metadata.as_ref()?.get("fds")?.get(fd)?.as_str()
    }
}

/// The daemon at one address, for one project.
#[derive(Debug)]
pub(crate) struct Client {
    transport: Transport,
    /// The address as messages show it.
    address: String,
    project: Option<String>,
    idle: Mutex<Vec<SendRequest<Full<Bytes>>>>,
    events: tokio::sync::Mutex<Option<Arc<Events>>>,
}

/// What a request answered.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) error: String,
    pub(crate) metadata: serde_json::Value,
    pub(crate) headers: hyper::HeaderMap,
    pub(crate) raw: Bytes,
}

impl Client {
    pub(crate) fn new(transport: Transport, address: String, project: Option<String>) -> Self {
        Self {
            transport,
            address,
            project,
            idle: Mutex::new(Vec::new()),
            events: tokio::sync::Mutex::new(None),
        }
    }

    /// The daemon's address, for messages.
    pub(crate) fn address(&self) -> &str {
        &self.address
    }

    /// The project, if one is set.
    pub(crate) fn project(&self) -> Option<&str> {
        self.project.as_deref()
    }

    /// `?project=P` (or `&project=P` when `more`), empty without a project.
    pub(crate) fn project_query(&self, first: bool) -> String {
        match &self.project {
            Some(p) => format!("{}project={}", if first { '?' } else { '&' }, encode(p)),
            None => String::new(),
        }
    }

    /// The client certificate's fingerprint, over HTTPS.
    pub(crate) fn client_fingerprint(&self) -> Option<&str> {
        match &self.transport {
            Transport::Unix(_) => None,
            Transport::Https {
                client_fingerprint, ..
            } => Some(client_fingerprint),
        }
    }

    /// A new connection (TLS handshake included), within [`CONNECT_TIMEOUT`].
    pub(crate) async fn connect(&self) -> Result<Stream> {
        let timeout = |_| IncusError::Timeout {
            address: self.address.clone(),
            what: "the connection".to_owned(),
            after: CONNECT_TIMEOUT,
        };
        let connect_error = |source| IncusError::Connect {
            address: self.address.clone(),
            source,
        };
        match &self.transport {
            Transport::Unix(path) => {
                let stream = tokio::time::timeout(CONNECT_TIMEOUT, UnixStream::connect(path))
                    .await
                    .map_err(timeout)?
                    .map_err(connect_error)?;
                Ok(Stream::Unix(stream))
            }
            Transport::Https {
                host,
                port,
                server_name,
                tls,
                ..
            } => {
                let handshake = async {
                    let tcp = TcpStream::connect((host.as_str(), *port))
                        .await
                        .map_err(connect_error)?;
                    let _ = tcp.set_nodelay(true);
                    tls.0
                        .connect(server_name.clone(), tcp)
                        .await
                        .map_err(|source| match tls::pin_refusal(&source) {
                            Some(tls::PinRefusal::Mismatch { expected, found }) => {
                                IncusError::PinMismatch {
                                    address: self.address.clone(),
                                    expected: expected.clone(),
                                    found: found.clone(),
                                }
                            }
                            Some(tls::PinRefusal::NotValidNow {
                                fingerprint,
                                validity,
                                now,
                            }) => IncusError::PinNotValidNow {
                                address: self.address.clone(),
                                fingerprint: fingerprint.clone(),
                                validity: validity.clone(),
                                now: now.clone(),
                            },
                            None if tls::is_version_refused(&source) => IncusError::TlsVersion {
                                address: self.address.clone(),
                                source,
                            },
                            None => IncusError::Tls {
                                address: self.address.clone(),
                                source,
                            },
                        })
                };
                let stream = tokio::time::timeout(CONNECT_TIMEOUT, handshake)
                    .await
                    .map_err(timeout)??;
                Ok(Stream::Tls(Box::new(stream)))
            }
        }
    }

    fn host_header(&self) -> String {
        match &self.transport {
            Transport::Unix(_) => "localhost".to_owned(),
            Transport::Https { host, port, .. } if host.contains(':') => format!("[{host}]:{port}"),
            Transport::Https { host, port, .. } => format!("{host}:{port}"),
        }
    }

    fn idle(&self) -> MutexGuard<'_, Vec<SendRequest<Full<Bytes>>>> {
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// An idle pooled connection, or a new one.
    async fn sender(&self, what: &str) -> Result<SendRequest<Full<Bytes>>> {
        loop {
            let pooled = self.idle().pop();
            match pooled {
                Some(sender) if sender.is_ready() => return Ok(sender),
                Some(_) => continue,
                None => break,
            }
        }
        let stream = self.connect().await?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|source| IncusError::Http {
                address: self.address.clone(),
                what: what.to_owned(),
                source,
            })?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }

    /// `method path` with an optional JSON body; waits at most `limit` for
    /// the whole answer.
    pub(crate) async fn request(
        &self,
        method: hyper::Method,
        path: &str,
        body: Option<&serde_json::Value>,
        limit: Duration,
    ) -> Result<Reply> {
        let what = format!("{method} {path}");
        let exchange = async {
            let mut sender = self.sender(&what).await?;
            let http_error = |source| IncusError::Http {
                address: self.address.clone(),
                what: what.clone(),
                source,
            };
            sender.ready().await.map_err(http_error)?;
            let mut request = hyper::Request::builder()
                .method(method.clone())
                .uri(path)
                .header(hyper::header::HOST, self.host_header());
            let payload = match body {
                Some(json) => {
                    request = request.header(hyper::header::CONTENT_TYPE, "application/json");
                    Bytes::from(json.to_string())
                }
                None => Bytes::new(),
            };
            let request = request
                .body(Full::new(payload))
                .map_err(|e| self.protocol(&what, format!("cannot build the request: {e}")))?;
            let response = sender.send_request(request).await.map_err(http_error)?;
            let status = response.status().as_u16();
            let (parts, body) = response.into_parts();
            let raw = Limited::new(body, MAX_BODY)
                .collect()
                .await
                .map_err(|e| match e.downcast::<hyper::Error>() {
                    Ok(source) => http_error(*source),
                    Err(other) => self.protocol(&what, format!("the answer body: {other}")),
                })?
                .to_bytes();
            if !sender.is_closed() {
                self.idle().push(sender);
            }
            Ok::<_, IncusError>((status, parts.headers, raw))
        };
        let (status, headers, raw) =
            tokio::time::timeout(limit, exchange)
                .await
                .map_err(|_| IncusError::Timeout {
                    address: self.address.clone(),
                    what: what.clone(),
                    after: limit,
                })??;
        let is_json = headers
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let (error, metadata) = if is_json && !raw.is_empty() {
            envelope(&raw).map_err(|message| self.protocol(&what, message))?
        } else {
            (String::new(), serde_json::Value::Null)
        };
        Ok(Reply {
            status,
            error,
            metadata,
            headers,
            raw,
        })
    }

    pub(crate) fn protocol(&self, what: &str, message: String) -> IncusError {
        IncusError::Protocol {
            address: self.address.clone(),
            what: what.to_owned(),
            message,
        }
    }

    /// Opens a websocket to `path` (with its query).
    pub(crate) async fn websocket(&self, path: &str, what: &str) -> Result<WebSocket> {
        self.websocket_on(None, Direction::Both, path, what).await
    }

    /// A connection made ahead of the request it will carry, where that is
    /// safe: over HTTPS, whose handshake is most of a websocket's cost. On
    /// the unix socket `None`: incusd (6.0) takes its connections there one
    /// at a time, each only once its first bytes came, so a connection that
    /// does not speak at once holds up every later one — the daemon's
    /// answer to another request waited over 30 s behind one silent
    /// connection (measured). There the connection is made with its request
    /// ([`websocket_on`](Client::websocket_on)).
    pub(crate) async fn early_connection(&self) -> Result<Option<Stream>> {
        match self.transport {
            Transport::Unix(_) => Ok(None),
            Transport::Https { .. } => self.connect().await.map(Some),
        }
    }

    /// Opens a websocket to `path` on `connection` (from
    /// [`early_connection`](Client::early_connection)) or on a new one.
    ///
    /// A socket this side only reads from (a command's stdout or stderr,
    /// [`Direction::Receiving`]): the daemon pings such a socket and may
    /// close it right after its last frame; tungstenite answers a ping
    /// before it reads on, and a pong that finds the connection closed
    /// failed the read — losing the frames already received, the output's
    /// end among them. Here such a write counts as written, and the reads
    /// find the frames, then the end.
    pub(crate) async fn websocket_on(
        &self,
        connection: Option<Stream>,
        direction: Direction,
        path: &str,
        what: &str,
    ) -> Result<WebSocket> {
        let stream = match connection {
            Some(stream) => stream,
            None => self.connect().await?,
        };
        let stream = match direction {
            Direction::Both => stream,
            Direction::Receiving => Stream::Receiving(Box::new(stream)),
        };
        self.upgrade(stream, path, what).await
    }

    /// Upgrades a connection (from [`connect`](Client::connect)) to a
    /// websocket to `path` (with its query).
    pub(crate) async fn upgrade(
        &self,
        stream: Stream,
        path: &str,
        what: &str,
    ) -> Result<WebSocket> {
        let open = async {
            let url = format!("ws://{}{path}", self.host_header());
            let ws_error = |source| IncusError::WebSocket {
                address: self.address.clone(),
                what: what.to_owned(),
                source: Box::new(source),
            };
            let request = url.into_client_request().map_err(ws_error)?;
            let config = WebSocketConfig::default().read_buffer_size(256 * 1024);
            match tokio_tungstenite::client_async_with_config(request, stream, Some(config)).await {
                Ok((ws, _)) => Ok(ws),
                Err(tungstenite::Error::Http(response)) => {
                    let status = response.status().as_u16();
                    let body = response
                        .body()
                        .as_deref()
                        .map(|b| String::from_utf8_lossy(b).into_owned())
                        .unwrap_or_default();
                    let message = serde_json::from_str::<Envelope>(&body)
                        .map(|e| e.error)
                        .unwrap_or(body);
                    Err(self.api_error(status, what, message))
                }
                Err(other) => Err(ws_error(other)),
            }
        };
        tokio::time::timeout(CONNECT_TIMEOUT, open)
            .await
            .map_err(|_| IncusError::Timeout {
                address: self.address.clone(),
                what: format!("the websocket {what}"),
                after: CONNECT_TIMEOUT,
            })?
    }

    /// The error for an answer of HTTP `status`.
    pub(crate) fn api_error(&self, status: u16, what: &str, message: String) -> IncusError {
        if status == 403 {
            return IncusError::NotTrusted {
                address: self.address.clone(),
                what: what.to_owned(),
                client_fingerprint: self.client_fingerprint().map(str::to_owned),
                message,
            };
        }
        IncusError::Api {
            address: self.address.clone(),
            what: what.to_owned(),
            status,
            message,
        }
    }

    /// The events listener, connected (a new one if there is none or the
    /// last one broke). Connected before an operation is created, it sees
    /// the operation end however fast that is.
    pub(crate) async fn events(self: &Arc<Self>) -> Result<Arc<Events>> {
        let mut slot = self.events.lock().await;
        if let Some(events) = slot.as_ref() {
            if events.is_alive() {
                return Ok(events.clone());
            }
        }
        let path = format!("/1.0/events?type=operation{}", self.project_query(false));
        let ws = self
            .websocket(&path, "/1.0/events")
            .await
            .map_err(|e| match e {
                // The only thing named there is the project.
                IncusError::Api {
                    status: 404,
                    message,
                    address,
                    ..
                } => IncusError::NotFound {
                    what: format!("project {:?}", self.project.as_deref().unwrap_or("default")),
                    address,
                    message,
                },
                other => other,
            })?;
        let events = Arc::new(Events::new());
        tokio::spawn(events.clone().listen(ws));
        *slot = Some(events.clone());
        Ok(events)
    }

    /// `GET /1.0/operations/{id}`: the operation now.
    pub(crate) async fn operation(&self, id: &str) -> Result<Option<Operation>> {
        let path = format!("/1.0/operations/{}", encode(id));
        let reply = self
            .request(hyper::Method::GET, &path, None, REQUEST_TIMEOUT)
            .await?;
        match reply.status {
            200 => serde_json::from_value(reply.metadata)
                .map(Some)
                .map_err(|e| {
                    self.protocol(&format!("GET {path}"), format!("not an operation: {e}"))
                }),
            404 => Ok(None),
            status => Err(self.api_error(status, &format!("GET {path}"), reply.error)),
        }
    }
}

/// The ends of operations, as the daemon announces them on `/1.0/events`.
#[derive(Debug)]
pub(crate) struct Events {
    finished: Mutex<HashMap<String, (Instant, Operation)>>,
    /// Bumped on every finished operation, and when the listener ends.
    changed: watch::Sender<u64>,
    alive: std::sync::atomic::AtomicBool,
}

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    metadata: serde_json::Value,
}

impl Events {
    fn new() -> Self {
        Self {
            finished: Mutex::new(HashMap::new()),
            changed: watch::Sender::new(0),
            alive: std::sync::atomic::AtomicBool::new(true),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, (Instant, Operation)>> {
        self.finished
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn is_alive(&self) -> bool {
        self.alive.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Reads events until the socket ends; pings are answered as frames are read.
    async fn listen(self: Arc<Self>, mut ws: WebSocket) {
        use futures_util::StreamExt;
        while let Some(Ok(message)) = ws.next().await {
            let data = match &message {
                Message::Text(text) => text.as_bytes(),
                Message::Binary(data) => data.as_ref(),
                Message::Close(_) => break,
                _ => continue,
            };
            let Some(operation) = finished_operation(data) else {
                continue;
            };
            {
                let mut finished = self.lock();
                let now = Instant::now();
                finished.retain(|_, (at, _)| now.duration_since(*at) < KEEP_FINISHED);
                finished.insert(operation.id.clone(), (now, operation));
            }
            self.changed.send_modify(|n| *n = n.wrapping_add(1));
        }
        self.alive
            .store(false, std::sync::atomic::Ordering::Release);
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// The finished operation `id` once announced; `None` if the listener
    /// ended first.
    pub(crate) async fn finished(&self, id: &str) -> Option<Operation> {
        let mut changed = self.changed.subscribe();
        loop {
            if let Some((_, operation)) = self.lock().remove(id) {
                return Some(operation);
            }
            if !self.is_alive() {
                return None;
            }
            if changed.changed().await.is_err() {
                return None;
            }
        }
    }
}

/// The operation an event announces the end of, if `data` is one.
pub(crate) fn finished_operation(data: &[u8]) -> Option<Operation> {
    let event = serde_json::from_slice::<Event>(data).ok()?;
    if event.kind != "operation" {
        return None;
    }
    let operation = serde_json::from_value::<Operation>(event.metadata).ok()?;
    operation.is_final().then_some(operation)
}

/// An answer's body as [`Client::request`] reads it: the envelope, or why
/// it is not the API's JSON.
pub(crate) fn envelope(raw: &[u8]) -> std::result::Result<(String, serde_json::Value), String> {
    serde_json::from_slice::<Envelope>(raw)
        .map(|e| (e.error, e.metadata))
        .map_err(|e| format!("the answer is not the API's JSON: {e}"))
}

/// `text` percent-encoded for a path segment or a query value.
pub(crate) fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
