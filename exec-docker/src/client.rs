//! The connection to a daemon: where it is, how to reach it, and the Engine
//! API calls exec-docker makes, each with its error classed and the daemon's
//! address named.

use crate::builder::config_error;
use crate::error::{DockerError, request_error};
use bollard::Docker;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// How long one request may wait for the daemon's answer (its headers; the
/// streams that follow run as long as the container does).
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The socket a daemon listens on when nothing says otherwise.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// The three PEM files of a TLS connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsFiles {
    pub(crate) ca: PathBuf,
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
}

/// Where the daemon is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Host {
    /// A local socket.
    Unix(PathBuf),
    /// `tcp://HOST:PORT`, plain HTTP.
    Tcp(String),
    /// `tcp://HOST:PORT` over TLS.
    Tls(String, TlsFiles),
}

impl Host {
    /// The daemon from the `host` setting, else `DOCKER_HOST`, else the
    /// local socket; TLS from the files, else `DOCKER_TLS_VERIFY` +
    /// `DOCKER_CERT_PATH`.
    pub(crate) fn resolve(host: Option<&str>, tls: &Option<TlsFiles>) -> Result<Self, DockerError> {
        let from_env = std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty());
        let (text, field) = match host {
            Some(host) => (host.to_owned(), "host"),
            None => match from_env {
                Some(host) => (host, "DOCKER_HOST"),
                None => (DEFAULT_HOST.to_owned(), "host"),
            },
        };
        let bad = |why: &str| {
            config_error(
                "host",
                format!(
                    "{text:?} ({field}) {why}; the forms are unix:///path/to/docker.sock and tcp://HOST:PORT"
                ),
            )
        };
        if let Some(path) = text.strip_prefix("unix://") {
            if !path.starts_with('/') {
                return Err(bad("is not an absolute socket path"));
            }
            if tls.is_some() {
                return Err(config_error(
                    "tls_ca",
                    format!(
                        "TLS files are given for the local socket {text:?}; they are for tcp:// hosts"
                    ),
                ));
            }
            return Ok(Host::Unix(PathBuf::from(path)));
        }
        let address = text
            .strip_prefix("tcp://")
            .or_else(|| text.strip_prefix("https://"))
            .or_else(|| text.strip_prefix("http://"))
            .ok_or_else(|| bad("has an unknown scheme"))?
            .trim_end_matches('/');
        let valid = address
            .rsplit_once(':')
            .is_some_and(|(name, port)| !name.is_empty() && port.parse::<u16>().is_ok());
        if !valid {
            return Err(bad("does not name HOST:PORT"));
        }
        let tls = match tls {
            Some(files) => Some(files.clone()),
            None => tls_from_env()?,
        };
        match tls {
            Some(files) => Ok(Host::Tls(address.to_owned(), files)),
            None if text.starts_with("https://") => Err(bad(
                "asks for TLS but no tls_ca, tls_cert and tls_key are given (nor DOCKER_TLS_VERIFY with DOCKER_CERT_PATH)",
            )),
            None => Ok(Host::Tcp(address.to_owned())),
        }
    }

    /// Whether the daemon runs on this machine (its paths are ours).
    pub(crate) fn is_local(&self) -> bool {
        matches!(self, Host::Unix(_))
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Unix(path) => write!(f, "unix://{}", path.display()),
            Host::Tcp(address) => write!(f, "tcp://{address}"),
            Host::Tls(address, _) => write!(f, "tcp://{address} (TLS)"),
        }
    }
}

/// `DOCKER_TLS_VERIFY` set (not empty, not `0`): the files in
/// `DOCKER_CERT_PATH` (default `~/.docker`), as the docker CLI takes them.
fn tls_from_env() -> Result<Option<TlsFiles>, DockerError> {
    let verify = std::env::var("DOCKER_TLS_VERIFY").unwrap_or_default();
    if verify.is_empty() || verify == "0" {
        return Ok(None);
    }
    let dir = match std::env::var_os("DOCKER_CERT_PATH").filter(|p| !p.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => match std::env::var_os("HOME") {
            Some(home) => Path::new(&home).join(".docker"),
            None => {
                return Err(config_error(
                    "host",
                    "DOCKER_TLS_VERIFY is set but neither DOCKER_CERT_PATH nor HOME says where the certificates are".to_owned(),
                ));
            }
        },
    };
    let files = TlsFiles {
        ca: dir.join("ca.pem"),
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    };
    for path in [&files.ca, &files.cert, &files.key] {
        if let Err(e) = std::fs::File::open(path) {
            return Err(config_error(
                "host",
                format!(
                    "DOCKER_TLS_VERIFY is set but {} cannot be read: {e}",
                    path.display()
                ),
            ));
        }
    }
    Ok(Some(files))
}

/// A daemon and its connection, made at the first request (so a config
/// loads while the daemon is down) and kept.
pub(crate) struct Client {
    host: Host,
    /// The host as messages name it.
    name: String,
    /// How long a request may wait for its answer.
    timeout: Duration,
    docker: Mutex<Option<Docker>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("host", &self.name)
            .finish_non_exhaustive()
    }
}

impl Client {
    pub(crate) fn new(host: Host, timeout: Duration) -> Self {
        Self {
            name: host.to_string(),
            timeout,
            host,
            docker: Mutex::new(None),
        }
    }

    /// The daemon's address, for messages.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn host(&self) -> &Host {
        &self.host
    }

    /// The bollard handle (cheap to clone: it shares one connection pool).
    pub(crate) fn docker(&self) -> Result<Docker, DockerError> {
        let mut slot = self.docker.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(docker) = &*slot {
            return Ok(docker.clone());
        }
        let timeout = self.timeout.as_secs().max(1);
        let version = bollard::API_DEFAULT_VERSION;
        let connected = match &self.host {
            Host::Unix(path) => {
                Docker::connect_with_unix(&path.to_string_lossy(), timeout, version)
            }
            Host::Tcp(address) => Docker::connect_with_http(address, timeout, version),
            #[cfg(feature = "tls")]
            Host::Tls(address, files) => {
                crate::tls::connect(address, crate::tls::client_config(files)?, timeout)
            }
            #[cfg(not(feature = "tls"))]
            Host::Tls(..) => {
                return Err(config_error(
                    "host",
                    format!(
                        "{} needs TLS, and exec-docker was built without its feature tls",
                        self.name
                    ),
                ));
            }
        };
        let docker = connected.map_err(|e| match e {
            bollard::errors::Error::SocketNotFoundError(_) => DockerError::Unreachable {
                host: self.name.clone(),
                source: e,
            },
            other => request_error("connect", &self.name, other),
        })?;
        *slot = Some(docker.clone());
        Ok(docker)
    }

    /// Runs one request, classing its error.
    pub(crate) async fn call<T, F>(
        &self,
        operation: &'static str,
        request: impl FnOnce(Docker) -> F,
    ) -> Result<T, DockerError>
    where
        F: std::future::Future<Output = Result<T, bollard::errors::Error>>,
    {
        let docker = self.docker()?;
        request(docker)
            .await
            .map_err(|e| match request_error(operation, &self.name, e) {
                DockerError::TimedOut {
                    operation, host, ..
                } => DockerError::TimedOut {
                    operation,
                    host,
                    after: self.timeout,
                },
                other => self.with_client_cert(other),
            })
    }

    /// A refused client certificate, with the certificate named.
    #[cfg(not(feature = "tls"))]
    fn with_client_cert(&self, error: DockerError) -> DockerError {
        error
    }

    /// A refused client certificate, with the certificate named.
    #[cfg(feature = "tls")]
    fn with_client_cert(&self, error: DockerError) -> DockerError {
        match (error, &self.host) {
            (
                DockerError::ClientCertRefused {
                    host,
                    alert,
                    client_cert: None,
                },
                Host::Tls(_, files),
            ) => DockerError::ClientCertRefused {
                host,
                alert,
                client_cert: Some(crate::error::describe_cert_file(&files.cert)),
            },
            (other, _) => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_resolve_from_their_forms() {
        assert_eq!(
            Host::resolve(Some("unix:///run/d.sock"), &None).unwrap(),
            Host::Unix(PathBuf::from("/run/d.sock"))
        );
        assert_eq!(
            Host::resolve(Some("tcp://10.0.0.1:2375"), &None).unwrap(),
            Host::Tcp("10.0.0.1:2375".to_owned())
        );
        let files = TlsFiles {
            ca: "/ca".into(),
            cert: "/c".into(),
            key: "/k".into(),
        };
        assert_eq!(
            Host::resolve(Some("tcp://d.example:2376"), &Some(files.clone())).unwrap(),
            Host::Tls("d.example:2376".to_owned(), files.clone())
        );
        assert_eq!(
            Host::resolve(Some("tcp://d.example:2376"), &Some(files.clone()))
                .unwrap()
                .to_string(),
            "tcp://d.example:2376 (TLS)"
        );
        for bad in [
            "unix://run/d.sock",
            "ftp://x:1",
            "tcp://x",
            "tcp://:80",
            "tcp://x:99999",
            "https://x:2376",
        ] {
            let err = Host::resolve(Some(bad), &None).unwrap_err();
            assert!(err.to_string().starts_with("invalid host:"), "{bad}: {err}");
            assert!(err.to_string().contains(bad), "{bad}: {err}");
        }
        assert!(Host::resolve(Some("unix:///x"), &Some(files)).is_err());
    }
}
