//! One command in its own container: create, attach, start, and a supervisor
//! that owns the container until its exit is known.
//!
//! The order is what keeps output and exit codes from being lost: the
//! container is created with its stdio attachable, attached before it starts
//! (the daemon registers the streams before it answers), and its events are
//! asked for from before the start (with `since`, so even a subscription the
//! daemon registers late replays the `die`). The exit code and the OOM flag
//! come from those events, which also works when the daemon removes the
//! container at once (`auto_remove`): nothing is left to inspect then.

use crate::builder::{ContainerConfig, Pull};
use crate::client::Client;
use crate::container::ContainerSpec;
use crate::error::{BACKEND, DockerError};
use crate::sweep::short;
use bollard::container::LogOutput;
use bollard::models::EventMessage;
use bollard::query_parameters::{
    AttachContainerOptions, CreateImageOptions, EventsOptions, InspectContainerOptions,
    KillContainerOptions, RemoveContainerOptions,
};
use exec_core::pipes::{BackendPipes, OutputSink};
use exec_core::{
    BoxFuture, Error, ErrorKind, ExitStatus, Pipes, PreparedCommand, Process, ProcessState, Result,
};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::sync::{oneshot, watch};

/// How long `close` waits for the exit after the last kill before it gives up.
const KILL_WAIT: Duration = Duration::from_secs(20);
/// After the exit is known, how long the output may stay silent before the
/// attach stream is taken as ended (some daemons keep it open: bollard 251).
const DRAIN_IDLE: Duration = Duration::from_secs(5);
/// After a `die` with 137 and no `oom` event yet, how long to wait for one.
const OOM_GRACE: Duration = Duration::from_millis(500);
/// How far back the event subscription reaches: far enough for any clock
/// skew between here and the daemon, within the daemon's event buffer.
const EVENTS_SINCE: Duration = Duration::from_secs(300);

/// How a started command ended.
#[derive(Debug, Clone)]
enum Outcome {
    Exited(ExitStatus),
    TimedOut,
    /// The daemon went away (or broke) before the exit was known.
    Lost {
        kind: ErrorKind,
        message: String,
    },
}

#[derive(Debug)]
enum State {
    Created,
    /// `start` is talking to the daemon.
    Starting,
    Running {
        container: String,
    },
    ClosedBeforeStart,
}

/// The signals this side sent, so that an exit code of 128+n is reported
/// as signal n only when n was sent (a command may `exit 143` itself).
#[derive(Debug, Default)]
struct Sent {
    signals: Mutex<Vec<i32>>,
}

impl Sent {
    fn record(&self, signal: i32) {
        let mut sent = self.signals.lock().unwrap_or_else(PoisonError::into_inner);
        if !sent.contains(&signal) {
            sent.push(signal);
        }
    }

    fn contains(&self, signal: i32) -> bool {
        self.signals
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&signal)
    }
}

/// A command in a container created by [`DockerExecutor`](crate::DockerExecutor).
pub struct DockerProcess {
    command: PreparedCommand,
    spec: Mutex<Option<ContainerSpec>>,
    config: Arc<ContainerConfig>,
    client: Arc<Client>,
    close_grace: Duration,
    pipes: Pipes,
    backend_pipes: Mutex<Option<BackendPipes>>,
    state: Mutex<State>,
    closed: AtomicBool,
    sent: Arc<Sent>,
    outcome: watch::Sender<Option<Outcome>>,
    /// Dropped with the process: the supervisor then kills the container.
    _dropped: oneshot::Sender<()>,
    dropped: Mutex<Option<oneshot::Receiver<()>>>,
}

impl DockerProcess {
    pub(crate) fn new(
        command: PreparedCommand,
        spec: ContainerSpec,
        config: Arc<ContainerConfig>,
        client: Arc<Client>,
        close_grace: Duration,
    ) -> Self {
        let (pipes, backend_pipes) = command.pipes();
        let (dropped_tx, dropped_rx) = oneshot::channel();
        Self {
            command,
            spec: Mutex::new(Some(spec)),
            config,
            client,
            close_grace,
            pipes,
            backend_pipes: Mutex::new(Some(backend_pipes)),
            state: Mutex::new(State::Created),
            closed: AtomicBool::new(false),
            sent: Arc::new(Sent::default()),
            outcome: watch::Sender::new(None),
            _dropped: dropped_tx,
            dropped: Mutex::new(Some(dropped_rx)),
        }
    }

    fn lock_state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn container(&self) -> Option<String> {
        match &*self.lock_state() {
            State::Running { container } => Some(container.clone()),
            _ => None,
        }
    }

    async fn start_container(&self) -> Result<()> {
        {
            let mut state = self.lock_state();
            match *state {
                State::Created => *state = State::Starting,
                State::Starting | State::Running { .. } => {
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
        let started = self.launch().await;
        let mut state = self.lock_state();
        match started {
            Ok(launched) => {
                let container = launched.container.clone();
                if matches!(*state, State::ClosedBeforeStart) {
                    // Closed while starting: the supervisor kills it at once.
                    drop(state);
                    self.spawn_supervisor(launched, true);
                    return Err(Error::invalid_state("start the process", "it was closed"));
                }
                *state = State::Running { container };
                drop(state);
                self.spawn_supervisor(launched, false);
                Ok(())
            }
            Err(error) => {
                if matches!(*state, State::Starting) {
                    *state = State::Created;
                }
                Err(error)
            }
        }
    }

    /// Creates, attaches, subscribes and starts; on any failure after create
    /// the container is removed before the error returns.
    async fn launch(&self) -> Result<Launched> {
        let body = lock(&self.spec)
            .as_ref()
            .map(|spec| spec.body.clone())
            .ok_or_else(|| Error::invalid_state("start the process", "it was already started"))?;
        let client = &self.client;
        if self.config.pull == Pull::Always {
            self.pull().await?;
        }
        let created = match client
            .call("create a container", |d| async move {
                d.create_container(None, body).await
            })
            .await
        {
            Err(DockerError::Refused { status: 404, .. }) if self.config.pull == Pull::Missing => {
                self.pull().await?;
                let body = lock(&self.spec)
                    .as_ref()
                    .map(|spec| spec.body.clone())
                    .ok_or_else(|| {
                        Error::invalid_state("start the process", "it was already started")
                    })?;
                client
                    .call("create a container", |d| async move {
                        d.create_container(None, body).await
                    })
                    .await
            }
            other => other,
        };
        let id = match created {
            Ok(created) => created.id,
            Err(DockerError::Refused { status: 404, .. }) => {
                return Err(self.image_not_found().into());
            }
            Err(e) => return Err(e.into()),
        };
        let launched = self.attach_and_start(&id).await;
        if launched.is_err() {
            self.remove(&id).await;
        }
        launched
    }

    async fn attach_and_start(&self, id: &str) -> Result<Launched> {
        let client = &self.client;
        let options = AttachContainerOptions {
            stdin: true,
            stdout: true,
            stderr: true,
            stream: true,
            logs: false,
            detach_keys: None,
        };
        let attached = client
            .call("attach to the container", |d| async move {
                d.attach_container(id, Some(options)).await
            })
            .await?;
        let events = self.events(id)?;
        let started = Instant::now();
        let start = client
            .call("start the container", |d| async move {
                d.start_container(id, None).await
            })
            .await;
        if let Err(error) = start {
            return Err(match error {
                DockerError::Refused {
                    status: 400 | 404 | 500,
                    message,
                    ..
                } if is_missing_program(&message) => DockerError::ProgramNotFound {
                    program: self.command.program().to_owned(),
                    image: self.config.image.clone(),
                    message,
                }
                .into(),
                other => other.into(),
            });
        }
        self.command.audit.started(None);
        Ok(Launched {
            container: id.to_owned(),
            output: attached.output,
            input: attached.input,
            events,
            started,
        })
    }

    /// The container's events from before its start (see the module docs).
    fn events(&self, id: &str) -> Result<Events> {
        let docker = self.client.docker()?;
        let since = SystemTime::now()
            .checked_sub(EVENTS_SINCE)
            .unwrap_or(UNIX_EPOCH)
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let mut filters = HashMap::new();
        filters.insert("container".to_owned(), vec![id.to_owned()]);
        filters.insert("type".to_owned(), vec!["container".to_owned()]);
        let options = EventsOptions {
            since: Some(since.to_string()),
            until: None,
            filters: Some(filters),
        };
        let stream = docker.events(Some(options));
        // Polled from now on, so the daemon registers the subscription
        // before (or, at worst, replays what happened since) the start.
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(event) = stream.next().await {
                let end = event.is_err();
                if sender.send(event).is_err() || end {
                    break;
                }
            }
        });
        Ok(Events {
            receiver,
            _task: AbortOnDrop(task),
        })
    }

    async fn pull(&self) -> Result<()> {
        let image = self.config.image.clone();
        let options = CreateImageOptions {
            from_image: Some(image.clone()),
            ..Default::default()
        };
        let docker = self.client.docker()?;
        let mut progress = std::pin::pin!(docker.create_image(Some(options), None, None));
        while let Some(step) = progress.next().await {
            match step {
                Ok(_) => {}
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 404, ..
                }) => return Err(self.image_not_found().into()),
                Err(e) => {
                    let error = match crate::error::request_error(
                        "pull the image",
                        self.client.name(),
                        e,
                    ) {
                        DockerError::Refused { message, .. } => DockerError::PullFailed {
                            image: image.clone(),
                            host: self.client.name().to_owned(),
                            message,
                        },
                        other => other,
                    };
                    return Err(error.into());
                }
            }
        }
        Ok(())
    }

    fn image_not_found(&self) -> DockerError {
        DockerError::ImageNotFound {
            image: self.config.image.clone(),
            host: self.client.name().to_owned(),
            pull: self.config.pull.as_str(),
        }
    }

    /// Best effort: a container that never ran is not auto-removed.
    async fn remove(&self, id: &str) {
        let options = RemoveContainerOptions {
            force: true,
            v: true,
            link: false,
        };
        let _ = self
            .client
            .call("remove the container", |d| async move {
                d.remove_container(id, Some(options)).await
            })
            .await;
    }

    fn spawn_supervisor(&self, launched: Launched, kill_at_once: bool) {
        let backend = lock(&self.backend_pipes).take();
        let dropped = lock(&self.dropped).take();
        let supervisor = Supervisor {
            client: self.client.clone(),
            auto_remove: self.config.auto_remove,
            timeout: self.command.timeout,
            audit: self.command.audit.clone(),
            sent: self.sent.clone(),
            outcome: self.outcome.clone(),
            kill_at_once,
        };
        tokio::spawn(supervisor.run(launched, backend, dropped));
    }

    async fn kill(&self, signal: i32) -> Result<()> {
        let Some(container) = self.container() else {
            return Err(Error::invalid_state(
                "signal the process",
                "it has not been started",
            ));
        };
        if self.outcome.borrow().is_some() {
            return Ok(());
        }
        self.sent.record(signal);
        kill(&self.client, &container, signal).await
    }

    async fn wait_outcome(&self) -> Result<Outcome> {
        if self.container().is_none() {
            return Err(Error::invalid_state(
                "wait for the process",
                "it has not been started",
            ));
        }
        let mut receiver = self.outcome.subscribe();
        let outcome = receiver.wait_for(Option::is_some).await.map_err(|_| {
            Error::backend(
                BACKEND,
                ErrorKind::Other,
                "the container's supervisor stopped",
            )
        })?;
        outcome
            .clone()
            .ok_or_else(|| Error::backend(BACKEND, ErrorKind::Other, "no outcome"))
    }

    async fn close_running(&self, force: bool) -> Result<()> {
        let exited = |p: &Self| p.outcome.borrow().is_some();
        if exited(self) {
            return Ok(());
        }
        let mut receiver = self.outcome.subscribe();
        let first = if force { 9 } else { 15 };
        // A container that just ended is not an error to kill.
        let _ = self.kill(first).await;
        let in_grace = tokio::time::timeout(self.close_grace, receiver.wait_for(Option::is_some))
            .await
            .is_ok();
        if in_grace {
            return Ok(());
        }
        let _ = self.kill(9).await;
        let after_kill = tokio::time::timeout(KILL_WAIT, receiver.wait_for(Option::is_some))
            .await
            .is_ok();
        if after_kill {
            Ok(())
        } else {
            Err(Error::backend(
                BACKEND,
                ErrorKind::Timeout,
                format!(
                    "{:?} did not exit within {KILL_WAIT:?} of SIGKILL",
                    self.command.display()
                ),
            ))
        }
    }
}

impl Process for DockerProcess {
    fn pipes(&self) -> &Pipes {
        &self.pipes
    }

    fn state(&self) -> ProcessState {
        if self.closed.load(Ordering::Acquire) {
            return ProcessState::Closed;
        }
        match *self.lock_state() {
            State::Created | State::Starting => ProcessState::Created,
            State::ClosedBeforeStart => ProcessState::Closed,
            State::Running { .. } if self.outcome.borrow().is_some() => ProcessState::Exited,
            State::Running { .. } => ProcessState::Running,
        }
    }

    fn start(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.start_container())
    }

    fn signal(&self, signal: i32) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            if !(1..=64).contains(&signal) {
                return Err(Error::InvalidArgument {
                    field: "signal".to_owned(),
                    reason: format!("{signal} is not a signal number"),
                });
            }
            self.kill(signal).await?;
            if self.outcome.borrow().is_none() {
                self.command.audit.signalled(signal);
            }
            Ok(())
        })
    }

    fn wait(&self) -> BoxFuture<'_, Result<ExitStatus>> {
        Box::pin(async move {
            match self.wait_outcome().await? {
                Outcome::Exited(status) => Ok(status),
                Outcome::TimedOut => {
                    let after = self.command.timeout.unwrap_or_default();
                    Err(self.command.timeout_error(after))
                }
                Outcome::Lost { kind, message } => Err(Error::backend(BACKEND, kind, message)),
            }
        })
    }

    fn close(&self, force: bool) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let started = {
                let mut state = self.lock_state();
                match *state {
                    State::Created | State::Starting => {
                        *state = State::ClosedBeforeStart;
                        lock(&self.backend_pipes).take();
                        false
                    }
                    State::ClosedBeforeStart => false,
                    State::Running { .. } => true,
                }
            };
            if !self.closed.swap(true, Ordering::AcqRel) {
                self.command.audit.closed(force);
            }
            let result = if started {
                self.close_running(force).await
            } else {
                Ok(())
            };
            self.pipes.release();
            result
        })
    }
}

impl fmt::Debug for DockerProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DockerProcess")
            .field("executor", &self.command.executor_id)
            .field("command", &self.command.display())
            .field("image", &self.config.image)
            .field("host", &self.client.name())
            .field("state", &*self.lock_state())
            .finish_non_exhaustive()
    }
}

/// A started container and its streams.
struct Launched {
    container: String,
    output: Pin<
        Box<
            dyn futures_util::Stream<Item = std::result::Result<LogOutput, bollard::errors::Error>>
                + Send,
        >,
    >,
    input: Pin<Box<dyn AsyncWrite + Send>>,
    events: Events,
    started: Instant,
}

struct Events {
    receiver: tokio::sync::mpsc::UnboundedReceiver<
        std::result::Result<EventMessage, bollard::errors::Error>,
    >,
    _task: AbortOnDrop,
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Owns a started container until its exit is known.
struct Supervisor {
    client: Arc<Client>,
    auto_remove: bool,
    timeout: Option<Duration>,
    audit: exec_core::audit::Audit,
    sent: Arc<Sent>,
    outcome: watch::Sender<Option<Outcome>>,
    kill_at_once: bool,
}

/// What the events said.
#[derive(Debug, Default)]
struct Seen {
    exit_code: Option<i64>,
    oom: bool,
}

impl Supervisor {
    async fn run(
        self,
        launched: Launched,
        backend: Option<BackendPipes>,
        dropped: Option<oneshot::Receiver<()>>,
    ) {
        let Launched {
            container,
            output,
            input,
            mut events,
            started,
        } = launched;
        let exited = watch::Sender::new(false);
        let _io = backend.map(
            |BackendPipes {
                 stdin,
                 stdout,
                 stderr,
                 ..
             }| {
                let pump = tokio::spawn(pump(output, stdout, stderr, exited.subscribe()));
                let feed = tokio::spawn(forward_stdin(stdin, input, exited.subscribe()));
                (AbortOnDrop(pump), AbortOnDrop(feed))
            },
        );
        if self.kill_at_once {
            self.sent.record(9);
            let _ = kill(&self.client, &container, 9).await;
        }
        let mut dropped = dropped;
        let mut seen = Seen::default();
        let deadline = self.timeout.map(|t| tokio::time::Instant::now() + t);
        let mut timed_out = false;
        let lost = loop {
            let timer = async {
                match deadline {
                    Some(at) if !timed_out => tokio::time::sleep_until(at).await,
                    _ => std::future::pending().await,
                }
            };
            let on_drop = async {
                match &mut dropped {
                    Some(receiver) => {
                        let _ = receiver.await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                event = events.receiver.recv() => match event {
                    Some(Ok(event)) => {
                        match event.action.as_deref() {
                            Some("oom") => seen.oom = true,
                            Some("die") => {
                                seen.exit_code = event
                                    .actor
                                    .and_then(|a| a.attributes)
                                    .and_then(|a| a.get("exitCode").and_then(|c| c.parse().ok()));
                                break None;
                            }
                            _ => {}
                        }
                    }
                    Some(Err(e)) => break Some(crate::error::request_error("follow the container's events", self.client.name(), e)),
                    None => break Some(DockerError::DaemonGone {
                        host: self.client.name().to_owned(),
                        container: short(&container).to_owned(),
                    }),
                },
                () = timer => {
                    timed_out = true;
                    self.sent.record(9);
                    let _ = kill(&self.client, &container, 9).await;
                }
                () = on_drop => {
                    dropped = None;
                    self.sent.record(9);
                    let _ = kill(&self.client, &container, 9).await;
                }
            }
        };
        let duration = started.elapsed();
        exited.send_replace(true);
        let outcome = match lost {
            Some(error) => Outcome::Lost {
                kind: error.kind(),
                message: error.to_string(),
            },
            None => {
                let code = seen.exit_code.unwrap_or(-1);
                let mut oom = seen.oom;
                if !self.auto_remove {
                    // Still there: the daemon's own record is the surest.
                    if let Ok(state) = self.inspect(&container).await {
                        oom |= state;
                    }
                } else if code == 137 && !oom {
                    oom = wait_for_oom(&mut events, OOM_GRACE).await;
                }
                let code = i32::try_from(code).unwrap_or(-1);
                let status = match code - 128 {
                    signal
                        if (1..=64).contains(&signal)
                            && (self.sent.contains(signal) || (oom && signal == 9)) =>
                    {
                        ExitStatus::from_signal(signal, duration)
                    }
                    _ => ExitStatus::from_code(code, duration),
                }
                .with_oom_killed(oom);
                if timed_out {
                    self.audit.timed_out(self.timeout.unwrap_or_default());
                    Outcome::TimedOut
                } else {
                    self.audit.exited(&status);
                    Outcome::Exited(status)
                }
            }
        };
        self.outcome.send_replace(Some(outcome));
        // The output pump ends by itself (EOF, or DRAIN_IDLE of silence);
        // `_io` aborts nothing that still has data to hand over.
        if let Some((pump, feed)) = _io {
            let _ = pump_finished(pump).await;
            drop(feed);
        }
    }

    async fn inspect(&self, container: &str) -> std::result::Result<bool, DockerError> {
        let inspected = self
            .client
            .call("inspect the container", |d| async move {
                d.inspect_container(container, None::<InspectContainerOptions>)
                    .await
            })
            .await?;
        Ok(inspected.state.and_then(|s| s.oom_killed).unwrap_or(false))
    }
}

async fn pump_finished(mut pump: AbortOnDrop) -> std::result::Result<(), tokio::task::JoinError> {
    (&mut pump.0).await
}

/// Waits up to `grace` for an `oom` event that may trail the `die`.
async fn wait_for_oom(events: &mut Events, grace: Duration) -> bool {
    let found = tokio::time::timeout(grace, async {
        while let Some(Ok(event)) = events.receiver.recv().await {
            if event.action.as_deref() == Some("oom") {
                return true;
            }
        }
        false
    })
    .await;
    found.unwrap_or(false)
}

async fn kill(client: &Client, container: &str, signal: i32) -> Result<()> {
    let options = KillContainerOptions {
        signal: signal.to_string(),
    };
    match client
        .call("signal the container", |d| async move {
            d.kill_container(container, Some(options)).await
        })
        .await
    {
        Ok(()) => Ok(()),
        // Not running any more, or already removed: the exit is on its way.
        Err(DockerError::Refused {
            status: 404 | 409, ..
        }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Hands the container's output to the user: stdout and stderr frames to
/// their sinks, until the stream ends — or, once the exit is known, until
/// it has been silent for [`DRAIN_IDLE`].
async fn pump(
    mut output: Pin<
        Box<
            dyn futures_util::Stream<Item = std::result::Result<LogOutput, bollard::errors::Error>>
                + Send,
        >,
    >,
    mut stdout: OutputSink,
    mut stderr: OutputSink,
    mut exited: watch::Receiver<bool>,
) {
    loop {
        let frame = if *exited.borrow() {
            match tokio::time::timeout(DRAIN_IDLE, output.next()).await {
                Ok(frame) => frame,
                Err(_) => break,
            }
        } else {
            tokio::select! {
                frame = output.next() => frame,
                _ = exited.changed() => continue,
            }
        };
        match frame {
            Some(Ok(LogOutput::StdOut { message })) => stdout.send(message.into()).await,
            Some(Ok(LogOutput::StdErr { message })) => stderr.send(message.into()).await,
            Some(Ok(LogOutput::Console { message })) => stdout.send(message.into()).await,
            Some(Ok(LogOutput::StdIn { .. })) => {}
            // A broken stream ends the output; the exit comes from the events.
            Some(Err(_)) | None => break,
        }
    }
}

/// Copies what the user writes to the container's stdin; the user's close
/// becomes EOF for the command (a half-close of the attach connection).
async fn forward_stdin(
    mut from_user: DuplexStream,
    mut to_container: Pin<Box<dyn AsyncWrite + Send>>,
    mut exited: watch::Receiver<bool>,
) {
    tokio::select! {
        copied = tokio::io::copy(&mut from_user, &mut to_container) => {
            if copied.is_ok() {
                let _ = to_container.shutdown().await;
            }
        }
        () = async { let _ = exited.wait_for(|e| *e).await; } => {}
    }
}

/// The daemon's words for a program that is not in the image.
fn is_missing_program(message: &str) -> bool {
    message.contains("executable file not found") || message.contains("no such file or directory")
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
