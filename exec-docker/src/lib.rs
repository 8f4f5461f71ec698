//! Each exec command in a new Docker container, through the Engine API.
//!
//! [`DockerExecutor`] runs every command as `docker run` would — a new
//! container from the executor's image, with its network mode, volumes,
//! user, limits and hardening — and keeps the promises of exec-core:
//!
//! - **Nothing lost.** The container is attached before it starts, so no
//!   output is missed, and its exit code (and OOM kill) come from the
//!   daemon's events, subscribed to before the start: a command that exits at
//!   once, or a container the daemon removes at once, still reports its code.
//!   Stdin written then closed reaches the command as EOF.
//! - **Nothing left behind.** With `auto_remove` (the default) the daemon
//!   removes the container when its command ends — also when this process is
//!   killed mid-run. `close`, the timeout and dropping the process kill the
//!   container, not only the stream. Every container carries labels naming
//!   its executor and owner, and [`sweep`] removes those whose owner is gone.
//! - **The same checks.** Commands go through
//!   [`ExecutorSettings::prepare`](exec_core::ExecutorSettings::prepare):
//!   whitelist, env policy (a per-call `LD_PRELOAD` or `PATH` is as much a
//!   way around a whitelist inside a container), work-dir roots (checked as
//!   written: the path is the container's). A call's [`Mount`](exec_core::Mount)s
//!   are taken only under the executor's `mount_roots`, each a directory held
//!   open from its check until the container started and handed to the
//!   daemon as that open directory, so the daemon mounts what was checked;
//!   on an executor with a whitelist they cannot nest, cover the program,
//!   its `PATH` or the work dir (see [`exec_core::Mount`]).
//!
//! There is no host pid (`Process::id` is `None`); signals go through the
//! daemon. The init process (on by default) forwards them to the command.
//!
//! # Example
//!
//! ```no_run
//! use exec_core::{ExecOptions, Executor, ExecutorSettings, Whitelist};
//! use exec_docker::{DockerExecutor, Pull};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let executor = DockerExecutor::builder("busybox:1.36")
//!     .with_network_mode("none")
//!     .with_read_only_rootfs(true)
//!     .with_cap_drop(["ALL"])
//!     .with_memory_limit(64 * 1024 * 1024)
//!     .with_pull(Pull::Never)
//!     .build(
//!         ExecutorSettings::new("app:sandbox")
//!             .with_whitelist(Whitelist::parse(["echo *"])?),
//!     )?;
//! let process = executor.create_process("echo hello".into(), ExecOptions::new())?;
//! let output = process.output().await?;
//! assert_eq!(output.stdout, b"hello\n");
//! assert_eq!(output.status.code(), Some(0));
//! # Ok(()) }
//! ```
//!
//! # Errors
//!
//! Failures reach users as [`exec_core::Error::Backend`] (backend `docker`)
//! with a [`DockerError`] as the source: an unreachable daemon is
//! `Unavailable` naming its address, a refused TLS handshake
//! `PermissionDenied`, a missing image `NotFound` naming it.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod builder;
mod client;
mod container;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod mounts;
mod process;
mod sweep;
#[cfg(feature = "tls")]
mod tls;

pub use builder::{
    DockerExecutorBuilder, MAX_ENV_LABELS, MAX_LABEL_KEY, MAX_LABEL_VALUE, MIN_MEMORY_LIMIT, Pull,
};
pub use client::DEFAULT_HOST;
pub use error::DockerError;
pub use process::{DockerProcess, DockerTransport};
pub use sweep::{
    LABEL_EXECUTOR, LABEL_MANAGED_BY, LABEL_OWNER_HOST, LABEL_OWNER_PID, LABEL_OWNER_START,
    LABEL_PREFIX, SweepReport, sweep,
};

use builder::ContainerConfig;
use client::Client;
use container::ContainerSpec;
use exec_core::backend::ManagedProcess;
use exec_core::{
    Capabilities, CommandSpec, ExecOptions, Executor, ExecutorSettings, Process, Result,
};
use std::sync::Arc;

/// Runs each command in a new container. Made with
/// [`DockerExecutor::builder`].
#[derive(Debug, Clone)]
pub struct DockerExecutor {
    settings: ExecutorSettings,
    config: Arc<ContainerConfig>,
    client: Arc<Client>,
}

impl DockerExecutor {
    /// A builder for an executor whose containers run `image`.
    pub fn builder(image: impl Into<String>) -> DockerExecutorBuilder {
        DockerExecutorBuilder::new(image)
    }

    pub(crate) fn from_parts(
        settings: ExecutorSettings,
        config: Arc<ContainerConfig>,
        client: Client,
    ) -> Self {
        Self {
            settings,
            config,
            client: Arc::new(client),
        }
    }

    /// The executor's settings.
    pub fn settings(&self) -> &ExecutorSettings {
        &self.settings
    }

    /// The image every container starts from.
    pub fn image(&self) -> &str {
        &self.config.image
    }

    /// The daemon, as messages name it (`unix:///var/run/docker.sock`,
    /// `tcp://host:2376 (TLS)`).
    pub fn host(&self) -> &str {
        self.client.name()
    }

    /// Asks the daemon whether it is there (`GET /_ping`).
    ///
    /// # Errors
    ///
    /// `Unavailable` naming the address when it cannot be reached;
    /// `PermissionDenied` when the TLS handshake is refused.
    pub async fn ping(&self) -> std::result::Result<(), DockerError> {
        self.client
            .call("ping", |d| async move { d.ping().await })
            .await
            .map(drop)
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }
}

impl Executor for DockerExecutor {
    fn id(&self) -> &str {
        self.settings.id()
    }

    /// Signals, OOM reporting and mounts; no host pid.
    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
            .with_signals(true)
            .with_oom_killed(true)
            .with_mounts(true)
            .with_pty(true)
    }

    fn create_process(
        &self,
        command: CommandSpec,
        options: ExecOptions,
    ) -> Result<Box<dyn Process>> {
        let command = self.settings.prepare(command, options)?;
        command.refuse_unsupported(error::BACKEND, self.capabilities())?;
        let spec = ContainerSpec::new(&self.config, self.client.host(), &command)?;
        let transport = DockerTransport {
            spec,
            config: self.config.clone(),
            client: self.client.clone(),
        };
        Ok(Box::new(ManagedProcess::new(command, transport)))
    }
}
