//! exec-docker's own errors, and how they map into [`exec_core::Error`].

use exec_core::ErrorKind;

/// The backend's name in errors.
pub(crate) const BACKEND: &str = "docker";

/// What went wrong talking to Docker.
///
/// It reaches users inside [`exec_core::Error::Backend`] (backend `docker`),
/// with [`kind`](DockerError::kind) as the error's kind and itself as the
/// [`source`](std::error::Error::source), so a caller can downcast to it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DockerError {
    /// A setting of the executor is unusable (found when it is built).
    #[error("invalid {field}: {reason}")]
    Config {
        /// The setting, as the YAML field is named.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// The daemon could not be reached.
    #[error("cannot reach the Docker daemon at {host}")]
    Unreachable {
        /// The address tried.
        host: String,
        /// Why.
        #[source]
        source: bollard::errors::Error,
    },

    /// The TLS handshake with the daemon failed: a wrong CA, a client
    /// certificate the daemon does not accept, or a port that is not TLS.
    #[error("the TLS handshake with the Docker daemon at {host} failed")]
    Tls {
        /// The address tried.
        host: String,
        /// Why.
        #[source]
        source: bollard::errors::Error,
    },

    /// The image is not on the daemon (and the pull policy did not fetch it).
    #[error("image {image:?} not found on the Docker daemon at {host} (pull: {pull})")]
    ImageNotFound {
        /// The image.
        image: String,
        /// The daemon.
        host: String,
        /// The executor's pull policy.
        pull: &'static str,
    },

    /// The daemon could not pull the image from its registry.
    #[error("pulling image {image:?} on {host} failed: {message}")]
    PullFailed {
        /// The image.
        image: String,
        /// The daemon.
        host: String,
        /// The daemon's words.
        message: String,
    },

    /// The daemon could not start the command: the program is missing from
    /// the image (only without `init`; with it the command exits with 127).
    #[error("program {program:?} not found in image {image:?}: {message}")]
    ProgramNotFound {
        /// The program.
        program: String,
        /// The image.
        image: String,
        /// The daemon's words.
        message: String,
    },

    /// A call asked to mount a host path the executor does not let it mount.
    #[error("executor {executor} does not let a call mount {path:?}: {reason}")]
    MountNotAllowed {
        /// The executor.
        executor: String,
        /// The host path asked for.
        path: std::path::PathBuf,
        /// Why it is refused.
        reason: String,
    },

    /// A call's mount source does not exist (or was removed as it was opened).
    #[error("executor {executor} cannot mount {path:?}: {reason}")]
    MountSourceNotFound {
        /// The executor.
        executor: String,
        /// The host path asked for.
        path: std::path::PathBuf,
        /// What was found.
        reason: String,
    },

    /// A call's mount source is not a directory: a call mounts directories
    /// only (the daemon is handed the open directory, see `mount_roots`).
    #[error(
        "executor {executor} cannot mount {path:?}: it is not a directory, and a call mounts directories only"
    )]
    MountSourceNotDirectory {
        /// The executor.
        executor: String,
        /// The host path asked for.
        path: std::path::PathBuf,
    },

    /// The daemon could not make a mount when it started the container (a
    /// target the image has as a file, a source gone since it was checked).
    #[error("the Docker daemon at {host} could not make {mount} in the container: {message}")]
    MountFailed {
        /// The daemon.
        host: String,
        /// Which mount: the call's (`mount N ("source" at "target")`) when
        /// the daemon's words tell, else `a mount`.
        mount: String,
        /// The daemon's words.
        message: String,
    },

    /// The daemon refused a request.
    #[error("{operation} on {host}: the daemon answered {status}: {message}")]
    Refused {
        /// What was asked, e.g. `create a container`.
        operation: &'static str,
        /// The daemon.
        host: String,
        /// The HTTP status.
        status: u16,
        /// The daemon's message.
        message: String,
    },

    /// The daemon's certificate was refused: not signed by `tls_ca`, not
    /// for the daemon's address, or not valid now.
    #[error("the Docker daemon at {host} presented a certificate that is refused: {detail}")]
    ServerCertRefused {
        /// The daemon.
        host: String,
        /// Why, what was expected and what was found.
        detail: String,
    },

    /// The daemon does not speak TLS 1.3, the only version accepted.
    #[error(
        "the Docker daemon at {host} does not speak TLS 1.3, the only version accepted \
         (it offered an older one, or refused 1.3)"
    )]
    TlsVersion {
        /// The daemon.
        host: String,
    },

    /// The daemon refused the client certificate.
    #[error(
        "the Docker daemon at {host} refused the client certificate{}: it expects one signed \
         by a CA it trusts (its --tlscacert); it answered with the TLS alert {alert}",
        client_cert.as_deref().map(|c| format!(" ({c})")).unwrap_or_default()
    )]
    ClientCertRefused {
        /// The daemon.
        host: String,
        /// The alert it sent.
        alert: String,
        /// `tls_cert`, its subject, issuer and fingerprint, when known.
        client_cert: Option<String>,
    },

    /// A plain `tcp://` request reached a daemon that speaks only TLS.
    #[error(
        "the Docker daemon at {host} speaks TLS: give tls_ca, tls_cert and tls_key (or DOCKER_TLS_VERIFY and DOCKER_CERT_PATH)"
    )]
    TlsRequired {
        /// The daemon.
        host: String,
    },

    /// A request failed on the way (the daemon went away, a connection
    /// broke, an answer did not parse).
    #[error("{operation} on {host} failed")]
    Request {
        /// What was asked.
        operation: &'static str,
        /// The daemon.
        host: String,
        /// Why.
        #[source]
        source: bollard::errors::Error,
    },

    /// The daemon stopped answering about a running container: its event
    /// stream ended before the container's exit was reported.
    #[error("the Docker daemon at {host} went away while container {container} was running")]
    DaemonGone {
        /// The daemon.
        host: String,
        /// The container (short id).
        container: String,
    },

    /// A request did not finish in time.
    #[error("{operation} on {host} did not finish within {after:?}")]
    TimedOut {
        /// What was asked.
        operation: &'static str,
        /// The daemon.
        host: String,
        /// How long it was given.
        after: std::time::Duration,
    },
}

impl DockerError {
    /// The class of this error, as [`exec_core::Error::kind`] reports it.
    pub fn kind(&self) -> ErrorKind {
        match self {
            DockerError::Config { .. } => ErrorKind::Invalid,
            DockerError::Unreachable { .. }
            | DockerError::DaemonGone { .. }
            | DockerError::TlsRequired { .. }
            | DockerError::Request { .. } => ErrorKind::Unavailable,
            DockerError::Tls { .. }
            | DockerError::ServerCertRefused { .. }
            | DockerError::TlsVersion { .. }
            | DockerError::ClientCertRefused { .. }
            | DockerError::MountNotAllowed { .. } => ErrorKind::PermissionDenied,
            DockerError::ImageNotFound { .. }
            | DockerError::ProgramNotFound { .. }
            | DockerError::MountSourceNotFound { .. } => ErrorKind::NotFound,
            DockerError::MountSourceNotDirectory { .. } => ErrorKind::Invalid,
            DockerError::MountFailed { message, .. } => {
                if message.contains("no such file or directory") {
                    ErrorKind::NotFound
                } else {
                    ErrorKind::Invalid
                }
            }
            DockerError::TimedOut { .. } => ErrorKind::Timeout,
            DockerError::PullFailed { .. } => ErrorKind::Unavailable,
            DockerError::Refused { status, .. } => match status {
                400 | 409 | 422 => ErrorKind::Invalid,
                401 | 403 => ErrorKind::PermissionDenied,
                404 => ErrorKind::NotFound,
                _ => ErrorKind::Unavailable,
            },
        }
    }
}

impl From<DockerError> for exec_core::Error {
    fn from(error: DockerError) -> Self {
        exec_core::Error::Backend {
            backend: BACKEND,
            kind: error.kind(),
            message: error.to_string(),
            source: Some(Box::new(error)),
        }
    }
}

/// What a refused start means: a mount the daemon could not make, a
/// program missing from the image (only without `init`), or the refusal
/// itself. A mount's failure says "no such file or directory" too, so it is
/// told apart first, by runc's and dockerd's words for mounting.
pub(crate) fn start_failed(
    error: DockerError,
    program: &str,
    image: &str,
    held: &crate::mounts::HeldSources,
) -> DockerError {
    let DockerError::Refused {
        status: status @ (400 | 404 | 500),
        message,
        host,
        operation,
    } = error
    else {
        return error;
    };
    if is_mount_failure(&message) {
        let mount = held
            .named_in(&message)
            .unwrap_or_else(|| "a mount".to_owned());
        return DockerError::MountFailed {
            host,
            mount,
            message,
        };
    }
    if is_missing_program(&message) {
        return DockerError::ProgramNotFound {
            program: program.to_owned(),
            image: image.to_owned(),
            message,
        };
    }
    DockerError::Refused {
        operation,
        host,
        status,
        message,
    }
}

/// runc's words for a program that is not in the image:
/// `exec: "x": executable file not found in $PATH`, or for a path
/// `exec: "/x": stat /x: no such file or directory`.
fn is_missing_program(message: &str) -> bool {
    message.contains("executable file not found")
        || (message.contains("exec: \"") && message.contains("no such file or directory"))
}

/// runc's and dockerd's words for a mount that could not be made.
fn is_mount_failure(message: &str) -> bool {
    [
        "error mounting",
        "error while mounting volume",
        "failed to mount local volume",
        "invalid mount config",
        "bind source path does not exist",
    ]
    .iter()
    .any(|words| message.contains(words))
}

/// The error for a failed request, classed by what failed: no daemon at
/// the address, a TLS handshake, the daemon's refusal, or the way there.
pub(crate) fn request_error(
    operation: &'static str,
    host: &str,
    error: bollard::errors::Error,
) -> DockerError {
    use bollard::errors::Error as B;
    match error {
        // Go's TLS server answers a plain HTTP request with this fixed 400.
        B::DockerResponseServerError {
            status_code: 400,
            ref message,
        } if message.starts_with("Client sent an HTTP request to an HTTPS server") => {
            DockerError::TlsRequired {
                host: host.to_owned(),
            }
        }
        B::DockerResponseServerError {
            status_code,
            message,
        } => DockerError::Refused {
            operation,
            host: host.to_owned(),
            status: status_code,
            message,
        },
        B::SocketNotFoundError(_) => DockerError::Unreachable {
            host: host.to_owned(),
            source: error,
        },
        B::RequestTimeoutError => DockerError::TimedOut {
            operation,
            host: host.to_owned(),
            after: crate::client::REQUEST_TIMEOUT,
        },
        other if is_tls_failure(&other) => tls_error(host, other),
        other if is_connect_failure(&other) => DockerError::Unreachable {
            host: host.to_owned(),
            source: other,
        },
        other => DockerError::Request {
            operation,
            host: host.to_owned(),
            source: other,
        },
    }
}

/// Whether a rustls error is somewhere in the chain (a refused handshake).
fn is_tls_failure(error: &(dyn std::error::Error + 'static)) -> bool {
    #[cfg(feature = "tls")]
    {
        chain(error).any(|e| e.is::<rustls::Error>())
    }
    #[cfg(not(feature = "tls"))]
    {
        let _ = error;
        false
    }
}

/// A refused handshake, as precisely as its rustls error tells: the
/// server's certificate (what was expected, what was found), the version,
/// or the client certificate.
fn tls_error(host: &str, error: bollard::errors::Error) -> DockerError {
    #[cfg(feature = "tls")]
    {
        use rustls::AlertDescription as Alert;
        let found = chain(&error).find_map(|e| e.downcast_ref::<rustls::Error>().cloned());
        let host = host.to_owned();
        match found {
            Some(rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other))) => {
                if let Some(refusal) = other.0.downcast_ref::<crate::tls::Refusal>() {
                    return DockerError::ServerCertRefused {
                        host,
                        detail: refusal.to_string(),
                    };
                }
            }
            Some(
                rustls::Error::PeerIncompatible(_)
                | rustls::Error::AlertReceived(Alert::ProtocolVersion),
            ) => return DockerError::TlsVersion { host },
            Some(rustls::Error::AlertReceived(
                alert @ (Alert::BadCertificate
                | Alert::UnknownCA
                | Alert::CertificateRequired
                | Alert::CertificateUnknown
                | Alert::UnsupportedCertificate
                | Alert::CertificateExpired
                | Alert::CertificateRevoked
                | Alert::AccessDenied),
            )) => {
                return DockerError::ClientCertRefused {
                    host,
                    alert: format!("{alert:?}"),
                    client_cert: None,
                };
            }
            _ => {}
        }
        DockerError::Tls {
            host,
            source: error,
        }
    }
    #[cfg(not(feature = "tls"))]
    DockerError::Tls {
        host: host.to_owned(),
        source: error,
    }
}

/// `path` (a client certificate) with its subject, issuer and fingerprint.
#[cfg(feature = "tls")]
pub(crate) fn describe_cert_file(path: &std::path::Path) -> String {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let first = std::fs::read(path)
        .ok()
        .and_then(|pem| CertificateDer::pem_slice_iter(&pem).next()?.ok());
    match first {
        Some(der) => match exec_core::backend::x509::Summary::parse(der.as_ref()) {
            Some(summary) => format!(
                "tls_cert {}: {summary}, SHA-256 {}",
                path.display(),
                crate::tls::fingerprint(der.as_ref())
            ),
            None => format!("tls_cert {}", path.display()),
        },
        None => format!("tls_cert {}", path.display()),
    }
}

/// Whether the connection itself could not be made (refused, no route,
/// no such socket).
fn is_connect_failure(error: &(dyn std::error::Error + 'static)) -> bool {
    chain(error).any(|e| {
        e.downcast_ref::<std::io::Error>().is_some_and(|io| {
            matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::NotFound
                    | std::io::ErrorKind::PermissionDenied
                    | std::io::ErrorKind::HostUnreachable
                    | std::io::ErrorKind::NetworkUnreachable
                    | std::io::ErrorKind::AddrNotAvailable
            )
        })
    })
}

/// The error and its sources. An `io::Error` wrapping another error counts
/// that one as its next (its `source()` skips it: hyper-rustls wraps
/// tokio-rustls's `io::Error`, which wraps the `rustls::Error`).
fn chain<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(error), |e| match e.downcast_ref::<std::io::Error>() {
        Some(io) => match io.get_ref() {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => std::error::Error::source(io),
        },
        None => e.source(),
    })
}
