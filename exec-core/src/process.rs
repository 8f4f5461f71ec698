//! [`Process`]: one command created by an [`Executor`](crate::Executor), and
//! the [`ProcessState`] every backend keeps.

use crate::error::{Error, Result};
use crate::executor::BoxFuture;
use crate::output::Output;
use crate::pipes::{OutputReader, Pipes, StdinWriter};
use crate::pty::PtySize;
use crate::status::ExitStatus;
use std::fmt;

/// Where a process is in its life cycle. Kept by the backend; the conformance
/// suite checks every transition.
///
/// `Created` → (`start`) → `Running` → (the command ends; seen by the
/// backend, whether or not anyone waits) → `Exited` → (`close`) → `Closed`.
/// `close` from `Created` or `Running` goes straight to `Closed`, and so does
/// a `start` that fails: nothing runs and nothing more can be done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProcessState {
    /// Created, not started: its pipes can be taken.
    Created,
    /// Started and not yet ended.
    Running,
    /// The command has ended; `wait` returns at once. Unread output stays
    /// readable.
    Exited,
    /// Closed: nothing more can be done with it.
    Closed,
}

impl ProcessState {
    /// A short lower-case name: `created`, `running`, `exited`, `closed`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProcessState::Created => "created",
            ProcessState::Running => "running",
            ProcessState::Exited => "exited",
            ProcessState::Closed => "closed",
        }
    }
}

impl fmt::Display for ProcessState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One command, created by an [`Executor`](crate::Executor). Every method
/// takes `&self`, so a process shared in an `Arc` can be waited on in one task
/// while another signals it, writes its stdin or reads its output.
///
/// Life cycle: see [`ProcessState`]. Dropping a process that is still running
/// kills it and everything it started. Backends implement this trait through
/// [`backend::ManagedProcess`](crate::backend::ManagedProcess), which runs the
/// life cycle once for all of them.
///
/// The pipes come from [`pipes`](Process::pipes); the provided methods
/// `take_stdin`, `take_stdout`, `take_stderr`, `write_stdin` and `close_stdin`
/// work before and after `start`.
pub trait Process: Send + Sync + fmt::Debug {
    /// The process's pipes.
    fn pipes(&self) -> &Pipes;

    /// Where the process is in its life cycle.
    fn state(&self) -> ProcessState;

    /// The host's process id, once started, on backends that have one (see
    /// [`Capabilities::host_pid`](crate::Capabilities::host_pid)); `None`
    /// elsewhere.
    fn id(&self) -> Option<u32> {
        None
    }

    /// Starts the command. The timeout, if any, counts from here.
    ///
    /// # Errors
    ///
    /// `Invalid` if it was started or closed already; `NotFound` for a program,
    /// work dir, image or instance that does not exist; `Unavailable` when the
    /// daemon cannot be reached.
    fn start(&self) -> BoxFuture<'_, Result<()>>;

    /// Sends signal number `signal` (e.g. 15 for SIGTERM) to the command (on the
    /// native backend, to its whole process group). Signalling a process that has
    /// already exited does nothing.
    ///
    /// # Errors
    ///
    /// `Invalid` before `start` or for a signal number the system does not
    /// know; an error on backends that cannot signal (see
    /// [`Capabilities::signals`](crate::Capabilities::signals)).
    fn signal(&self, signal: i32) -> BoxFuture<'_, Result<()>>;

    /// Waits for the command to exit and returns how it ended; a non-zero exit is
    /// not an error. Output not yet read stays readable. May be called again and
    /// from several tasks at once: every call gets the same answer.
    ///
    /// # Errors
    ///
    /// `Invalid` before `start`; `Timeout` when the timeout ended the command.
    fn wait(&self) -> BoxFuture<'_, Result<ExitStatus>>;

    /// Ends the command and releases everything: SIGTERM (SIGKILL if `force`, or
    /// when the command has not ended after the grace period,
    /// [`ExecutorSettings::with_close_grace`](crate::ExecutorSettings::with_close_grace)),
    /// reaps it, drops pipe handles that were not taken. Never blocks
    /// forever: at most the grace period, then
    /// [`KILL_WAIT`](crate::backend::KILL_WAIT). Closing twice, from two tasks
    /// at once, or before `start`, is fine. A close that finds the command
    /// still starting waits for the start and kills it at once; that `start`
    /// fails as `Invalid`.
    ///
    /// **The close begins when `close` is called**, before the returned future
    /// is polled: when `close` returns, [`state`](Process::state) is `Closed`
    /// and the rest (the signals, the grace period, the reap) goes on in a task
    /// of the current tokio runtime even if the future is dropped. Awaiting
    /// the future waits for the end and reports how it went. (Without a
    /// runtime, the work is done by the future.) Every backend built on
    /// [`backend::ManagedProcess`](crate::backend::ManagedProcess) keeps this
    /// promise; the conformance suite checks it.
    ///
    /// # Errors
    ///
    /// [`Error::CloseTimedOut`](crate::Error::CloseTimedOut) (kind `Timeout`)
    /// when the command did not end within the bound; the backend's error
    /// when it cannot reach the command (a daemon gone away).
    fn close(&self, force: bool) -> BoxFuture<'_, Result<()>>;

    /// Changes the size of the command's terminal (see
    /// [`ExecOptions::with_pty`](crate::ExecOptions::with_pty)); the command
    /// gets SIGWINCH. Resizing a command that has ended does nothing.
    ///
    /// # Errors
    ///
    /// `Invalid` when the process has no terminal, has not been started, or
    /// for a size of 0.
    fn resize(&self, size: PtySize) -> BoxFuture<'_, Result<()>> {
        let _ = size;
        Box::pin(async {
            Err(Error::invalid_state(
                "resize the terminal",
                "the process has no terminal",
            ))
        })
    }

    /// Takes the writer of stdin, once (see [`Pipes::take_stdin`]).
    fn take_stdin(&self) -> Option<StdinWriter> {
        self.pipes().take_stdin()
    }

    /// Takes the reader of stdout, once (see [`Pipes::take_stdout`]).
    fn take_stdout(&self) -> Option<OutputReader> {
        self.pipes().take_stdout()
    }

    /// Takes the reader of stderr, once (see [`Pipes::take_stderr`]).
    fn take_stderr(&self) -> Option<OutputReader> {
        self.pipes().take_stderr()
    }

    /// Writes all of `data` to stdin (see [`Pipes::write_stdin`]).
    fn write_stdin<'a>(&'a self, data: &'a [u8]) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.pipes().write_stdin(data))
    }

    /// Closes stdin: EOF for the command (see [`Pipes::close_stdin`]).
    fn close_stdin(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.pipes().close_stdin())
    }

    /// Runs the command to the end and collects everything, like tokio's
    /// `Command::output`: closes stdin (unless it was taken), starts, reads
    /// stdout and stderr while the command runs, waits. A stream taken earlier
    /// comes back empty.
    ///
    /// # Errors
    ///
    /// Those of [`start`](Process::start) and [`wait`](Process::wait) (a
    /// non-zero exit is not an error), or a read error.
    fn output(&self) -> BoxFuture<'_, Result<Output>> {
        Box::pin(crate::output::collect(self))
    }
}
