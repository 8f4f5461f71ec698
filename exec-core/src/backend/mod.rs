//! The backend API: what a backend implements, and the process life cycle
//! exec-core runs for every backend.
//!
//! Users of executors never need this module; it is for the crates that
//! provide them (`exec-native`, `exec-docker`, `exec-incus`, or one of your
//! own). A backend supplies only its **transport** — how to launch a command
//! with its pipes, how to deliver a signal, how the exit is learnt, how to kill
//! at once — and [`ManagedProcess`] does the rest, the same way everywhere:
//!
//! - **State**: `Created` → `Running` → `Exited` → `Closed`
//!   ([`ProcessState`](crate::ProcessState)); a start that fails leaves the
//!   process `Closed`.
//! - **Start once**: a second `start` is `Invalid`. The launch runs in a task
//!   of its own, so a caller that gives up on `start` (drops its future) does
//!   not leave a half-launched command behind: the launch finishes and, if
//!   nobody is left to own the command, kills it.
//! - **Wait**, shared by any number of callers, each getting the same answer.
//! - **The timeout**, counted from `start` (a launch that takes longer, such
//!   as a slow image pull, counts too): SIGKILL, then `wait` reports
//!   `Timeout`.
//! - **Signals and 128+n**: a backend that only learns one number, as a
//!   shell reports `$?` ([`Exit::from_shell_code`]: Docker, Incus), has
//!   128+n reported as death by signal n only when this side sent n (by
//!   [`signal`](crate::Process::signal), close, the timeout or a drop) or the
//!   backend reported an out-of-memory kill (n = 9). A command that runs
//!   `exit 143` itself exits with code 143. A backend that knows which it
//!   was ([`Exit::from_code`], [`Exit::from_signal`]: a host process's wait
//!   status) is taken at its word.
//! - **Close**: begins when called (see [`Process::close`](crate::Process::close)):
//!   SIGTERM (SIGKILL if forced), a grace period
//!   ([`ExecutorSettings::with_close_grace`](crate::ExecutorSettings::with_close_grace)),
//!   SIGKILL, then at most [`KILL_WAIT`] for the exit; past that, an
//!   [`Error::CloseTimedOut`](crate::Error::CloseTimedOut) (kind `Timeout`).
//!   A close that finds the command still starting waits for the launch to
//!   finish (at most [`START_WAIT`]) and kills it at once.
//! - **Kill on drop**: dropping a process whose command runs, and that was
//!   not closed, calls [`Control::kill_now`].
//! - **Audit events** ([`audit`](crate::audit)): start, signal, exit,
//!   timeout, close.
//!
//! # A transport
//!
//! ```
//! use exec_core::backend::{Control, Exit, Launch, Launched, ManagedProcess, Transport};
//! use exec_core::{BoxFuture, CommandSpec, ExecOptions, Executor, ExecutorSettings, Process, Result};
//! use std::sync::Arc;
//!
//! /// A toy transport whose commands end at once, each with exit code 7.
//! struct Instant7;
//!
//! struct NoControl;
//! impl Control for NoControl {
//!     fn signal(&self, _signal: i32) -> BoxFuture<'_, Result<()>> {
//!         Box::pin(async { Ok(()) })
//!     }
//!     fn kill_now(&self) {}
//! }
//!
//! impl Transport for Instant7 {
//!     const BACKEND: &'static str = "instant7";
//!     async fn launch(self, launch: Launch) -> Result<Launched> {
//!         drop(launch.pipes); // no output: the readers see the end at once
//!         Ok(Launched::new(NoControl, async { Ok(Exit::from_code(7)) }))
//!     }
//! }
//!
//! #[derive(Debug)]
//! struct Instant7Executor(ExecutorSettings);
//! impl Executor for Instant7Executor {
//!     fn id(&self) -> &str {
//!         self.0.id()
//!     }
//!     fn create_process(&self, command: CommandSpec, options: ExecOptions) -> Result<Box<dyn Process>> {
//!         let command = self.0.prepare(command, options)?;
//!         command.refuse_unsupported(Instant7::BACKEND, self.capabilities())?;
//!         Ok(Box::new(ManagedProcess::new(command, Instant7)))
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let executor = Instant7Executor(ExecutorSettings::new("demo:seven"));
//! let process = executor.create_process("anything".into(), ExecOptions::new())?;
//! process.start().await?;
//! assert_eq!(process.wait().await?.code(), Some(7));
//! # Ok::<(), exec_core::Error>(()) }).unwrap();
//! ```

pub(crate) mod in_flight;
mod managed;
pub mod x509;

pub use crate::pipes::{BackendPipes, OutputSink};
pub use crate::settings::PreparedCommand;
pub use in_flight::tracked;
pub use managed::{KILL_WAIT, ManagedProcess, START_WAIT};

use crate::error::Result;
use crate::executor::BoxFuture;
use crate::pty::PtySize;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use tokio::sync::watch;

/// How a backend launches a command. One value per process: `launch`
/// consumes it.
///
/// The launch returns once the command runs (or failed to); the returned
/// [`Launched`] tells the life cycle how to signal the command and how its
/// exit will be learnt.
pub trait Transport: Send + 'static {
    /// The backend's name in errors and logs: `native`, `docker`, `incus`.
    const BACKEND: &'static str;

    /// Launches `launch.command` with `launch.pipes`: the child's output goes
    /// to the [`OutputSink`]s, what the user writes comes from the stdin
    /// stream (its EOF is the command's EOF).
    ///
    /// If this fails, anything it made on the way (a container created
    /// before the start failed) must be gone when it returns.
    fn launch(self, launch: Launch) -> impl Future<Output = Result<Launched>> + Send;
}

/// What a [`Transport`] launches with.
#[derive(Debug)]
#[non_exhaustive]
pub struct Launch {
    /// The command, as it passed every check.
    pub command: Arc<PreparedCommand>,
    /// The backend's side of the pipes.
    pub pipes: BackendPipes,
    /// Resolves when the life cycle knows the command ended: tasks that
    /// forward stdin or keep a connection open can stop then.
    pub exited: Exited,
}

/// Resolves when the life cycle knows the command ended (or the process is
/// gone). Cheap to clone.
#[derive(Debug, Clone)]
pub struct Exited(pub(crate) watch::Receiver<bool>);

impl Exited {
    /// Whether the end is known.
    pub fn has_exited(&self) -> bool {
        *self.0.borrow()
    }

    /// Waits until the end is known.
    pub async fn wait(&mut self) {
        let _ = self.0.wait_for(|exited| *exited).await;
    }
}

/// A launched command: how to signal it, how its exit is learnt, its pid.
pub struct Launched {
    pub(crate) control: Arc<dyn Control>,
    pub(crate) exit: BoxFuture<'static, Result<Exit>>,
    pub(crate) pid: Option<u32>,
}

impl Launched {
    /// A launched command signalled through `control`, whose `exit` future
    /// resolves once it has ended (and been reaped, where that applies). The
    /// life cycle polls `exit` to the end in a task of its own; an error there
    /// (a daemon gone away) is what `wait` reports.
    pub fn new(
        control: impl Control,
        exit: impl Future<Output = Result<Exit>> + Send + 'static,
    ) -> Self {
        Self {
            control: Arc::new(control),
            exit: Box::pin(exit),
            pid: None,
        }
    }

    /// The command's pid on this host, for backends that declare
    /// [`Capabilities::host_pid`](crate::Capabilities::host_pid).
    #[must_use]
    pub fn with_pid(mut self, pid: u32) -> Self {
        self.pid = Some(pid);
        self
    }
}

impl fmt::Debug for Launched {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Launched")
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

/// How the life cycle reaches a launched command.
pub trait Control: Send + Sync + 'static {
    /// Delivers signal number `signal` (1 to 64, already checked) to the
    /// command — on backends with process groups, to its whole group. Called
    /// only while the life cycle has not seen the exit; a command that ended
    /// meanwhile is not an error.
    ///
    /// # Errors
    ///
    /// `Invalid` for a number the backend cannot deliver; `Unavailable` when
    /// the daemon cannot be reached.
    fn signal(&self, signal: i32) -> BoxFuture<'_, Result<()>>;

    /// Kills the command at once, without waiting and without blocking: the
    /// process was dropped while its command ran, or its start finished after
    /// it was closed. Best effort; the exit future still reports the end.
    fn kill_now(&self);

    /// Changes the size of the command's terminal (size checked; called only
    /// for a command launched with a [`Pty`](crate::Pty) that has not ended).
    /// Backends without terminals keep the default, which refuses.
    ///
    /// # Errors
    ///
    /// `Invalid` by default; `Unavailable` when the daemon cannot be reached.
    fn resize(&self, size: PtySize) -> BoxFuture<'_, Result<()>> {
        let _ = size;
        Box::pin(async {
            Err(crate::Error::invalid_state(
                "resize the terminal",
                "this backend has no terminals",
            ))
        })
    }
}

/// How a command ended, as its backend learnt it. The life cycle turns it
/// into an [`ExitStatus`](crate::ExitStatus), with the duration it measured
/// and the 128+n rule (see the [module docs](self)).
///
/// ```
/// use exec_core::backend::Exit;
///
/// let killed = Exit::from_signal(9).with_oom_killed(true);
/// assert_eq!(killed, Exit::from_signal(9).with_oom_killed(true));
/// assert_ne!(Exit::from_shell_code(137), killed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Exit {
    pub(crate) termination: Termination,
    pub(crate) oom_killed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Termination {
    Code(i32),
    Signal(i32),
    ShellCode(i32),
}

impl Exit {
    /// The command exited with `code`, and the backend knows it was not a
    /// signal (a host process's wait status).
    pub fn from_code(code: i32) -> Self {
        Self {
            termination: Termination::Code(code),
            oom_killed: false,
        }
    }

    /// One number, as a shell reports `$?`: an exit code, where 128+n is
    /// also how a death by signal n comes (Docker's and Incus's exit codes).
    /// The life cycle decides which (see the [module docs](self)).
    pub fn from_shell_code(code: i32) -> Self {
        Self {
            termination: Termination::ShellCode(code),
            oom_killed: false,
        }
    }

    /// The command was killed by signal number `signal`, and the backend
    /// knows it for certain (a host process's wait status).
    pub fn from_signal(signal: i32) -> Self {
        Self {
            termination: Termination::Signal(signal),
            oom_killed: false,
        }
    }

    /// Marks the exit as (or not as) an out-of-memory kill.
    #[must_use]
    pub fn with_oom_killed(mut self, oom_killed: bool) -> Self {
        self.oom_killed = oom_killed;
        self
    }
}
