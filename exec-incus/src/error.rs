//! [`IncusError`]: what can go wrong talking to an Incus daemon, each with
//! the [`ErrorKind`] it is reported as once it becomes an
//! [`exec_core::Error`].

use exec_core::ErrorKind;
use std::io;

/// The backend's name in [`exec_core::Error::Backend`].
pub(crate) const BACKEND: &str = "incus";

/// A failure of the Incus backend. Match on [`kind`](IncusError::kind) to
/// branch; the variants carry what the message needs. In an
/// [`exec_core::Error`] it is the [`source`](std::error::Error::source) of an
/// [`exec_core::Error::Backend`] of the same kind.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IncusError {
    /// A bad setting: the field named and why.
    #[error("invalid {field}: {reason}")]
    Config {
        /// The setting, as the config spells it (`host`, `server_fingerprint`, …).
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// A certificate or key file that cannot be read or holds no PEM of the
    /// kind expected.
    #[error("{field} {path:?}: {reason}")]
    Pem {
        /// The setting that names the file.
        field: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        reason: String,
        /// The I/O or parse error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },

    /// The daemon cannot be reached: no socket, connection refused, the
    /// network.
    #[error("cannot connect to the Incus daemon at {address}")]
    Connect {
        /// The daemon's address.
        address: String,
        /// The failure.
        #[source]
        source: io::Error,
    },

    /// The server presented a certificate other than the pinned one.
    #[error(
        "the Incus daemon at {address} presented a certificate with SHA-256 fingerprint {found}, \
         but {expected} is pinned (server_cert / server_fingerprint)"
    )]
    PinMismatch {
        /// The daemon's address.
        address: String,
        /// The pinned fingerprint (hex).
        expected: String,
        /// The presented certificate's fingerprint (hex).
        found: String,
    },

    /// The server presented the pinned certificate outside its validity
    /// period (expired, or not valid yet).
    #[error(
        "the Incus daemon at {address} presented the pinned certificate (SHA-256 {fingerprint}), \
         but it is not valid now: {validity}, and it is {now}"
    )]
    PinNotValidNow {
        /// The daemon's address.
        address: String,
        /// The certificate's fingerprint (hex).
        fingerprint: String,
        /// Its validity period, in words.
        validity: String,
        /// The time it was checked at.
        now: String,
    },

    /// The server does not speak TLS 1.3, the only version exec-incus
    /// accepts (as Incus itself speaks).
    #[error(
        "the Incus daemon at {address} does not speak TLS 1.3, the only version accepted \
         (it offered an older one, or refused 1.3)"
    )]
    TlsVersion {
        /// The daemon's address.
        address: String,
        /// The handshake's failure.
        #[source]
        source: io::Error,
    },

    /// The TLS handshake failed for another reason.
    #[error("TLS handshake with the Incus daemon at {address} failed")]
    Tls {
        /// The daemon's address.
        address: String,
        /// The failure.
        #[source]
        source: io::Error,
    },

    /// The daemon does not trust the client certificate (or, over the unix
    /// socket, the caller).
    #[error(
        "the Incus daemon at {address} refused {what}: it does not trust the client{}",
        fingerprint_suffix(.client_fingerprint)
    )]
    NotTrusted {
        /// The daemon's address.
        address: String,
        /// What was refused.
        what: String,
        /// The fingerprint of the client certificate presented, if one was.
        client_fingerprint: Option<String>,
        /// The daemon's answer.
        message: String,
    },

    /// The instance or project does not exist.
    #[error("{what} not found on the Incus daemon at {address}: {message}")]
    NotFound {
        /// The instance or project, named.
        what: String,
        /// The daemon's address.
        address: String,
        /// The daemon's answer.
        message: String,
    },

    /// The instance exists but cannot run commands now (stopped, frozen).
    #[error("instance {instance:?} on the Incus daemon at {address} is {status}, not running")]
    NotRunning {
        /// The instance.
        instance: String,
        /// The daemon's address.
        address: String,
        /// Its status as the daemon reports it (`Stopped`, `Frozen`, …).
        status: String,
    },

    /// The daemon answered a request with an error.
    #[error("the Incus daemon at {address} answered {what} with HTTP {status}: {message}")]
    Api {
        /// The daemon's address.
        address: String,
        /// The request.
        what: String,
        /// The HTTP status.
        status: u16,
        /// The daemon's error message.
        message: String,
    },

    /// The connection failed during a request (the daemon went away).
    #[error("the connection to the Incus daemon at {address} failed during {what}")]
    Http {
        /// The daemon's address.
        address: String,
        /// The request.
        what: String,
        /// The failure.
        #[source]
        source: hyper::Error,
    },

    /// A websocket failed to connect or broke.
    #[error("websocket {what} to the Incus daemon at {address} failed")]
    WebSocket {
        /// The daemon's address.
        address: String,
        /// Which websocket.
        what: String,
        /// The failure.
        #[source]
        source: Box<tokio_tungstenite::tungstenite::Error>,
    },

    /// The daemon did not answer in time.
    #[error("the Incus daemon at {address} did not answer {what} within {after:?}")]
    Timeout {
        /// The daemon's address.
        address: String,
        /// What was waited for.
        what: String,
        /// How long.
        after: std::time::Duration,
    },

    /// The daemon went away while a command ran (its events ended) and the
    /// one answering now does not know the command's operation: it was
    /// restarted, and how the command ended cannot be learnt.
    #[error(
        "the Incus daemon at {address} went away while the command ran (operation {operation}), \
         and the daemon answering now does not know the operation: it was restarted, and how the \
         command ended is unknown"
    )]
    OperationLost {
        /// The daemon's address.
        address: String,
        /// The exec operation's id.
        operation: String,
    },

    /// The command could not be started in the instance.
    #[error("instance {instance:?} could not run the command: {message}")]
    ExecFailed {
        /// The instance.
        instance: String,
        /// The daemon's message.
        message: String,
    },

    /// A work dir a call chose lies outside the configured ones once its
    /// symlinks are followed in the instance (the exec-core refusal).
    #[error(transparent)]
    WorkDir(Box<exec_core::Error>),

    /// The daemon answered something that does not follow its API.
    #[error("unexpected answer from the Incus daemon at {address} to {what}: {message}")]
    Protocol {
        /// The daemon's address.
        address: String,
        /// The request.
        what: String,
        /// What was wrong.
        message: String,
    },
}

fn fingerprint_suffix(fingerprint: &Option<String>) -> String {
    match fingerprint {
        Some(f) => format!(
            " certificate with SHA-256 fingerprint {f} (add it with `incus config trust add-certificate`)"
        ),
        None => String::new(),
    }
}

impl IncusError {
    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            // A certificate file that cannot be used is a bad setting, as
            // `into_core` reports it.
            IncusError::Config { .. } | IncusError::Pem { .. } => ErrorKind::Invalid,
            IncusError::Connect { source, .. } => match source.kind() {
                io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
                _ => ErrorKind::Unavailable,
            },
            IncusError::PinMismatch { .. }
            | IncusError::PinNotValidNow { .. }
            | IncusError::TlsVersion { .. }
            | IncusError::Tls { .. }
            | IncusError::NotTrusted { .. } => ErrorKind::PermissionDenied,
            IncusError::NotFound { .. } => ErrorKind::NotFound,
            IncusError::NotRunning { .. }
            | IncusError::Http { .. }
            | IncusError::WebSocket { .. }
            | IncusError::Timeout { .. }
            | IncusError::OperationLost { .. } => ErrorKind::Unavailable,
            IncusError::Api { status, .. } => match status {
                400 => ErrorKind::Invalid,
                403 => ErrorKind::PermissionDenied,
                404 => ErrorKind::NotFound,
                _ => ErrorKind::Other,
            },
            IncusError::ExecFailed { .. } => ErrorKind::Other,
            IncusError::Protocol { .. } => ErrorKind::Protocol,
            IncusError::WorkDir(inner) => inner.kind(),
        }
    }

    /// This error as an [`exec_core::Error`]: a `Config` or `Pem` error
    /// becomes [`exec_core::Error::InvalidArgument`] naming the field (a
    /// `Pem` error's file and cause in its reason), every other an
    /// [`exec_core::Error::Backend`] of the same kind that says what was being
    /// done (`context`) and keeps this error as its source.
    pub fn into_core(self, context: impl Into<String>) -> exec_core::Error {
        match self {
            IncusError::Config { field, reason } => exec_core::Error::InvalidArgument {
                field: field.to_owned(),
                reason,
            },
            IncusError::Pem {
                field,
                path,
                reason,
                source,
            } => exec_core::Error::InvalidArgument {
                field: field.to_owned(),
                reason: match source {
                    Some(source) => format!("{path:?} {reason}: {source}"),
                    None => format!("{path:?}: {reason}"),
                },
            },
            IncusError::WorkDir(inner) => *inner,
            other => exec_core::Error::Backend {
                backend: BACKEND,
                kind: other.kind(),
                message: context.into(),
                source: Some(Box::new(other)),
            },
        }
    }
}

impl From<IncusError> for exec_core::Error {
    fn from(error: IncusError) -> Self {
        let context = match error.kind() {
            ErrorKind::Invalid => "bad settings",
            _ => "request to the daemon",
        };
        error.into_core(context)
    }
}

pub(crate) type Result<T, E = IncusError> = std::result::Result<T, E>;
