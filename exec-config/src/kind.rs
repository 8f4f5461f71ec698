//! Executor kinds: how an entry's `kind:` string turns into an executor.
//!
//! A kind declares the fields of its own (its [`ExecutorKind::Spec`], a serde
//! struct) and builds an executor from the common settings plus that spec. The
//! loader checks the common fields itself and rejects any field that is neither
//! common nor in the spec, so a spec needs no `deny_unknown_fields` (and must not
//! use it: the entry's common fields are visible to it too).

use crate::walk::{EachEntry, Walk, skip};
use exec_core::{Executor, ExecutorSettings};
use serde::de::{self, DeserializeOwned, DeserializeSeed, SeqAccess, Visitor};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One kind of executor, registered with a [`Loader`](crate::Loader) under a
/// kind string such as `exec.native`.
///
/// ```
/// use exec_config::{ExecutorKind, Loader};
/// use exec_core::{Executor, ExecutorSettings};
/// use std::sync::Arc;
///
/// /// Entries of kind `acme.remote` need a `host`.
/// #[derive(serde::Deserialize)]
/// struct RemoteSpec {
///     host: String,
/// }
///
/// struct RemoteKind;
///
/// impl ExecutorKind for RemoteKind {
///     type Spec = RemoteSpec;
///     fn build(&self, settings: ExecutorSettings, spec: RemoteSpec) -> exec_core::Result<Arc<dyn Executor>> {
///         # let _ = spec.host;
///         // A real kind would connect to `spec.host`; this one runs locally.
///         Ok(Arc::new(exec_native::NativeExecutor::new(settings)))
///     }
/// }
///
/// let mut loader = Loader::new();
/// loader.register_kind("acme.remote", RemoteKind);
/// let yaml = "namespace: app\nentries:\n  - { name: far, kind: acme.remote, host: example.org }\n";
/// loader.load_str(yaml, "inline.yaml", None)?;
/// assert!(loader.registry().get("app:far").is_ok());
/// # Ok::<(), exec_config::ConfigError>(())
/// ```
pub trait ExecutorKind: Send + Sync + 'static {
    /// The kind's own fields, deserialized from the entry (a struct deriving
    /// `serde::Deserialize`; an empty struct when the kind has none).
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
    /// The spec's field names.
    fn fields(&self) -> &'static [&'static str];

    /// Deserializes the specs of the entries `settings` names (by index) from
    /// `text` and builds their executors, in the order given.
    fn build_all(
        &self,
        text: &str,
        settings: Vec<(usize, ExecutorSettings)>,
    ) -> Result<Built, BuildFailure>;
}

pub(crate) struct Registered<K> {
    kind: K,
    fields: &'static [&'static str],
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
    fn fields(&self) -> &'static [&'static str] {
        self.fields
    }

    fn build_all(
        &self,
        text: &str,
        settings: Vec<(usize, ExecutorSettings)>,
    ) -> Result<Built, BuildFailure> {
        let wanted: Vec<usize> = settings.iter().map(|(index, _)| *index).collect();
        let specs = RefCell::new(BTreeMap::new());
        let pass = SpecEntries::<K::Spec> {
            wanted: &wanted,
            specs: &specs,
        };
        Walk(pass)
            .deserialize(serde_yaml::Deserializer::from_str(text))
            .map_err(BuildFailure::Spec)?;
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

/// The field names serde's derive gives a struct, learned by asking it to
/// deserialize from a probe that records them.
fn spec_fields<S: DeserializeOwned>() -> &'static [&'static str] {
    let seen = Cell::new(None);
    let _ = S::deserialize(FieldProbe(&seen));
    seen.get().unwrap_or(&[])
}

struct FieldProbe<'a>(&'a Cell<Option<&'static [&'static str]>>);

impl<'de> de::Deserializer<'de> for FieldProbe<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("a kind's spec must be a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.set(Some(fields));
        Err(de::Error::custom("probe"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
        byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
        enum identifier ignored_any
    }
}

/// Deserializes `S` from the wanted entries only.
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
        if !self.wanted.contains(&index) {
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

    #[test]
    fn the_probe_learns_a_specs_fields() {
        assert_eq!(spec_fields::<Two>(), ["image", "memory_limit"]);
        assert!(spec_fields::<Empty>().is_empty());
    }
}
