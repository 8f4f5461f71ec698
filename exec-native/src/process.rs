//! One host process: its life cycle, its process group and its reaping.
//!
//! After `start`, a supervisor task owns the `tokio::process::Child`: it waits
//! for the exit (or the timeout), reaps the child, kills what is left of its
//! process group and publishes the outcome on a `watch` channel. Every other
//! method only reads that channel or signals the group, so `wait` in one task
//! never blocks `signal` or `close` in another.

use crate::child::ChildSetup;
use crate::lookup::resolve_program;
use crate::reaper::{self, Owned};
use exec_core::pipes::{BackendPipes, OutputSink};
use exec_core::{
    BoxFuture, Error, ErrorKind, ExitStatus, Pipes, PreparedCommand, Process, ProcessState, Result,
};
use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::fmt;
use std::os::unix::process::ExitStatusExt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::io::DuplexStream;
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::watch;

/// How long `close` waits for the exit after SIGKILL before it gives up.
const KILL_WAIT: Duration = Duration::from_secs(10);

/// How a started process ended, as the supervisor saw it.
#[derive(Debug, Clone, Copy)]
enum Outcome {
    Exited(ExitStatus),
    TimedOut,
}

/// The backend's name in errors.
pub(crate) const BACKEND: &str = "native";

#[derive(Debug)]
enum State {
    Created,
    /// Started; `reaped` turns true once the child has been waited for, after
    /// which its pid may be reused and must not be signalled.
    Running {
        pgid: Pid,
        reaped: bool,
    },
    ClosedBeforeStart,
}

impl State {
    fn started(&self) -> bool {
        matches!(self, State::Running { .. })
    }
}

/// A host process created by [`NativeExecutor`](crate::NativeExecutor).
pub struct NativeProcess {
    command: PreparedCommand,
    close_grace: Duration,
    pipe_size: usize,
    kill_with_parent: bool,
    pipes: Pipes,
    backend_pipes: Mutex<Option<BackendPipes>>,
    state: Arc<Mutex<State>>,
    /// Set by `close`: the state every layer sees is then `Closed`.
    closed: std::sync::atomic::AtomicBool,
    outcome: watch::Sender<Option<Outcome>>,
}

impl NativeProcess {
    pub(crate) fn new(
        command: PreparedCommand,
        close_grace: Duration,
        pipe_size: usize,
        kill_with_parent: bool,
    ) -> Self {
        let (pipes, backend_pipes) = command.pipes();
        Self {
            command,
            close_grace,
            pipe_size,
            kill_with_parent,
            pipes,
            backend_pipes: Mutex::new(Some(backend_pipes)),
            state: Arc::new(Mutex::new(State::Created)),
            closed: std::sync::atomic::AtomicBool::new(false),
            outcome: watch::Sender::new(None),
        }
    }

    fn lock_state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn spawn(&self) -> Result<()> {
        let mut state = self.lock_state();
        match *state {
            State::Created => {}
            State::Running { .. } => {
                return Err(Error::invalid_state(
                    "start the process",
                    "it was already started",
                ));
            }
            State::ClosedBeforeStart => {
                return Err(Error::invalid_state("start the process", "it was closed"));
            }
        }
        let program = resolve_program(&self.command)?;
        let work_dir = self.work_dir()?;
        let mut cmd = Command::new(&program);
        cmd.arg0(self.command.program())
            .args(&self.command.argv[1..])
            .env_clear()
            .envs(&self.command.env)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        if let Some(dir) = &work_dir {
            cmd.current_dir(dir);
        }
        let setup = ChildSetup::new(self.kill_with_parent);
        if setup.needed() {
            setup.install(&mut cmd);
        }
        let started = Instant::now();
        // No sweep may see the child before it is registered as ours.
        let gate = reaper::spawn_gate();
        let mut child = cmd.spawn().map_err(|e| self.spawn_error(&program, e))?;
        let pid = child.id().ok_or_else(|| {
            Error::backend(
                BACKEND,
                ErrorKind::Other,
                format!(
                    "{:?} exited before its pid was known",
                    self.command.display()
                ),
            )
        })?;
        let owned = Owned::register(pid as i32);
        drop(gate);
        self.command.audit.started(Some(pid));
        let pgid = Pid::from_raw(pid as i32);
        *state = State::Running {
            pgid,
            reaped: false,
        };
        drop(state);

        let backend = lock(&self.backend_pipes).take();
        if let Some(BackendPipes {
            stdin,
            stdout,
            stderr,
            ..
        }) = backend
        {
            if let Some(out) = child.stdout.take() {
                enlarge_pipe(&out, self.pipe_size);
                tokio::spawn(pump(stdout, out));
            }
            if let Some(err) = child.stderr.take() {
                enlarge_pipe(&err, self.pipe_size);
                tokio::spawn(pump(stderr, err));
            }
            if let Some(child_stdin) = child.stdin.take() {
                tokio::spawn(forward_stdin(stdin, child_stdin, self.outcome.subscribe()));
            }
        }
        let supervisor = Supervisor {
            child,
            owned,
            pgid,
            started,
            timeout: self.command.timeout,
            audit: self.command.audit.clone(),
            state: self.state.clone(),
            outcome: self.outcome.clone(),
        };
        tokio::spawn(supervisor.run());
        Ok(())
    }

    /// The work dir to run in: it must exist, and a confined one must still
    /// lie in its roots once symlinks are followed (it is then used in its
    /// resolved form, so a link changed later does not move the command).
    fn work_dir(&self) -> Result<Option<std::path::PathBuf>> {
        let Some(dir) = &self.command.work_dir else {
            return Ok(None);
        };
        let not_found = || Error::NotFound {
            what: format!(
                "work dir {:?} for command {:?}",
                dir,
                self.command.display()
            ),
        };
        if !dir.is_dir() {
            return Err(not_found());
        }
        let Some(confinement) = &self.command.work_dir_confinement else {
            return Ok(Some(dir.clone()));
        };
        let resolved = std::fs::canonicalize(dir).map_err(|_| not_found())?;
        confinement.check_resolved(&resolved, |root| std::fs::canonicalize(root).ok())?;
        Ok(Some(resolved))
    }

    /// The error for a failed spawn: an argument list the kernel refuses as
    /// too long is `Invalid` with its size; the rest keep their I/O kind.
    fn spawn_error(&self, program: &std::path::Path, error: std::io::Error) -> Error {
        if error.raw_os_error() == Some(nix::libc::E2BIG) {
            let words: usize = self.command.argv.iter().map(|w| w.len() + 1).sum();
            let env: usize = self
                .command
                .env
                .iter()
                .map(|(k, v)| k.len() + v.len() + 2)
                .sum();
            let pointers = (self.command.argv.len() + self.command.env.len() + 2)
                * std::mem::size_of::<usize>();
            let limit = nix::unistd::sysconf(nix::unistd::SysconfVar::ARG_MAX)
                .ok()
                .flatten()
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(0);
            return Error::ArgumentListTooLong {
                command: self.command.display().to_owned(),
                size: words + env + pointers,
                limit,
            };
        }
        Error::backend_io(
            BACKEND,
            format!("start {:?} ({})", self.command.display(), program.display()),
            error,
        )
    }

    /// Sends `signal` to the process group if the child has not been reaped.
    fn signal_group(&self, signal: Signal) -> Result<()> {
        let state = self.lock_state();
        match *state {
            State::Running {
                pgid,
                reaped: false,
            } => match killpg(pgid, signal) {
                Ok(()) | Err(Errno::ESRCH) => Ok(()),
                Err(errno) => Err(Error::backend_io(
                    BACKEND,
                    format!("send {signal} to {:?}", self.command.display()),
                    errno.into(),
                )),
            },
            State::Running { reaped: true, .. } => Ok(()),
            State::Created | State::ClosedBeforeStart => Err(Error::invalid_state(
                "signal the process",
                "it has not been started",
            )),
        }
    }

    async fn wait_outcome(&self) -> Result<Outcome> {
        if !self.lock_state().started() {
            return Err(Error::invalid_state(
                "wait for the process",
                "it has not been started",
            ));
        }
        let mut receiver = self.outcome.subscribe();
        let outcome = receiver.wait_for(Option::is_some).await.map_err(|_| {
            Error::backend(BACKEND, ErrorKind::Other, "the process supervisor stopped")
        })?;
        outcome.ok_or_else(|| Error::backend(BACKEND, ErrorKind::Other, "no outcome"))
    }

    async fn close_running(&self, force: bool) -> Result<()> {
        let exited = |p: &Self| p.outcome.borrow().is_some();
        if !exited(self) {
            let first = if force {
                Signal::SIGKILL
            } else {
                Signal::SIGTERM
            };
            self.signal_group(first)?;
            let mut receiver = self.outcome.subscribe();
            let exited_in_grace =
                tokio::time::timeout(self.close_grace, receiver.wait_for(Option::is_some))
                    .await
                    .is_ok();
            if !exited_in_grace {
                self.signal_group(Signal::SIGKILL)?;
                let exited_after_kill =
                    tokio::time::timeout(KILL_WAIT, receiver.wait_for(Option::is_some))
                        .await
                        .is_ok();
                if !exited_after_kill {
                    return Err(Error::backend(
                        BACKEND,
                        ErrorKind::Timeout,
                        format!(
                            "{:?} did not exit within {KILL_WAIT:?} of SIGKILL",
                            self.command.display()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

impl Process for NativeProcess {
    fn pipes(&self) -> &Pipes {
        &self.pipes
    }

    fn state(&self) -> ProcessState {
        if self.closed.load(std::sync::atomic::Ordering::Acquire) {
            return ProcessState::Closed;
        }
        match *self.lock_state() {
            State::Created => ProcessState::Created,
            State::ClosedBeforeStart => ProcessState::Closed,
            State::Running { .. } if self.outcome.borrow().is_some() => ProcessState::Exited,
            State::Running { .. } => ProcessState::Running,
        }
    }

    fn id(&self) -> Option<u32> {
        match *self.lock_state() {
            State::Running { pgid, .. } => u32::try_from(pgid.as_raw()).ok(),
            _ => None,
        }
    }

    fn start(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move { self.spawn() })
    }

    fn signal(&self, signal: i32) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let signal = Signal::try_from(signal).map_err(|_| Error::InvalidArgument {
                field: "signal".to_owned(),
                reason: format!("{signal} is not a signal number"),
            })?;
            self.signal_group(signal)?;
            if self.outcome.borrow().is_none() {
                self.command.audit.signalled(signal as i32);
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
            }
        })
    }

    fn close(&self, force: bool) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let started = {
                let mut state = self.lock_state();
                match *state {
                    State::Created => {
                        *state = State::ClosedBeforeStart;
                        // Readers taken before start see the end of the stream.
                        lock(&self.backend_pipes).take();
                        false
                    }
                    State::ClosedBeforeStart => false,
                    State::Running { .. } => true,
                }
            };
            let first_close = !self.closed.swap(true, std::sync::atomic::Ordering::AcqRel);
            if first_close {
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

impl Drop for NativeProcess {
    fn drop(&mut self) {
        // The supervisor still owns the child and reaps it after this kill.
        if let State::Running {
            pgid,
            reaped: false,
        } = *self.lock_state()
        {
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }
}

impl fmt::Debug for NativeProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NativeProcess")
            .field("executor", &self.command.executor_id)
            .field("command", &self.command.display())
            .field("state", &*self.lock_state())
            .field("outcome", &*self.outcome.borrow())
            .finish_non_exhaustive()
    }
}

/// Owns the child after `start`: waits for it (or the timeout), reaps it, kills
/// what remains of its group, publishes the outcome.
struct Supervisor {
    child: Child,
    /// Unregistered once the child is reaped (see `reaper`).
    owned: Owned,
    pgid: Pid,
    started: Instant,
    timeout: Option<Duration>,
    audit: exec_core::audit::Audit,
    state: Arc<Mutex<State>>,
    outcome: watch::Sender<Option<Outcome>>,
}

impl Supervisor {
    async fn run(mut self) {
        let waited = match self.timeout {
            None => Some(self.child.wait().await),
            Some(timeout) => tokio::time::timeout(timeout, self.child.wait()).await.ok(),
        };
        let (waited, timed_out) = match waited {
            Some(waited) => (waited, false),
            None => {
                let _ = killpg(self.pgid, Signal::SIGKILL);
                (self.child.wait().await, true)
            }
        };
        let duration = self.started.elapsed();
        self.owned.reaped();
        {
            let mut state = lock(&self.state);
            if let State::Running { reaped, .. } = &mut *state {
                *reaped = true;
            }
            // The leader is gone; its group (kept alive by any member) goes with it.
            let _ = killpg(self.pgid, Signal::SIGKILL);
        }
        reaper::group_killed(self.pgid.as_raw());
        let outcome = match waited {
            _ if timed_out => {
                self.audit.timed_out(self.timeout.unwrap_or_default());
                Outcome::TimedOut
            }
            Ok(status) => Outcome::Exited(match (status.code(), status.signal()) {
                (Some(code), _) => ExitStatus::from_code(code, duration),
                (None, Some(signal)) => ExitStatus::from_signal(signal, duration),
                (None, None) => ExitStatus::from_code(-1, duration),
            }),
            // waitpid failing here means the child is already gone; say how little we know.
            Err(_) => Outcome::Exited(ExitStatus::from_code(-1, duration)),
        };
        if let Outcome::Exited(status) = &outcome {
            self.audit.exited(status);
        }
        self.outcome.send_replace(Some(outcome));
    }
}

/// Asks the kernel for a larger pipe: the child then writes longer before it
/// waits for us, and both sides switch less (see `NativeExecutor::pipe_size`).
/// Best effort: a refusal (a per-user pipe quota) keeps the default size.
fn enlarge_pipe(pipe: &impl std::os::fd::AsFd, size: usize) {
    if let Ok(size) = i32::try_from(size) {
        if size > 0 {
            let _ = nix::fcntl::fcntl(pipe, nix::fcntl::FcntlArg::F_SETPIPE_SZ(size));
        }
    }
}

async fn pump(sink: OutputSink, source: impl tokio::io::AsyncRead + Unpin) {
    // A read error on a pipe ends the stream; the user sees EOF.
    let _ = sink.pump(source).await;
}

/// Copies what the user writes to the child's stdin until the user closes it
/// (EOF for the child) or the child exits.
async fn forward_stdin(
    mut from_user: DuplexStream,
    mut to_child: ChildStdin,
    mut outcome: watch::Receiver<Option<Outcome>>,
) {
    tokio::select! {
        _ = tokio::io::copy(&mut from_user, &mut to_child) => {}
        _ = outcome.wait_for(Option::is_some) => {}
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
