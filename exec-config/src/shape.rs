//! The shape pass: a first, lenient read of a file for what the located passes
//! need to know up front — the namespace, and each entry's `name` and `kind`
//! (a `kind:` may come after the fields it decides).
//!
//! It accepts any valid YAML and ignores what it does not look for, so its only
//! errors are YAML errors (syntax, nesting too deep, several documents); the
//! check pass reports everything else, at its position. Repeated keys are not
//! its business either: the first one counts here, and the check pass refuses
//! the second where it stands.

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// What the shape pass learned of one entry.
#[derive(Debug, Default, Clone)]
pub(crate) struct EntryShape {
    /// The entry's `name`, if it is a string.
    pub(crate) name: Option<String>,
    /// The entry's `kind`, if it is a string.
    pub(crate) kind: Option<String>,
}

/// What the shape pass learned of a file.
#[derive(Debug, Default)]
pub(crate) struct Shape {
    /// The file's `namespace`, if it is a string.
    pub(crate) namespace: Option<String>,
    /// Every entry of the list, in order (empty if there is no list).
    pub(crate) entries: Vec<EntryShape>,
}

impl Shape {
    /// Reads the shape of `text`. `Ok(None)` for a file with no content (empty,
    /// only comments, or `null`).
    pub(crate) fn of(text: &str) -> Result<Option<Self>, serde_yaml::Error> {
        ShapeSeed.deserialize(serde_yaml::Deserializer::from_str(text))
    }
}

/// The visits of null (answering `$empty`), of an optional's content (visited as
/// itself), and of non-string scalars and tagged values (answering `$value`;
/// tagged values are consumed whole).
macro_rules! other_values {
    ($empty:expr, $value:expr) => {
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($empty)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($empty)
        }
        fn visit_some<D: de::Deserializer<'de>>(
            self,
            deserializer: D,
        ) -> Result<Self::Value, D::Error> {
            deserializer.deserialize_any(self)
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_i128<E: de::Error>(self, _: i128) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_u128<E: de::Error>(self, _: u128) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<Self::Value, A::Error> {
            IgnoredAny.visit_enum(data).map(|_| $value)
        }
    };
}

/// The whole document.
struct ShapeSeed;

impl<'de> DeserializeSeed<'de> for ShapeSeed {
    type Value = Option<Shape>;
    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ShapeSeed {
    type Value = Option<Shape>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("YAML")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut shape = Shape::default();
        let mut seen_entries = false;
        while let Some(key) = map.next_key_seed(LenientString)? {
            match key.as_deref() {
                Some("namespace") if shape.namespace.is_none() => {
                    shape.namespace = map.next_value_seed(LenientString)?;
                }
                Some("entries") if !seen_entries => {
                    seen_entries = true;
                    shape.entries = map.next_value_seed(ShapeEntries)?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Some(shape))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        let entries = ShapeEntries.visit_seq(seq)?;
        Ok(Some(Shape {
            namespace: None,
            entries,
        }))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Some(Shape::default()))
    }

    other_values!(None, Some(Shape::default()));
}

/// The entry list (anything else in its place counts as no entries).
struct ShapeEntries;

impl<'de> DeserializeSeed<'de> for ShapeEntries {
    type Value = Vec<EntryShape>;
    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ShapeEntries {
    type Value = Vec<EntryShape>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("anything")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = seq.next_element_seed(ShapeEntry)? {
            entries.push(entry);
        }
        Ok(entries)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        IgnoredAny.visit_map(map).map(|_| Vec::new())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }

    other_values!(Vec::new(), Vec::new());
}

/// One entry: its first `name` and `kind`, when they are strings.
struct ShapeEntry;

impl<'de> DeserializeSeed<'de> for ShapeEntry {
    type Value = EntryShape;
    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ShapeEntry {
    type Value = EntryShape;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("anything")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entry = EntryShape::default();
        while let Some(key) = map.next_key_seed(LenientString)? {
            match key.as_deref() {
                Some("name") if entry.name.is_none() => {
                    entry.name = map.next_value_seed(LenientString)?;
                }
                Some("kind") if entry.kind.is_none() => {
                    entry.kind = map.next_value_seed(LenientString)?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(entry)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        IgnoredAny.visit_seq(seq).map(|_| EntryShape::default())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(EntryShape::default())
    }

    other_values!(EntryShape::default(), EntryShape::default());
}

/// A value as text when it is a string; anything else is consumed as `None`.
struct LenientString;

impl<'de> DeserializeSeed<'de> for LenientString {
    type Value = Option<String>;
    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for LenientString {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("anything")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        Ok(Some(value.to_owned()))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        IgnoredAny.visit_map(map).map(|_| None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        IgnoredAny.visit_seq(seq).map(|_| None)
    }

    other_values!(None, None);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_shape_takes_the_first_of_each_and_ignores_the_rest() {
        let shape = Shape::of(
            "version: 1\nnamespace: app\nnamespace: other\nmeta: {a: [1, !t x]}\nentries:\n  - {name: a, kind: k, kind: j, x: [1]}\n  - 5\n  - {name: [x], kind: !t k}\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(shape.namespace.as_deref(), Some("app"));
        let entries: Vec<_> = shape
            .entries
            .iter()
            .map(|e| (e.name.as_deref(), e.kind.as_deref()))
            .collect();
        assert_eq!(
            entries,
            [(Some("a"), Some("k")), (None, None), (None, None)]
        );
    }

    #[test]
    fn empty_documents_have_no_shape_and_bad_yaml_is_an_error() {
        for empty in ["", "# only a comment\n", "null", "~"] {
            assert!(Shape::of(empty).unwrap().is_none(), "{empty:?}");
        }
        assert!(Shape::of("just text").unwrap().is_some());
        assert!(Shape::of("- [a, b").is_err());
        assert!(Shape::of("a: 1\n---\nb: 2\n").is_err());
    }
}
