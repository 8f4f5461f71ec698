//! Walking a config file's entries, for the passes that look at them one by one.

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// What a pass does with each entry of the list.
pub(crate) trait EachEntry<'de>: Copy {
    /// Consumes entry `index` from `entries`; `Ok(false)` once the list ended.
    fn entry<A: SeqAccess<'de>>(self, index: usize, entries: &mut A) -> Result<bool, A::Error>;
}

/// Finds the entry list (under `entries:`, or the whole file when it is a bare
/// list) and hands each entry to `E`.
#[derive(Clone, Copy)]
pub(crate) struct Walk<E>(pub(crate) E);

impl<'de, E: EachEntry<'de>> DeserializeSeed<'de> for Walk<E> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, E: EachEntry<'de>> Visitor<'de> for Walk<E> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a config file")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            if key == "entries" {
                map.next_value_seed(self)?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut entries: A) -> Result<(), A::Error> {
        let mut index = 0;
        while self.0.entry(index, &mut entries)? {
            index += 1;
        }
        Ok(())
    }
}

/// Skips one entry.
pub(crate) fn skip<'de, A: SeqAccess<'de>>(entries: &mut A) -> Result<bool, A::Error> {
    Ok(entries.next_element::<IgnoredAny>()?.is_some())
}
