//! The Docker transport: one command in its own container — create, attach,
//! start, and the exit learnt from the container's events. The life cycle
//! around it (state, wait, timeout, close, kill on drop) is exec-core's
//! [`ManagedProcess`].
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
    KillContainerOptions, RemoveContainerOptions, ResizeContainerTTYOptions,
};
use exec_core::backend::{
    Control, Exit, Exited, Launch, Launched, ManagedProcess, OutputSink, PreparedCommand,
    Transport, tracked,
};
use exec_core::{BoxFuture, PtySize, Result};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncWrite, AsyncWriteExt, DuplexStream};

/// After the exit is known, how long the output may stay silent before the
/// attach stream is taken as ended (some daemons keep it open: bollard 251).
const DRAIN_IDLE: Duration = Duration::from_secs(5);
/// After a `die` with 137 and no `oom` event yet, how long to wait for one.
const OOM_GRACE: Duration = Duration::from_millis(500);
/// How far back the event subscription reaches: far enough for any clock
/// skew between here and the daemon, within the daemon's event buffer.
const EVENTS_SINCE: Duration = Duration::from_secs(300);

/// A command in a container created by [`DockerExecutor`](crate::DockerExecutor).
pub type DockerProcess = ManagedProcess<DockerTransport>;

/// How a command's container is made and followed: what
/// [`DockerExecutor`](crate::DockerExecutor) hands exec-core's life cycle.
#[derive(Debug)]
pub struct DockerTransport {
    pub(crate) spec: ContainerSpec,
    pub(crate) config: Arc<ContainerConfig>,
    pub(crate) client: Arc<Client>,
}

impl Transport for DockerTransport {
    const BACKEND: &'static str = BACKEND;

    async fn launch(self, launch: Launch) -> Result<Launched> {
        let Launch {
            command,
            pipes,
            exited,
            ..
        } = launch;
        let started = self.launch_container(&command).await?;
        // Started: the daemon's mounts hold the call's sources now.
        drop(self.spec);
        let container = started.container.clone();
        let (output, input, events) = (started.output, started.input, started.events);
        // Both end by themselves: the output at its end (or DRAIN_IDLE of
        // silence once the exit is known), stdin at its EOF or the exit.
        // In a terminal everything comes as one stream, on stdout.
        let stderr = command.pty().is_none().then_some(pipes.stderr);
        // What the exit future learnt, for the output to tell its normal
        // end from a cut one.
        let (end_sender, end) = tokio::sync::watch::channel(None);
        let output = Output {
            frames: output,
            sinks: Sinks {
                stdout: pipes.stdout,
                stderr,
                host: self.client.name().to_owned(),
                container: short(&container).to_owned(),
            },
            exited: exited.clone(),
            end,
        };
        tokio::spawn(output.pump());
        let in_terminal = command.pty().is_some();
        tokio::spawn(forward_stdin(pipes.stdin, input, exited, in_terminal));
        let control = ContainerControl {
            client: self.client.clone(),
            container: container.clone(),
            runtime: tokio::runtime::Handle::current(),
        };
        if let Some(pty) = command.pty() {
            // For daemons before 23.0, which ignore the size given at create.
            let _ = control.resize(pty.size()).await;
        }
        let follow = follow(self.client, container, self.config.auto_remove, events);
        let exit = async move {
            let exit = follow.await;
            end_sender.send_replace(Some(match &exit {
                Ok(_) => End::Exited,
                Err(error) => End::Lost(describe(error)),
            }));
            exit.map_err(exec_core::Error::from)
        };
        Ok(Launched::new(control, exit))
    }
}

impl DockerTransport {
    /// Creates, attaches, subscribes and starts; on any failure after create
    /// the container is removed before the error returns.
    async fn launch_container(&self, command: &PreparedCommand) -> Result<Started> {
        let client = &self.client;
        if self.config.pull == Pull::Always {
            self.pull().await?;
        }
        let body = self.spec.body.clone();
        let created = match client
            .call("create a container", |d| async move {
                d.create_container(None, body).await
            })
            .await
        {
            Err(DockerError::Refused { status: 404, .. }) if self.config.pull == Pull::Missing => {
                self.pull().await?;
                let body = self.spec.body.clone();
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
        // Removed if this future is dropped before the container started
        // (the caller gave up, or the runtime is shutting down).
        let mut created = Created::new(self.client.clone(), id.clone());
        match self.attach_and_start(command, &id).await {
            Ok(started) => {
                created.keep();
                Ok(started)
            }
            Err(error) => {
                created.remove().await;
                Err(error)
            }
        }
    }

    async fn attach_and_start(&self, command: &PreparedCommand, id: &str) -> Result<Started> {
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
        let start = client
            .call("start the container", |d| async move {
                d.start_container(id, None).await
            })
            .await;
        if let Err(error) = start {
            let (program, image) = (command.program(), &self.config.image);
            return Err(crate::error::start_failed(error, program, image, &self.spec.held).into());
        }
        Ok(Started {
            container: id.to_owned(),
            output: attached.output,
            input: attached.input,
            events,
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
}

/// A container created and not yet known to have started: removed (force)
/// unless kept, also when the launch is dropped half-way.
struct Created {
    client: Arc<Client>,
    id: Option<String>,
}

impl Created {
    fn new(client: Arc<Client>, id: String) -> Self {
        Self {
            client,
            id: Some(id),
        }
    }

    fn keep(&mut self) {
        self.id = None;
    }

    /// Best effort: a container that never ran is not auto-removed.
    async fn remove(mut self) {
        if let Some(id) = self.id.take() {
            remove(&self.client, &id).await;
        }
    }
}

impl Drop for Created {
    fn drop(&mut self) {
        if let (Some(id), Ok(runtime)) = (self.id.take(), tokio::runtime::Handle::try_current()) {
            let client = self.client.clone();
            runtime.spawn(tracked(async move { remove(&client, &id).await }));
        }
    }
}

async fn remove(client: &Client, id: &str) {
    let options = RemoveContainerOptions {
        force: true,
        v: true,
        link: false,
    };
    let _ = client
        .call("remove the container", |d| async move {
            d.remove_container(id, Some(options)).await
        })
        .await;
}

/// Signals go to the container through the daemon.
struct ContainerControl {
    client: Arc<Client>,
    container: String,
    /// For `kill_now`, which may be called where no runtime is current.
    runtime: tokio::runtime::Handle,
}

impl Control for ContainerControl {
    fn signal(&self, signal: i32) -> BoxFuture<'_, Result<()>> {
        Box::pin(kill(&self.client, &self.container, signal))
    }

    fn resize(&self, size: PtySize) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let options = ResizeContainerTTYOptions {
                h: i32::from(size.height()),
                w: i32::from(size.width()),
            };
            let container = self.container.as_str();
            match self
                .client
                .call("resize the terminal", |d| async move {
                    d.resize_container_tty(container, options).await
                })
                .await
            {
                // Ended meanwhile: nothing to resize.
                Ok(())
                | Err(DockerError::Refused {
                    status: 404 | 409, ..
                }) => Ok(()),
                Err(e) => Err(e.into()),
            }
        })
    }

    fn kill_now(&self) {
        let (client, container) = (self.client.clone(), self.container.clone());
        self.runtime.spawn(tracked(async move {
            let _ = kill(&client, &container, 9).await;
        }));
    }
}

/// A started container and its streams.
struct Started {
    container: String,
    output: Frames,
    input: Pin<Box<dyn AsyncWrite + Send>>,
    events: Events,
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

/// What the events said.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    pub(crate) exit_code: Option<i64>,
    pub(crate) oom: bool,
}

impl Seen {
    /// Takes in one event of the container; `true` once it died (the exit
    /// code is then known, if the daemon gave a number).
    pub(crate) fn observe(&mut self, event: EventMessage) -> bool {
        match event.action.as_deref() {
            Some("oom") => {
                self.oom = true;
                false
            }
            Some("die") => {
                self.exit_code = event
                    .actor
                    .and_then(|a| a.attributes)
                    .and_then(|a| a.get("exitCode").and_then(|c| c.parse().ok()));
                true
            }
            _ => false,
        }
    }

    /// The exit as the life cycle takes it: -1 for a code that is missing
    /// or does not fit.
    pub(crate) fn exit(&self, oom: bool) -> Exit {
        let code = self
            .exit_code
            .and_then(|c| i32::try_from(c).ok())
            .unwrap_or(-1);
        Exit::from_shell_code(code).with_oom_killed(oom)
    }
}

/// Follows a started container to its end: the `die` event's exit code, and
/// whether the kernel killed it for memory (the `oom` event, or the daemon's
/// record while the container is still there). Then lets the output drain.
async fn follow(
    client: Arc<Client>,
    container: String,
    auto_remove: bool,
    mut events: Events,
) -> std::result::Result<Exit, DockerError> {
    let mut seen = Seen::default();
    let lost = loop {
        match events.receiver.recv().await {
            Some(Ok(event)) => {
                if seen.observe(event) {
                    break None;
                }
            }
            Some(Err(e)) => {
                break Some(crate::error::request_error(
                    "follow the container's events",
                    client.name(),
                    e,
                ));
            }
            None => {
                break Some(DockerError::DaemonGone {
                    host: client.name().to_owned(),
                    container: short(&container).to_owned(),
                });
            }
        }
    };
    if let Some(error) = lost {
        return Err(error);
    }
    let code = seen.exit_code.unwrap_or(-1);
    let mut oom = seen.oom;
    if !auto_remove {
        // Still there: the daemon's own record is the surest.
        if let Ok(state) = inspect(&client, &container).await {
            oom |= state;
        }
    } else if code == 137 && !oom {
        oom = wait_for_oom(&mut events, OOM_GRACE).await;
    }
    Ok(seen.exit(oom))
}

async fn inspect(client: &Client, container: &str) -> std::result::Result<bool, DockerError> {
    let inspected = client
        .call("inspect the container", |d| async move {
            d.inspect_container(container, None::<InspectContainerOptions>)
                .await
        })
        .await?;
    Ok(inspected.state.and_then(|s| s.oom_killed).unwrap_or(false))
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

/// How the exit future found the container's end.
#[derive(Debug, Clone)]
enum End {
    /// The daemon reported it (the `die` event).
    Exited,
    /// The end could not be learnt: the daemon went away (why, in words).
    Lost(String),
}

/// The attach stream of a started container and where its frames go.
struct Output {
    frames: Frames,
    sinks: Sinks,
    exited: Exited,
    end: tokio::sync::watch::Receiver<Option<End>>,
}

/// The container's output as bollard decodes the attach stream.
type Frames = Pin<
    Box<
        dyn futures_util::Stream<Item = std::result::Result<LogOutput, bollard::errors::Error>>
            + Send,
    >,
>;

impl Output {
    /// Hands the container's output to the user: stdout and stderr frames
    /// to their sinks, until the stream ends — or, once the exit is known,
    /// until it has been silent for [`DRAIN_IDLE`]. A stream that breaks
    /// (a frame cut short, a connection error), or ends while the container
    /// has not ended, was cut: the user's streams end with an error saying
    /// so instead of EOF.
    async fn pump(mut self) {
        loop {
            let frame = if self.exited.has_exited() {
                match tokio::time::timeout(DRAIN_IDLE, self.frames.next()).await {
                    Ok(frame) => frame,
                    Err(_) => return,
                }
            } else {
                tokio::select! {
                    frame = self.frames.next() => frame,
                    () = self.exited.wait() => continue,
                }
            };
            let delivered = match frame {
                Some(Ok(frame)) => self.sinks.deliver(frame).await,
                Some(Err(error)) => Err(format!("the attach stream broke: {}", describe(&error))),
                None => return self.ended().await,
            };
            if let Err(why) = delivered {
                return self.sinks.cut(&why);
            }
        }
    }

    /// The daemon closed the attach stream, which it does once the
    /// container's output has ended: normal if the container's end is
    /// known (or comes within [`DRAIN_IDLE`]), a cut otherwise.
    async fn ended(mut self) {
        let end = tokio::time::timeout(DRAIN_IDLE, self.end.wait_for(Option::is_some))
            .await
            .map(|end| end.map(|end| end.clone()));
        let why = match end {
            Ok(Ok(Some(End::Lost(why)))) => why,
            // The end is known; or the exit future is gone, and so is the process.
            Ok(Ok(Some(End::Exited) | None) | Err(_)) => return,
            Err(_) => format!(
                "the daemon closed the attach stream and did not report the container's end within {DRAIN_IDLE:?}"
            ),
        };
        self.sinks.cut(&why);
    }
}

/// Where a container's output goes, and what names it in errors.
pub(crate) struct Sinks {
    pub(crate) stdout: OutputSink,
    /// `None` in a terminal: everything comes on stdout.
    pub(crate) stderr: Option<OutputSink>,
    /// The daemon and the container (short id), for the error of a cut stream.
    pub(crate) host: String,
    pub(crate) container: String,
}

impl Sinks {
    /// Hands one decoded frame to its stream. Without a terminal every
    /// frame is multiplexed (an 8-byte header naming the stream): bytes
    /// bollard could not frame (`Console`: a header naming no stream, or a
    /// frame cut short at the end) mean the stream is cut or is not what
    /// the daemon should send, and are not handed over as output.
    pub(crate) async fn deliver(&mut self, frame: LogOutput) -> std::result::Result<(), String> {
        match (frame, self.stderr.as_mut()) {
            (LogOutput::StdOut { message }, _) => self.stdout.send(message.into()).await,
            (LogOutput::StdErr { message }, Some(stderr)) => stderr.send(message.into()).await,
            (LogOutput::StdErr { message } | LogOutput::Console { message }, None) => {
                self.stdout.send(message.into()).await;
            }
            (LogOutput::Console { message }, Some(_)) => {
                return Err(format!(
                    "the daemon sent {} bytes that are not a whole frame of the multiplexed stream",
                    message.len()
                ));
            }
            (LogOutput::StdIn { .. }, _) => {}
        }
        Ok(())
    }

    /// Ends both streams with an error naming what was cut and why.
    pub(crate) fn cut(self, why: &str) {
        let (host, container) = (&self.host, &self.container);
        let error = |stream: &str| {
            std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!(
                    "the {stream} of container {container} on the Docker daemon at {host} was cut \
                     (output may be missing): {why}"
                ),
            )
        };
        let stream = if self.stderr.is_some() {
            "stdout"
        } else {
            "output"
        };
        self.stdout.cut(error(stream));
        if let Some(stderr) = self.stderr {
            stderr.cut(error("stderr"));
        }
    }
}

/// An error and its sources, on one line.
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Copies what the user writes to the container's stdin; the user's close
/// becomes EOF for the command (a half-close of the attach connection),
/// except in a terminal, whose connection stays open until the exit.
async fn forward_stdin(
    mut from_user: DuplexStream,
    mut to_container: Pin<Box<dyn AsyncWrite + Send>>,
    mut exited: Exited,
    in_terminal: bool,
) {
    tokio::select! {
        copied = tokio::io::copy(&mut from_user, &mut to_container) => {
            if in_terminal {
                // With a TTY the daemon ends the attach's output when its
                // stdin ends (moby's attach closes stdout with stdin), so
                // what the command prints after would be lost; in a
                // terminal `^D` is end of input, as on the other backends.
                exited.wait().await;
            } else if copied.is_ok() {
                let _ = to_container.shutdown().await;
            }
        }
        () = exited.wait() => {}
    }
}
