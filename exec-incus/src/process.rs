//! The Incus transport: one command in an instance — the exec operation, a
//! websocket per stream (stdin, stdout, stderr, control), and the
//! operation's end. The life cycle around it (state, wait, timeout, close,
//! kill on drop) is exec-core's [`ManagedProcess`].
//!
//! `launch` makes sure the events listener is connected (so the operation's
//! end cannot be missed, however fast the command), creates the operation,
//! then connects the websockets: control first (the command starts as soon
//! as the others are in), the others' connections made meanwhile, all well
//! within the daemon's connect timeout. Then tasks take over:
//! stdout and stderr are read into the pipes until the daemon's empty text
//! frame (the drop that follows is normal); stdin is forwarded as binary
//! frames and its end sent as an empty text frame; `control` stays open,
//! carrying signals, until the operation has finished (closing it kills the
//! command: that is how a dropped process ends); the exit future waits for
//! the operation to end. Every socket has a reader, so the daemon's pings
//! are answered.

use crate::client::{Client, Direction, Events, Operation, REQUEST_TIMEOUT, WebSocket, encode};
use crate::error::{BACKEND, IncusError};
use crate::files;
use exec_core::backend::{
    BackendPipes, Control, Exit, Exited, Launch, Launched, ManagedProcess, OutputSink,
    PreparedCommand, Transport,
};
use exec_core::{BoxFuture, PtySize, Result};
use futures_util::{SinkExt, StreamExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncReadExt, DuplexStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// How often the exit future asks the daemon about the operation when no
/// event said it ended (a safety net; the events listener is the way).
const POLL_EVERY: Duration = Duration::from_secs(10);

/// The instance commands run in, and how.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) client: Arc<Client>,
    pub(crate) instance: String,
    pub(crate) user: Option<u32>,
    pub(crate) group: Option<u32>,
}

impl Target {
    /// `/1.0/instances/{name}/files?path=…` for `path` in the instance.
    pub(crate) fn files_url(&self, path: &Path) -> String {
        format!(
            "/1.0/instances/{}/files?path={}{}",
            encode(&self.instance),
            encode(&path.to_string_lossy()),
            self.client.project_query(false)
        )
    }
}

/// A command in an Incus instance, created by
/// [`IncusExecutor`](crate::IncusExecutor).
pub type IncusProcess = ManagedProcess<IncusTransport>;

/// How a command runs in an instance: what
/// [`IncusExecutor`](crate::IncusExecutor) hands exec-core's life cycle.
#[derive(Debug)]
pub struct IncusTransport {
    pub(crate) target: Arc<Target>,
    /// The executor has a whitelist: the work dir is never left to the server.
    pub(crate) confined: bool,
}

impl Transport for IncusTransport {
    const BACKEND: &'static str = BACKEND;

    async fn launch(self, launch: Launch) -> Result<Launched> {
        let Launch {
            command,
            pipes,
            exited,
            ..
        } = launch;
        self.launch_exec(&command, pipes, exited)
            .await
            .map_err(|e| e.into_core(self.context(&command)))
    }
}

impl IncusTransport {
    /// What messages say a failure happened during.
    fn context(&self, command: &PreparedCommand) -> String {
        format!(
            "run {:?} in instance {:?} at {}",
            command.display(),
            self.target.instance,
            self.target.client.address()
        )
    }

    async fn launch_exec(
        &self,
        command: &PreparedCommand,
        pipes: BackendPipes,
        exited: Exited,
    ) -> std::result::Result<Launched, IncusError> {
        let client = &self.target.client;
        let events = client.events().await?;
        // A confined work dir is resolved (and so checked) before it is sent.
        let (cwd, check) = match command.work_dir_confinement() {
            Some(_) => (
                files::confined_work_dir(&self.target, command).await?,
                false,
            ),
            None => (
                command.work_dir().map(Path::to_owned),
                command.work_dir().is_some(),
            ),
        };
        // Without a cwd the server runs in the environment's HOME, which a call
        // may set: on a confined executor the root directory instead.
        let cwd = match cwd {
            None if self.confined => Some(std::path::PathBuf::from("/")),
            other => other,
        };
        let mut argv = argv(command);
        if let Some(program) = files::program_from_config_path(&self.target, command).await? {
            argv[0] = program;
        }
        let mut body = serde_json::json!({
            "command": argv,
            "environment": command.env(),
            "wait-for-websocket": true,
            "interactive": command.pty().is_some(),
            "record-output": false,
        });
        if let Some(pty) = command.pty() {
            // TERM is in the environment already.
            body["width"] = serde_json::Value::from(pty.size().width());
            body["height"] = serde_json::Value::from(pty.size().height());
        }
        if let Some(cwd) = &cwd {
            body["cwd"] = serde_json::Value::from(cwd.to_string_lossy().into_owned());
        }
        if let Some(uid) = self.target.user {
            body["user"] = serde_json::Value::from(uid);
        }
        if let Some(gid) = self.target.group {
            body["group"] = serde_json::Value::from(gid);
        }
        let path = format!(
            "/1.0/instances/{}/exec{}",
            encode(&self.target.instance),
            client.project_query(true)
        );
        // The daemon runs a command whose cwd does not exist in `/` without
        // a word, so the work dir is checked — alongside the POST: the
        // command does not run before its websockets connect, and they are
        // not connected when the check fails.
        let checked = async {
            match (&cwd, check) {
                (Some(dir), true) => files::check_dir(&self.target, dir).await,
                _ => Ok(()),
            }
        };
        let (reply, checked) = tokio::join!(
            client.request(hyper::Method::POST, &path, Some(&body), REQUEST_TIMEOUT),
            checked
        );
        let reply = reply?;
        let what = format!("POST {path}");
        match reply.status {
            200..=202 => {}
            404 => return Err(self.not_found(reply.error)),
            400 => return Err(self.refused(&what, reply.error).await),
            status => return Err(client.api_error(status, &what, reply.error)),
        }
        checked?;
        let operation: Operation = serde_json::from_value(reply.metadata)
            .map_err(|e| client.protocol(&what, format!("the answer is not an operation: {e}")))?;
        let secret = |fd: &str| {
            operation.fd_secret(fd).map(str::to_owned).ok_or_else(|| {
                client.protocol(
                    &what,
                    format!("the operation has no websocket secret for fd {fd}"),
                )
            })
        };
        let id = encode(&operation.id);
        let path =
            |secret: String| format!("/1.0/operations/{id}/websocket?secret={}", encode(&secret));
        // The output sockets, and the terminal (whose keys are of no use once
        // it closed), are only read from: see `Client::websocket_on`.
        let socket = |connection, direction, fd: &'static str| {
            let path = secret(fd).map(path);
            async move {
                client
                    .websocket_on(connection, direction, &path?, &format!("fd {fd}"))
                    .await
            }
        };
        let (control_sender, control_receiver) = mpsc::unbounded_channel();
        let BackendPipes {
            stdin: from_user,
            stdout: out_sink,
            stderr: err_sink,
            ..
        } = pipes;
        if command.pty().is_some() {
            // Interactive: one socket both ways (the terminal), and control,
            // which the daemon waits for before the command runs.
            let (terminal, control) = tokio::try_join!(
                socket(None, Direction::Receiving, "0"),
                socket(None, Direction::Both, "control")
            )?;
            drop(err_sink);
            let (keys, screen) = terminal.split();
            // The daemon waits for both directions to end before the
            // operation does: once the command's output ended, so does ours.
            let (output_ended, ended) = tokio::sync::oneshot::channel();
            let stream = self.stream("output");
            tokio::spawn(async move {
                read_output(screen, out_sink, stream).await;
                let _ = output_ended.send(());
            });
            tokio::spawn(forward_keys(keys, from_user, ended));
            tokio::spawn(run_control(control, control_receiver, exited));
        } else {
            // Control first: the daemon runs the command as soon as 0, 1 and 2
            // are connected, and a control socket that joins as a fast
            // command ends may be waited for and never closed by the daemon
            // (incus 6.0 `instance_exec.go`: its finisher saw no control
            // connection, its control handler then finds one and reads it),
            // so the operation would never end. Over HTTPS the other three
            // connections (their TLS handshakes) are made meanwhile and only
            // upgraded once control is in, as the incus CLI orders them.
            let early = async {
                tokio::try_join!(
                    client.early_connection(),
                    client.early_connection(),
                    client.early_connection()
                )
            };
            let (control, early) = tokio::join!(socket(None, Direction::Both, "control"), early);
            let control = control?;
            let (to_stdin, from_stdout, from_stderr) = early?;
            let (stdin, stdout, stderr) = tokio::try_join!(
                socket(to_stdin, Direction::Both, "0"),
                socket(from_stdout, Direction::Receiving, "1"),
                socket(from_stderr, Direction::Receiving, "2"),
            )?;
            tokio::spawn(read_output(stdout, out_sink, self.stream("stdout")));
            tokio::spawn(read_output(stderr, err_sink, self.stream("stderr")));
            tokio::spawn(forward_stdin(stdin, from_user, exited.clone()));
            tokio::spawn(run_control(control, control_receiver, exited));
        }
        let ending = Ending {
            target: self.target.clone(),
            events,
            operation: operation.id.clone(),
            program: argv.first().cloned().unwrap_or_default(),
            search_path: command
                .env()
                .get("PATH")
                .cloned()
                .unwrap_or_else(|| files::INCUS_DEFAULT_PATH.to_owned()),
            cwd,
        };
        let control = ControlSocket {
            messages: Mutex::new(Some(control_sender)),
        };
        Ok(Launched::new(control, ending.exit()))
    }

    /// Names an output stream of the command, for the error of a cut stream.
    fn stream(&self, name: &'static str) -> Stream {
        Stream {
            name,
            instance: self.target.instance.clone(),
            address: self.target.client.address().to_owned(),
        }
    }

    fn not_found(&self, message: String) -> IncusError {
        let what = match self.target.client.project() {
            Some(project) => format!("instance {:?} in project {project:?}", self.target.instance),
            None => format!("instance {:?}", self.target.instance),
        };
        IncusError::NotFound {
            what,
            address: self.target.client.address().to_owned(),
            message,
        }
    }

    /// Why the daemon refused the exec with HTTP 400: a stopped or frozen
    /// instance is asked for its state rather than guessed from the message.
    async fn refused(&self, what: &str, message: String) -> IncusError {
        let client = &self.target.client;
        let path = format!(
            "/1.0/instances/{}/state{}",
            encode(&self.target.instance),
            client.project_query(true)
        );
        if let Ok(reply) = client
            .request(hyper::Method::GET, &path, None, REQUEST_TIMEOUT)
            .await
        {
            if let Some(status) = reply.metadata.get("status").and_then(|s| s.as_str()) {
                if reply.status == 200 && status != "Running" {
                    return IncusError::NotRunning {
                        instance: self.target.instance.clone(),
                        address: client.address().to_owned(),
                        status: status.to_owned(),
                    };
                }
            }
        }
        client.api_error(400, what, message)
    }
}

/// The words to send. With a whitelist, a relative program (`./build.sh`)
/// is the one in `default_work_dir`, never one in a work dir the call chose
/// (the daemon would take it from `cwd`).
fn argv(command: &PreparedCommand) -> Vec<String> {
    let mut argv = command.argv().to_vec();
    if let (Some(first), Some(dir), Some(_)) = (
        argv.first_mut(),
        command.program_dir(),
        command.work_dir_confinement(),
    ) {
        if first.contains('/') && !first.starts_with('/') {
            *first = dir.join(&*first).to_string_lossy().into_owned();
        }
    }
    argv
}

/// What goes to the operation's control socket.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ControlMessage {
    Signal(i32),
    Resize(PtySize),
}

impl ControlMessage {
    /// The daemon's JSON for it (`window-resize` takes its numbers as strings).
    pub(crate) fn json(self) -> String {
        match self {
            ControlMessage::Signal(signal) => {
                serde_json::json!({"command": "signal", "signal": signal})
            }
            ControlMessage::Resize(size) => serde_json::json!({
                "command": "window-resize",
                "args": {
                    "width": size.width().to_string(),
                    "height": size.height().to_string(),
                },
            }),
        }
        .to_string()
    }
}

/// Signals and resizes go to the operation's control socket; closing it
/// (dropping the sender) makes the daemon kill the command.
struct ControlSocket {
    messages: Mutex<Option<mpsc::UnboundedSender<ControlMessage>>>,
}

impl ControlSocket {
    fn send(&self, message: ControlMessage) -> BoxFuture<'_, Result<()>> {
        if let Some(sender) = lock(&self.messages).as_ref() {
            // A closed channel means the control socket is gone: the command
            // has ended or is being killed.
            let _ = sender.send(message);
        }
        Box::pin(std::future::ready(Ok(())))
    }
}

impl Control for ControlSocket {
    fn signal(&self, signal: i32) -> BoxFuture<'_, Result<()>> {
        self.send(ControlMessage::Signal(signal))
    }

    fn resize(&self, size: PtySize) -> BoxFuture<'_, Result<()>> {
        self.send(ControlMessage::Resize(size))
    }

    fn kill_now(&self) {
        if let Some(sender) = lock(&self.messages).take() {
            let _ = sender.send(ControlMessage::Signal(9));
        }
    }
}

/// What it takes to learn how the operation ended.
struct Ending {
    target: Arc<Target>,
    events: Arc<Events>,
    operation: String,
    /// The program and where the daemon looked for it, to tell a missing
    /// program from a command that exited 127.
    program: String,
    search_path: String,
    cwd: Option<PathBuf>,
}

impl Ending {
    async fn exit(self) -> Result<Exit> {
        let ended = match self.finished().await {
            Ok(operation) => self.status(&operation).await,
            Err(e) => Err(e),
        };
        ended.map_err(|e| {
            e.into_core(format!(
                "follow the command in instance {:?} at {}",
                self.target.instance,
                self.target.client.address()
            ))
        })
    }

    /// The operation once it has ended: from the events listener, or asked
    /// of the daemon now and then in case an event was missed.
    async fn finished(&self) -> std::result::Result<Operation, IncusError> {
        let client = &self.target.client;
        let mut pause = POLL_EVERY;
        loop {
            let found = if self.events.is_alive() {
                tokio::select! {
                    found = self.events.finished(&self.operation) => found,
                    () = tokio::time::sleep(pause) => None,
                }
            } else {
                tokio::time::sleep(pause).await;
                None
            };
            if let Some(operation) = found {
                return Ok(operation);
            }
            match client.operation(&self.operation).await? {
                Some(operation) if operation.is_final() => return Ok(operation),
                Some(_) => {}
                // The listener broke first: the daemon went away, and the
                // one answering now (restarted) does not know the operation.
                None if !self.events.is_alive() => {
                    return Err(IncusError::OperationLost {
                        address: client.address().to_owned(),
                        operation: self.operation.clone(),
                    });
                }
                None => {
                    return Err(IncusError::Protocol {
                        address: client.address().to_owned(),
                        what: format!("GET /1.0/operations/{}", self.operation),
                        message: "the operation is gone and no event told how it ended".to_owned(),
                    });
                }
            }
            pause = if self.events.is_alive() {
                POLL_EVERY
            } else {
                Duration::from_secs(1)
            };
        }
    }

    /// How the finished operation says the command ended. `metadata.return`
    /// is read whatever the operation's own status: exit codes 126 and 127
    /// mark it failed with the code still there. A command that ended 127
    /// with the operation failed ("Command not found") whose program is not
    /// there is `NotFound`, naming it.
    async fn status(&self, operation: &Operation) -> std::result::Result<Exit, IncusError> {
        match operation.return_code() {
            Some(127)
                if operation.status_code != 200
                    && !files::program_exists(
                        &self.target,
                        &self.program,
                        &self.search_path,
                        self.cwd.as_deref(),
                    )
                    .await =>
            {
                Err(IncusError::NotFound {
                    what: format!(
                        "program {:?} (PATH {:?}) in instance {:?}",
                        self.program, self.search_path, self.target.instance
                    ),
                    address: self.target.client.address().to_owned(),
                    message: operation.err.clone(),
                })
            }
            // A death by signal n comes as 128+n: the life cycle knows
            // whether it sent n.
            Some(code) if code >= 0 => Ok(Exit::from_shell_code(
                i32::try_from(code).unwrap_or(i32::MAX),
            )),
            _ => Err(IncusError::ExecFailed {
                instance: self.target.instance.clone(),
                message: if operation.err.is_empty() {
                    format!(
                        "the operation ended {} without an exit code",
                        operation.status
                    )
                } else {
                    operation.err.clone()
                },
            }),
        }
    }
}

/// An output stream of a command, named for the error of a cut stream.
#[derive(Debug)]
pub(crate) struct Stream {
    /// `stdout`, `stderr`, or `output` (a terminal).
    pub(crate) name: &'static str,
    pub(crate) instance: String,
    pub(crate) address: String,
}

/// Reads one output socket into its pipe until the daemon's end-of-stream
/// frame (an empty text frame; the connection drop that follows is
/// normal) or a close frame. A socket that breaks or ends before either
/// was cut: the user's stream ends with an error saying so instead of EOF.
pub(crate) async fn read_output(
    mut ws: impl futures_util::Stream<Item = std::result::Result<Message, WsError>> + Unpin,
    mut sink: OutputSink,
    stream: Stream,
) {
    let why = loop {
        match ws.next().await {
            Some(Ok(Message::Binary(data))) => sink.send(Vec::from(data)).await,
            Some(Ok(Message::Text(text))) if text.is_empty() => return,
            Some(Ok(Message::Text(text))) => sink.write(text.as_bytes()).await,
            Some(Ok(Message::Close(_))) => return,
            Some(Ok(_)) => {}
            Some(Err(error)) => break format!("the websocket broke: {error}"),
            None => break "the websocket ended without the end-of-output frame".to_owned(),
        }
    };
    let Stream {
        name,
        instance,
        address,
    } = stream;
    sink.cut(std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        format!(
            "the {name} of the command in instance {instance:?} on the Incus daemon at {address} \
             was cut (output may be missing): {why}"
        ),
    ));
}

/// Forwards what the user writes as binary frames; the end of stdin as the
/// empty text frame. Reads the socket meanwhile (pings).
async fn forward_stdin(mut ws: WebSocket, mut from_user: DuplexStream, mut exited: Exited) {
    let mut buffer = vec![0u8; 64 * 1024];
    let mut open = true;
    loop {
        tokio::select! {
            read = from_user.read(&mut buffer), if open => match read {
                Ok(n) if n > 0 => {
                    if ws.send(Message::binary(buffer[..n].to_vec())).await.is_err() {
                        break;
                    }
                }
                _ => {
                    open = false;
                    if ws.send(Message::text("")).await.is_err() {
                        break;
                    }
                }
            },
            message = ws.next() => match message {
                None | Some(Err(_) | Ok(Message::Close(_))) => break,
                Some(Ok(_)) => {}
            },
            () = exited.wait() => break,
        }
    }
}

/// What the user types into an interactive command's terminal, as binary
/// frames, until the user's end of stdin or the end of the command's output;
/// then the empty text frame, the daemon's end of input for this direction
/// (it stops writing to the terminal, and only then ends the operation; `^D`
/// is how a terminal says end of input to the command).
async fn forward_keys(
    mut ws: futures_util::stream::SplitSink<WebSocket, Message>,
    mut from_user: DuplexStream,
    mut output_ended: tokio::sync::oneshot::Receiver<()>,
) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        tokio::select! {
            read = from_user.read(&mut buffer) => match read {
                Ok(n) if n > 0 => {
                    if ws.send(Message::binary(buffer[..n].to_vec())).await.is_err() {
                        return;
                    }
                }
                _ => break,
            },
            _ = &mut output_ended => break,
        }
    }
    let _ = ws.send(Message::text("")).await;
}

/// Carries signals and resizes to the control socket until the operation
/// has ended; when the process is dropped first, closes it (the daemon then
/// kills the command).
async fn run_control(
    mut ws: WebSocket,
    mut messages: mpsc::UnboundedReceiver<ControlMessage>,
    mut exited: Exited,
) {
    loop {
        tokio::select! {
            message = messages.recv() => match message {
                Some(message) => {
                    if ws.send(Message::text(message.json())).await.is_err() {
                        break;
                    }
                }
                None => break,
            },
            message = ws.next() => match message {
                None | Some(Err(_) | Ok(Message::Close(_))) => break,
                Some(Ok(_)) => {}
            },
            () = exited.wait() => break,
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
