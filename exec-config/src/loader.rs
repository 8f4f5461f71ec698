//! Loading config files into a [`Registry`].
//!
//! A file is read in three passes over its text, all with serde_yaml:
//!
//! 1. the *shape* ([`crate::shape`]): a lenient read for the namespace and each
//!    entry's `name` and `kind` (a `kind:` may come after the fields it
//!    decides); YAML syntax errors surface here;
//! 2. the *check*: the file, its entries and their common fields are
//!    deserialized with this module's seeds, which raise each error from inside
//!    the key or value at fault, so serde_yaml tags it with that line and
//!    column; what the error is (variant, field, suggestion) is recorded on the
//!    side, since a serde error carries only text;
//! 3. per kind, the kinds' own fields (their `Spec`) are deserialized from the
//!    text, for that kind's entries only, and the executors built.
//!
//! Nothing from a file reaches the registry unless all of it loaded.

use crate::error::{ConfigError, Location};
use crate::kind::{BuildFailure, ErasedKind, ExecutorKind, Registered, SpecFields};
use crate::limits::{DEFAULT_MAX_CONFIG_BYTES, DEFAULT_MAX_CONFIG_DEPTH, check_depth};
use crate::registry::Registry;
use crate::shape::Shape;
use crate::suggest::nearest;
use crate::walk::{EachEntry, Walk, skip};
use exec_core::confine::EnvAllow;
use exec_core::decode::{OutputEncoding, encoding_for_label};
use exec_core::env::{self, Env};
use exec_core::{Executor, ExecutorSettings, Policy, Whitelist, command_line};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;

/// Fields every entry may have, whatever its kind.
pub const COMMON_FIELDS: &[&str] = &[
    "name",
    "kind",
    "meta",
    "default_work_dir",
    "default_env",
    "command_whitelist",
    "output_encoding",
    "env_allow",
    "work_dir_roots",
    "max_running",
];

/// Fields of a file's top level (the `namespace:` + `entries:` form).
pub const FILE_FIELDS: &[&str] = &["namespace", "entries", "version", "meta"];

/// Where an accepted entry came from, to name it when a later one clashes.
#[derive(Debug, Clone)]
struct Origin {
    file: String,
    text: Arc<str>,
    index: usize,
}

/// Reads config files into a [`Registry`], with the executor kinds it knows.
///
/// Load any number of files (or texts); each load either adds all of its
/// entries or, on error, none. Ids must be unique across everything one loader
/// loads.
///
/// ```
/// # #[cfg(feature = "native")] {
/// use exec_config::Loader;
///
/// let mut loader = Loader::new();
/// let ids = loader.load_str(
///     "- name: shell\n  kind: exec.native\n  default_env: { PATH: /usr/bin:/bin }\n",
///     std::path::Path::new("tools.yaml"),
///     Some("app"), // a bare list of entries takes its namespace from the caller
/// )?;
/// assert_eq!(ids, ["app:shell"]);
///
/// // The same id again, from another file: refused, naming both places.
/// let err = loader
///     .load_str("namespace: app\nentries:\n  - { name: shell, kind: exec.native }\n", std::path::Path::new("more.yaml"), None)
///     .unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "more.yaml:3:5: entry app:shell: duplicate entry id \"app:shell\"; it is already defined at tools.yaml:1:3: entry app:shell"
/// );
///
/// let registry = loader.into_registry();
/// assert!(registry.get("app:shell").is_ok());
/// # }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Loader {
    kinds: BTreeMap<String, Arc<dyn ErasedKind>>,
    registry: Registry,
    origins: HashMap<String, Origin>,
    max_config_bytes: usize,
    max_config_depth: usize,
}

impl fmt::Debug for Loader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loader")
            .field("kinds", &self.kinds.keys().collect::<Vec<_>>())
            .field("registry", &self.registry)
            .field("max_config_bytes", &self.max_config_bytes)
            .field("max_config_depth", &self.max_config_depth)
            .finish()
    }
}

impl Default for Loader {
    fn default() -> Self {
        Self::new()
    }
}

impl Loader {
    /// A loader that knows the kinds of the enabled cargo features
    /// (`exec.native` with feature `native`, on by default; `exec.docker`
    /// with feature `docker`; `exec.incus` with feature `incus`).
    ///
    /// ```
    /// let loader = exec_config::Loader::new();
    /// # #[cfg(feature = "native")]
    /// assert!(loader.kinds().any(|kind| kind == "exec.native"));
    /// ```
    pub fn new() -> Self {
        #[allow(unused_mut)]
        let mut loader = Self::empty();
        #[cfg(feature = "native")]
        loader.register_kind("exec.native", crate::native::NativeKind);
        #[cfg(feature = "docker")]
        loader.register_kind("exec.docker", crate::docker::DockerKind);
        #[cfg(feature = "incus")]
        loader.register_kind("exec.incus", crate::incus::IncusKind);
        loader
    }

    /// A loader that knows no kind: register the ones wanted with
    /// [`register_kind`](Loader::register_kind).
    ///
    /// ```
    /// let loader = exec_config::Loader::empty();
    /// assert_eq!(loader.kinds().count(), 0);
    /// ```
    pub fn empty() -> Self {
        Self {
            kinds: BTreeMap::new(),
            registry: Registry::new(),
            origins: HashMap::new(),
            max_config_bytes: DEFAULT_MAX_CONFIG_BYTES,
            max_config_depth: DEFAULT_MAX_CONFIG_DEPTH,
        }
    }

    /// Registers (or replaces) the kind `name`, e.g. `acme.remote`: entries
    /// with `kind: acme.remote` are then built by `kind`. See [`ExecutorKind`]
    /// for a whole example.
    pub fn register_kind<K: ExecutorKind>(&mut self, name: &str, kind: K) -> &mut Self {
        self.kinds
            .insert(name.to_owned(), Arc::new(Registered::new(kind)));
        self
    }

    /// The registered kind names, sorted (they are listed, too, in the error
    /// for an unknown kind).
    pub fn kinds(&self) -> impl Iterator<Item = &str> {
        self.kinds.keys().map(String::as_str)
    }

    /// Sets the policy that every executor loaded by this loader consults for
    /// its commands — loaded before or after this call — and that the
    /// registry consults when an executor is acquired with [`Registry::get`]
    /// (the same as [`Registry::set_policy`] on the registry it makes).
    ///
    /// ```
    /// # #[cfg(feature = "native")] {
    /// use exec_config::Loader;
    /// use exec_core::policy::{Policy, PolicyDenial};
    /// use exec_core::ErrorKind;
    /// use std::sync::Arc;
    ///
    /// /// Hands out nothing but `app:shell`.
    /// #[derive(Debug)]
    /// struct OnlyTheShell;
    ///
    /// impl Policy for OnlyTheShell {
    ///     fn check_acquire(&self, executor_id: &str) -> Result<(), PolicyDenial> {
    ///         match executor_id {
    ///             "app:shell" => Ok(()),
    ///             _ => Err(PolicyDenial::new("only the shell")),
    ///         }
    ///     }
    /// }
    ///
    /// let mut loader = Loader::new().with_policy(Arc::new(OnlyTheShell));
    /// loader.load_str(
    ///     "- { name: shell, kind: exec.native }\n- { name: admin, kind: exec.native }\n",
    ///     std::path::Path::new("inline.yaml"),
    ///     Some("app"),
    /// )?;
    /// let registry = loader.into_registry();
    /// assert!(registry.get("app:shell").is_ok());
    /// assert_eq!(registry.get("app:admin").unwrap_err().kind(), ErrorKind::PermissionDenied);
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_policy(mut self, policy: Arc<dyn Policy>) -> Self {
        self.registry.set_policy(policy);
        self
    }

    /// Sets the largest config, in bytes, that this loader reads (by default
    /// [`DEFAULT_MAX_CONFIG_BYTES`], 4 MiB). A larger one is refused with
    /// [`ConfigError::TooLarge`] before it is parsed; of a file, no more than
    /// one byte over the limit is read.
    ///
    /// ```
    /// use exec_config::{ConfigError, Loader, DEFAULT_MAX_CONFIG_BYTES};
    ///
    /// assert_eq!(Loader::new().max_config_bytes(), DEFAULT_MAX_CONFIG_BYTES);
    /// let mut loader = Loader::new().with_max_config_bytes(64 * 1024);
    /// let big = format!("# {}\n- {{ name: a, kind: exec.native }}\n", "x".repeat(70_000));
    /// let err = loader.load_str(&big, std::path::Path::new("big.yaml"), Some("app")).unwrap_err();
    /// assert!(matches!(err, ConfigError::TooLarge { size: Some(70_036), limit: 65_536, .. }));
    /// assert_eq!(
    ///     err.to_string(),
    ///     "big.yaml: the config is 70036 bytes, more than the limit of 65536 bytes; it was not parsed"
    /// );
    /// ```
    #[must_use]
    pub fn with_max_config_bytes(mut self, bytes: usize) -> Self {
        self.max_config_bytes = bytes;
        self
    }

    /// The largest config, in bytes, that this loader reads.
    pub fn max_config_bytes(&self) -> usize {
        self.max_config_bytes
    }

    /// Sets how deep lists and maps may nest in a config that this loader reads
    /// (by default [`DEFAULT_MAX_CONFIG_DEPTH`], 32 levels; a config's own
    /// structure takes five). A config nested deeper is refused with
    /// [`ConfigError::TooDeep`], at the place where it passes the limit,
    /// before it is parsed; the check is a scan of the text, linear in its
    /// length, so that deep nesting cannot make the parser slow.
    ///
    /// ```
    /// use exec_config::{ConfigError, Loader};
    ///
    /// let yaml = "namespace: app\nmeta: { a: { b: [c] } }\nentries: []\n";
    /// Loader::new().load_str(yaml, std::path::Path::new("ok.yaml"), None)?;
    /// let err = Loader::new().with_max_config_depth(3).load_str(yaml, std::path::Path::new("deep.yaml"), None).unwrap_err();
    /// assert_eq!(
    ///     err.to_string(),
    ///     "deep.yaml:2:17: the config nests lists and maps more than 3 levels deep; it was not parsed"
    /// );
    /// assert!(matches!(err, ConfigError::TooDeep { limit: 3, .. }));
    /// # Ok::<(), ConfigError>(())
    /// ```
    #[must_use]
    pub fn with_max_config_depth(mut self, levels: usize) -> Self {
        self.max_config_depth = levels;
        self
    }

    /// How deep lists and maps may nest in a config that this loader reads.
    pub fn max_config_depth(&self) -> usize {
        self.max_config_depth
    }

    /// The registry of everything loaded so far (to look at; see
    /// [`into_registry`](Loader::into_registry) to keep it).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The registry of everything loaded, with the loader's policy.
    pub fn into_registry(self) -> Registry {
        self.registry
    }

    /// Loads a config file. `default_namespace` is used when the file is a bare
    /// list of entries, or a map without `namespace:` (a file's own
    /// `namespace:` always wins). Returns the ids loaded, in file order.
    ///
    /// ```no_run
    /// let mut loader = exec_config::Loader::new();
    /// let ids = loader.load_file("config/executors.yaml", None)?;
    /// println!("loaded {}", ids.join(", "));
    /// # Ok::<(), exec_config::ConfigError>(())
    /// ```
    ///
    /// A file larger than [`max_config_bytes`](Loader::max_config_bytes) is
    /// refused unread when its size is known, and otherwise (a pipe, a device)
    /// after reading one byte over the limit.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Read`] if the file cannot be read or is not UTF-8,
    /// [`ConfigError::TooLarge`] if it is over the limit; any other
    /// [`ConfigError`] for its content. On error nothing of the file is loaded.
    pub fn load_file(
        &mut self,
        path: impl AsRef<Path>,
        default_namespace: Option<&str>,
    ) -> Result<Vec<String>, ConfigError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let read_error = |source| ConfigError::Read {
            path: path.to_owned(),
            source,
        };
        let limit = u64::try_from(self.max_config_bytes).unwrap_or(u64::MAX);
        let too_large = |size| ConfigError::TooLarge {
            location: Location::new(&name, None, None, None),
            size,
            limit,
        };
        let file = std::fs::File::open(path).map_err(read_error)?;
        let known_size = file
            .metadata()
            .ok()
            .filter(std::fs::Metadata::is_file)
            .map(|metadata| metadata.len());
        if let Some(size) = known_size.filter(|&size| size > limit) {
            return Err(too_large(Some(size)));
        }
        // At most one byte over the limit, whatever the file says of its size.
        let mut bytes = Vec::new();
        file.take(limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(read_error)?;
        if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > limit {
            return Err(too_large(None));
        }
        let text = String::from_utf8(bytes)
            .map_err(|e| read_error(io::Error::new(io::ErrorKind::InvalidData, e)))?;
        self.load_str(&text, path, default_namespace)
    }

    /// Loads config text, like [`load_file`](Loader::load_file); `source_name`
    /// stands for the file in errors.
    ///
    /// A UTF-8 byte order mark at the start of the text is skipped (editors on
    /// Windows write one); lines and columns in errors are counted after it.
    ///
    /// # Errors
    ///
    /// [`ConfigError::TooLarge`] for a text longer than
    /// [`max_config_bytes`](Loader::max_config_bytes),
    /// [`ConfigError::TooDeep`] for one nested deeper than
    /// [`max_config_depth`](Loader::max_config_depth) (both before it is
    /// parsed), or another [`ConfigError`] for the content. On error nothing
    /// of the text is loaded.
    pub fn load_str(
        &mut self,
        text: &str,
        source: &Path,
        default_namespace: Option<&str>,
    ) -> Result<Vec<String>, ConfigError> {
        let source_name = source.display().to_string();
        let source_name = source_name.as_str();
        if text.len() > self.max_config_bytes {
            return Err(ConfigError::TooLarge {
                location: Location::new(source_name, None, None, None),
                size: Some(u64::try_from(text.len()).unwrap_or(u64::MAX)),
                limit: u64::try_from(self.max_config_bytes).unwrap_or(u64::MAX),
            });
        }
        // serde_yaml takes a BOM for the start of a second document.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        // Before any pass: the parser is slow on deep nesting.
        if let Err(at) = check_depth(text, self.max_config_depth) {
            return Err(ConfigError::TooDeep {
                location: Location::new(source_name, Some(at.line), Some(at.column), None),
                limit: self.max_config_depth,
            });
        }
        let file = FileLoad {
            loader: self,
            file: source_name,
            text,
        };
        let built = file.load(default_namespace)?;
        let text: Arc<str> = Arc::from(text);
        let mut ids = Vec::with_capacity(built.len());
        for LoadedEntry {
            index,
            id,
            executor,
        } in built
        {
            self.registry.insert_unchecked(id.clone(), executor);
            self.origins.insert(
                id.clone(),
                Origin {
                    file: source_name.to_owned(),
                    text: text.clone(),
                    index,
                },
            );
            ids.push(id);
        }
        Ok(ids)
    }
}

/// An executor built from entry `index`, and its id.
struct LoadedEntry {
    index: usize,
    id: String,
    executor: Arc<dyn Executor>,
}

/// One file being loaded.
struct FileLoad<'a> {
    loader: &'a Loader,
    file: &'a str,
    text: &'a str,
}

impl FileLoad<'_> {
    fn location(
        &self,
        line: Option<usize>,
        column: Option<usize>,
        entry: Option<String>,
    ) -> Location {
        Location::new(self.file, line, column, entry)
    }

    fn load(&self, default_namespace: Option<&str>) -> Result<Vec<LoadedEntry>, ConfigError> {
        // Pass 1: the shape. Syntax errors surface here, with their position.
        let shape = Shape::of(self.text).map_err(|e| {
            let (_, mut message, line, column) = split_yaml_error(&e);
            if message.contains("more than one document") {
                message =
                    "the file holds more than one YAML document (`---`); a config file is one"
                        .to_owned();
            }
            ConfigError::Syntax {
                location: self.location(line, column, None),
                message,
            }
        })?;
        let Some(shape) = shape else {
            return Err(ConfigError::Syntax {
                location: self.location(None, None, None),
                message:
                    "the file is empty; expected `namespace:` and `entries:`, or a list of entries"
                        .to_owned(),
            });
        };
        let namespace = shape
            .namespace
            .clone()
            .or_else(|| default_namespace.map(str::to_owned));

        // Pass 2: the check, with positions.
        let check = Check {
            kinds: &self.loader.kinds,
            shape: &shape,
            namespace: namespace.as_deref(),
            problem: RefCell::new(None),
            names: RefCell::new(HashMap::new()),
            entries: RefCell::new(BTreeMap::new()),
        };
        if let Err(e) = FileSeed(&check).deserialize(serde_yaml::Deserializer::from_str(self.text))
        {
            return Err(self.check_error(
                &e,
                check.problem.into_inner(),
                &shape,
                namespace.as_deref(),
            ));
        }
        let entries = check.entries.into_inner();
        let namespace = namespace.ok_or_else(|| ConfigError::MissingNamespace {
            location: self.location(Some(1), Some(1), None),
        })?;

        // Ids must be new to the registry too.
        for (index, entry) in &entries {
            let id = format!("{namespace}:{}", entry.name);
            if let Some(origin) = self.loader.origins.get(&id) {
                return Err(ConfigError::DuplicateId {
                    location: self.entry_location(self.text, self.file, *index, Some(id.clone())),
                    first: self.entry_location(
                        &origin.text,
                        &origin.file,
                        origin.index,
                        Some(id.clone()),
                    ),
                    id,
                });
            }
        }

        // Pass 3: each kind's own fields, and the executors.
        let mut by_kind: BTreeMap<&str, Vec<(usize, ExecutorSettings)>> = BTreeMap::new();
        for (index, entry) in &entries {
            let settings = entry.settings(&namespace, self.loader.registry.policy_slot());
            by_kind
                .entry(entry.kind.as_str())
                .or_default()
                .push((*index, settings));
        }
        let mut built = Vec::with_capacity(entries.len());
        for (kind_name, settings) in by_kind {
            let Some(kind) = self.loader.kinds.get(kind_name) else {
                continue; // the check pass already refused unknown kinds
            };
            let executors =
                kind.build_all(self.text, settings)
                    .map_err(|failure| match failure {
                        BuildFailure::Spec(e) => {
                            self.check_error(&e, None, &shape, Some(&namespace))
                        }
                        BuildFailure::Build { index, error } => {
                            let id = entries
                                .get(&index)
                                .map(|e| format!("{namespace}:{}", e.name));
                            ConfigError::Build {
                                location: self.entry_location(self.text, self.file, index, id),
                                source: error,
                            }
                        }
                    })?;
            for (index, executor) in executors {
                // Registered under the id the entry gives, whatever the kind did.
                let id = entries
                    .get(&index)
                    .map(|e| format!("{namespace}:{}", e.name));
                let executor = match entries.get(&index).and_then(|e| e.max_running) {
                    Some(max) => {
                        let scope = format!(
                            "executor {:?} (max_running)",
                            id.as_deref().unwrap_or(executor.id())
                        );
                        Arc::new(exec_core::LimitedExecutor::new(
                            executor,
                            exec_core::ProcessLimit::new(scope, max),
                        )) as Arc<dyn exec_core::Executor>
                    }
                    None => executor,
                };
                built.push(LoadedEntry {
                    index,
                    id: id.unwrap_or_else(|| executor.id().to_owned()),
                    executor,
                });
            }
        }
        built.sort_by_key(|entry| entry.index);
        Ok(built)
    }

    /// The position of entry `index` of `text`, found by failing on purpose at
    /// its start (used only to report an error).
    fn entry_location(
        &self,
        text: &str,
        file: &str,
        index: usize,
        entry: Option<String>,
    ) -> Location {
        let position = Walk(LocateEntry { index })
            .deserialize(serde_yaml::Deserializer::from_str(text))
            .err()
            .and_then(|e| e.location());
        Location::new(
            file,
            position.as_ref().map(serde_yaml::Location::line),
            position.as_ref().map(serde_yaml::Location::column),
            entry,
        )
    }

    /// The position of the key `field` of entry `index` of this file, found
    /// like [`entry_location`](Self::entry_location) by failing there on purpose.
    fn key_location(&self, index: usize, field: &str, entry: Option<String>) -> Option<Location> {
        let position = Walk(LocateKey { index, field })
            .deserialize(serde_yaml::Deserializer::from_str(self.text))
            .err()
            .and_then(|e| e.location())?;
        Some(self.location(Some(position.line()), Some(position.column()), entry))
    }

    /// Turns a serde_yaml error from the check or spec pass into a [`ConfigError`],
    /// using what the seeds recorded of it.
    fn check_error(
        &self,
        error: &serde_yaml::Error,
        problem: Option<Problem>,
        shape: &Shape,
        namespace: Option<&str>,
    ) -> ConfigError {
        let (path, message, line, column) = split_yaml_error(error);
        let (index, field) = path.as_deref().map(parse_path).unwrap_or((None, None));
        let entry = index.map(|i| {
            let name = shape.entries.get(i).and_then(|e| e.name.clone());
            match (namespace, name) {
                (Some(ns), Some(name)) => format!("{ns}:{name}"),
                (None, Some(name)) => format!("?:{name}"),
                (_, None) => format!("#{}", i + 1),
            }
        });
        let location = self.location(line, column, entry.clone());
        match problem {
            Some(Problem::UnknownField { field, valid }) => ConfigError::UnknownField {
                location,
                suggestion: nearest(&field, valid.iter().map(String::as_str)),
                field,
                valid,
            },
            Some(Problem::MissingField { field }) => ConfigError::MissingField { location, field },
            Some(Problem::UnknownKind { kind, known }) => ConfigError::UnknownKind {
                location,
                suggestion: nearest(&kind, known.iter().map(String::as_str)),
                kind,
                known,
            },
            Some(Problem::DuplicateName { first_index }) => {
                let id = entry.unwrap_or_default();
                ConfigError::DuplicateId {
                    first: self.entry_location(self.text, self.file, first_index, Some(id.clone())),
                    location,
                    id,
                }
            }
            Some(Problem::MissingNamespace) => ConfigError::MissingNamespace { location },
            Some(Problem::Invalid { field, message }) => ConfigError::InvalidValue {
                location,
                field,
                message,
            },
            Some(Problem::InvalidAtKey { field, message }) => ConfigError::InvalidValue {
                location: match index {
                    Some(index) => self.key_location(index, &field, entry).unwrap_or(location),
                    None => location,
                },
                field,
                message,
            },
            None => {
                if let Some(missing) = message
                    .strip_prefix("missing field `")
                    .and_then(|rest| rest.strip_suffix('`'))
                {
                    return ConfigError::MissingField {
                        location,
                        field: missing.to_owned(),
                    };
                }
                match field {
                    Some(field) => ConfigError::InvalidValue {
                        location,
                        field,
                        message,
                    },
                    None => ConfigError::Syntax { location, message },
                }
            }
        }
    }
}

/// Splits a serde_yaml error into its path (`entries[1].default_env`), message,
/// line and column.
fn split_yaml_error(
    error: &serde_yaml::Error,
) -> (Option<String>, String, Option<usize>, Option<usize>) {
    let mut text = error.to_string();
    let (line, column) = match error.location() {
        Some(location) => {
            let suffix = format!(" at line {} column {}", location.line(), location.column());
            if let Some(stripped) = text.strip_suffix(&suffix) {
                text = stripped.to_owned();
            } else if let Some(at) = text.find(&format!("{suffix},")) {
                // "…at line L column C, while parsing …": keep the explanation.
                text.replace_range(at..at + suffix.len(), "");
            }
            (Some(location.line()), Some(location.column()))
        }
        None => (None, None),
    };
    let is_path = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '[' | ']'))
    };
    match text.split_once(": ") {
        Some((path, rest)) if is_path(path) => {
            (Some(path.to_owned()), rest.to_owned(), line, column)
        }
        _ => (None, text, line, column),
    }
}

/// From `entries[1].default_env.PATH` (or `[1].default_env.PATH`, or
/// `namespace`): the entry index and the field path inside it.
fn parse_path(path: &str) -> (Option<usize>, Option<String>) {
    // serde_yaml writes a top-level list's path as `.[1]`.
    let path = path.strip_prefix('.').unwrap_or(path);
    let rest = path.strip_prefix("entries").unwrap_or(path);
    if let Some(inner) = rest.strip_prefix('[') {
        if let Some((number, after)) = inner.split_once(']') {
            let index = number.parse().ok();
            let field = after
                .strip_prefix('.')
                .filter(|f| !f.is_empty())
                .map(str::to_owned);
            return (index, field);
        }
    }
    (None, Some(path.to_owned()))
}

/// What a seed found wrong, recorded before it returns its error so the loader
/// can build a structured [`ConfigError`] (serde's error carries only text).
#[derive(Debug)]
enum Problem {
    UnknownField {
        field: String,
        valid: Vec<String>,
    },
    MissingField {
        field: String,
    },
    UnknownKind {
        kind: String,
        known: Vec<String>,
    },
    DuplicateName {
        first_index: usize,
    },
    MissingNamespace,
    Invalid {
        field: String,
        message: String,
    },
    /// Like `Invalid`, but reported at the field's key (its value may be
    /// nothing at all, with no position of its own).
    InvalidAtKey {
        field: String,
        message: String,
    },
}

/// The common fields of one checked entry.
#[derive(Debug)]
struct CheckedEntry {
    name: String,
    kind: String,
    default_work_dir: Option<String>,
    default_env: Env,
    whitelist: Whitelist,
    output_encoding: Option<&'static OutputEncoding>,
    env_allow: Option<EnvAllow>,
    work_dir_roots: Vec<String>,
    max_running: Option<usize>,
}

impl CheckedEntry {
    fn settings(&self, namespace: &str, policy: Arc<dyn Policy>) -> ExecutorSettings {
        let mut settings = ExecutorSettings::new(format!("{namespace}:{}", self.name))
            .with_default_env(self.default_env.clone())
            .with_whitelist(self.whitelist.clone())
            .with_output_encoding(self.output_encoding)
            .with_work_dir_roots(&self.work_dir_roots);
        if let Some(dir) = &self.default_work_dir {
            settings = settings.with_default_work_dir(dir);
        }
        if let Some(allow) = &self.env_allow {
            settings = settings.with_env_allow(allow.clone());
        }
        settings.with_policy(policy)
    }
}

/// State of the check pass, shared by its seeds.
struct Check<'a> {
    kinds: &'a BTreeMap<String, Arc<dyn ErasedKind>>,
    shape: &'a Shape,
    namespace: Option<&'a str>,
    problem: RefCell<Option<Problem>>,
    names: RefCell<HashMap<String, usize>>,
    entries: RefCell<BTreeMap<usize, CheckedEntry>>,
}

impl Check<'_> {
    /// Records `problem` and returns the error that carries its position.
    fn fail<E: de::Error>(&self, problem: Problem) -> E {
        let message = match &problem {
            Problem::UnknownField { field, .. } => format!("unknown field {field:?}"),
            Problem::MissingField { field } => format!("missing field {field:?}"),
            Problem::UnknownKind { kind, .. } => format!("unknown kind {kind:?}"),
            Problem::DuplicateName { .. } => "duplicate name".to_owned(),
            Problem::MissingNamespace => "missing namespace".to_owned(),
            Problem::Invalid { message, .. } | Problem::InvalidAtKey { message, .. } => {
                message.clone()
            }
        };
        *self.problem.borrow_mut() = Some(problem);
        E::custom(message)
    }

    fn invalid<E: de::Error>(&self, field: &str, message: impl Into<String>) -> E {
        self.fail(Problem::Invalid {
            field: field.to_owned(),
            message: message.into(),
        })
    }
}

/// The whole file: `namespace:` + `entries:`, or a bare list.
struct FileSeed<'c, 'a>(&'c Check<'a>);

impl<'de> DeserializeSeed<'de> for FileSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FileSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map with `namespace` and `entries`, or a list of entries")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let check = self.0;
        let mut seen_entries = false;
        let mut seen = Vec::new();
        while let Some(key) = map.next_key_seed(KeySeed {
            check,
            valid: FILE_FIELDS,
            extra: SpecFields::Named(&[]),
            seen: &mut seen,
        })? {
            match key.as_str() {
                "namespace" => {
                    map.next_value_seed(StringSeed {
                        check,
                        field: "namespace",
                        validate: validate_namespace,
                    })?;
                }
                "entries" => {
                    seen_entries = true;
                    map.next_value_seed(EntriesSeed(check))?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !seen_entries {
            return Err(check.fail(Problem::MissingField {
                field: "entries".to_owned(),
            }));
        }
        if check.namespace.is_none() {
            return Err(check.fail(Problem::MissingField {
                field: "namespace".to_owned(),
            }));
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        if self.0.namespace.is_none() {
            return Err(self.0.fail(Problem::MissingNamespace));
        }
        EntriesSeed(self.0).visit_seq(seq)
    }
}

struct EntriesSeed<'c, 'a>(&'c Check<'a>);

impl<'de> DeserializeSeed<'de> for EntriesSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for EntriesSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of entries")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        while seq
            .next_element_seed(EntrySeed {
                check: self.0,
                index,
            })?
            .is_some()
        {
            index += 1;
        }
        Ok(())
    }
}

struct EntrySeed<'c, 'a> {
    check: &'c Check<'a>,
    index: usize,
}

impl<'de> DeserializeSeed<'de> for EntrySeed<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EntrySeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an entry: a map with `name`, `kind` and the kind's fields")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let check = self.check;
        // The kind's fields are valid too. When the kind is not registered, any
        // field passes here: the kind's own error, at `kind:`, says more than
        // an "unknown field" for a field of a kind this loader does not know.
        let extra = match check
            .shape
            .entries
            .get(self.index)
            .and_then(|shape| shape.kind.as_deref())
        {
            Some(kind) => match check.kinds.get(kind) {
                Some(kind) => kind.fields(),
                None => SpecFields::Any,
            },
            None => SpecFields::Named(&[]),
        };
        let mut seen = Vec::new();
        let mut name = None;
        let mut kind = None;
        let mut entry = CheckedEntry {
            name: String::new(),
            kind: String::new(),
            default_work_dir: None,
            default_env: Env::new(),
            whitelist: Whitelist::default(),
            output_encoding: None,
            env_allow: None,
            work_dir_roots: Vec::new(),
            max_running: None,
        };
        while let Some(key) = map.next_key_seed(KeySeed {
            check,
            valid: COMMON_FIELDS,
            extra,
            seen: &mut seen,
        })? {
            match key.as_str() {
                "name" => {
                    let value = map.next_value_seed(StringSeed {
                        check,
                        field: "name",
                        validate: validate_name,
                    })?;
                    let first = check.names.borrow().get(&value).copied();
                    if let Some(first_index) = first {
                        return Err(check.fail(Problem::DuplicateName { first_index }));
                    }
                    check.names.borrow_mut().insert(value.clone(), self.index);
                    name = Some(value);
                }
                "kind" => {
                    kind = Some(map.next_value_seed(KindSeed(check))?);
                }
                "default_work_dir" => {
                    entry.default_work_dir = Some(map.next_value_seed(StringSeed {
                        check,
                        field: "default_work_dir",
                        validate: |dir: &str| {
                            if dir.is_empty() {
                                Err("it is empty".to_owned())
                            } else {
                                Ok(())
                            }
                        },
                    })?);
                }
                "default_env" => entry.default_env = map.next_value_seed(EnvSeed(check))?,
                "command_whitelist" => {
                    entry.whitelist = map.next_value_seed(WhitelistSeed(check))?
                }
                "output_encoding" => {
                    entry.output_encoding = Some(map.next_value_seed(EncodingSeed(check))?)
                }
                "env_allow" => {
                    let patterns = map.next_value_seed(StringListSeed {
                        check,
                        field: "env_allow",
                        validate: |pattern: &str| {
                            EnvAllow::parse([pattern]).map(drop).map_err(|e| match e {
                                exec_core::Error::InvalidArgument { reason, .. } => reason,
                                other => other.to_string(),
                            })
                        },
                    })?;
                    entry.env_allow = Some(
                        EnvAllow::parse(&patterns)
                            .map_err(|e| check.invalid("env_allow", e.to_string()))?,
                    );
                }
                "work_dir_roots" => {
                    entry.work_dir_roots = map.next_value_seed(StringListSeed {
                        check,
                        field: "work_dir_roots",
                        validate: |root: &str| {
                            if Path::new(root).is_absolute() {
                                Ok(())
                            } else {
                                Err(format!("{root:?} is not an absolute path"))
                            }
                        },
                    })?;
                }
                "max_running" => {
                    let value: serde_yaml::Value = map.next_value()?;
                    let max = value
                        .as_u64()
                        .filter(|&n| n > 0)
                        .and_then(|n| usize::try_from(n).ok())
                        .ok_or_else(|| {
                            check.invalid(
                                "max_running",
                                "it is not a whole number of 1 or more (how many of this \
                                 executor's processes may run at once)",
                            )
                        })?;
                    entry.max_running = Some(max);
                }
                _ => {
                    // `meta`, and the kind's own fields (checked in the kind's pass).
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let Some(name) = name else {
            return Err(check.fail(Problem::MissingField {
                field: "name".into(),
            }));
        };
        let Some(kind) = kind else {
            return Err(check.fail(Problem::MissingField {
                field: "kind".into(),
            }));
        };
        entry.name = name;
        entry.kind = kind;
        check.entries.borrow_mut().insert(self.index, entry);
        Ok(())
    }
}

/// A map key: known fields pass, unknown and repeated ones fail at the key.
struct KeySeed<'c, 'a, 's> {
    check: &'c Check<'a>,
    valid: &'static [&'static str],
    extra: SpecFields,
    seen: &'s mut Vec<String>,
}

impl<'de> DeserializeSeed<'de> for KeySeed<'_, '_, '_> {
    type Value = String;
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_, '_, '_> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<String, E> {
        let known = self.valid.contains(&key)
            || match self.extra {
                SpecFields::Named(fields) => fields.contains(&key),
                SpecFields::Unit => false,
                SpecFields::Any => true,
            };
        if !known {
            let valid = self
                .valid
                .iter()
                .chain(self.extra.names())
                .map(|f| (*f).to_owned())
                .collect();
            return Err(self.check.fail(Problem::UnknownField {
                field: key.to_owned(),
                valid,
            }));
        }
        if self.seen.iter().any(|s| s == key) {
            return Err(self.check.invalid(key, "the field is given twice"));
        }
        self.seen.push(key.to_owned());
        Ok(key.to_owned())
    }
}

/// A string field checked by `validate`, failing at the value.
struct StringSeed<'c, 'a, F> {
    check: &'c Check<'a>,
    field: &'static str,
    validate: F,
}

impl<'de, F: FnOnce(&str) -> Result<(), String>> DeserializeSeed<'de> for StringSeed<'_, '_, F> {
    type Value = String;
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de, F: FnOnce(&str) -> Result<(), String>> Visitor<'de> for StringSeed<'_, '_, F> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<String, E> {
        (self.validate)(value).map_err(|message| self.check.invalid(self.field, message))?;
        Ok(value.to_owned())
    }
}

/// A list of strings (`env_allow:`, `work_dir_roots:`), each checked where it
/// is written. A present list may be empty: it then allows nothing more.
struct StringListSeed<'c, 'a, F> {
    check: &'c Check<'a>,
    field: &'static str,
    validate: F,
}

impl<'de, F: Fn(&str) -> Result<(), String> + Copy> DeserializeSeed<'de>
    for StringListSeed<'_, '_, F>
{
    type Value = Vec<String>;
    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Vec<String>, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, F: Fn(&str) -> Result<(), String> + Copy> Visitor<'de> for StringListSeed<'_, '_, F> {
    type Value = Vec<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of strings")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(StringSeed {
            check: self.check,
            field: self.field,
            validate: self.validate,
        })? {
            items.push(item);
        }
        Ok(items)
    }
}

fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        Err("the name is empty".to_owned())
    } else if name.contains(':') || name.chars().any(char::is_whitespace) {
        Err(format!("{name:?} may not contain ':' or blanks"))
    } else {
        Ok(())
    }
}

fn validate_namespace(namespace: &str) -> Result<(), String> {
    validate_name(namespace)
}

/// `kind:`, which must be registered.
struct KindSeed<'c, 'a>(&'c Check<'a>);

impl<'de> DeserializeSeed<'de> for KindSeed<'_, '_> {
    type Value = String;
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KindSeed<'_, '_> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a kind name such as exec.native")
    }

    fn visit_str<E: de::Error>(self, kind: &str) -> Result<String, E> {
        if self.0.kinds.contains_key(kind) {
            Ok(kind.to_owned())
        } else {
            Err(self.0.fail(Problem::UnknownKind {
                kind: kind.to_owned(),
                known: self.0.kinds.keys().cloned().collect(),
            }))
        }
    }
}

/// `default_env:`: a map of names to strings (numbers and booleans are taken as
/// their text).
struct EnvSeed<'c, 'a>(&'c Check<'a>);

impl<'de> DeserializeSeed<'de> for EnvSeed<'_, '_> {
    type Value = Env;
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Env, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EnvSeed<'_, '_> {
    type Value = Env;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of variable names to values")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Env, A::Error> {
        let mut env = Env::new();
        while let Some(name) = map.next_key_seed(StringSeed {
            check: self.0,
            field: "default_env",
            validate: |name: &str| {
                if env.contains_key(name) {
                    return Err(format!("variable {name:?} is given twice"));
                }
                env::validate(
                    "default_env",
                    &Env::from([(name.to_owned(), String::new())]),
                )
                .map_err(|e| {
                    e.to_string()
                        .trim_start_matches("invalid default_env: ")
                        .to_owned()
                })
            },
        })? {
            let value = map.next_value_seed(EnvValueSeed(self.0))?;
            env.insert(name, value);
        }
        Ok(env)
    }
}

struct EnvValueSeed<'c, 'a>(&'c Check<'a>);

impl<'de> DeserializeSeed<'de> for EnvValueSeed<'_, '_> {
    type Value = String;
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for EnvValueSeed<'_, '_> {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, a number or a boolean")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<String, E> {
        if value.contains('\0') {
            return Err(self.0.invalid("default_env", "a value contains a NUL byte"));
        }
        Ok(value.to_owned())
    }
    fn visit_bool<E: de::Error>(self, value: bool) -> Result<String, E> {
        Ok(value.to_string())
    }
    fn visit_i64<E: de::Error>(self, value: i64) -> Result<String, E> {
        Ok(value.to_string())
    }
    fn visit_u64<E: de::Error>(self, value: u64) -> Result<String, E> {
        Ok(value.to_string())
    }
    fn visit_f64<E: de::Error>(self, value: f64) -> Result<String, E> {
        Ok(value.to_string())
    }
}

/// `command_whitelist:`: each line is split now, and a bad one fails at its line.
///
/// A whitelist that is present lists at least one command: `command_whitelist:`
/// with nothing under it (null, e.g. every line commented out) or `[]` is
/// refused, since an empty [`Whitelist`] allows every command. Only an absent
/// field means "no whitelist".
#[derive(Clone, Copy)]
struct WhitelistSeed<'c, 'a>(&'c Check<'a>);

/// The end of the message for a present but empty whitelist.
const EMPTY_WHITELIST: &str = "a whitelist that is present must list at least one command; to allow every command, remove the field";

impl WhitelistSeed<'_, '_> {
    fn empty<E: de::Error>(self, what: &str) -> E {
        self.0.fail(Problem::InvalidAtKey {
            field: "command_whitelist".to_owned(),
            message: format!("{what}; {EMPTY_WHITELIST}"),
        })
    }
}

impl<'de> DeserializeSeed<'de> for WhitelistSeed<'_, '_> {
    type Value = Whitelist;
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Whitelist, D::Error> {
        // As an option first, to tell a null (`~`, or nothing at all) from a list.
        deserializer.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for WhitelistSeed<'_, '_> {
    type Value = Whitelist;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of command lines")
    }

    fn visit_none<E: de::Error>(self) -> Result<Whitelist, E> {
        Err(self.empty("it is present but null (nothing is listed under it)"))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Whitelist, E> {
        self.visit_none()
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Whitelist, D::Error> {
        deserializer.deserialize_seq(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Whitelist, A::Error> {
        let mut lines = Vec::new();
        while let Some(line) = seq.next_element_seed(StringSeed {
            check: self.0,
            field: "command_whitelist",
            validate: |line: &str| {
                command_line::split(line)
                    .map(drop)
                    .map_err(|e| e.to_string())
            },
        })? {
            lines.push(line);
        }
        if lines.is_empty() {
            return Err(self.empty("it is an empty list"));
        }
        Whitelist::parse(&lines).map_err(|e| self.0.invalid("command_whitelist", e.to_string()))
    }
}

/// `output_encoding:`, checked against the known labels.
struct EncodingSeed<'c, 'a>(&'c Check<'a>);

impl<'de> DeserializeSeed<'de> for EncodingSeed<'_, '_> {
    type Value = &'static OutputEncoding;
    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for EncodingSeed<'_, '_> {
    type Value = &'static OutputEncoding;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an encoding label such as cp949")
    }

    fn visit_str<E: de::Error>(self, label: &str) -> Result<Self::Value, E> {
        encoding_for_label(label).map_err(|e| {
            let reason = match e {
                exec_core::Error::InvalidArgument { reason, .. } => reason,
                other => other.to_string(),
            };
            self.0.invalid("output_encoding", reason)
        })
    }
}

/// Fails at the start of entry `index`, to learn its position.
#[derive(Clone, Copy)]
struct LocateEntry {
    index: usize,
}

impl<'de> EachEntry<'de> for LocateEntry {
    fn entry<A: SeqAccess<'de>>(self, index: usize, entries: &mut A) -> Result<bool, A::Error> {
        if index < self.index {
            return skip(entries);
        }
        entries.next_element_seed(HereSeed)?;
        Ok(false)
    }
}

struct HereSeed;

impl<'de> DeserializeSeed<'de> for HereSeed {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for HereSeed {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an entry")
    }

    fn visit_map<A: MapAccess<'de>>(self, _map: A) -> Result<(), A::Error> {
        Err(de::Error::custom("here"))
    }
}

/// Fails at the key `field` of entry `index`, to learn its position.
#[derive(Clone, Copy)]
struct LocateKey<'f> {
    index: usize,
    field: &'f str,
}

impl<'de> EachEntry<'de> for LocateKey<'_> {
    fn entry<A: SeqAccess<'de>>(self, index: usize, entries: &mut A) -> Result<bool, A::Error> {
        if index < self.index {
            return skip(entries);
        }
        entries.next_element_seed(self)?;
        Ok(false)
    }
}

impl<'de> DeserializeSeed<'de> for LocateKey<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for LocateKey<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an entry")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key_seed(KeyHere(self.field))?.is_some() {
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
}

/// A map key that fails when it is the one sought.
struct KeyHere<'f>(&'f str);

impl<'de> DeserializeSeed<'de> for KeyHere<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeyHere<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<(), E> {
        if key == self.0 {
            Err(de::Error::custom("here"))
        } else {
            Ok(())
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        IgnoredAny.visit_map(map).map(drop)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        IgnoredAny.visit_seq(seq).map(drop)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_give_the_entry_and_field() {
        assert_eq!(
            parse_path("entries[2].default_env.PATH"),
            (Some(2), Some("default_env.PATH".into()))
        );
        assert_eq!(parse_path("[0].name"), (Some(0), Some("name".into())));
        assert_eq!(parse_path(".[4].kind"), (Some(4), Some("kind".into())));
        assert_eq!(parse_path("entries[3]"), (Some(3), None));
        assert_eq!(parse_path("namespace"), (None, Some("namespace".into())));
    }
}
