//! Load errors: each names the file, the line and column where known, the entry
//! and the field, and says what was expected.

use exec_core::ErrorKind;
use std::fmt;
use std::io;
use std::path::PathBuf;

/// Where a problem is: the file, the line and column (1-based) where known, and
/// the entry's id (`namespace:name`, or `#N` for an entry without a name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location(Box<Place>);

/// Boxed so that errors stay small.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Place {
    file: String,
    line: Option<usize>,
    column: Option<usize>,
    entry: Option<String>,
}

impl Location {
    pub(crate) fn new(
        file: &str,
        line: Option<usize>,
        column: Option<usize>,
        entry: Option<String>,
    ) -> Self {
        Self(Box::new(Place {
            file: file.to_owned(),
            line,
            column,
            entry,
        }))
    }

    /// The file (its path, or the source name given to `load_str`).
    pub fn file(&self) -> &str {
        &self.0.file
    }

    /// The line, counted from 1.
    pub fn line(&self) -> Option<usize> {
        self.0.line
    }

    /// The column, counted from 1.
    pub fn column(&self) -> Option<usize> {
        self.0.column
    }

    /// The entry's id, if the problem is inside an entry.
    pub fn entry(&self) -> Option<&str> {
        self.0.entry.as_deref()
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.file)?;
        if let Some(line) = self.0.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.0.column {
                write!(f, ":{column}")?;
            }
        }
        if let Some(entry) = &self.0.entry {
            write!(f, ": entry {entry}")?;
        }
        Ok(())
    }
}

/// Why a config did not load.
///
/// Every variant but [`ConfigError::Read`] is a problem with the content and has
/// [`ErrorKind::Invalid`] as its [`kind`](ConfigError::kind).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },

    /// The text is not YAML, or its top level is not a config.
    #[error("{location}: {message}")]
    Syntax {
        /// Where.
        location: Location,
        /// What the parser said.
        message: String,
    },

    /// A field that the entry's kind (or the file's top level) does not have.
    #[error("{location}: unknown field {field:?}{}; valid fields: {}", did_you_mean(suggestion), valid.join(", "))]
    UnknownField {
        /// Where.
        location: Location,
        /// The unknown field.
        field: String,
        /// The nearest valid field, if one is close.
        suggestion: Option<String>,
        /// Every valid field there.
        valid: Vec<String>,
    },

    /// A required field is absent.
    #[error("{location}: missing field {field:?}")]
    MissingField {
        /// Where (the entry, or the file).
        location: Location,
        /// The missing field.
        field: String,
    },

    /// A field has the wrong type or a bad value.
    #[error("{location}: field {field:?}: {message}")]
    InvalidValue {
        /// Where.
        location: Location,
        /// The field, with a path inside it where there is one (`default_env.PATH`).
        field: String,
        /// What is wrong.
        message: String,
    },

    /// No kind is registered under this name.
    #[error("{location}: unknown kind {kind:?}{}; known kinds: {}", did_you_mean(suggestion), known.join(", "))]
    UnknownKind {
        /// Where.
        location: Location,
        /// The kind given.
        kind: String,
        /// The nearest registered kind, if one is close.
        suggestion: Option<String>,
        /// Every registered kind.
        known: Vec<String>,
    },

    /// Two entries have the same id.
    #[error("{location}: duplicate entry id {id:?}; it is already defined at {first}")]
    DuplicateId {
        /// Where the second one is.
        location: Location,
        /// The id.
        id: String,
        /// Where the first one is.
        first: Location,
    },

    /// A bare list of entries, and no namespace was given for it.
    #[error(
        "{location}: a bare list of entries needs a namespace: give one to the loader, or write `namespace:` and `entries:`"
    )]
    MissingNamespace {
        /// Where.
        location: Location,
    },

    /// The entry's kind refused to build an executor from it.
    #[error("{location}: {source}")]
    Build {
        /// Where.
        location: Location,
        /// The kind's error.
        #[source]
        source: exec_core::Error,
    },
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    suggestion
        .as_ref()
        .map(|s| format!("; did you mean {s:?}?"))
        .unwrap_or_default()
}

impl ConfigError {
    /// The class of the error: `NotFound`, `PermissionDenied` or `Io` for a file
    /// that cannot be read, `Invalid` for everything in the content.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ConfigError::Read { source, .. } => match source.kind() {
                io::ErrorKind::NotFound => ErrorKind::NotFound,
                io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
                _ => ErrorKind::Io,
            },
            _ => ErrorKind::Invalid,
        }
    }

    /// Where the problem is, for content errors.
    pub fn location(&self) -> Option<&Location> {
        match self {
            ConfigError::Read { .. } => None,
            ConfigError::Syntax { location, .. }
            | ConfigError::UnknownField { location, .. }
            | ConfigError::MissingField { location, .. }
            | ConfigError::InvalidValue { location, .. }
            | ConfigError::UnknownKind { location, .. }
            | ConfigError::DuplicateId { location, .. }
            | ConfigError::MissingNamespace { location }
            | ConfigError::Build { location, .. } => Some(location),
        }
    }
}

impl From<ConfigError> for exec_core::Error {
    fn from(error: ConfigError) -> Self {
        exec_core::Error::Other {
            kind: error.kind(),
            message: error.to_string(),
            source: None,
        }
    }
}
