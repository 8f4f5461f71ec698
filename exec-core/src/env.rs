//! The child's environment: clean by default, `default_env` then the per-call `env`.
//!
//! Nothing of the host's environment reaches a child unless it is configured.
//! Variables are kept in a [`BTreeMap`], so the order a backend sends them in is
//! the same on every run.

use crate::error::{Error, Result};
use std::collections::BTreeMap;

/// Environment variables by name, in a deterministic (sorted) order.
pub type Env = BTreeMap<String, String>;

/// The environment a child gets: `defaults`, overridden by `per_call`.
///
/// ```
/// use exec_core::env::{merge, Env};
///
/// let defaults = Env::from([("A".into(), "1".into()), ("B".into(), "1".into())]);
/// let per_call = Env::from([("B".into(), "2".into())]);
/// let merged = merge(&defaults, &per_call);
/// assert_eq!(merged["A"], "1");
/// assert_eq!(merged["B"], "2");
/// ```
pub fn merge(defaults: &Env, per_call: &Env) -> Env {
    let mut merged = defaults.clone();
    merged.extend(per_call.iter().map(|(k, v)| (k.clone(), v.clone())));
    merged
}

/// Checks that every name and value can be passed to a process.
///
/// `field` names the setting in the error (`default_env`, `env`).
///
/// # Errors
///
/// [`Error::InvalidArgument`] for an empty name, a name with `=` or a NUL byte, or
/// a value with a NUL byte.
pub fn validate(field: &str, env: &Env) -> Result<()> {
    for (name, value) in env {
        let reason = if name.is_empty() {
            Some("a variable name is empty".to_owned())
        } else if name.contains('=') {
            Some(format!("variable name {name:?} contains '='"))
        } else if name.contains('\0') {
            Some(format!("variable name {name:?} contains a NUL byte"))
        } else if value.contains('\0') {
            Some(format!("the value of {name} contains a NUL byte"))
        } else {
            None
        };
        if let Some(reason) = reason {
            return Err(Error::InvalidArgument {
                field: field.to_owned(),
                reason,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bad_names_and_values_are_named() {
        for (name, value, expect) in [
            ("", "x", "a variable name is empty"),
            ("A=B", "x", "variable name \"A=B\" contains '='"),
            ("A\0", "x", "contains a NUL byte"),
            ("A", "x\0y", "the value of A contains a NUL byte"),
        ] {
            let env = Env::from([(name.to_owned(), value.to_owned())]);
            let err = validate("env", &env).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Invalid);
            assert!(err.to_string().starts_with("invalid env: "), "{err}");
            assert!(err.to_string().contains(expect), "{err}");
        }
        validate("env", &Env::from([("PATH".into(), "/bin".into())])).unwrap();
    }

    proptest! {
        #[test]
        fn per_call_wins_and_nothing_else_appears(
            defaults in proptest::collection::btree_map("[A-C]", "[a-z]{0,3}", 0..4),
            per_call in proptest::collection::btree_map("[B-D]", "[a-z]{0,3}", 0..4),
        ) {
            let merged = merge(&defaults, &per_call);
            for (k, v) in &merged {
                let expected = per_call.get(k).or_else(|| defaults.get(k));
                prop_assert_eq!(Some(v), expected);
            }
            prop_assert!(defaults.keys().chain(per_call.keys()).all(|k| merged.contains_key(k)));
            let order: Vec<_> = merged.keys().cloned().collect();
            let mut sorted = order.clone();
            sorted.sort();
            prop_assert_eq!(order, sorted);
        }
    }
}
