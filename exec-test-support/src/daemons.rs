//! Where the daemons of the backend tests are, as `cargo xtask test-all`
//! tells the tests through the environment after it provisioned them.
//!
//! Each function answers `Err(reason)` when the daemon is not there, for
//! `exec_core::conformance::daemon_or_skip` to skip on (plain `cargo test`)
//! or fail on (`EXEC_REQUIRE_DAEMONS`, set by `test-all`).

use std::path::{Path, PathBuf};

/// The local Docker daemon's address (`unix:///…/docker.sock`).
pub const DOCKER_HOST: &str = "EXEC_TEST_DOCKER_HOST";
/// The test image (busybox, imported by xtask).
pub const DOCKER_IMAGE: &str = "EXEC_TEST_DOCKER_IMAGE";
/// The TLS Docker daemon's address (`tcp://127.0.0.1:PORT`).
pub const DOCKER_TLS_HOST: &str = "EXEC_TEST_DOCKER_TLS_HOST";
/// The directory with the TLS daemon's client files: `ca.pem`, `cert.pem`,
/// `key.pem`, and `wrong-ca.pem` (a CA that did not sign the server).
pub const DOCKER_TLS_DIR: &str = "EXEC_TEST_DOCKER_TLS_DIR";

/// A Docker daemon and the image to run.
#[derive(Debug, Clone)]
pub struct Docker {
    /// `unix:///path` or `tcp://host:port`.
    pub host: String,
    /// The busybox test image.
    pub image: String,
}

/// The TLS daemon: its address and the client's files.
#[derive(Debug, Clone)]
pub struct DockerTls {
    /// `tcp://127.0.0.1:PORT`.
    pub host: String,
    /// The busybox test image (imported there too).
    pub image: String,
    /// The directory of `ca.pem`, `cert.pem`, `key.pem`, `wrong-ca.pem`.
    pub dir: PathBuf,
}

impl DockerTls {
    /// A file of the client's directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

/// The variable `name`, unset or empty being the same: why not, naming
/// the `daemon` xtask would have provisioned.
pub(crate) fn var(name: &str, daemon: &str) -> Result<String, String> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| {
            format!("{name} is not set (cargo xtask test-all provisions {daemon} and sets it)")
        })
}

/// The local Docker daemon, if xtask said where it is and its socket is there.
pub fn docker() -> Result<Docker, String> {
    let host = var(DOCKER_HOST, "a Docker daemon")?;
    let image = var(DOCKER_IMAGE, "a Docker daemon")?;
    if let Some(path) = host.strip_prefix("unix://") {
        if !Path::new(path).exists() {
            return Err(format!(
                "{DOCKER_HOST}={host}, but there is no socket at {path}"
            ));
        }
    }
    Ok(Docker { host, image })
}

/// The TLS Docker daemon, if xtask said where it is.
pub fn docker_tls() -> Result<DockerTls, String> {
    let host = var(DOCKER_TLS_HOST, "a Docker daemon")?;
    let image = var(DOCKER_IMAGE, "a Docker daemon")?;
    let dir = PathBuf::from(var(DOCKER_TLS_DIR, "a Docker daemon")?);
    for file in ["ca.pem", "cert.pem", "key.pem", "wrong-ca.pem"] {
        if !dir.join(file).exists() {
            return Err(format!(
                "{DOCKER_TLS_DIR}={}, but it has no {file}",
                dir.display()
            ));
        }
    }
    Ok(DockerTls { host, image, dir })
}

/// A client of the local daemon `host` (`unix://…`).
#[cfg(feature = "docker")]
fn connect(host: &str) -> bollard::Docker {
    bollard::Docker::connect_with_unix(
        host.trim_start_matches("unix://"),
        30,
        bollard::API_DEFAULT_VERSION,
    )
    .expect("connect to the test daemon")
}

/// The filter `label=name=value`.
#[cfg(feature = "docker")]
fn label_filter(label: &str) -> Option<std::collections::HashMap<String, Vec<String>>> {
    Some(std::collections::HashMap::from([(
        "label".to_owned(),
        vec![label.to_owned()],
    )]))
}

/// Waits (20 s at most, then panics naming them) until `list` finds none.
#[cfg(feature = "docker")]
async fn assert_none_left<F, Fut>(what: &str, label: &str, list: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Vec<String>>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let left = list().await;
        if left.is_empty() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what} labelled {label} left behind: {left:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The ids of the containers on the local daemon `host` (`unix://…`) that
/// carry the label `name=value`, running or not.
#[cfg(feature = "docker")]
pub async fn docker_containers(host: &str, label: &str) -> Vec<String> {
    use bollard::query_parameters::ListContainersOptions;
    connect(host)
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: label_filter(label),
            ..Default::default()
        }))
        .await
        .expect("list containers")
        .into_iter()
        .filter_map(|c| c.id)
        .collect()
}

/// Waits (20 s at most, then panics naming them) until no container on
/// `host` carries the label `name=value`.
#[cfg(feature = "docker")]
pub async fn assert_no_docker_containers(host: &str, label: &str) {
    assert_none_left("containers", label, || docker_containers(host, label)).await;
}

/// The names of the volumes on the local daemon `host` (`unix://…`) that
/// carry the label `name=value`.
#[cfg(feature = "docker")]
pub async fn docker_volumes(host: &str, label: &str) -> Vec<String> {
    use bollard::query_parameters::ListVolumesOptions;
    connect(host)
        .list_volumes(Some(ListVolumesOptions {
            filters: label_filter(label),
        }))
        .await
        .expect("list volumes")
        .volumes
        .unwrap_or_default()
        .into_iter()
        .map(|v| v.name)
        .collect()
}

/// Waits (20 s at most, then panics naming them) until no volume on `host`
/// carries the label `name=value`.
#[cfg(feature = "docker")]
pub async fn assert_no_docker_volumes(host: &str, label: &str) {
    assert_none_left("volumes", label, || docker_volumes(host, label)).await;
}
