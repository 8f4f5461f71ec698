//! One command in an instance: the exec operation, a websocket per stream
//! (stdin, stdout, stderr, control), and the operation's end.
//!
//! `start` makes sure the events listener is connected (so the operation's
//! end cannot be missed, however fast the command), creates the operation,
//! then connects the four websockets at once, well within the daemon's
//! connect timeout (a command so fast that it ended before `control` joined
//! runs without it: there is nothing left to signal). Then tasks take over: stdout and stderr are read into
//! the pipes until the daemon's empty text frame (the drop that follows is
//! normal); stdin is forwarded as binary frames and its end sent as an empty
//! text frame; `control` stays open, carrying signals, until the operation
//! has finished (closing it would kill the command); a supervisor waits for
//! the operation to end (or the timeout) and publishes the exit status. Every
//! socket has a reader, so the daemon's pings are answered.

use crate::client::{Client, Events, Operation, REQUEST_TIMEOUT, WebSocket, encode};
use crate::error::{BACKEND, IncusError};
use exec_core::pipes::{BackendPipes, OutputSink};
use exec_core::{
    BoxFuture, Error, ErrorKind, ExitStatus, Pipes, PreparedCommand, Process, ProcessState, Result,
};
use futures_util::{SinkExt, StreamExt};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, DuplexStream};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

/// How long `close` waits for the command to end after SIGKILL.
const KILL_WAIT: Duration = Duration::from_secs(10);
/// How often the supervisor asks the daemon about the operation when no
/// event said it ended (a safety net; the events listener is the way).
const POLL_EVERY: Duration = Duration::from_secs(10);
/// The most symlinks followed when a work dir is resolved in the instance.
const MAX_SYMLINKS: usize = 40;

/// The instance commands run in, and how.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) client: Arc<Client>,
    pub(crate) instance: String,
    pub(crate) user: Option<u32>,
    pub(crate) group: Option<u32>,
    pub(crate) close_grace: Duration,
}

impl Target {
    /// `/1.0/instances/{name}/files?path=…` for `path` in the instance.
    fn files_url(&self, path: &Path) -> String {
        format!(
            "/1.0/instances/{}/files?path={}{}",
            encode(&self.instance),
            encode(&path.to_string_lossy()),
            self.client.project_query(false)
        )
    }
}

/// How a started command ended, as the supervisor saw it.
#[derive(Debug, Clone)]
enum Outcome {
    Exited(ExitStatus),
    TimedOut,
    Failed(Arc<IncusError>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Created,
    Starting,
    Running,
    ClosedBeforeStart,
}

/// A command in an Incus instance, created by
/// [`IncusExecutor`](crate::IncusExecutor).
pub struct IncusProcess {
    command: PreparedCommand,
    target: Arc<Target>,
    /// The executor has a whitelist: the work dir is never left to the server.
    confined: bool,
    pipes: Pipes,
    backend_pipes: Mutex<Option<BackendPipes>>,
    state: Mutex<State>,
    closed: AtomicBool,
    outcome: watch::Sender<Option<Outcome>>,
    /// Signals sent (the daemon reports a death by signal n as code 128+n).
    signals: Arc<Mutex<Vec<i32>>>,
    /// To the control socket's task; dropping it closes the socket, which
    /// kills a command still running.
    control: Mutex<Option<mpsc::UnboundedSender<i32>>>,
}

impl IncusProcess {
    pub(crate) fn new(command: PreparedCommand, target: Arc<Target>, confined: bool) -> Self {
        let (pipes, backend_pipes) = command.pipes();
        Self {
            command,
            target,
            confined,
            pipes,
            backend_pipes: Mutex::new(Some(backend_pipes)),
            state: Mutex::new(State::Created),
            closed: AtomicBool::new(false),
            outcome: watch::Sender::new(None),
            signals: Arc::new(Mutex::new(Vec::new())),
            control: Mutex::new(None),
        }
    }

    fn state_now(&self) -> State {
        *lock(&self.state)
    }

    /// What messages say a failure happened during.
    fn context(&self) -> String {
        format!(
            "run {:?} in instance {:?} at {}",
            self.command.display(),
            self.target.instance,
            self.target.client.address()
        )
    }

    async fn launch(&self) -> std::result::Result<(), IncusError> {
        let client = &self.target.client;
        let events = client.events().await?;
        // A confined work dir is resolved (and so checked) before it is sent.
        let (cwd, check) = match &self.command.work_dir_confinement {
            Some(_) => (self.confined_work_dir().await?, false),
            None => (
                self.command.work_dir.clone(),
                self.command.work_dir.is_some(),
            ),
        };
        // Without a cwd the server runs in the environment's HOME, which a call
        // may set: on a confined executor the root directory instead.
        let cwd = match cwd {
            None if self.confined => Some(std::path::PathBuf::from("/")),
            other => other,
        };
        let mut argv = self.argv();
        if let Some(program) = self.program_from_config_path().await? {
            argv[0] = program;
        }
        let mut body = serde_json::json!({
            "command": argv,
            "environment": self.command.env,
            "wait-for-websocket": true,
            "interactive": false,
            "record-output": false,
        });
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
                (Some(dir), true) => self.check_dir(dir).await,
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
        let (stdin_path, stdout_path, stderr_path, control_path) = (
            path(secret("0")?),
            path(secret("1")?),
            path(secret("2")?),
            path(secret("control")?),
        );
        let socket = |fd: &'static str, path: String| async move {
            client.websocket(&path, &format!("fd {fd}")).await
        };
        // All four at once, well within the daemon's connect timeout. The
        // command starts as soon as 0, 1 and 2 are there (the daemon answers
        // control's upgrade only then), so a fast command can be over before
        // control joins: the daemon then refuses control with an error answer
        // ("Only running operations can be connected"), and there is nothing
        // left to signal. Any other failure fails the start.
        let (control, data) = tokio::join!(socket("control", control_path), async {
            tokio::try_join!(
                socket("0", stdin_path),
                socket("1", stdout_path),
                socket("2", stderr_path),
            )
        });
        let (stdin, stdout, stderr) = data?;
        let control = match control {
            Ok(ws) => Some(ws),
            Err(IncusError::Api { .. }) => None,
            Err(e) => return Err(e),
        };
        let started = Instant::now();
        self.command.audit.started(None);
        let (signal_sender, signal_receiver) = mpsc::unbounded_channel();
        let weak_control = signal_sender.downgrade();
        *lock(&self.control) = Some(signal_sender);
        if let Some(BackendPipes {
            stdin: from_user,
            stdout: out_sink,
            stderr: err_sink,
            ..
        }) = lock(&self.backend_pipes).take()
        {
            tokio::spawn(read_output(stdout, out_sink));
            tokio::spawn(read_output(stderr, err_sink));
            tokio::spawn(forward_stdin(stdin, from_user, self.outcome.subscribe()));
        }
        if let Some(control) = control {
            tokio::spawn(run_control(
                control,
                signal_receiver,
                self.outcome.subscribe(),
            ));
        }
        let supervisor = Supervisor {
            target: self.target.clone(),
            client: client.clone(),
            events,
            operation: operation.id.clone(),
            program: argv.first().cloned().unwrap_or_default(),
            search_path: self
                .command
                .env
                .get("PATH")
                .cloned()
                .unwrap_or_else(|| INCUS_DEFAULT_PATH.to_owned()),
            cwd: cwd.clone(),
            started,
            timeout: self.command.timeout,
            audit: self.command.audit.clone(),
            signals: self.signals.clone(),
            control: weak_control,
            outcome: self.outcome.clone(),
        };
        tokio::spawn(supervisor.run());
        Ok(())
    }

    /// The words to send. With a whitelist, a relative program
    /// (`./build.sh`) is the one in `default_work_dir`, never one in a work
    /// dir the call chose (the daemon would take it from `cwd`).
    fn argv(&self) -> Vec<String> {
        let mut argv = self.command.argv.clone();
        if let (Some(first), Some(dir), Some(_)) = (
            argv.first_mut(),
            &self.command.program_dir,
            &self.command.work_dir_confinement,
        ) {
            if first.contains('/') && !first.starts_with('/') {
                *first = dir.join(&*first).to_string_lossy().into_owned();
            }
        }
        argv
    }

    /// On an executor with a whitelist whose call set its own `PATH` (which
    /// `env_allow` must name exactly), the daemon would look the program up
    /// in the call's `PATH`: it is looked up in the entry's own here (through
    /// the files API) and sent by its full path.
    async fn program_from_config_path(&self) -> std::result::Result<Option<String>, IncusError> {
        let program = self.command.program();
        let call_path = self.command.env.get("PATH");
        if program.contains('/') || self.command.search_path.as_ref() == call_path {
            return Ok(None);
        }
        let search_path = self
            .command
            .search_path
            .clone()
            .unwrap_or_else(|| INCUS_DEFAULT_PATH.to_owned());
        for dir in search_path.split(':').filter(|d| d.starts_with('/')) {
            let candidate = Path::new(dir).join(program);
            // A directory of that name is not the program (symlinks are:
            // busybox's applets are links).
            if matches!(
                self.file_type(&candidate).await?.as_deref(),
                Some("file" | "symlink")
            ) {
                return Ok(Some(candidate.to_string_lossy().into_owned()));
            }
        }
        Err(IncusError::NotFound {
            what: format!(
                "program {program:?} (the entry's PATH {search_path:?}) in instance {:?}",
                self.target.instance
            ),
            address: self.target.client.address().to_owned(),
            message: "not in any directory of the PATH".to_owned(),
        })
    }

    /// A work dir a call chose on a confined executor, resolved in the
    /// instance (symlinks followed): it must still lie in the roots, and is
    /// sent resolved.
    async fn confined_work_dir(&self) -> std::result::Result<Option<PathBuf>, IncusError> {
        let (Some(dir), Some(confinement)) =
            (&self.command.work_dir, &self.command.work_dir_confinement)
        else {
            return Ok(self.command.work_dir.clone());
        };
        let resolved = self.resolve(dir).await?;
        if self.file_type(&resolved).await?.as_deref() != Some("directory") {
            return Err(self.no_dir(dir, "it is not a directory"));
        }
        // In the roots' order: check_resolved asks for each root in turn.
        let mut roots = Vec::new();
        for root in confinement.roots() {
            roots.push(self.resolve(root).await.ok());
        }
        let mut roots = roots.into_iter();
        confinement
            .check_resolved(&resolved, |_| roots.next().flatten())
            .map_err(|e| IncusError::WorkDir(Box::new(e)))?;
        Ok(Some(resolved))
    }

    /// `path` with its symlinks followed in the instance, through the files
    /// API (`HEAD`, then `GET` for a link's target).
    async fn resolve(&self, path: &Path) -> std::result::Result<PathBuf, IncusError> {
        let client = &self.target.client;
        let mut pending: Vec<String> = components(path);
        let mut resolved = PathBuf::from("/");
        let mut links = 0;
        while let Some(part) = pending.pop() {
            match part.as_str() {
                "" | "." => continue,
                ".." => {
                    resolved.pop();
                    continue;
                }
                _ => {}
            }
            let candidate = resolved.join(&part);
            match self.file_type(&candidate).await? {
                None => return Err(self.no_dir(path, &format!("{candidate:?} does not exist"))),
                Some(kind) if kind != "symlink" => {
                    resolved = candidate;
                    continue;
                }
                Some(_) => {}
            }
            links += 1;
            if links > MAX_SYMLINKS {
                return Err(IncusError::ExecFailed {
                    instance: self.target.instance.clone(),
                    message: format!("work dir {path:?}: more than {MAX_SYMLINKS} symlinks"),
                });
            }
            let files = self.target.files_url(&candidate);
            let link = client
                .request(hyper::Method::GET, &files, None, REQUEST_TIMEOUT)
                .await?;
            let target = String::from_utf8_lossy(&link.raw)
                .trim_end_matches('\n')
                .to_owned();
            if target.starts_with('/') {
                resolved = PathBuf::from("/");
            }
            pending.extend(components(Path::new(&target)));
        }
        Ok(resolved)
    }

    /// What `path` is in the instance (`directory`, `file`, `symlink`;
    /// a symlink is not followed), `None` if it does not exist.
    async fn file_type(&self, path: &Path) -> std::result::Result<Option<String>, IncusError> {
        file_type(&self.target, path).await
    }

    /// Checks that `dir` is a directory in the instance (following a symlink).
    async fn check_dir(&self, dir: &Path) -> std::result::Result<(), IncusError> {
        match self.file_type(dir).await?.as_deref() {
            Some("directory") => Ok(()),
            Some("symlink") => {
                let resolved = self.resolve(dir).await?;
                match self.file_type(&resolved).await?.as_deref() {
                    Some("directory") => Ok(()),
                    _ => Err(self.no_dir(dir, "it is not a directory")),
                }
            }
            Some(_) => Err(self.no_dir(dir, "it is not a directory")),
            None => Err(self.no_dir(dir, "it does not exist")),
        }
    }

    fn no_dir(&self, dir: &Path, why: &str) -> IncusError {
        IncusError::NotFound {
            what: format!("work dir {dir:?} in instance {:?}", self.target.instance),
            address: self.target.client.address().to_owned(),
            message: why.to_owned(),
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

    fn send_signal(&self, signal: i32) -> Result<()> {
        let sender = lock(&self.control).clone();
        if let Some(sender) = sender {
            lock(&self.signals).push(signal);
            // A closed channel means the control socket is gone: the
            // command has ended or is being killed.
            let _ = sender.send(signal);
        }
        Ok(())
    }

    fn has_exited(&self) -> bool {
        self.outcome.borrow().is_some()
    }

    async fn wait_outcome(&self, limit: Option<Duration>) -> Option<Outcome> {
        let mut receiver = self.outcome.subscribe();
        let wait = async {
            receiver
                .wait_for(Option::is_some)
                .await
                .ok()
                .and_then(|o| o.clone())
        };
        match limit {
            None => wait.await,
            Some(limit) => tokio::time::timeout(limit, wait).await.ok().flatten(),
        }
    }

    async fn close_running(&self, force: bool) -> Result<()> {
        if self.has_exited() {
            return Ok(());
        }
        self.send_signal(if force { 9 } else { 15 })?;
        if self
            .wait_outcome(Some(self.target.close_grace))
            .await
            .is_some()
        {
            return Ok(());
        }
        self.send_signal(9)?;
        if self.wait_outcome(Some(KILL_WAIT)).await.is_some() {
            return Ok(());
        }
        // Closing the control socket makes the daemon kill the command.
        lock(&self.control).take();
        Err(Error::backend(
            BACKEND,
            ErrorKind::Unavailable,
            format!(
                "{}: the command did not end within {KILL_WAIT:?} of SIGKILL",
                self.context()
            ),
        ))
    }
}

impl Process for IncusProcess {
    fn pipes(&self) -> &Pipes {
        &self.pipes
    }

    fn state(&self) -> ProcessState {
        if self.closed.load(Ordering::Acquire) {
            return ProcessState::Closed;
        }
        match self.state_now() {
            State::Created | State::Starting => ProcessState::Created,
            State::ClosedBeforeStart => ProcessState::Closed,
            State::Running if self.has_exited() => ProcessState::Exited,
            State::Running => ProcessState::Running,
        }
    }

    fn start(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            {
                let mut state = lock(&self.state);
                match *state {
                    State::Created => *state = State::Starting,
                    State::Starting | State::Running => {
                        return Err(Error::invalid_state(
                            "start the process",
                            "it was already started",
                        ));
                    }
                    State::ClosedBeforeStart => {
                        return Err(Error::invalid_state("start the process", "it was closed"));
                    }
                }
            }
            match self.launch().await {
                Ok(()) => {
                    *lock(&self.state) = State::Running;
                    Ok(())
                }
                Err(e) => {
                    let mut state = lock(&self.state);
                    if *state == State::Starting {
                        *state = State::Created;
                    }
                    Err(e.into_core(self.context()))
                }
            }
        })
    }

    fn signal(&self, signal: i32) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            if !(1..=64).contains(&signal) {
                return Err(Error::InvalidArgument {
                    field: "signal".to_owned(),
                    reason: format!("{signal} is not a signal number (1 to 64)"),
                });
            }
            if self.state_now() != State::Running {
                return Err(Error::invalid_state(
                    "signal the process",
                    "it has not been started",
                ));
            }
            if self.has_exited() {
                return Ok(());
            }
            self.send_signal(signal)?;
            self.command.audit.signalled(signal);
            Ok(())
        })
    }

    fn wait(&self) -> BoxFuture<'_, Result<ExitStatus>> {
        Box::pin(async move {
            if self.state_now() != State::Running {
                return Err(Error::invalid_state(
                    "wait for the process",
                    "it has not been started",
                ));
            }
            match self.wait_outcome(None).await {
                Some(Outcome::Exited(status)) => Ok(status),
                Some(Outcome::TimedOut) => Err(self
                    .command
                    .timeout_error(self.command.timeout.unwrap_or_default())),
                Some(Outcome::Failed(error)) => Err(Error::Backend {
                    backend: BACKEND,
                    kind: error.kind(),
                    message: self.context(),
                    source: Some(Box::new(error)),
                }),
                None => Err(Error::backend(
                    BACKEND,
                    ErrorKind::Other,
                    format!("{}: the supervisor stopped", self.context()),
                )),
            }
        })
    }

    fn close(&self, force: bool) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let running = {
                let mut state = lock(&self.state);
                match *state {
                    State::Created => {
                        *state = State::ClosedBeforeStart;
                        lock(&self.backend_pipes).take();
                        false
                    }
                    State::Starting | State::Running => true,
                    State::ClosedBeforeStart => false,
                }
            };
            if !self.closed.swap(true, Ordering::AcqRel) {
                self.command.audit.closed(force);
            }
            let result = if running {
                self.close_running(force).await
            } else {
                Ok(())
            };
            self.pipes.release();
            result
        })
    }
}

impl fmt::Debug for IncusProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IncusProcess")
            .field("executor", &self.command.executor_id)
            .field("command", &self.command.display())
            .field("instance", &self.target.instance)
            .field("state", &self.state_now())
            .field("outcome", &*self.outcome.borrow())
            .finish_non_exhaustive()
    }
}

/// Waits for the operation to end (or the timeout) and publishes how the
/// command ended.
struct Supervisor {
    target: Arc<Target>,
    client: Arc<Client>,
    events: Arc<Events>,
    operation: String,
    /// The program and where the daemon looked for it, to tell a missing
    /// program from a command that exited 127.
    program: String,
    search_path: String,
    cwd: Option<PathBuf>,
    started: Instant,
    timeout: Option<Duration>,
    audit: exec_core::audit::Audit,
    signals: Arc<Mutex<Vec<i32>>>,
    control: mpsc::WeakUnboundedSender<i32>,
    outcome: watch::Sender<Option<Outcome>>,
}

impl Supervisor {
    async fn run(self) {
        let waited = match self.timeout {
            None => Some(self.finished().await),
            Some(limit) => tokio::time::timeout(limit, self.finished()).await.ok(),
        };
        let outcome = match waited {
            Some(Ok(operation)) => match self.status(&operation).await {
                Ok(status) => {
                    self.audit.exited(&status);
                    Outcome::Exited(status)
                }
                Err(e) => Outcome::Failed(Arc::new(e)),
            },
            Some(Err(e)) => Outcome::Failed(Arc::new(e)),
            None => {
                lock(&self.signals).push(9);
                if let Some(control) = self.control.upgrade() {
                    let _ = control.send(9);
                }
                let _ = tokio::time::timeout(KILL_WAIT, self.finished()).await;
                self.audit.timed_out(self.timeout.unwrap_or_default());
                Outcome::TimedOut
            }
        };
        self.outcome.send_replace(Some(outcome));
    }

    /// The operation once it has ended: from the events listener, or asked
    /// of the daemon now and then in case an event was missed.
    async fn finished(&self) -> std::result::Result<Operation, IncusError> {
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
            match self.client.operation(&self.operation).await? {
                Some(operation) if operation.is_final() => return Ok(operation),
                Some(_) => {}
                None => {
                    return Err(IncusError::Protocol {
                        address: self.client.address().to_owned(),
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

    /// The exit status the finished operation reports. `metadata.return` is
    /// read whatever the operation's own status: exit codes 126 and 127 mark
    /// it failed with the code still there. A code 128+n after we sent
    /// signal n is that signal.
    /// A command that ended 127 with the operation failed ("Command not
    /// found") whose program is not there is `NotFound`, naming it.
    async fn status(&self, operation: &Operation) -> std::result::Result<ExitStatus, IncusError> {
        let duration = self.started.elapsed();
        match operation.return_code() {
            Some(127) if operation.status_code != 200 && !self.program_exists().await => {
                Err(IncusError::NotFound {
                    what: format!(
                        "program {:?} (PATH {:?}) in instance {:?}",
                        self.program, self.search_path, self.target.instance
                    ),
                    address: self.client.address().to_owned(),
                    message: operation.err.clone(),
                })
            }
            Some(code) if code >= 0 => {
                let code = i32::try_from(code).unwrap_or(i32::MAX);
                let signal = code - 128;
                if code > 128 && lock(&self.signals).contains(&signal) {
                    Ok(ExitStatus::from_signal(signal, duration))
                } else {
                    Ok(ExitStatus::from_code(code, duration))
                }
            }
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

/// What `path` is in the target's instance (`directory`, `file`,
/// `symlink`, not followed), `None` if it does not exist: `HEAD` on the
/// files API.
async fn file_type(
    target: &Target,
    path: &Path,
) -> std::result::Result<Option<String>, IncusError> {
    let client = &target.client;
    let files = target.files_url(path);
    let head = client
        .request(hyper::Method::HEAD, &files, None, REQUEST_TIMEOUT)
        .await?;
    match head.status {
        200 => Ok(Some(
            head.headers
                .get("x-incus-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("file")
                .to_owned(),
        )),
        404 => Ok(None),
        status => Err(client.api_error(status, &format!("HEAD {files}"), head.error)),
    }
}

impl Supervisor {
    /// Whether the program is a file in the instance: the path it names, or
    /// a name found in the search path. A lookup that fails counts as found
    /// (the exit code is then reported as it is).
    async fn program_exists(&self) -> bool {
        let exists = |path: PathBuf| async move {
            !matches!(file_type(&self.target, &path).await, Ok(None))
        };
        if self.program.contains('/') {
            let path = match &self.cwd {
                Some(cwd) if !self.program.starts_with('/') => cwd.join(&self.program),
                _ => PathBuf::from(&self.program),
            };
            return exists(path).await;
        }
        for dir in self.search_path.split(':').filter(|d| d.starts_with('/')) {
            if exists(Path::new(dir).join(&self.program)).await {
                return true;
            }
        }
        false
    }
}

/// The `PATH` the daemon gives a command whose environment has none.
const INCUS_DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Reads one output socket into its pipe until the daemon's end-of-stream
/// frame (an empty text frame); the connection drop that follows, or any
/// other end, ends the stream too.
async fn read_output(mut ws: WebSocket, mut sink: OutputSink) {
    while let Some(Ok(message)) = ws.next().await {
        match message {
            Message::Binary(data) => sink.send(Vec::from(data)).await,
            Message::Text(text) if text.is_empty() => break,
            Message::Text(text) => sink.write(text.as_bytes()).await,
            Message::Close(_) => break,
            _ => {}
        }
    }
}

/// Forwards what the user writes as binary frames; the end of stdin as the
/// empty text frame. Reads the socket meanwhile (pings).
async fn forward_stdin(
    mut ws: WebSocket,
    mut from_user: DuplexStream,
    mut outcome: watch::Receiver<Option<Outcome>>,
) {
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
            () = ended(&mut outcome) => break,
        }
    }
}

/// Carries signals to the control socket until the operation has ended;
/// when the process is dropped first, closes it (the daemon then kills
/// the command).
async fn run_control(
    mut ws: WebSocket,
    mut signals: mpsc::UnboundedReceiver<i32>,
    mut outcome: watch::Receiver<Option<Outcome>>,
) {
    loop {
        tokio::select! {
            signal = signals.recv() => match signal {
                Some(signal) => {
                    let message = serde_json::json!({"command": "signal", "signal": signal});
                    if ws.send(Message::text(message.to_string())).await.is_err() {
                        break;
                    }
                }
                None => break,
            },
            message = ws.next() => match message {
                None | Some(Err(_) | Ok(Message::Close(_))) => break,
                Some(Ok(_)) => {}
            },
            () = ended(&mut outcome) => break,
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
}

async fn ended(outcome: &mut watch::Receiver<Option<Outcome>>) {
    let _ = outcome.wait_for(Option::is_some).await;
}

fn components(path: &Path) -> Vec<String> {
    let mut parts: Vec<String> = path
        .to_string_lossy()
        .split('/')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    parts.reverse();
    parts
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
