//! [`Executor`]: what every backend implements, and the [`Capabilities`] it
//! declares.

use crate::command_line::CommandSpec;
use crate::error::Result;
use crate::process::Process;
use crate::settings::ExecOptions;
use std::fmt;
use std::future::Future;
use std::pin::Pin;

/// A boxed future that is `Send`: what the object-safe async methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Runs commands in one controlled environment: a host, a container image, an
/// instance. Stored and shared as `Arc<dyn Executor>`.
///
/// [`create_process`](Executor::create_process) does every check up front —
/// splits the command line (or takes the words), applies the whitelist and the
/// policy, merges the environment — and returns a [`Process`] that has **not**
/// started, so that its pipes can be taken before anything runs.
/// Implementations get these checks by calling
/// [`ExecutorSettings::prepare`](crate::ExecutorSettings::prepare).
pub trait Executor: Send + Sync + fmt::Debug + 'static {
    /// The executor's id: `namespace:name` when it came from a config.
    fn id(&self) -> &str;

    /// What this backend can do; the conformance suite checks each claim.
    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
    }

    /// Creates a process for `command` — a command line or a list of words,
    /// anything that converts into a [`CommandSpec`] — not yet started.
    ///
    /// ```
    /// # fn demo(executor: &dyn exec_core::Executor) -> exec_core::Result<()> {
    /// use exec_core::ExecOptions;
    /// let line = executor.create_process("git status".into(), ExecOptions::new())?;
    /// let words = executor.create_process(["git", "status"].into(), ExecOptions::new())?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// `Invalid` for a command line that cannot be split, an empty list of
    /// words, a NUL byte or bad options; `PermissionDenied` when the whitelist
    /// or the policy refuses. Nothing runs when this fails.
    fn create_process(
        &self,
        command: CommandSpec,
        options: ExecOptions,
    ) -> Result<Box<dyn Process>>;
}

/// What a backend can do beyond the common contract. The conformance suite
/// checks what is declared: a backend claiming `host_pid` must report pids, one
/// that does not must report none; one without `signals` must refuse
/// `signal()` with an error rather than pretend.
///
/// ```
/// use exec_core::Capabilities;
///
/// let native = Capabilities::new().with_host_pid(true).with_signals(true);
/// assert!(native.host_pid && native.signals && !native.oom_killed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub struct Capabilities {
    /// [`Process::id`] is the command's pid on this host once it started.
    pub host_pid: bool,
    /// [`Process::signal`] delivers signals to the command.
    pub signals: bool,
    /// [`ExitStatus::oom_killed`](crate::ExitStatus::oom_killed) tells when the
    /// kernel killed the command for running out of memory.
    pub oom_killed: bool,
    /// The executor takes a call's [`Mount`](crate::Mount)s (within what its
    /// config allows); the others refuse a call with mounts as `Invalid`.
    pub mounts: bool,
    /// The executor runs a command in a terminal when a call asks for one
    /// ([`ExecOptions::with_pty`](crate::ExecOptions::with_pty)), and
    /// [`Process::resize`](crate::Process::resize) changes its size; the others
    /// refuse such a call as `Invalid`.
    pub pty: bool,
}

impl Capabilities {
    /// Nothing beyond the common contract.
    pub const fn new() -> Self {
        Self {
            host_pid: false,
            signals: false,
            oom_killed: false,
            mounts: false,
            pty: false,
        }
    }

    /// Sets [`host_pid`](Capabilities::host_pid).
    #[must_use]
    pub const fn with_host_pid(mut self, yes: bool) -> Self {
        self.host_pid = yes;
        self
    }

    /// Sets [`signals`](Capabilities::signals).
    #[must_use]
    pub const fn with_signals(mut self, yes: bool) -> Self {
        self.signals = yes;
        self
    }

    /// Sets [`oom_killed`](Capabilities::oom_killed).
    #[must_use]
    pub const fn with_oom_killed(mut self, yes: bool) -> Self {
        self.oom_killed = yes;
        self
    }

    /// Sets [`mounts`](Capabilities::mounts).
    #[must_use]
    pub const fn with_mounts(mut self, yes: bool) -> Self {
        self.mounts = yes;
        self
    }

    /// Sets [`pty`](Capabilities::pty).
    #[must_use]
    pub const fn with_pty(mut self, yes: bool) -> Self {
        self.pty = yes;
        self
    }
}
