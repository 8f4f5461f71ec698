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
/// [`ConfigError::Read`] is a file that cannot be read; every other variant is
/// a problem with the content, located by a [`Location`]. Shown with
/// `Display`, an error reads `FILE:LINE:COLUMN: entry ID: what is wrong`, the
/// line and column (counted from 1) and the entry where known:
///
/// ```
/// use exec_config::{ConfigError, Loader};
///
/// let yaml = "namespace: app\nentries:\n  - name: shell\n    kind: exec.native\n    defualt_env: {}\n";
/// let err = Loader::new().load_str(yaml, std::path::Path::new("executors.yaml"), None).unwrap_err();
/// # #[cfg(feature = "native")]
/// assert_eq!(
///     err.to_string(),
///     "executors.yaml:5:5: entry app:shell: unknown field \"defualt_env\"; did you mean \"default_env\"?; \
///      valid fields: name, kind, meta, default_work_dir, default_env, command_whitelist, output_encoding, env_allow, work_dir_roots, max_running"
/// );
/// # #[cfg(feature = "native")]
/// if let ConfigError::UnknownField { location, field, suggestion, .. } = &err {
///     assert_eq!((location.line(), location.column(), location.entry()), (Some(5), Some(5), Some("app:shell")));
///     assert_eq!((field.as_str(), suggestion.as_deref()), ("defualt_env", Some("default_env")));
/// } else {
///     panic!("{err:?}");
/// }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {}", path.display())]
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
    #[error(
        "{location}: unknown kind {kind:?}{}; {}",
        did_you_mean(suggestion),
        known_kinds(known)
    )]
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

    /// The config is larger than the loader's limit
    /// ([`Loader::with_max_config_bytes`](crate::Loader::with_max_config_bytes),
    /// by default [`DEFAULT_MAX_CONFIG_BYTES`](crate::DEFAULT_MAX_CONFIG_BYTES));
    /// it was not parsed.
    ///
    /// ```
    /// use exec_config::{ConfigError, Loader};
    ///
    /// let mut loader = Loader::new().with_max_config_bytes(16);
    /// let err = loader.load_str("- { name: a, kind: exec.native }", std::path::Path::new("big.yaml"), Some("app")).unwrap_err();
    /// assert_eq!(err.to_string(), "big.yaml: the config is 32 bytes, more than the limit of 16 bytes; it was not parsed");
    /// assert!(matches!(err, ConfigError::TooLarge { size: Some(32), limit: 16, .. }));
    /// ```
    #[error("{location}: {}", too_large(*size, *limit))]
    TooLarge {
        /// The file.
        location: Location,
        /// Its size in bytes; `None` when it was read only up to one byte over
        /// the limit (a pipe, a device, a file that grew).
        size: Option<u64>,
        /// The limit, in bytes.
        limit: u64,
    },

    /// The config nests lists and maps deeper than the loader's limit
    /// ([`Loader::with_max_config_depth`](crate::Loader::with_max_config_depth),
    /// by default [`DEFAULT_MAX_CONFIG_DEPTH`](crate::DEFAULT_MAX_CONFIG_DEPTH));
    /// it was not parsed. The location is where the limit was passed.
    ///
    /// ```
    /// use exec_config::Loader;
    ///
    /// let deep = format!("namespace: app\nmeta: {}{}\nentries: []\n", "[".repeat(40), "]".repeat(40));
    /// let err = Loader::new().load_str(&deep, std::path::Path::new("deep.yaml"), None).unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "deep.yaml:2:38: the config nests lists and maps more than 32 levels deep; it was not parsed"
    /// );
    /// ```
    #[error(
        "{location}: the config nests lists and maps more than {limit} levels deep; it was not parsed"
    )]
    TooDeep {
        /// Where the limit was passed.
        location: Location,
        /// The limit, in levels.
        limit: usize,
    },

    /// The entry's kind refused to build an executor from it; its error is
    /// the [`source`](std::error::Error::source) (print the whole chain with
    /// [`exec_core::report`]).
    #[error("{location}")]
    Build {
        /// Where.
        location: Location,
        /// The kind's error.
        #[source]
        source: exec_core::Error,
    },
}

fn too_large(size: Option<u64>, limit: u64) -> String {
    match size {
        Some(size) => format!(
            "the config is {size} bytes, more than the limit of {limit} bytes; it was not parsed"
        ),
        None => format!(
            "the config is more than the limit of {limit} bytes (it was read no further); it was not parsed"
        ),
    }
}

fn known_kinds(known: &[String]) -> String {
    if known.is_empty() {
        "no kind is registered".to_owned()
    } else {
        format!("known kinds: {}", known.join(", "))
    }
}

fn did_you_mean(suggestion: &Option<String>) -> String {
    suggestion
        .as_ref()
        .map(|s| format!("; did you mean {s:?}?"))
        .unwrap_or_default()
}

impl ConfigError {
    /// The class of the error: `NotFound`, `PermissionDenied` or `Io` for a file
    /// that cannot be read; for [`ConfigError::Build`], the kind's own error's
    /// class; `Invalid` for everything else, all problems with the content.
    ///
    /// ```
    /// use exec_config::Registry;
    /// use exec_core::ErrorKind;
    ///
    /// let missing = Registry::from_file("no/such/file.yaml", None).unwrap_err();
    /// assert_eq!(missing.kind(), ErrorKind::NotFound);
    /// let bad = Registry::from_yaml("entries: 5", std::path::Path::new("bad.yaml"), Some("app")).unwrap_err();
    /// assert_eq!(bad.kind(), ErrorKind::Invalid);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        match self {
            ConfigError::Read { source, .. } => match source.kind() {
                io::ErrorKind::NotFound => ErrorKind::NotFound,
                io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
                _ => ErrorKind::Io,
            },
            ConfigError::Build { source, .. } => source.kind(),
            _ => ErrorKind::Invalid,
        }
    }

    /// The field at fault, where there is one: the unknown, missing or invalid
    /// field (with a path inside it, like `default_env.PATH`, where known).
    ///
    /// ```
    /// use exec_config::Registry;
    ///
    /// let yaml = "- name: shell\n  kind: exec.native\n  default_env: { PATH: [a] }\n";
    /// let err = Registry::from_yaml(yaml, std::path::Path::new("env.yaml"), Some("app")).unwrap_err();
    /// # #[cfg(feature = "native")]
    /// assert_eq!(err.field(), Some("default_env.PATH"));
    /// ```
    pub fn field(&self) -> Option<&str> {
        match self {
            ConfigError::UnknownField { field, .. }
            | ConfigError::MissingField { field, .. }
            | ConfigError::InvalidValue { field, .. } => Some(field),
            _ => None,
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
            | ConfigError::TooLarge { location, .. }
            | ConfigError::TooDeep { location, .. }
            | ConfigError::Build { location, .. } => Some(location),
        }
    }
}

/// For callers that deal in [`exec_core::Error`]: an [`Error::Other`] with the
/// same [`kind`](ConfigError::kind) and message; a file's I/O error and a kind's
/// build error stay reachable as its `source`.
///
/// [`Error::Other`]: exec_core::Error::Other
impl From<ConfigError> for exec_core::Error {
    fn from(error: ConfigError) -> Self {
        let kind = error.kind();
        let (message, source): (String, Option<exec_core::BoxError>) = match error {
            ConfigError::Read { path, source } => (
                format!("cannot read config file {}", path.display()),
                Some(Box::new(source)),
            ),
            ConfigError::Build { location, source } => {
                (location.to_string(), Some(Box::new(source)))
            }
            other => (other.to_string(), None),
        };
        exec_core::Error::Other {
            kind,
            message,
            source,
        }
    }
}
