//! The one error type of the exec family and its coarse [`ErrorKind`].
//!
//! Every variant's message names the thing that went wrong (the command, the
//! executor id, the field, the daemon address) so that it can be shown to a user
//! as it is. Code that branches on failures matches on [`Error::kind`], which is
//! stable across backends, rather than on variants, which backends may add to.

use std::fmt;
use std::io;
use std::time::Duration;

/// A boxed error from a backend or a dependency, kept as the source of an [`Error`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result` with [`Error`] as its default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The coarse class of an [`Error`]: what a caller can branch on.
///
/// The classes follow the Wippy error kinds the Lua module exposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Bad input: an unclosed quote, an empty command, a bad option or config
    /// value, or an operation that is not valid in the process's current state.
    Invalid,
    /// Refused: the whitelist, the policy, file permissions or TLS trust.
    PermissionDenied,
    /// Something named does not exist: an executor id, a program, a work dir,
    /// an image, an instance.
    NotFound,
    /// A daemon or service is down or cannot be reached.
    Unavailable,
    /// A deadline passed.
    Timeout,
    /// A peer answered something that makes no sense.
    Protocol,
    /// An I/O error with no better class.
    Io,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// A short lower-case name, e.g. `"permission denied"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Invalid => "invalid",
            ErrorKind::PermissionDenied => "permission denied",
            ErrorKind::NotFound => "not found",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Io => "io",
            ErrorKind::Other => "other",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything that can go wrong when creating, running or talking to a process.
///
/// Match on [`Error::kind`] to branch; the variants carry what the message needs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A command line that cannot be split into words, or that is empty.
    #[error("invalid command line {command:?}: {reason}")]
    InvalidCommandLine {
        /// The command line as given.
        command: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A bad value for a named option or setting.
    #[error("invalid {field}: {reason}")]
    InvalidArgument {
        /// The option or setting, e.g. `env` or `output_encoding`.
        field: String,
        /// What is wrong with the value.
        reason: String,
    },

    /// An operation that is not valid in the process's current state, such as
    /// starting it twice or waiting before it was started.
    #[error("cannot {operation}: {reason}")]
    InvalidState {
        /// What was attempted, e.g. `"start the process"`.
        operation: &'static str,
        /// Why it cannot be done now.
        reason: &'static str,
    },

    /// The command's argument vector is not in the executor's whitelist.
    #[error("command {command:?} is not in the command whitelist of executor {executor}")]
    NotWhitelisted {
        /// The executor's id.
        executor: String,
        /// The command line as given.
        command: String,
    },

    /// A call set an environment variable the executor does not let a call
    /// set (see [`confine`](crate::confine)).
    #[error("executor {executor} does not let a call set the variable {name}: {reason}")]
    EnvNotAllowed {
        /// The executor's id.
        executor: String,
        /// The variable.
        name: String,
        /// Why, and what would allow it.
        reason: String,
    },

    /// A call asked for a work dir outside the ones the executor allows (see
    /// [`confine`](crate::confine)).
    #[error("executor {executor} does not let a call use the work dir {work_dir:?}: {reason}")]
    WorkDirNotAllowed {
        /// The executor's id.
        executor: String,
        /// The work dir asked for (`..` resolved).
        work_dir: std::path::PathBuf,
        /// Why, and what would allow it.
        reason: String,
    },

    /// On an executor with a whitelist, a call asked to mount something at a
    /// place in the container it may not put files: only where it could
    /// point its work dir (see [`Mount`](crate::Mount)).
    #[error("executor {executor} does not let a call mount anything at {target:?}: {reason}")]
    MountTargetNotAllowed {
        /// The executor's id.
        executor: String,
        /// The mount target asked for (`..` resolved).
        target: std::path::PathBuf,
        /// Why, and what would allow it.
        reason: String,
    },

    /// The policy hook refused an action.
    #[error("policy refused to {action} on executor {executor}: {reason}")]
    PolicyDenied {
        /// The executor's id.
        executor: String,
        /// What was refused, e.g. `acquire the executor` or `run "rm -rf /"`.
        action: String,
        /// The policy's reason.
        reason: String,
    },

    /// No executor is registered under this id.
    #[error("no executor with id {id:?}{}", suggestion_suffix(.suggestion))]
    ExecutorNotFound {
        /// The id asked for.
        id: String,
        /// The nearest registered id, if one is close.
        suggestion: Option<String>,
    },

    /// The program is not in any directory of the search path.
    #[error("program {program:?} not found in PATH {path:?}")]
    ProgramNotFound {
        /// The program as named in the command.
        program: String,
        /// The search path that was used (the child's `PATH`, or the safe default).
        path: String,
    },

    /// Something else that was named does not exist (a work dir, an image, an instance).
    #[error("{what} not found")]
    NotFound {
        /// What was looked for, e.g. `work dir "/nope"`.
        what: String,
    },

    /// A start refused because as many processes as a limit allows are
    /// running ([`ProcessLimit`](crate::ProcessLimit)).
    #[error("too many processes: {scope} allows {limit} running at once")]
    TooManyProcesses {
        /// What the limit bounds, e.g. `executor "app:shell" (max_running)`.
        scope: String,
        /// How many may run at once.
        limit: usize,
    },

    /// A daemon or service cannot be reached or refused to serve.
    #[error("{what} is unavailable")]
    Unavailable {
        /// What is unavailable, naming its address.
        what: String,
        /// The underlying failure.
        #[source]
        source: Option<BoxError>,
    },

    /// The command ran longer than its timeout and was ended.
    #[error("command {command:?} timed out after {after:?} and was killed")]
    Timeout {
        /// The command line as given.
        command: String,
        /// The timeout that expired.
        after: Duration,
    },

    /// A close gave up waiting: the command did not end within
    /// [`KILL_WAIT`](crate::backend::KILL_WAIT) of SIGKILL, or was still
    /// starting after [`START_WAIT`](crate::backend::START_WAIT). Kind
    /// `Timeout`, on every backend.
    #[error("closing {command:?} timed out: {reason} within {after:?}")]
    CloseTimedOut {
        /// The command, shortened for messages.
        command: String,
        /// How long the close waited.
        after: Duration,
        /// What it waited for.
        reason: &'static str,
    },

    /// A peer sent something that does not follow its protocol.
    #[error("protocol error from {peer}: {message}")]
    Protocol {
        /// Who sent it (a daemon address).
        peer: String,
        /// What was wrong.
        message: String,
    },

    /// An I/O error, with what was being done. The I/O error is the
    /// [`source`](std::error::Error::source), not part of the message.
    #[error("{context}")]
    Io {
        /// What was being done, e.g. `spawn "ls"`.
        context: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },

    /// The argument list (words and environment) is longer than the system
    /// accepts for one command.
    #[error(
        "the argument list of {command:?} is too long: {size} bytes of words and environment, \
         the limit is {limit} bytes (and {MAX_ARG_STRLEN} bytes for one word)"
    )]
    ArgumentListTooLong {
        /// The command, shortened for messages.
        command: String,
        /// The bytes the words and the environment take, with their terminators.
        size: usize,
        /// The system's limit (`ARG_MAX`).
        limit: usize,
    },

    /// A failure inside a backend that fits no other variant: the backend's
    /// own error, kept as the [`source`](std::error::Error::source), with the
    /// kind it is to be treated as.
    #[error("{backend}: {message}")]
    Backend {
        /// The backend it came from: `native`, `docker`, `incus`, or an
        /// extension's name.
        backend: &'static str,
        /// The class to report from [`Error::kind`].
        kind: ErrorKind,
        /// What went wrong, naming the command, container or daemon.
        message: String,
        /// The underlying failure.
        #[source]
        source: Option<BoxError>,
    },

    /// A failure that fits no other variant, with the kind it should be
    /// treated as.
    #[error("{message}")]
    Other {
        /// The class to report from [`Error::kind`].
        kind: ErrorKind,
        /// What went wrong.
        message: String,
        /// The underlying failure.
        #[source]
        source: Option<BoxError>,
    },
}

/// Linux's limit on one word of an argument list or environment
/// (`MAX_ARG_STRLEN`, 32 pages).
pub const MAX_ARG_STRLEN: usize = 128 * 1024;

fn suggestion_suffix(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!("; did you mean {s:?}?"),
        None => String::new(),
    }
}

/// An error and its sources as one line, `outer: inner: innermost`, for
/// reporters (a runner's stderr, a script's error value). Messages never
/// repeat their source, so each part is said once; a part already contained
/// in the line so far (a dependency that does repeat its source) is skipped.
///
/// ```
/// use exec_core::{Error, report};
///
/// let err = Error::io("read stdout", std::io::Error::other("connection reset"));
/// assert_eq!(err.to_string(), "read stdout");
/// assert_eq!(report(&err), "read stdout: connection reset");
/// ```
pub fn report(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !text.is_empty() && !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    line
}

fn io_kind(kind: io::ErrorKind) -> ErrorKind {
    match kind {
        io::ErrorKind::NotFound => ErrorKind::NotFound,
        io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
        io::ErrorKind::TimedOut => ErrorKind::Timeout,
        io::ErrorKind::InvalidInput => ErrorKind::Invalid,
        _ => ErrorKind::Io,
    }
}

impl Error {
    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidCommandLine { .. }
            | Error::InvalidArgument { .. }
            | Error::InvalidState { .. } => ErrorKind::Invalid,
            Error::NotWhitelisted { .. }
            | Error::PolicyDenied { .. }
            | Error::EnvNotAllowed { .. }
            | Error::WorkDirNotAllowed { .. }
            | Error::MountTargetNotAllowed { .. } => ErrorKind::PermissionDenied,
            Error::ExecutorNotFound { .. }
            | Error::ProgramNotFound { .. }
            | Error::NotFound { .. } => ErrorKind::NotFound,
            Error::Unavailable { .. } | Error::TooManyProcesses { .. } => ErrorKind::Unavailable,
            Error::Timeout { .. } | Error::CloseTimedOut { .. } => ErrorKind::Timeout,
            Error::Protocol { .. } => ErrorKind::Protocol,
            Error::Io { source, .. } => io_kind(source.kind()),
            Error::ArgumentListTooLong { .. } => ErrorKind::Invalid,
            Error::Backend { kind, .. } | Error::Other { kind, .. } => *kind,
        }
    }

    /// An [`Error::Io`] that says what was being done.
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// An [`Error::Other`] of the given kind, for backends and extensions.
    pub fn other(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error::Other {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// An [`Error::Backend`] of `kind` from `backend`, without a source.
    pub fn backend(backend: &'static str, kind: ErrorKind, message: impl Into<String>) -> Self {
        Error::Backend {
            backend,
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// An [`Error::Backend`] for an I/O error in `backend`, classed by the
    /// I/O error's kind (not found, permission denied, …) and keeping it as
    /// the source.
    pub fn backend_io(
        backend: &'static str,
        context: impl Into<String>,
        source: io::Error,
    ) -> Self {
        Error::Backend {
            backend,
            kind: io_kind(source.kind()),
            message: context.into(),
            source: Some(Box::new(source)),
        }
    }

    /// The name of the backend the error came from, for the variants a
    /// backend makes ([`Error::Backend`]).
    pub fn backend_name(&self) -> Option<&'static str> {
        match self {
            Error::Backend { backend, .. } => Some(backend),
            _ => None,
        }
    }

    /// An [`Error::InvalidState`]: `operation` cannot be done because of `reason`.
    pub fn invalid_state(operation: &'static str, reason: &'static str) -> Self {
        Error::InvalidState { operation, reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_classed_by_their_io_kind() {
        let e = Error::io(
            "spawn \"x\"",
            io::Error::from(io::ErrorKind::PermissionDenied),
        );
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        let e = Error::io("read", io::Error::from(io::ErrorKind::BrokenPipe));
        assert_eq!(e.kind(), ErrorKind::Io);
        assert_eq!(e.to_string(), "read");
    }

    #[test]
    fn messages_name_the_thing() {
        let e = Error::NotWhitelisted {
            executor: "app:shell".into(),
            command: "rm -rf /".into(),
        };
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        assert_eq!(
            e.to_string(),
            "command \"rm -rf /\" is not in the command whitelist of executor app:shell"
        );
        let e = Error::ExecutorNotFound {
            id: "app:shel".into(),
            suggestion: Some("app:shell".into()),
        };
        assert_eq!(
            e.to_string(),
            "no executor with id \"app:shel\"; did you mean \"app:shell\"?"
        );
        assert_eq!(e.kind(), ErrorKind::NotFound);
    }

    #[test]
    fn other_reports_the_kind_it_was_given() {
        let e = Error::other(ErrorKind::Unavailable, "docker at unix:///x is down");
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert_eq!(e.to_string(), "docker at unix:///x is down");
    }

    /// The source chain is for reporters: a message never repeats its source.
    #[test]
    fn display_does_not_repeat_the_source() {
        use std::error::Error as _;
        let cause = io::Error::other("connection refused");
        let errors = [
            Error::io("read stdout", io::Error::other("connection refused")),
            Error::backend_io(
                "native",
                "start \"ls\"",
                io::Error::other("connection refused"),
            ),
            Error::Unavailable {
                what: "docker at unix:///run/docker.sock".into(),
                source: Some(Box::new(io::Error::other("connection refused"))),
            },
        ];
        for e in errors {
            assert!(!e.to_string().contains(&cause.to_string()), "{e}");
            assert_eq!(e.source().map(ToString::to_string), Some(cause.to_string()));
        }
    }

    #[test]
    fn backend_errors_name_their_backend_and_keep_the_io_kind() {
        let e = Error::backend_io(
            "native",
            "start \"ls\"",
            io::Error::from(io::ErrorKind::PermissionDenied),
        );
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
        assert_eq!(e.backend_name(), Some("native"));
        assert_eq!(e.to_string(), "native: start \"ls\"");
    }
}
