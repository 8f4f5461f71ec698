//! What a Docker executor runs its containers with, checked when it is built.

use crate::DockerExecutor;
use crate::client::{Client, Host, TlsFiles};
use crate::error::DockerError;
use exec_core::ExecutorSettings;
use exec_core::confine::normalize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The most labels `labels_from_env` may set (Wippy's limit).
pub const MAX_ENV_LABELS: usize = 64;
/// The longest label name `labels_from_env` may set, in bytes.
pub const MAX_LABEL_KEY: usize = 256;
/// The longest label value `labels_from_env` takes from a call's env, in bytes.
pub const MAX_LABEL_VALUE: usize = 4096;
/// The smallest memory limit the daemon accepts, in bytes (6 MiB).
pub const MIN_MEMORY_LIMIT: u64 = 6 * 1024 * 1024;

/// When the image is pulled from its registry before a container is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Pull {
    /// Never: a missing image is `NOT_FOUND`.
    Never,
    /// When the daemon does not have it (`docker run`'s default).
    #[default]
    Missing,
    /// Before every command.
    Always,
}

impl Pull {
    /// The YAML spelling: `never`, `missing`, `always`.
    pub fn as_str(self) -> &'static str {
        match self {
            Pull::Never => "never",
            Pull::Missing => "missing",
            Pull::Always => "always",
        }
    }

    /// Parses the YAML spelling.
    ///
    /// # Errors
    ///
    /// [`DockerError::Config`] naming `pull` and the valid values.
    pub fn parse(text: &str) -> Result<Self, DockerError> {
        match text {
            "never" => Ok(Pull::Never),
            "missing" => Ok(Pull::Missing),
            "always" => Ok(Pull::Always),
            other => Err(config(
                "pull",
                format!("{other:?} is not a pull policy (never, missing, always)"),
            )),
        }
    }
}

/// Everything a container is created with, besides the command.
#[derive(Debug, Clone)]
pub(crate) struct ContainerConfig {
    pub(crate) image: String,
    pub(crate) network_mode: Option<String>,
    pub(crate) volumes: Vec<String>,
    pub(crate) user: Option<String>,
    pub(crate) memory_limit: u64,
    pub(crate) cpu_quota: u64,
    pub(crate) auto_remove: bool,
    pub(crate) read_only_rootfs: bool,
    pub(crate) no_new_privileges: bool,
    pub(crate) cap_drop: Vec<String>,
    pub(crate) cap_add: Vec<String>,
    pub(crate) pids_limit: u64,
    pub(crate) tmpfs: BTreeMap<String, String>,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) labels_from_env: BTreeMap<String, String>,
    pub(crate) init: bool,
    pub(crate) pull: Pull,
    pub(crate) mount_roots: Vec<PathBuf>,
    /// `mount_roots` with their symlinks followed when the executor was
    /// built (the config's word; a later link cannot move a root).
    pub(crate) resolved_mount_roots: Vec<PathBuf>,
}

/// Builds a [`DockerExecutor`]: the image, the daemon, and what each
/// container runs with. Every setter takes the YAML field's value; `build`
/// checks them all.
///
/// ```
/// use exec_core::ExecutorSettings;
/// use exec_docker::{DockerExecutor, Pull};
///
/// let executor = DockerExecutor::builder("busybox:1.36")
///     .with_host("unix:///var/run/docker.sock")
///     .with_network_mode("none")
///     .with_read_only_rootfs(true)
///     .with_cap_drop(["ALL"])
///     .with_tmpfs("/tmp", "rw,size=16m")
///     .with_memory_limit(64 * 1024 * 1024)
///     .with_pids_limit(64)
///     .with_pull(Pull::Never)
///     .build(ExecutorSettings::new("app:sandbox"))?;
/// assert_eq!(executor.image(), "busybox:1.36");
///
/// // Bad values are refused when the executor is built, naming the field.
/// let err = DockerExecutor::builder("busybox").with_network_mode("wifi!").build(ExecutorSettings::new("app:x")).unwrap_err();
/// assert!(err.to_string().starts_with("invalid network_mode"), "{err}");
/// # Ok::<(), exec_docker::DockerError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct DockerExecutorBuilder {
    host: Option<String>,
    request_timeout: Duration,
    tls: TlsSetting,
    config: ContainerConfig,
}

#[derive(Debug, Clone, Default)]
struct TlsSetting {
    ca: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
}

impl DockerExecutorBuilder {
    pub(crate) fn new(image: impl Into<String>) -> Self {
        Self {
            host: None,
            request_timeout: crate::client::REQUEST_TIMEOUT,
            tls: TlsSetting::default(),
            config: ContainerConfig {
                image: image.into(),
                network_mode: None,
                volumes: Vec::new(),
                user: None,
                memory_limit: 0,
                cpu_quota: 0,
                auto_remove: true,
                read_only_rootfs: false,
                no_new_privileges: false,
                cap_drop: Vec::new(),
                cap_add: Vec::new(),
                pids_limit: 0,
                tmpfs: BTreeMap::new(),
                labels: BTreeMap::new(),
                labels_from_env: BTreeMap::new(),
                init: true,
                pull: Pull::Missing,
                mount_roots: Vec::new(),
                resolved_mount_roots: Vec::new(),
            },
        }
    }

    /// How long one request may wait for the daemon's answer (60 s by
    /// default, whole seconds, at least 1): a daemon that accepts and never
    /// answers fails the call then, `Timeout`. It bounds the answer's
    /// headers, not the streams that follow (output and events run as long
    /// as the container does).
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout.max(Duration::from_secs(1));
        self
    }

    /// The daemon: `unix:///path/to/docker.sock` or `tcp://HOST:PORT`.
    /// Without one, `DOCKER_HOST`, else `unix:///var/run/docker.sock`.
    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// The CA certificate (PEM) the daemon's certificate must chain to, for
    /// `tcp://` over TLS. Without the three TLS files, `DOCKER_TLS_VERIFY` +
    /// `DOCKER_CERT_PATH` (`ca.pem`, `cert.pem`, `key.pem`) are honoured.
    pub fn with_tls_ca(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls.ca = Some(path.into());
        self
    }

    /// The client certificate (PEM) presented to the daemon.
    pub fn with_tls_cert(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls.cert = Some(path.into());
        self
    }

    /// The client certificate's private key (PEM).
    pub fn with_tls_key(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls.key = Some(path.into());
        self
    }

    /// `host`, `bridge`, `none`, `container:<name or id>`, or the name of a
    /// user-defined network. Without one, the daemon's default (`bridge`).
    pub fn with_network_mode(mut self, mode: impl Into<String>) -> Self {
        self.config.network_mode = Some(mode.into());
        self
    }

    /// A bind or volume, `host:container[:ro|rw]`, as `docker run -v` takes it.
    pub fn with_volume(mut self, volume: impl Into<String>) -> Self {
        self.config.volumes.push(volume.into());
        self
    }

    /// The user the command runs as: `name`, `uid` or `uid:gid`.
    pub fn with_user(mut self, user: impl Into<String>) -> Self {
        self.config.user = Some(user.into());
        self
    }

    /// The memory limit in bytes (swap disabled); 0, the default, for none.
    pub fn with_memory_limit(mut self, bytes: u64) -> Self {
        self.config.memory_limit = bytes;
        self
    }

    /// The CPU quota per 100 ms period in µs: 100000 is one CPU, 50000 half
    /// of one; 0, the default, for none.
    pub fn with_cpu_quota(mut self, quota: u64) -> Self {
        self.config.cpu_quota = quota;
        self
    }

    /// Whether the daemon removes each container when its command ends
    /// (`docker run --rm`; default on). On, nothing is left behind even
    /// when this process is killed mid-run; off, containers stay for
    /// inspection until [`sweep`](crate::sweep) or `docker rm` removes them.
    pub fn with_auto_remove(mut self, yes: bool) -> Self {
        self.config.auto_remove = yes;
        self
    }

    /// Mounts the image's root file system read-only.
    pub fn with_read_only_rootfs(mut self, yes: bool) -> Self {
        self.config.read_only_rootfs = yes;
        self
    }

    /// Sets `no-new-privileges`: setuid programs gain nothing.
    pub fn with_no_new_privileges(mut self, yes: bool) -> Self {
        self.config.no_new_privileges = yes;
        self
    }

    /// Capabilities to drop (`ALL`, `NET_RAW`, `CAP_NET_RAW`, …).
    pub fn with_cap_drop<I, S>(mut self, caps: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config
            .cap_drop
            .extend(caps.into_iter().map(Into::into));
        self
    }

    /// Capabilities to add.
    pub fn with_cap_add<I, S>(mut self, caps: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config.cap_add.extend(caps.into_iter().map(Into::into));
        self
    }

    /// The most processes the container may hold; 0, the default, for no limit.
    pub fn with_pids_limit(mut self, limit: u64) -> Self {
        self.config.pids_limit = limit;
        self
    }

    /// A tmpfs at `path` inside the container, with mount `options`
    /// (`rw,size=16m,mode=1777`; empty for the defaults).
    pub fn with_tmpfs(mut self, path: impl Into<String>, options: impl Into<String>) -> Self {
        self.config.tmpfs.insert(path.into(), options.into());
        self
    }

    /// A label every container of this executor carries.
    pub fn with_label(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.labels.insert(name.into(), value.into());
        self
    }

    /// A label whose value a call gives in its env: the container gets label
    /// `label` = the call's `env[variable]`. A call without the variable is
    /// `INVALID`. At most [`MAX_ENV_LABELS`]; names up to [`MAX_LABEL_KEY`]
    /// bytes, values up to [`MAX_LABEL_VALUE`].
    pub fn with_label_from_env(
        mut self,
        label: impl Into<String>,
        variable: impl Into<String>,
    ) -> Self {
        self.config
            .labels_from_env
            .insert(label.into(), variable.into());
        self
    }

    /// Runs an init process (docker-init) as PID 1 that forwards signals to
    /// the command and reaps its children. On by default: without it the
    /// command is PID 1, which the kernel shields from signals it has no
    /// handler for, so `signal(15)` would not end a `sleep`.
    pub fn with_init(mut self, yes: bool) -> Self {
        self.config.init = yes;
        self
    }

    /// When to pull the image (default [`Pull::Missing`]).
    pub fn with_pull(mut self, pull: Pull) -> Self {
        self.config.pull = pull;
        self
    }

    /// A host directory under which a call's [`Mount`](exec_core::Mount)s
    /// may take their source. Without any, every per-call mount is refused:
    /// a script that could mount any host path could mount `/`. Each call's
    /// source is a directory, opened once and checked as opened (symlinks
    /// followed) against the roots as resolved when the executor is built;
    /// the daemon is handed that open directory, not its path. Only for a
    /// daemon on a local socket: with a `tcp://` host, `build` refuses it.
    pub fn with_mount_root(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.mount_roots.push(dir.into());
        self
    }

    /// Checks every setting and builds the executor. Nothing is asked of the
    /// daemon yet: an unreachable one is `UNAVAILABLE` at the first command.
    ///
    /// # Errors
    ///
    /// [`DockerError::Config`] naming the first bad field.
    pub fn build(self, settings: ExecutorSettings) -> Result<DockerExecutor, DockerError> {
        let mut config = self.config;
        check_image(&config.image)?;
        if let Some(mode) = &config.network_mode {
            check_network_mode(mode)?;
        }
        for volume in &config.volumes {
            check_volume(volume)?;
        }
        if let Some(user) = &config.user {
            check_user(user)?;
        }
        if config.memory_limit != 0 && config.memory_limit < MIN_MEMORY_LIMIT {
            return Err(config_error(
                "memory_limit",
                format!(
                    "{} bytes is below the daemon's minimum of {MIN_MEMORY_LIMIT} (6 MiB); 0 means no limit",
                    config.memory_limit
                ),
            ));
        }
        if i64::try_from(config.memory_limit).is_err() {
            return Err(config_error("memory_limit", "it is too large".to_owned()));
        }
        if config.cpu_quota != 0 && !(1000..=100_000_000).contains(&config.cpu_quota) {
            return Err(config_error(
                "cpu_quota",
                format!(
                    "{} is outside 1000..=100000000 µs per 100 ms period (100000 = 1 CPU; 0 means no limit)",
                    config.cpu_quota
                ),
            ));
        }
        if i64::try_from(config.pids_limit).is_err() {
            return Err(config_error("pids_limit", "it is too large".to_owned()));
        }
        for (field, caps) in [("cap_drop", &config.cap_drop), ("cap_add", &config.cap_add)] {
            for cap in caps {
                check_capability(field, cap)?;
            }
        }
        for (path, options) in &config.tmpfs {
            check_tmpfs(path, options)?;
        }
        for (name, value) in &config.labels {
            check_label("labels", name, value)?;
        }
        if config.labels_from_env.len() > MAX_ENV_LABELS {
            return Err(config_error(
                "labels_from_env",
                format!(
                    "{} labels; at most {MAX_ENV_LABELS}",
                    config.labels_from_env.len()
                ),
            ));
        }
        for (label, variable) in &config.labels_from_env {
            check_label("labels_from_env", label, "")?;
            if variable.is_empty() || variable.contains(['=', '\0']) {
                return Err(config_error(
                    "labels_from_env",
                    format!("label {label:?}: {variable:?} is not an environment variable name"),
                ));
            }
            // A call may only set what the entry lets it set; a label that
            // waits for a variable no call may give would refuse every call.
            if settings.is_confined()
                && !settings
                    .env_allow()
                    .is_some_and(|allow| allow.allows(variable))
            {
                return Err(config_error(
                    "labels_from_env",
                    format!(
                        "label {label:?} takes its value from {variable}, which a call to this \
                         whitelisted executor may not set: add {variable} to env_allow"
                    ),
                ));
            }
        }
        for root in &config.mount_roots {
            if !root.is_absolute() {
                return Err(config_error(
                    "mount_roots",
                    format!("{root:?} is not an absolute path"),
                ));
            }
        }
        let host = Host::resolve(self.host.as_deref(), &self.tls.files()?)?;
        if !config.mount_roots.is_empty() && !host.is_local() {
            return Err(config_error(
                "mount_roots",
                format!(
                    "the daemon at {host} is not on this machine: the paths a call mounts would \
                     be its host's, which this process can neither resolve nor hold open, so a \
                     symlink or a swap there could mount any of its directories (give such \
                     directories as volumes, or use a unix:// daemon)"
                ),
            ));
        }
        config.resolved_mount_roots = config
            .mount_roots
            .iter()
            .map(|root| std::fs::canonicalize(root).unwrap_or_else(|_| normalize(root)))
            .collect();
        check_volumes_outside_roots(&config)?;
        // A confined call's mounts may not nest in, or cover, these.
        let own_targets: Vec<&str> = config
            .volumes
            .iter()
            .filter_map(|v| v.split(':').nth(1))
            .chain(config.tmpfs.keys().map(String::as_str))
            .collect();
        let settings = settings.with_config_mount_targets(own_targets);
        let client = Client::new(host, self.request_timeout);
        Ok(DockerExecutor::from_parts(
            settings,
            Arc::new(config),
            client,
        ))
    }
}

impl TlsSetting {
    /// The three files, all or none; `DOCKER_TLS_VERIFY` + `DOCKER_CERT_PATH`
    /// stand in for none.
    fn files(&self) -> Result<Option<TlsFiles>, DockerError> {
        match (&self.ca, &self.cert, &self.key) {
            (None, None, None) => Ok(None),
            (Some(ca), Some(cert), Some(key)) => {
                for (field, path) in [("tls_ca", ca), ("tls_cert", cert), ("tls_key", key)] {
                    readable(field, path)?;
                }
                Ok(Some(TlsFiles {
                    ca: ca.clone(),
                    cert: cert.clone(),
                    key: key.clone(),
                }))
            }
            _ => {
                let missing: Vec<&str> = [
                    ("tls_ca", self.ca.is_none()),
                    ("tls_cert", self.cert.is_none()),
                    ("tls_key", self.key.is_none()),
                ]
                .into_iter()
                .filter_map(|(name, missing)| missing.then_some(name))
                .collect();
                Err(config_error(
                    "tls",
                    format!(
                        "tls_ca, tls_cert and tls_key go together; {} missing",
                        missing.join(" and ")
                    ),
                ))
            }
        }
    }
}

fn readable(field: &'static str, path: &Path) -> Result<(), DockerError> {
    std::fs::File::open(path)
        .map(drop)
        .map_err(|e| config_error(field, format!("cannot read {}: {e}", path.display())))
}

fn config(field: &'static str, reason: String) -> DockerError {
    DockerError::Config { field, reason }
}

pub(crate) fn config_error(field: &'static str, reason: String) -> DockerError {
    config(field, reason)
}

fn check_image(image: &str) -> Result<(), DockerError> {
    if image.is_empty() {
        return Err(config("image", "it is empty".to_owned()));
    }
    if image.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(config(
            "image",
            format!("{image:?} contains whitespace or control characters"),
        ));
    }
    Ok(())
}

fn is_name(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn check_network_mode(mode: &str) -> Result<(), DockerError> {
    let ok = match mode {
        "host" | "bridge" | "none" => true,
        _ => match mode.strip_prefix("container:") {
            Some(container) => is_name(container),
            None => is_name(mode),
        },
    };
    if ok {
        Ok(())
    } else {
        Err(config(
            "network_mode",
            format!(
                "{mode:?} is none of host, bridge, none, container:<name or id> or a network name"
            ),
        ))
    }
}

fn check_volume(volume: &str) -> Result<(), DockerError> {
    let bad = |why: &str| {
        config(
            "volumes",
            format!("{volume:?} {why} (the form is host:container[:ro|rw])"),
        )
    };
    let parts: Vec<&str> = volume.split(':').collect();
    let (source, target) = match parts.as_slice() {
        [source, target] => (*source, *target),
        [source, target, mode] => {
            if !matches!(*mode, "ro" | "rw") {
                return Err(bad(&format!("has the mode {mode:?}, not ro or rw")));
            }
            (*source, *target)
        }
        _ => return Err(bad("is not two or three parts")),
    };
    if source.is_empty() {
        return Err(bad("has an empty host side"));
    }
    if !target.starts_with('/') {
        return Err(bad("has a container side that is not an absolute path"));
    }
    if !source.starts_with('/') && !is_name(source) {
        return Err(bad(
            "has a host side that is neither an absolute path nor a volume name",
        ));
    }
    Ok(())
}

/// A volume's host path may not lie under a mount root: a call could mount
/// that root writable and swap a directory on the volume's path for a link,
/// which the daemon would follow when it next mounts the volume (the path
/// is the config's, handed over as written).
fn check_volumes_outside_roots(config: &ContainerConfig) -> Result<(), DockerError> {
    for volume in &config.volumes {
        let Some(source) = volume.split(':').next().filter(|s| s.starts_with('/')) else {
            continue;
        };
        let written = normalize(Path::new(source));
        let resolved = std::fs::canonicalize(&written).unwrap_or_else(|_| written.clone());
        let under = config
            .mount_roots
            .iter()
            .map(|r| normalize(r))
            .zip(&config.resolved_mount_roots)
            .find(|(root, resolved_root)| {
                written.starts_with(root) || resolved.starts_with(resolved_root)
            });
        if let Some((root, _)) = under {
            return Err(config_error(
                "volumes",
                format!(
                    "{volume:?} takes a host path under the mount root {root:?}: a call may mount \
                     that root writable and replace a directory on the volume's path with a \
                     symlink, which the daemon would follow (keep volumes outside mount_roots)"
                ),
            ));
        }
    }
    Ok(())
}

fn check_user(user: &str) -> Result<(), DockerError> {
    if user.is_empty() || user.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(config(
            "user",
            format!("{user:?} is not a user (name, uid or uid:gid)"),
        ));
    }
    Ok(())
}

fn check_capability(field: &'static str, cap: &str) -> Result<(), DockerError> {
    let name = cap.strip_prefix("CAP_").unwrap_or(cap);
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(config(
            field,
            format!("{cap:?} is not a capability name (ALL, NET_RAW, CAP_SYS_ADMIN, …)"),
        ))
    }
}

fn check_tmpfs(path: &str, options: &str) -> Result<(), DockerError> {
    if !path.starts_with('/') {
        return Err(config("tmpfs", format!("{path:?} is not an absolute path")));
    }
    if path.contains(':') || options.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(config(
            "tmpfs",
            format!("{path:?}: {options:?} is not a list of mount options such as rw,size=16m"),
        ));
    }
    Ok(())
}

fn check_label(field: &'static str, name: &str, value: &str) -> Result<(), DockerError> {
    if name.is_empty() || name.len() > MAX_LABEL_KEY || name.contains(['\0', '=']) {
        return Err(config(
            field,
            format!("{name:?} is not a label name (1 to {MAX_LABEL_KEY} bytes, no '=')"),
        ));
    }
    if name.starts_with(crate::sweep::LABEL_PREFIX) {
        return Err(config(
            field,
            format!(
                "{name:?}: labels under {:?} are exec-docker's own",
                crate::sweep::LABEL_PREFIX
            ),
        ));
    }
    if value.len() > MAX_LABEL_VALUE || value.contains('\0') {
        return Err(config(
            field,
            format!("the value of {name:?} is over {MAX_LABEL_VALUE} bytes or has a NUL byte"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(builder: DockerExecutorBuilder) -> Result<DockerExecutor, DockerError> {
        builder
            .with_host("unix:///nonexistent/docker.sock")
            .build(ExecutorSettings::new("test:docker"))
    }

    #[test]
    fn good_settings_build() {
        let built = build(
            DockerExecutor::builder("busybox:1")
                .with_network_mode("container:abc123")
                .with_volume("/srv/data:/data:ro")
                .with_volume("cache:/cache")
                .with_user("1000:1000")
                .with_memory_limit(MIN_MEMORY_LIMIT)
                .with_cpu_quota(50_000)
                .with_cap_drop(["ALL"])
                .with_cap_add(["CAP_NET_BIND_SERVICE"])
                .with_tmpfs("/tmp", "rw,size=16m,mode=1777")
                .with_label("team", "infra")
                .with_label_from_env("tenant", "TENANT_ID"),
        );
        assert!(built.is_ok(), "{built:?}");
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases: Vec<(DockerExecutorBuilder, &str)> = vec![
            (DockerExecutor::builder(""), "invalid image: it is empty"),
            (DockerExecutor::builder("bad image"), "invalid image"),
            (
                DockerExecutor::builder("b").with_network_mode("a b"),
                "invalid network_mode",
            ),
            (
                DockerExecutor::builder("b").with_network_mode("container:"),
                "invalid network_mode",
            ),
            (
                DockerExecutor::builder("b").with_volume("/a"),
                "invalid volumes: \"/a\" is not two or three parts",
            ),
            (
                DockerExecutor::builder("b").with_volume("/a:b"),
                "not an absolute path",
            ),
            (
                DockerExecutor::builder("b").with_volume("/a:/b:rx"),
                "the mode \"rx\"",
            ),
            (
                DockerExecutor::builder("b").with_volume(":/b"),
                "empty host side",
            ),
            (DockerExecutor::builder("b").with_user(""), "invalid user"),
            (
                DockerExecutor::builder("b").with_memory_limit(1024),
                "below the daemon's minimum",
            ),
            (
                DockerExecutor::builder("b").with_memory_limit(u64::MAX),
                "too large",
            ),
            (
                DockerExecutor::builder("b").with_cpu_quota(10),
                "invalid cpu_quota",
            ),
            (
                DockerExecutor::builder("b").with_cap_drop(["net_raw"]),
                "invalid cap_drop",
            ),
            (
                DockerExecutor::builder("b").with_cap_add([""]),
                "invalid cap_add",
            ),
            (
                DockerExecutor::builder("b").with_tmpfs("tmp", ""),
                "invalid tmpfs",
            ),
            (
                DockerExecutor::builder("b").with_tmpfs("/tmp", "rw size"),
                "invalid tmpfs",
            ),
            (
                DockerExecutor::builder("b").with_label("", "x"),
                "invalid labels",
            ),
            (
                DockerExecutor::builder("b").with_label("exec.owner.pid", "1"),
                "exec-docker's own",
            ),
            (
                DockerExecutor::builder("b").with_label("a", "x".repeat(MAX_LABEL_VALUE + 1)),
                "over 4096 bytes",
            ),
            (
                DockerExecutor::builder("b").with_label_from_env("t", "A=B"),
                "invalid labels_from_env",
            ),
            (
                DockerExecutor::builder("b").with_mount_root("srv"),
                "invalid mount_roots",
            ),
            (
                DockerExecutor::builder("b")
                    .with_mount_root("/srv/roots")
                    .with_volume("/srv/roots/shared/../cache:/cache:ro"),
                "invalid volumes: \"/srv/roots/shared/../cache:/cache:ro\" takes a host path under the mount root \"/srv/roots\"",
            ),
            (
                DockerExecutor::builder("b")
                    .with_host("tcp://127.0.0.1:2375")
                    .with_mount_root("/srv"),
                "invalid mount_roots: the daemon at tcp://127.0.0.1:2375 is not on this machine",
            ),
            (
                DockerExecutor::builder("b").with_tls_ca("/nonexistent/ca.pem"),
                "tls_cert and tls_key missing",
            ),
            (
                DockerExecutor::builder("b").with_host("ftp://x"),
                "invalid host",
            ),
            (
                DockerExecutor::builder("b").with_host("tcp://"),
                "invalid host",
            ),
        ];
        for (builder, expected) in cases {
            let err = builder
                .build(ExecutorSettings::new("test:docker"))
                .err()
                .unwrap_or_else(|| panic!("expected an error with {expected:?}"));
            assert!(
                err.to_string().contains(expected),
                "{err} (expected {expected:?})"
            );
            assert_eq!(err.kind(), exec_core::ErrorKind::Invalid);
        }
        let mut many = DockerExecutor::builder("b");
        for n in 0..=MAX_ENV_LABELS {
            many = many.with_label_from_env(format!("l{n}"), "V");
        }
        assert!(build(many).unwrap_err().to_string().contains("at most 64"));
    }

    #[test]
    fn a_label_from_a_variable_a_call_may_not_set_is_refused_at_build() {
        let settings = ExecutorSettings::new("app:x")
            .with_whitelist(exec_core::Whitelist::parse(["true"]).unwrap());
        let err = DockerExecutor::builder("b")
            .with_label_from_env("tenant", "TENANT")
            .with_host("unix:///x")
            .build(settings.clone())
            .unwrap_err();
        assert!(err.to_string().contains("add TENANT to env_allow"), "{err}");
        let allowed =
            settings.with_env_allow(exec_core::confine::EnvAllow::parse(["TENANT"]).unwrap());
        assert!(
            DockerExecutor::builder("b")
                .with_label_from_env("tenant", "TENANT")
                .with_host("unix:///x")
                .build(allowed)
                .is_ok()
        );
    }

    #[test]
    fn pull_policies_parse() {
        for pull in [Pull::Never, Pull::Missing, Pull::Always] {
            assert_eq!(Pull::parse(pull.as_str()).unwrap(), pull);
        }
        assert!(
            Pull::parse("sometimes")
                .unwrap_err()
                .to_string()
                .contains("never, missing, always")
        );
    }
}
