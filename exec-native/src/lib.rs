//! Host processes for the exec-core API.
//!
//! [`NativeExecutor`] runs each command as a child process of the host —
//! started with `posix_spawn` (no copy of this process's memory, whatever its
//! size), its exit learnt from a pidfd — and keeps the promises of exec-core:
//!
//! - **Clean environment.** The child gets exactly the merged environment
//!   (`default_env`, then the call's `env`) and nothing of the host's.
//! - **No host `PATH`.** A program named without a `/` is looked up in the
//!   child's own `PATH`, or in [`DEFAULT_PATH`] when the child has none — never
//!   in the host's `PATH`. A program that is not there is a `NotFound` error at
//!   `start` naming it and the search path.
//! - **Nothing left behind.** The child leads its own process group. `close`,
//!   the timeout and dropping the process kill the whole group (so a grandchild
//!   started in the background dies too) and the child is reaped: no zombies, no
//!   orphans, no leaked file descriptors. When the child exits by itself, what is
//!   left of its group is killed too, as Docker does when a container's main
//!   process exits.
//! - **Only the standard streams.** The child gets its stdin, stdout and stderr
//!   and no other descriptor, whatever the embedding process holds without
//!   close-on-exec (a raw `open`, a `dup`, what it inherited itself): every
//!   descriptor from 3 up is closed in the child before `exec`
//!   (`posix_spawn_file_actions_addclosefrom_np`).
//! - **A terminal when asked.** With a [`Pty`](exec_core::Pty), the child
//!   leads a session of its own on a pseudo-terminal (its controlling
//!   terminal), still its own process group for close and kill.
//!
//! # What is promised, and what takes the opt-ins
//!
//! Without any opt-in, the promises above hold while the embedding process
//! and its tokio runtime run:
//!
//! - A descendant that leaves the child's process group (`setsid`, `setpgid`)
//!   is out of reach: it survives `close`, the timeout and drop, and when its
//!   parent dies it goes to init (or the nearest subreaper), not to us.
//! - A child is reaped by a task on the runtime that started it. If the
//!   process exits, or the runtime shuts down, before that task has run, the
//!   child is left unreaped to the process's parent; if the process is
//!   killed, the child lives on.
//!
//! The opt-ins, for a process that wants more (the `exec-lua` runner takes
//! all three):
//!
//! - [`kill_and_reap_all`] before exit: every group still led by a child is
//!   killed and every child reaped before it returns.
//! - [`NativeExecutor::with_kill_with_parent`]: a guardian process kills each
//!   command's whole group when this process dies, even by SIGKILL (see its
//!   docs).
//! - [`become_subreaper`] (a setting of the whole process): orphaned
//!   descendants come to this process instead of init, and are killed and
//!   reaped; a `setsid` escapee is caught once its parent is gone (at the
//!   latest when the child's group is killed) and is killed then. A
//!   descendant whose parent stays alive is still out of reach, and only a
//!   cgroup or a pid namespace holds everything.
//! - **Nothing lost.** Output is pumped into per-stream buffers (1 MiB unread by
//!   default), so `wait` before reading loses nothing.
//!
//! # Example
//!
//! ```
//! use exec_core::{ExecOptions, Executor, ExecutorSettings, Whitelist};
//! use exec_native::NativeExecutor;
//! use std::sync::Arc;
//! use tokio::io::AsyncReadExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let settings = ExecutorSettings::new("app:shell")
//!     .with_default_env_var("PATH", "/usr/bin:/bin")
//!     .with_whitelist(Whitelist::parse(["echo hello", "sh -c 'exit 3'"])?);
//! let executor: Arc<dyn Executor> = Arc::new(NativeExecutor::new(settings));
//!
//! let process = executor.create_process("echo hello".into(), ExecOptions::new())?;
//! let mut stdout = process.take_stdout().expect("stdout is taken once");
//! process.start().await?;
//! let mut text = String::new();
//! stdout.read_to_string(&mut text).await?;
//! assert_eq!(text, "hello\n");
//! assert!(process.wait().await?.success());
//!
//! // Words a caller holds need no quoting.
//! let process = executor.create_process(["sh", "-c", "exit 3"].into(), ExecOptions::new())?;
//! process.start().await?;
//! assert_eq!(process.wait().await?.code(), Some(3));
//!
//! let denied = executor.create_process("rm -rf /".into(), ExecOptions::new()).unwrap_err();
//! assert_eq!(denied.kind(), exec_core::ErrorKind::PermissionDenied);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]
// Unsafe only where a child is set up between fork and exec (`child.rs`)
// and where a terminal is registered with the reactor (`terminal.rs`).
#![deny(unsafe_code)]

mod child;
mod guardian;
mod lookup;
mod process;
mod reaper;
mod spawn;
mod terminal;

pub use lookup::DEFAULT_PATH;
pub use process::{NativeProcess, NativeTransport};
pub use reaper::{become_subreaper, kill_and_reap_all};

use exec_core::backend::{ManagedProcess, Transport};
use exec_core::{
    Capabilities, CommandSpec, ExecOptions, Executor, ExecutorSettings, Process, Result,
};

/// The size asked of the kernel for a child's stdout and stderr pipes.
///
/// The default pipe holds 64 KiB, so a child writing fast and our reader
/// switch turns every 64 KiB; with 256 KiB, 1 GiB of output is read at about
/// twice the rate of a plain `std::process::Command` reader (`cargo xtask
/// bench`). Linux charges pipe pages to the user (`fs.pipe-user-pages-soft`,
/// 64 MiB by default): 256 KiB per stream leaves room for a hundred busy
/// children before the kernel refuses, and a refusal only keeps the default.
pub const DEFAULT_PIPE_SIZE: usize = 256 * 1024;

/// Runs commands as host processes. See the [crate docs](crate).
#[derive(Debug)]
pub struct NativeExecutor {
    settings: ExecutorSettings,
    pipe_size: usize,
    kill_with_parent: bool,
}

impl NativeExecutor {
    /// An executor with these settings.
    pub fn new(settings: ExecutorSettings) -> Self {
        Self {
            settings,
            pipe_size: DEFAULT_PIPE_SIZE,
            kill_with_parent: false,
        }
    }

    /// Sets the size asked of the kernel for the children's stdout and stderr
    /// pipes (default [`DEFAULT_PIPE_SIZE`]; 0 keeps the system's default).
    #[must_use]
    pub fn with_pipe_size(mut self, bytes: usize) -> Self {
        self.pipe_size = bytes;
        self
    }

    /// Sets whether each command — its whole process group — is killed
    /// (SIGKILL) when this process ends, however it ends, SIGKILL included
    /// (default `false`).
    ///
    /// A guardian process does it: forked once, the first time an executor
    /// turns this on, it is told each command's group as it starts and ends,
    /// and kills those still running when this process is gone (see
    /// `guardian.rs` for what it holds and does). Turn it on early — the
    /// guardian keeps, copy-on-write, the memory this process had then. The
    /// `exec-lua` runner turns it on while it loads its config. If the
    /// guardian cannot be started, each child asks the kernel instead
    /// (`PR_SET_PDEATHSIG`, which needs a fork per spawn and covers the child,
    /// not its group, and fires when the *thread* that started it ends).
    ///
    /// Not covered: a command this process starts in the instant before it
    /// is killed, between its spawn and its registration (microseconds).
    ///
    /// ```
    /// use exec_core::ExecutorSettings;
    /// use exec_native::NativeExecutor;
    ///
    /// let executor = NativeExecutor::new(ExecutorSettings::new("app:shell"))
    ///     .with_kill_with_parent(true);
    /// assert!(executor.kills_with_parent());
    /// ```
    #[must_use]
    pub fn with_kill_with_parent(mut self, kill: bool) -> Self {
        if kill {
            guardian::ensure();
        }
        self.kill_with_parent = kill;
        self
    }

    /// Whether children are killed with the thread that started them (see
    /// [`with_kill_with_parent`](Self::with_kill_with_parent)).
    pub fn kills_with_parent(&self) -> bool {
        self.kill_with_parent
    }

    /// The executor's settings.
    pub fn settings(&self) -> &ExecutorSettings {
        &self.settings
    }
}

impl Executor for NativeExecutor {
    fn id(&self) -> &str {
        self.settings.id()
    }

    /// A host pid and signals; no OOM reporting (a host process has no memory
    /// limit of its own to be killed for).
    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
            .with_host_pid(true)
            .with_signals(true)
            .with_pty(true)
    }

    fn create_process(
        &self,
        command: CommandSpec,
        options: ExecOptions,
    ) -> Result<Box<dyn Process>> {
        let command = self.settings.prepare(command, options)?;
        command.refuse_unsupported(NativeTransport::BACKEND, self.capabilities())?;
        let transport = NativeTransport {
            pipe_size: self.pipe_size,
            kill_with_parent: self.kill_with_parent,
        };
        Ok(Box::new(ManagedProcess::new(command, transport)))
    }
}
