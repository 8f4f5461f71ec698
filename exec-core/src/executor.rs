//! The two traits every backend implements: [`Executor`] and [`Process`].

use crate::error::Result;
use crate::output::Output;
use crate::settings::ExecOptions;
use crate::status::ExitStatus;
use crate::stdio::{ProcessOutput, ProcessStdin, Stdio};
use std::fmt;
use std::future::Future;
use std::pin::Pin;

/// A boxed future that is `Send`: what the object-safe async methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Runs commands in one controlled environment: a host, a container image, an
/// instance. Stored and shared as `Arc<dyn Executor>`.
///
/// [`create_process`](Executor::create_process) does every check up front —
/// splits the command line, applies the whitelist and the policy, merges the
/// environment — and returns a [`Process`] that has **not** started, so that its
/// stdio can be taken before anything runs. Implementations get these checks by
/// calling [`ExecutorSettings::prepare`](crate::ExecutorSettings::prepare).
pub trait Executor: Send + Sync + fmt::Debug + 'static {
    /// The executor's id: `namespace:name` when it came from a config.
    fn id(&self) -> &str;

    /// Creates a process for `command_line`, not yet started.
    ///
    /// # Errors
    ///
    /// `Invalid` for a command line that cannot be split or bad options,
    /// `PermissionDenied` when the whitelist or the policy refuses. Nothing runs
    /// when this fails.
    fn create_process(&self, command_line: &str, options: ExecOptions) -> Result<Box<dyn Process>>;
}

/// One command, created by an [`Executor`]. Every method takes `&self`, so a
/// process shared in an `Arc` can be waited on in one task while another signals
/// it, writes its stdin or reads its output.
///
/// Life cycle: created → [`start`](Process::start) → exited (observed by
/// [`wait`](Process::wait)) → [`close`](Process::close). Dropping a process
/// that is still running kills it and everything it started.
///
/// Stdio comes from [`stdio`](Process::stdio); the provided methods
/// `take_stdin`, `take_stdout`, `take_stderr`, `write_stdin` and `close_stdin`
/// work before and after `start`.
pub trait Process: Send + Sync + fmt::Debug {
    /// The process's stdio pipes.
    fn stdio(&self) -> &Stdio;

    /// The process id where the backend has one (native), once started.
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
    /// `Invalid` before `start` or for a signal number the system does not know.
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
    /// when the command has not ended after a short grace period), reaps it, drops
    /// stdio handles that were not taken. Never blocks forever; closing twice, or
    /// closing before `start`, is fine.
    ///
    /// # Errors
    ///
    /// Only when the backend cannot reach the command (a daemon gone away).
    fn close(&self, force: bool) -> BoxFuture<'_, Result<()>>;

    /// Takes the writer of stdin, once (see [`Stdio::take_stdin`]).
    fn take_stdin(&self) -> Option<ProcessStdin> {
        self.stdio().take_stdin()
    }

    /// Takes the reader of stdout, once (see [`Stdio::take_stdout`]).
    fn take_stdout(&self) -> Option<ProcessOutput> {
        self.stdio().take_stdout()
    }

    /// Takes the reader of stderr, once (see [`Stdio::take_stderr`]).
    fn take_stderr(&self) -> Option<ProcessOutput> {
        self.stdio().take_stderr()
    }

    /// Writes all of `data` to stdin (see [`Stdio::write_stdin`]).
    fn write_stdin<'a>(&'a self, data: &'a [u8]) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.stdio().write_stdin(data))
    }

    /// Closes stdin: EOF for the command (see [`Stdio::close_stdin`]).
    fn close_stdin(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.stdio().close_stdin())
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
