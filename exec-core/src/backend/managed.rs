//! [`ManagedProcess`]: the one process life cycle, over any [`Transport`].

use super::{
    Control, Exit, Exited, Launch, Launched, PreparedCommand, Termination, Transport, tracked,
};
use crate::error::{Error, Result};
use crate::executor::BoxFuture;
use crate::pipes::{BackendPipes, Pipes};
use crate::process::{Process, ProcessState};
use crate::pty::PtySize;
use crate::status::ExitStatus;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::Poll;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How long a close waits for the exit after SIGKILL before it gives up with
/// [`Error::CloseTimedOut`]: the same bound on every backend.
pub const KILL_WAIT: Duration = Duration::from_secs(10);

/// How long a close that finds the command still starting waits for the
/// launch to finish. A launch that finishes later still kills its command.
pub const START_WAIT: Duration = Duration::from_secs(60);

/// A process whose life cycle exec-core runs over a backend's [`Transport`]:
/// what a backend's `create_process` returns. See the
/// [module docs](crate::backend) for what it does.
pub struct ManagedProcess<T: Transport> {
    shared: Arc<Shared>,
    /// Until `start` takes it.
    transport: Mutex<Option<T>>,
}

/// What the life cycle's tasks share with the process.
struct Shared {
    backend: &'static str,
    command: Arc<PreparedCommand>,
    pipes: Pipes,
    /// The backend's side of the pipes, until `start` (or a close) takes it.
    backend_pipes: Mutex<Option<BackendPipes>>,
    phase: watch::Sender<Phase>,
    /// Set (under the phase's lock) by the first close.
    closed: AtomicBool,
    /// Set (under the phase's lock) when the process is dropped unclosed.
    dropped: AtomicBool,
    /// A close runs in a task of its own (not in a `close` future that may
    /// never be polled).
    closer_spawned: AtomicBool,
    /// Bit n-1 set: this side sent signal n.
    sent: AtomicU64,
    outcome: watch::Sender<Option<Outcome>>,
    /// Mirrors `outcome.is_some()` for transports ([`Exited`]).
    exited: watch::Sender<bool>,
    close_result: watch::Sender<Option<Result<(), CloseFailure>>>,
}

enum Phase {
    Created,
    Starting,
    Running {
        control: Arc<dyn Control>,
        pid: Option<u32>,
    },
    /// The start failed: nothing runs, nothing more can be done.
    Failed,
    ClosedBeforeStart,
}

impl Phase {
    fn name(&self) -> &'static str {
        match self {
            Phase::Created => "created",
            Phase::Starting => "starting",
            Phase::Running { .. } => "running",
            Phase::Failed => "failed to start",
            Phase::ClosedBeforeStart => "closed before start",
        }
    }
}

/// How a started command ended.
#[derive(Clone)]
enum Outcome {
    Exited(ExitStatus),
    TimedOut,
    /// The exit could not be learnt (a daemon went away).
    Failed(Arc<Error>),
}

#[derive(Clone)]
enum CloseFailure {
    NotEnded,
    StillStarting,
    Unreachable(Arc<Error>),
}

impl<T: Transport> ManagedProcess<T> {
    /// A process for `command` that `transport` will launch on `start`. Its
    /// pipes exist from now on.
    pub fn new(command: PreparedCommand, transport: T) -> Self {
        let (pipes, backend_pipes) = command.pipes();
        let shared = Arc::new(Shared {
            backend: T::BACKEND,
            command: Arc::new(command),
            pipes,
            backend_pipes: Mutex::new(Some(backend_pipes)),
            phase: watch::Sender::new(Phase::Created),
            closed: AtomicBool::new(false),
            dropped: AtomicBool::new(false),
            closer_spawned: AtomicBool::new(false),
            sent: AtomicU64::new(0),
            outcome: watch::Sender::new(None),
            exited: watch::Sender::new(false),
            close_result: watch::Sender::new(None),
        });
        Self {
            shared,
            transport: Mutex::new(Some(transport)),
        }
    }

    /// The command this process runs.
    pub fn command(&self) -> &PreparedCommand {
        &self.shared.command
    }

    async fn start_once(&self) -> Result<()> {
        let claimed = self.shared.phase.send_if_modified(|phase| {
            if matches!(phase, Phase::Created) && !self.shared.closed.load(Ordering::SeqCst) {
                *phase = Phase::Starting;
                true
            } else {
                false
            }
        });
        if !claimed {
            return Err(match *self.shared.phase.borrow() {
                Phase::Created | Phase::ClosedBeforeStart => {
                    Error::invalid_state("start the process", "it was closed")
                }
                Phase::Failed => Error::invalid_state("start the process", "its start failed"),
                Phase::Starting | Phase::Running { .. } => {
                    Error::invalid_state("start the process", "it was already started")
                }
            });
        }
        let (Some(transport), Some(pipes)) = (
            lock(&self.transport).take(),
            lock(&self.shared.backend_pipes).take(),
        ) else {
            return Err(Error::invalid_state(
                "start the process",
                "it was already started",
            ));
        };
        let launch = Launch {
            command: self.shared.command.clone(),
            pipes,
            exited: Exited(self.shared.exited.subscribe()),
        };
        // The timeout counts from here, the launch included.
        let deadline = self
            .shared
            .command
            .timeout()
            .map(|timeout| tokio::time::Instant::now() + timeout);
        let shared = self.shared.clone();
        let launching = async move {
            let launched = transport.launch(launch).await;
            shared.launched(launched, deadline)
        };
        // A launch that is done at its first poll (a host process) needs no
        // task; one that waits (a daemon) goes on in a task of its own, so
        // that a caller who drops this future does not cut it in half (a
        // container created and never started).
        let mut launching = Box::pin(launching);
        let first = std::future::poll_fn(|cx| Poll::Ready(launching.as_mut().poll(cx))).await;
        if let Poll::Ready(result) = first {
            return result;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => runtime.spawn(tracked(launching)).await.unwrap_or_else(|e| {
                Err(Error::backend(
                    T::BACKEND,
                    crate::ErrorKind::Other,
                    format!(
                        "the launch of {:?} failed: {e}",
                        self.shared.command.display()
                    ),
                ))
            }),
            Err(_) => launching.await,
        }
    }
}

impl Shared {
    fn audit(&self) -> &crate::audit::Audit {
        self.command.audit()
    }

    /// Takes the launch's result: the command runs (or the start failed).
    fn launched(
        self: &Arc<Self>,
        launched: Result<Launched>,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<()> {
        let Launched { control, exit, pid } = match launched {
            Ok(launched) => launched,
            Err(error) => {
                self.phase.send_replace(Phase::Failed);
                self.pipes.release();
                self.exited.send_replace(true);
                return Err(error);
            }
        };
        let started = Instant::now();
        self.audit().started(pid);
        let mut unwanted = (false, false);
        self.phase.send_modify(|phase| {
            *phase = Phase::Running {
                control: control.clone(),
                pid,
            };
            unwanted = (
                self.closed.load(Ordering::SeqCst),
                self.dropped.load(Ordering::SeqCst),
            );
        });
        let supervisor = supervise(self.clone(), control.clone(), exit, started, deadline);
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn(supervisor)),
            // Backends need a runtime to launch; without one nothing would
            // ever learn the exit, so say so rather than hang a wait.
            Err(_) => {
                self.record(9);
                control.kill_now();
                self.publish(Outcome::Failed(Arc::new(Error::backend(
                    self.backend,
                    crate::ErrorKind::Other,
                    "no tokio runtime to follow the command on",
                ))));
            }
        }
        match unwanted {
            (true, _) => {
                // Closed while starting: the close kills it too, but it may
                // have given up waiting for the start.
                self.record(9);
                control.kill_now();
                Err(Error::invalid_state(
                    "start the process",
                    "it was closed while it started",
                ))
            }
            (false, true) => {
                self.record(9);
                control.kill_now();
                Ok(())
            }
            (false, false) => Ok(()),
        }
    }

    fn record(&self, signal: i32) {
        if (1..=64).contains(&signal) {
            self.sent.fetch_or(1 << (signal - 1), Ordering::SeqCst);
        }
    }

    fn was_sent(&self, signal: i32) -> bool {
        (1..=64).contains(&signal) && self.sent.load(Ordering::SeqCst) & (1 << (signal - 1)) != 0
    }

    fn has_exited(&self) -> bool {
        self.outcome.borrow().is_some()
    }

    fn publish(&self, outcome: Outcome) {
        self.outcome.send_replace(Some(outcome));
        self.exited.send_replace(true);
    }

    /// The exit status for what the backend reported (the 128+n rule).
    fn status(&self, exit: Exit, duration: Duration) -> ExitStatus {
        let status = match exit.termination {
            Termination::Signal(signal) => ExitStatus::from_signal(signal, duration),
            Termination::Code(code) => ExitStatus::from_code(code, duration),
            Termination::ShellCode(code) => {
                let signal = code.wrapping_sub(128);
                if self.was_sent(signal) || (exit.oom_killed && signal == 9) {
                    ExitStatus::from_signal(signal, duration)
                } else {
                    ExitStatus::from_code(code, duration)
                }
            }
        };
        status.with_oom_killed(exit.oom_killed)
    }

    /// Waits up to `limit` for the exit to be known.
    async fn exited_within(&self, limit: Duration) -> bool {
        let mut outcome = self.outcome.subscribe();
        tokio::time::timeout(limit, outcome.wait_for(Option::is_some))
            .await
            .is_ok()
    }

    /// Records and delivers `signal`.
    async fn deliver(&self, control: &dyn Control, signal: i32) -> Result<()> {
        self.record(signal);
        control.signal(signal).await
    }

    /// Marks the process closed and begins closing it; the result comes on
    /// `close_result`. Only the first call does anything. The rest of the
    /// close runs in a task of the current runtime; without one it is
    /// returned, for the caller's `close` future to run.
    fn begin_close(self: &Arc<Self>, force: bool) -> Option<BoxFuture<'static, ()>> {
        let mut first = false;
        let mut started = false;
        self.phase.send_if_modified(|phase| {
            first = !self.closed.swap(true, Ordering::SeqCst);
            started = matches!(phase, Phase::Starting | Phase::Running { .. });
            if first && matches!(phase, Phase::Created) {
                *phase = Phase::ClosedBeforeStart;
                return true;
            }
            false
        });
        if !first {
            return None;
        }
        self.audit().closed(force);
        if !started || self.has_exited() {
            // Readers taken before a start that never comes see the end.
            drop(lock(&self.backend_pipes).take());
            self.pipes.release();
            self.close_result.send_replace(Some(Ok(())));
            return None;
        }
        let shared = self.clone();
        let closing: BoxFuture<'static, ()> = Box::pin(async move {
            let result = shared.close_started(force).await;
            shared.pipes.release();
            shared.close_result.send_replace(Some(result));
        });
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                self.closer_spawned.store(true, Ordering::SeqCst);
                drop(runtime.spawn(tracked(closing)));
                None
            }
            Err(_) => Some(closing),
        }
    }

    /// The close of a process that was started (or is starting).
    async fn close_started(&self, force: bool) -> Result<(), CloseFailure> {
        let mut phase = self.phase.subscribe();
        let was_starting = matches!(*phase.borrow(), Phase::Starting);
        let control = match tokio::time::timeout(
            START_WAIT,
            phase.wait_for(|p| !matches!(p, Phase::Starting)),
        )
        .await
        {
            Err(_) => return Err(CloseFailure::StillStarting),
            Ok(Err(_)) => None,
            Ok(Ok(phase)) => match &*phase {
                Phase::Running { control, .. } => Some(control.clone()),
                _ => None,
            },
        };
        let Some(control) = control else {
            return Ok(());
        };
        if self.has_exited() {
            return Ok(());
        }
        // A command closed while it started has done nothing yet worth a
        // grace period.
        let first = if force || was_starting { 9 } else { 15 };
        let mut unreachable = self.deliver(control.as_ref(), first).await.err();
        let in_grace = async {
            tokio::select! {
                exited = self.exited_within(self.command.close_grace()) => exited,
                // The program is ending (`settle`): no grace.
                () = super::in_flight::hurried() => self.has_exited(),
            }
        };
        if first != 9 && !in_grace.await {
            unreachable = self
                .deliver(control.as_ref(), 9)
                .await
                .err()
                .or(unreachable);
        }
        if self.exited_within(KILL_WAIT).await {
            return Ok(());
        }
        Err(match unreachable {
            Some(error) => CloseFailure::Unreachable(Arc::new(error)),
            None => CloseFailure::NotEnded,
        })
    }

    fn close_error(&self, failure: CloseFailure) -> Error {
        let command = self.command.display().to_owned();
        match failure {
            CloseFailure::NotEnded => Error::CloseTimedOut {
                command,
                after: KILL_WAIT,
                reason: "it did not end after SIGKILL",
            },
            CloseFailure::StillStarting => Error::CloseTimedOut {
                command,
                after: START_WAIT,
                reason: "it was still starting",
            },
            CloseFailure::Unreachable(error) => Error::Backend {
                backend: self.backend,
                kind: error.kind(),
                message: format!("close {command:?}: it could not be signalled"),
                source: Some(Box::new(error)),
            },
        }
    }
}

/// Follows a launched command to its end: the exit, or the timeout (SIGKILL,
/// then the exit for at most [`KILL_WAIT`]).
async fn supervise(
    shared: Arc<Shared>,
    control: Arc<dyn Control>,
    exit: BoxFuture<'static, Result<Exit>>,
    started: Instant,
    deadline: Option<tokio::time::Instant>,
) {
    let timeout = shared.command.timeout();
    let mut exit = exit;
    let ended = match deadline {
        None => Some(exit.as_mut().await),
        Some(deadline) => tokio::time::timeout_at(deadline, exit.as_mut()).await.ok(),
    };
    let outcome = match ended {
        Some(Ok(exit)) => {
            let status = shared.status(exit, started.elapsed());
            shared.audit().exited(&status);
            Outcome::Exited(status)
        }
        Some(Err(error)) => Outcome::Failed(Arc::new(error)),
        None => {
            let _ = shared.deliver(control.as_ref(), 9).await;
            let _ = tokio::time::timeout(KILL_WAIT, exit.as_mut()).await;
            shared.audit().timed_out(timeout.unwrap_or_default());
            Outcome::TimedOut
        }
    };
    shared.publish(outcome);
}

impl<T: Transport> Process for ManagedProcess<T> {
    fn pipes(&self) -> &Pipes {
        &self.shared.pipes
    }

    fn state(&self) -> ProcessState {
        if self.shared.closed.load(Ordering::SeqCst) {
            return ProcessState::Closed;
        }
        match *self.shared.phase.borrow() {
            Phase::Created | Phase::Starting => ProcessState::Created,
            Phase::Failed | Phase::ClosedBeforeStart => ProcessState::Closed,
            Phase::Running { .. } if self.shared.has_exited() => ProcessState::Exited,
            Phase::Running { .. } => ProcessState::Running,
        }
    }

    fn id(&self) -> Option<u32> {
        match *self.shared.phase.borrow() {
            Phase::Running { pid, .. } => pid,
            _ => None,
        }
    }

    fn start(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.start_once())
    }

    fn signal(&self, signal: i32) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            if !(1..=64).contains(&signal) {
                return Err(Error::InvalidArgument {
                    field: "signal".to_owned(),
                    reason: format!("{signal} is not a signal number (1 to 64)"),
                });
            }
            let control = match &*self.shared.phase.borrow() {
                Phase::Running { control, .. } => control.clone(),
                _ => {
                    return Err(Error::invalid_state(
                        "signal the process",
                        "it has not been started",
                    ));
                }
            };
            if self.shared.has_exited() {
                return Ok(());
            }
            self.shared.audit().signalled(signal);
            self.shared.deliver(control.as_ref(), signal).await
        })
    }

    fn resize(&self, size: PtySize) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            if self.shared.command.pty().is_none() {
                return Err(Error::invalid_state(
                    "resize the terminal",
                    "the process has no terminal",
                ));
            }
            size.check("size")?;
            let control = match &*self.shared.phase.borrow() {
                Phase::Running { control, .. } => control.clone(),
                _ => {
                    return Err(Error::invalid_state(
                        "resize the terminal",
                        "the process has not been started",
                    ));
                }
            };
            if self.shared.has_exited() {
                return Ok(());
            }
            control.resize(size).await
        })
    }

    fn wait(&self) -> BoxFuture<'_, Result<ExitStatus>> {
        Box::pin(async move {
            let mut phase = self.shared.phase.subscribe();
            let running = match phase.wait_for(|p| !matches!(p, Phase::Starting)).await {
                Ok(phase) => matches!(*phase, Phase::Running { .. }),
                Err(_) => false,
            };
            if !running {
                return Err(Error::invalid_state(
                    "wait for the process",
                    "it has not been started",
                ));
            }
            let mut outcome = self.shared.outcome.subscribe();
            let outcome = match outcome.wait_for(Option::is_some).await {
                Ok(outcome) => outcome.clone(),
                Err(_) => None,
            };
            let command = &self.shared.command;
            match outcome {
                Some(Outcome::Exited(status)) => Ok(status),
                Some(Outcome::TimedOut) => {
                    Err(command.timeout_error(command.timeout().unwrap_or_default()))
                }
                // The error says it all; it is shared by every waiter, so it
                // comes wrapped, kind and message kept.
                Some(Outcome::Failed(error)) => Err(Error::Backend {
                    backend: self.shared.backend,
                    kind: error.kind(),
                    message: format!("wait for {:?}: {error}", command.display()),
                    source: Some(Box::new(error)),
                }),
                None => Err(Error::backend(
                    self.shared.backend,
                    crate::ErrorKind::Other,
                    format!("wait for {:?}: its supervisor stopped", command.display()),
                )),
            }
        })
    }

    fn close(&self, force: bool) -> BoxFuture<'_, Result<()>> {
        let inline = self.shared.begin_close(force);
        let shared = self.shared.clone();
        Box::pin(async move {
            if let Some(closing) = inline {
                closing.await;
            }
            let mut result = shared.close_result.subscribe();
            let result = match result.wait_for(Option::is_some).await {
                Ok(result) => result.clone(),
                Err(_) => None,
            };
            match result {
                Some(Ok(())) | None => Ok(()),
                Some(Err(failure)) => Err(shared.close_error(failure)),
            }
        })
    }
}

impl<T: Transport> Drop for ManagedProcess<T> {
    fn drop(&mut self) {
        let mut kill = None;
        self.shared.phase.send_if_modified(|phase| {
            // Unclosed, or closed where no task carries the close on (no
            // runtime, and its `close` future is gone with this process).
            let shared = &self.shared;
            let left = !shared.closed.load(Ordering::SeqCst)
                || (!shared.closer_spawned.load(Ordering::SeqCst)
                    && shared.close_result.borrow().is_none());
            if left {
                shared.dropped.store(true, Ordering::SeqCst);
                if let Phase::Running { control, .. } = phase {
                    kill = Some(control.clone());
                }
            }
            false
        });
        if let Some(control) = kill {
            if !self.shared.has_exited() {
                self.shared.record(9);
                control.kill_now();
            }
        }
    }
}

impl Drop for Shared {
    /// The last holder is gone (the runtime shut down under a close or a
    /// supervisor): a command whose end nobody saw is killed.
    fn drop(&mut self) {
        if self.outcome.borrow().is_none() {
            if let Phase::Running { control, .. } = &*self.phase.borrow() {
                control.kill_now();
            }
        }
    }
}

impl<T: Transport> fmt::Debug for ManagedProcess<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagedProcess")
            .field("backend", &self.shared.backend)
            .field("executor", &self.shared.command.executor_id())
            .field("command", &self.shared.command.display())
            .field("phase", &self.shared.phase.borrow().name())
            .field("closed", &self.shared.closed.load(Ordering::SeqCst))
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::{ErrorKind, ExecOptions, ExecutorSettings};
    use std::sync::atomic::AtomicUsize;
    use tokio::sync::oneshot;

    /// A transport whose command ends when the test says, with what it says,
    /// and which counts the signals it is asked to deliver.
    struct Scripted {
        exit: oneshot::Receiver<Result<Exit>>,
        signals: Arc<AtomicUsize>,
        fail_launch: bool,
    }

    struct Counting(Arc<AtomicUsize>);

    impl Control for Counting {
        fn signal(&self, _signal: i32) -> BoxFuture<'_, Result<()>> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Box::pin(async { Ok(()) })
        }
        fn kill_now(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    impl Transport for Scripted {
        const BACKEND: &'static str = "scripted";

        async fn launch(self, launch: Launch) -> Result<Launched> {
            drop(launch.pipes);
            if self.fail_launch {
                return Err(Error::NotFound {
                    what: "the scripted program".to_owned(),
                });
            }
            let exit = async move {
                self.exit.await.unwrap_or_else(|_| {
                    // Never told: the command never ends.
                    Err(Error::other(ErrorKind::Other, "unreachable"))
                })
            };
            Ok(Launched::new(Counting(self.signals), exit))
        }
    }

    fn scripted(
        settings: ExecutorSettings,
    ) -> (
        ManagedProcess<Scripted>,
        oneshot::Sender<Result<Exit>>,
        Arc<AtomicUsize>,
    ) {
        let (tell, exit) = oneshot::channel();
        let signals = Arc::new(AtomicUsize::new(0));
        let command = settings
            .prepare("anything".into(), ExecOptions::new())
            .unwrap();
        let transport = Scripted {
            exit,
            signals: signals.clone(),
            fail_launch: false,
        };
        (ManagedProcess::new(command, transport), tell, signals)
    }

    #[tokio::test]
    async fn a_shell_code_of_128_plus_n_is_signal_n_only_when_n_was_sent() {
        let (process, tell, _) = scripted(ExecutorSettings::new("t:x"));
        process.start().await.unwrap();
        tell.send(Ok(Exit::from_shell_code(143))).ok();
        let status = process.wait().await.unwrap();
        assert_eq!((status.code(), status.signal()), (Some(143), None));

        let (process, tell, signals) = scripted(ExecutorSettings::new("t:x"));
        process.start().await.unwrap();
        process.signal(15).await.unwrap();
        assert_eq!(signals.load(Ordering::SeqCst), 1);
        tell.send(Ok(Exit::from_shell_code(143))).ok();
        let status = process.wait().await.unwrap();
        assert_eq!((status.code(), status.signal()), (None, Some(15)));

        // Reported by the backend as an OOM kill: 137 is SIGKILL, unsent.
        let (process, tell, _) = scripted(ExecutorSettings::new("t:x"));
        process.start().await.unwrap();
        tell.send(Ok(Exit::from_shell_code(137).with_oom_killed(true)))
            .ok();
        let status = process.wait().await.unwrap();
        assert_eq!(status.signal(), Some(9));
        assert!(status.oom_killed());

        // A backend that knows it was a code is taken at its word.
        let (process, tell, _) = scripted(ExecutorSettings::new("t:x"));
        process.start().await.unwrap();
        process.signal(15).await.unwrap();
        tell.send(Ok(Exit::from_code(143))).ok();
        assert_eq!(process.wait().await.unwrap().code(), Some(143));
    }

    #[tokio::test(start_paused = true)]
    async fn a_close_that_never_sees_the_end_is_a_timeout_after_the_kill_wait() {
        let settings = ExecutorSettings::new("t:x").with_close_grace(Duration::from_secs(1));
        let (process, _tell, signals) = scripted(settings);
        process.start().await.unwrap();
        let started = tokio::time::Instant::now();
        let err = process.close(false).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
        assert!(matches!(err, Error::CloseTimedOut { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "closing \"anything\" timed out: it did not end after SIGKILL within 10s"
        );
        assert_eq!(started.elapsed(), Duration::from_secs(1) + KILL_WAIT);
        // SIGTERM, then SIGKILL.
        assert_eq!(signals.load(Ordering::SeqCst), 2);
        // A second close says the same.
        assert_eq!(
            process.close(true).await.unwrap_err().kind(),
            ErrorKind::Timeout
        );
    }

    #[tokio::test]
    async fn a_failed_start_closes_the_process() {
        let command = ExecutorSettings::new("t:x")
            .prepare("anything".into(), ExecOptions::new())
            .unwrap();
        let (_tell, exit) = oneshot::channel();
        let process = ManagedProcess::new(
            command,
            Scripted {
                exit,
                signals: Arc::default(),
                fail_launch: true,
            },
        );
        let mut stdout = process.take_stdout().unwrap();
        let err = process.start().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert_eq!(process.state(), ProcessState::Closed);
        let again = process.start().await.unwrap_err();
        assert_eq!(again.kind(), ErrorKind::Invalid);
        assert_eq!(
            again.to_string(),
            "cannot start the process: its start failed"
        );
        assert_eq!(process.wait().await.unwrap_err().kind(), ErrorKind::Invalid);
        assert!(stdout.read_to_vec().await.unwrap().is_empty());
        process.close(false).await.unwrap();
    }

    #[tokio::test]
    async fn an_exit_that_cannot_be_learnt_is_what_every_waiter_gets() {
        let (process, tell, _) = scripted(ExecutorSettings::new("t:x"));
        process.start().await.unwrap();
        tell.send(Err(Error::Unavailable {
            what: "the scripted daemon at nowhere".to_owned(),
            source: None,
        }))
        .ok();
        for _ in 0..2 {
            let err = process.wait().await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Unavailable);
            assert!(
                err.to_string().contains("the scripted daemon at nowhere"),
                "{err}"
            );
        }
        assert_eq!(process.state(), ProcessState::Exited);
    }

    #[tokio::test]
    async fn dropping_a_running_process_kills_it_once() {
        let (process, _tell, signals) = scripted(ExecutorSettings::new("t:x"));
        process.start().await.unwrap();
        drop(process);
        assert_eq!(signals.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn dropping_a_closed_process_leaves_its_close_alone() {
        let settings = ExecutorSettings::new("t:x").with_close_grace(Duration::from_secs(60));
        let (process, tell, signals) = scripted(settings);
        process.start().await.unwrap();
        drop(process.close(false));
        tokio::task::yield_now().await;
        drop(process);
        // The SIGTERM of the close, and no SIGKILL for the drop: the close
        // carries on in its grace period.
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(signals.load(Ordering::SeqCst), 1);
        tell.send(Ok(Exit::from_signal(15))).ok();
        assert_eq!(crate::settle(Duration::from_secs(5)).await, 0);
    }
}
