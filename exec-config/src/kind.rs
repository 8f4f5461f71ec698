//! Executor kinds: how an entry's `kind:` string turns into an executor.
//!
//! A kind declares the fields of its own (its [`ExecutorKind::Spec`], a serde
//! struct) and builds an executor from the common settings plus that spec. The
//! loader checks the common fields itself and rejects any field that is neither
//! common nor in the spec, so a spec needs no `deny_unknown_fields` (and must not
//! use it: the entry's common fields are visible to it too).
//!
//! The loader learns a spec's fields from its `Deserialize` impl (serde's derive
//! names them when it asks for a struct). A spec that is `()` or a unit struct
//! takes no fields. A spec that is not a plain struct (a map, or a struct with
//! `#[serde(flatten)]`) does not name its fields: then the loader lets every
//! field through to it, and the spec alone decides what it accepts.

use crate::walk::{EachEntry, Walk, skip};
use exec_core::{Executor, ExecutorSettings};
use serde::de::{self, Deserialize, DeserializeOwned, DeserializeSeed, SeqAccess, Visitor};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One kind of executor, registered with a [`Loader`](crate::Loader) under a
/// kind string such as `exec.native`.
///
/// The loader checks an entry's common fields and turns them into the
/// [`ExecutorSettings`] handed to [`build`](ExecutorKind::build) (id, work dir,
/// environment, whitelist, output encoding, and the loader's policy), and
/// deserializes the kind's own fields into its [`Spec`](ExecutorKind::Spec).
///
/// ```
/// use exec_config::{ExecutorKind, Loader};
/// use exec_core::{CommandSpec, Error, ErrorKind, ExecOptions, Executor, ExecutorSettings, Process};
/// use std::sync::Arc;
///
/// /// Entries of kind `acme.remote` need a `host`, and may give a `port`.
/// #[derive(serde::Deserialize)]
/// struct RemoteSpec {
///     host: String,
///     #[serde(default)]
///     port: Option<u16>,
/// }
///
/// struct RemoteKind;
///
/// impl ExecutorKind for RemoteKind {
///     type Spec = RemoteSpec;
///     fn build(&self, settings: ExecutorSettings, spec: RemoteSpec) -> exec_core::Result<Arc<dyn Executor>> {
///         Ok(Arc::new(RemoteExecutor { settings, host: spec.host, port: spec.port.unwrap_or(22) }))
///     }
/// }
///
/// #[derive(Debug)]
/// struct RemoteExecutor {
///     settings: ExecutorSettings,
///     host: String,
///     port: u16,
/// }
///
/// impl Executor for RemoteExecutor {
///     fn id(&self) -> &str {
///         self.settings.id()
///     }
///     fn create_process(&self, command: CommandSpec, options: ExecOptions) -> exec_core::Result<Box<dyn Process>> {
///         // Split, whitelist, environment, policy: the settings check it all.
///         let command = self.settings.prepare(command, options)?;
///         // A real backend would now make a process for `command` on the host.
///         Err(Error::backend(
///             "acme",
///             ErrorKind::Unavailable,
///             format!("{}:{} is not reachable from this example ({})", self.host, self.port, command.program()),
///         ))
///     }
/// }
///
/// let mut loader = Loader::empty();
/// loader.register_kind("acme.remote", RemoteKind);
/// let yaml = "namespace: app\nentries:\n  - { name: far, kind: acme.remote, host: example.org, command_whitelist: [uptime] }\n";
/// loader.load_str(yaml, std::path::Path::new("inline.yaml"), None)?;
/// let far = loader.registry().get("app:far")?;
/// assert_eq!(far.create_process("uptime".into(), ExecOptions::new()).unwrap_err().kind(), ErrorKind::Unavailable);
/// assert_eq!(far.create_process("reboot".into(), ExecOptions::new()).unwrap_err().kind(), ErrorKind::PermissionDenied);
///
/// // The kind's fields are checked like the common ones.
/// let err = loader
///     .load_str("- { name: near, kind: acme.remote, hots: example.org }", std::path::Path::new("typo.yaml"), Some("app"))
///     .unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "typo.yaml:1:36: entry app:near: unknown field \"hots\"; did you mean \"host\"?; valid fields: \
///      name, kind, meta, default_work_dir, default_env, command_whitelist, output_encoding, env_allow, work_dir_roots, max_running, host, port"
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait ExecutorKind: Send + Sync + 'static {
    /// The kind's own fields, deserialized from the entry: a struct deriving
    /// `serde::Deserialize`, or `()` when the kind has none.
    ///
    /// The loader learns the struct's field names from its `Deserialize` impl
    /// and refuses any field that is neither common nor one of them, with the
    /// nearest suggested; so the struct needs no `deny_unknown_fields` (and must
    /// not have it: the entry's common fields are visible to it too). A spec
    /// that is not a plain struct (a map, or a struct with `#[serde(flatten)]`)
    /// names no fields: then every field is let through to it, and it alone
    /// decides what it accepts.
    type Spec: DeserializeOwned;

    /// Builds the executor. `settings` holds the id and the common fields
    /// (`default_work_dir`, `default_env`, `command_whitelist`,
    /// `output_encoding`) and the loader's policy.
    ///
    /// # Errors
    ///
    /// Whatever makes the entry unusable; the loader reports it with the entry's
    /// file, line and id.
    fn build(
        &self,
        settings: ExecutorSettings,
        spec: Self::Spec,
    ) -> exec_core::Result<Arc<dyn Executor>>;
}

/// Executors built from a file, with the index of their entry.
pub(crate) type Built = Vec<(usize, Arc<dyn Executor>)>;

/// Why building one kind's entries failed.
pub(crate) enum BuildFailure {
    /// A spec did not deserialize (the error carries its position and path).
    Spec(serde_yaml::Error),
    /// The kind refused entry `index`.
    Build {
        index: usize,
        error: exec_core::Error,
    },
}

/// A registered kind with its spec type erased, so kinds of different specs sit
/// in one table.
pub(crate) trait ErasedKind: Send + Sync {
    /// The spec's fields.
    fn fields(&self) -> SpecFields;

    /// Deserializes the specs of the entries `settings` names (by index) from
    /// `text` and builds their executors, in the order given.
    fn build_all(
        &self,
        text: &str,
        settings: Vec<(usize, ExecutorSettings)>,
    ) -> Result<Built, BuildFailure>;
}

/// The fields a spec takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SpecFields {
    /// A struct with these fields.
    Named(&'static [&'static str]),
    /// `()` or a unit struct: none, and the spec is made from nothing.
    Unit,
    /// Unknown (a map, a flattened struct): the spec decides.
    Any,
}

impl SpecFields {
    /// The field names, as far as they are known.
    pub(crate) fn names(self) -> &'static [&'static str] {
        match self {
            SpecFields::Named(fields) => fields,
            SpecFields::Unit | SpecFields::Any => &[],
        }
    }
}

pub(crate) struct Registered<K> {
    kind: K,
    fields: SpecFields,
}

impl<K: ExecutorKind> Registered<K> {
    pub(crate) fn new(kind: K) -> Self {
        Self {
            kind,
            fields: spec_fields::<K::Spec>(),
        }
    }
}

impl<K: ExecutorKind> ErasedKind for Registered<K> {
    fn fields(&self) -> SpecFields {
        self.fields
    }

    fn build_all(
        &self,
        text: &str,
        settings: Vec<(usize, ExecutorSettings)>,
    ) -> Result<Built, BuildFailure> {
        let mut wanted: Vec<usize> = settings.iter().map(|(index, _)| *index).collect();
        // Sorted, for the spec pass to look each entry up in log time.
        wanted.sort_unstable();
        let specs = RefCell::new(BTreeMap::new());
        if self.fields == SpecFields::Unit {
            // Nothing to read from the entry (and a unit cannot be read from a map).
            let mut specs = specs.borrow_mut();
            for index in &wanted {
                let spec =
                    K::Spec::deserialize(de::value::UnitDeserializer::<de::value::Error>::new())
                        .map_err(|e| BuildFailure::Build {
                            index: *index,
                            error: exec_core::Error::InvalidArgument {
                                field: "spec".to_owned(),
                                reason: e.to_string(),
                            },
                        })?;
                specs.insert(*index, spec);
            }
        } else {
            let pass = SpecEntries::<K::Spec> {
                wanted: &wanted,
                specs: &specs,
            };
            Walk(pass)
                .deserialize(serde_yaml::Deserializer::from_str(text))
                .map_err(BuildFailure::Spec)?;
        }
        let mut specs = specs.into_inner();
        let mut built = Vec::with_capacity(settings.len());
        for (index, settings) in settings {
            let Some(spec) = specs.remove(&index) else {
                continue;
            };
            let executor = self
                .kind
                .build(settings, spec)
                .map_err(|error| BuildFailure::Build { index, error })?;
            built.push((index, executor));
        }
        Ok(built)
    }
}

/// The fields serde's derive gives a struct, learned by asking it to
/// deserialize from a probe that records what it asks for.
fn spec_fields<S: DeserializeOwned>() -> SpecFields {
    let seen = Cell::new(SpecFields::Any);
    let _ = S::deserialize(FieldProbe(&seen));
    seen.get()
}

struct FieldProbe<'a>(&'a Cell<SpecFields>);

impl<'de> de::Deserializer<'de> for FieldProbe<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("probe"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.set(SpecFields::Named(fields));
        Err(de::Error::custom("probe"))
    }

    fn deserialize_unit<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        self.0.set(SpecFields::Unit);
        Err(de::Error::custom("probe"))
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.set(SpecFields::Unit);
        Err(de::Error::custom("probe"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf option newtype_struct seq tuple tuple_struct map
        enum identifier ignored_any
    }
}

/// Deserializes `S` from the wanted entries only (`wanted` is sorted).
struct SpecEntries<'a, S> {
    wanted: &'a [usize],
    specs: &'a RefCell<BTreeMap<usize, S>>,
}

impl<S> Clone for SpecEntries<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<S> Copy for SpecEntries<'_, S> {}

impl<'de, S: DeserializeOwned> EachEntry<'de> for SpecEntries<'_, S> {
    fn entry<A: SeqAccess<'de>>(self, index: usize, entries: &mut A) -> Result<bool, A::Error> {
        if self.wanted.binary_search(&index).is_err() {
            return skip(entries);
        }
        let Some(spec) = entries.next_element::<S>()? else {
            return Ok(false);
        };
        self.specs.borrow_mut().insert(index, spec);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Two {
        image: String,
        memory_limit: Option<u64>,
    }

    #[derive(serde::Deserialize)]
    struct Empty {}

    #[derive(serde::Deserialize)]
    struct Unit;

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Flattened {
        #[serde(flatten)]
        rest: std::collections::HashMap<String, String>,
    }

    #[test]
    fn the_probe_learns_a_specs_fields() {
        assert_eq!(
            spec_fields::<Two>(),
            SpecFields::Named(&["image", "memory_limit"])
        );
        assert_eq!(spec_fields::<Empty>(), SpecFields::Named(&[]));
        assert_eq!(spec_fields::<()>(), SpecFields::Unit);
        assert_eq!(spec_fields::<Unit>(), SpecFields::Unit);
        assert_eq!(spec_fields::<Flattened>(), SpecFields::Any);
        assert_eq!(
            spec_fields::<std::collections::HashMap<String, u32>>(),
            SpecFields::Any
        );
    }
}
