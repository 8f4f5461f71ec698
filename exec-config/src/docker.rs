//! The `exec.docker` kind: one container per command (feature `docker`).

use crate::kind::ExecutorKind;
use exec_core::{Executor, ExecutorSettings};
use exec_docker::{DockerError, DockerExecutor, Pull};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// The `exec.docker` kind: [`DockerSpec`]'s fields on top of the common ones.
#[derive(Debug, Clone, Copy, Default)]
pub struct DockerKind;

/// The fields of an `exec.docker` entry (see exec-docker's builder for what
/// each does). `image` is required.
///
/// ```yaml
/// - name: sandbox
///   kind: exec.docker
///   image: busybox:1.36
///   network_mode: none
///   read_only_rootfs: true
///   cap_drop: [ALL]
///   tmpfs: { /tmp: "rw,size=16m" }
///   memory_limit: 67108864
///   pids_limit: 64
/// ```
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[non_exhaustive]
pub struct DockerSpec {
    /// The image every container starts from.
    #[serde(default)]
    pub image: Option<String>,
    /// `unix:///path` or `tcp://HOST:PORT`; default `DOCKER_HOST`, else the local socket.
    #[serde(default)]
    pub host: Option<String>,
    /// CA certificate (PEM) for a TLS daemon.
    #[serde(default)]
    pub tls_ca: Option<PathBuf>,
    /// Client certificate (PEM) for a TLS daemon.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// Client key (PEM) for a TLS daemon.
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// `host`, `bridge`, `none`, `container:<id>` or a network name.
    #[serde(default)]
    pub network_mode: Option<String>,
    /// `host:container[:ro|rw]` binds.
    #[serde(default)]
    pub volumes: Vec<String>,
    /// The user: `name`, `uid` or `uid:gid`.
    #[serde(default)]
    pub user: Option<String>,
    /// Bytes; 0 = unlimited.
    #[serde(default)]
    pub memory_limit: u64,
    /// µs per 100 ms; 100000 = 1 CPU; 0 = unlimited.
    #[serde(default)]
    pub cpu_quota: u64,
    /// The daemon removes each container when its command ends (default true).
    #[serde(default)]
    pub auto_remove: Option<bool>,
    /// A read-only root file system.
    #[serde(default)]
    pub read_only_rootfs: bool,
    /// `no-new-privileges`.
    #[serde(default)]
    pub no_new_privileges: bool,
    /// Capabilities to drop.
    #[serde(default)]
    pub cap_drop: Vec<String>,
    /// Capabilities to add.
    #[serde(default)]
    pub cap_add: Vec<String>,
    /// Most processes; 0 = unlimited.
    #[serde(default)]
    pub pids_limit: u64,
    /// tmpfs mounts: path -> options.
    #[serde(default)]
    pub tmpfs: BTreeMap<String, String>,
    /// Labels every container carries.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// label -> the name of the per-call env variable that gives its value.
    #[serde(default)]
    pub labels_from_env: BTreeMap<String, String>,
    /// An init process as PID 1 (default true: signals reach the command).
    #[serde(default)]
    pub init: Option<bool>,
    /// `never`, `missing` (default) or `always`.
    #[serde(default)]
    pub pull: Option<String>,
    /// Host directories a call's `mounts` may take their source from.
    #[serde(default)]
    pub mount_roots: Vec<PathBuf>,
}

impl ExecutorKind for DockerKind {
    type Spec = DockerSpec;

    fn build(
        &self,
        settings: ExecutorSettings,
        spec: DockerSpec,
    ) -> exec_core::Result<Arc<dyn Executor>> {
        Ok(Arc::new(docker_executor(settings, spec)?))
    }
}

/// The executor an `exec.docker` entry describes (for hosts that wrap the
/// kind, as the `exec-lua` runner does to sweep leftovers).
///
/// # Errors
///
/// `Invalid` naming the first bad field.
pub fn docker_executor(
    settings: ExecutorSettings,
    spec: DockerSpec,
) -> exec_core::Result<DockerExecutor> {
    let Some(image) = spec.image else {
        return Err(exec_core::Error::InvalidArgument {
            field: "image".to_owned(),
            reason: "an exec.docker entry needs the image its containers start from".to_owned(),
        });
    };
    let mut builder = DockerExecutor::builder(image)
        .with_memory_limit(spec.memory_limit)
        .with_cpu_quota(spec.cpu_quota)
        .with_read_only_rootfs(spec.read_only_rootfs)
        .with_no_new_privileges(spec.no_new_privileges)
        .with_cap_drop(spec.cap_drop)
        .with_cap_add(spec.cap_add)
        .with_pids_limit(spec.pids_limit);
    if let Some(host) = spec.host {
        builder = builder.with_host(host);
    }
    if let Some(ca) = spec.tls_ca {
        builder = builder.with_tls_ca(ca);
    }
    if let Some(cert) = spec.tls_cert {
        builder = builder.with_tls_cert(cert);
    }
    if let Some(key) = spec.tls_key {
        builder = builder.with_tls_key(key);
    }
    if let Some(mode) = spec.network_mode {
        builder = builder.with_network_mode(mode);
    }
    for volume in spec.volumes {
        builder = builder.with_volume(volume);
    }
    if let Some(user) = spec.user {
        builder = builder.with_user(user);
    }
    if let Some(auto_remove) = spec.auto_remove {
        builder = builder.with_auto_remove(auto_remove);
    }
    for (path, options) in spec.tmpfs {
        builder = builder.with_tmpfs(path, options);
    }
    for (name, value) in spec.labels {
        builder = builder.with_label(name, value);
    }
    for (label, variable) in spec.labels_from_env {
        builder = builder.with_label_from_env(label, variable);
    }
    if let Some(init) = spec.init {
        builder = builder.with_init(init);
    }
    if let Some(pull) = spec.pull {
        builder = builder.with_pull(Pull::parse(&pull).map_err(invalid)?);
    }
    for root in spec.mount_roots {
        builder = builder.with_mount_root(root);
    }
    builder.build(settings).map_err(invalid)
}

/// A builder's refusal, as the loader reports a bad field.
fn invalid(error: DockerError) -> exec_core::Error {
    match error {
        DockerError::Config { field, reason } => exec_core::Error::InvalidArgument {
            field: field.to_owned(),
            reason,
        },
        other => other.into(),
    }
}
