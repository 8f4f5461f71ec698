//! Commands in Incus instances for the exec-core API.
//!
//! [`IncusExecutor`] runs each command in an existing, running instance
//! through the daemon's REST API — `POST /1.0/instances/{name}/exec` and one
//! websocket per stream — and keeps the promises of exec-core: the command
//! line is split, whitelisted and its environment merged from nothing by
//! [`ExecutorSettings::prepare`](exec_core::ExecutorSettings::prepare), so
//! the same policy holds here as on the host.
//!
//! - **Where the daemon is.** The local unix socket (`$INCUS_DIR/unix.socket`
//!   or `/var/lib/incus/unix.socket`), trusted by its file permissions; or a
//!   remote daemon at `https://HOST:PORT`, which needs a client certificate
//!   it trusts and its own certificate pinned (a PEM file of it, or the
//!   SHA-256 fingerprint `incus info` shows). TLS 1.3 only; the pin is
//!   checked by a verifier that still checks the handshake signatures, and
//!   there is no way to turn verification off. A cluster is reached through
//!   any member: it forwards the exec to the member that runs the instance.
//! - **Streams.** stdin, stdout and stderr are separate (no terminal);
//!   stdin's end reaches the command; output is held in the exec-core pipes
//!   with back-pressure, so memory stays bounded however much is written,
//!   and decoded with `output_encoding` (the daemon never transcodes: a
//!   Korean Windows guest writes CP949).
//! - **Exit codes.** Read from the finished operation even when the daemon
//!   marks it failed (exit 126 and 127), never lost however fast the command
//!   ends: the events listener is connected before the operation is created.
//! - **Signals.** `signal(n)` goes through the operation's control socket.
//!   The daemon reports a death by signal n as exit code 128+n; the status
//!   says signal n when we sent n (by `signal`, `close` or the timeout),
//!   and an exit code otherwise. There is no host pid
//!   ([`Capabilities::host_pid`](exec_core::Capabilities) is false; in Lua
//!   `pid()` gives `nil, err` of kind `UNAVAILABLE`) and no OOM report.
//! - **Errors.** An unknown instance or project is `NotFound`; a stopped or
//!   frozen instance, a daemon that is not there or goes away is
//!   `Unavailable`; a wrong pin or an untrusted client certificate is
//!   `PermissionDenied`, with the fingerprints; bad settings are `Invalid`
//!   naming the field, at build time. Every wait on the daemon is bounded.
//!
//! **Windows guests** (virtual machines with the Incus agent): the agent
//! reports exit code 0 for every command that started, and runs
//! non-interactive commands only — which is all this crate asks for.
//!
//! # Example
//!
//! ```no_run
//! use exec_core::{ExecOptions, Executor, ExecutorSettings, Whitelist};
//! use exec_incus::IncusBuilder;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let settings = ExecutorSettings::new("app:web")
//!     .with_default_work_dir("/srv/app")
//!     .with_default_env_var("PATH", "/usr/bin:/bin")
//!     .with_whitelist(Whitelist::parse(["git status", "sh -c 'exit 3'"])?);
//! let executor = IncusBuilder::new("web1")
//!     .with_host("https://incus.example.org:8443")
//!     .with_server_cert("/etc/exec/incus-server.crt")
//!     .with_client_cert("/etc/exec/client.crt", "/etc/exec/client.key")
//!     .build(settings)?;
//!
//! let output = executor
//!     .create_process("git status".into(), ExecOptions::new())?
//!     .output()
//!     .await?;
//! println!("{}", output.stdout_lossy());
//!
//! let process = executor.create_process(["sh", "-c", "exit 3"].into(), ExecOptions::new())?;
//! process.start().await?;
//! assert_eq!(process.wait().await?.code(), Some(3));
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod builder;
mod client;
mod error;
mod files;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod process;
mod tls;

pub use builder::{DEFAULT_SOCKET, IncusBuilder, default_socket};
pub use error::IncusError;
pub use process::{IncusProcess, IncusTransport};
pub use tls::fingerprint;

use exec_core::backend::ManagedProcess;
use exec_core::{
    Capabilities, CommandSpec, ExecOptions, Executor, ExecutorSettings, Process, Result,
};
use process::Target;
use std::sync::Arc;

/// Runs commands in one Incus instance. Built with [`IncusBuilder`]; see the
/// [crate docs](crate).
#[derive(Debug)]
pub struct IncusExecutor {
    settings: ExecutorSettings,
    target: Arc<Target>,
}

impl IncusExecutor {
    /// A builder for commands in `instance`.
    pub fn builder(instance: impl Into<String>) -> IncusBuilder {
        IncusBuilder::new(instance)
    }

    pub(crate) fn from_parts(
        settings: ExecutorSettings,
        instance: String,
        user: Option<u32>,
        group: Option<u32>,
        client: Arc<client::Client>,
    ) -> Self {
        Self {
            settings,
            target: Arc::new(Target {
                client,
                instance,
                user,
                group,
            }),
        }
    }

    /// The executor's settings.
    pub fn settings(&self) -> &ExecutorSettings {
        &self.settings
    }

    /// The instance commands run in.
    pub fn instance(&self) -> &str {
        &self.target.instance
    }

    /// The daemon's address: `unix:/path` or `https://HOST:PORT`.
    pub fn address(&self) -> &str {
        self.target.client.address()
    }
}

impl Executor for IncusExecutor {
    fn id(&self) -> &str {
        self.settings.id()
    }

    /// Signals; no host pid (the command runs in the instance) and no OOM
    /// report (the daemon does not tell).
    fn capabilities(&self) -> Capabilities {
        Capabilities::new().with_signals(true).with_pty(true)
    }

    fn create_process(
        &self,
        command: CommandSpec,
        options: ExecOptions,
    ) -> Result<Box<dyn Process>> {
        let command = self.settings.prepare(command, options)?;
        // Instances are long-lived: a call cannot mount host paths into one.
        command.refuse_unsupported(error::BACKEND, self.capabilities())?;
        let transport = IncusTransport {
            target: self.target.clone(),
            confined: self.settings.is_confined(),
        };
        Ok(Box::new(ManagedProcess::new(command, transport)))
    }
}
