//! The command whitelist: the exact commands an executor may run.
//!
//! Lines are split with [`command_line::split`](crate::command_line::split) when the
//! whitelist is built, and a command is allowed when its split argument vector is
//! equal to one of them. What is compared is exactly what would run:
//! `echo 'a b'` and `echo "a b"` are the same command, `git  status` equals
//! `git status`, and `git status --porcelain` is a different command from
//! `git status`. An empty whitelist allows every command.

use crate::command_line::{self, CommandSpec};
use crate::error::{Error, Result};
use std::collections::HashSet;

/// A set of allowed argument vectors. Empty means every command is allowed.
///
/// ```
/// use exec_core::Whitelist;
///
/// let list = Whitelist::parse(["git status", "echo 'a b'"])?;
/// assert!(list.allows(&["git".into(), "status".into()]));
/// assert!(list.allows_command(r#"echo "a b""#)?);
/// assert!(!list.allows_command("git status --porcelain")?);
/// assert!(list.allows_command(["echo", "a b"])?);
/// assert!(Whitelist::default().allows_command("anything at all")?);
/// # Ok::<(), exec_core::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Whitelist {
    commands: HashSet<Vec<String>>,
}

impl Whitelist {
    /// Builds a whitelist from command lines.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] naming the line (`command_whitelist[N]`) when a
    /// line cannot be split, so a bad whitelist fails where it is configured and
    /// not at the first call.
    pub fn parse<I, S>(lines: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut commands = HashSet::new();
        for (index, line) in lines.into_iter().enumerate() {
            let words = command_line::split(line.as_ref()).map_err(|e| Error::InvalidArgument {
                field: format!("command_whitelist[{index}]"),
                reason: e.to_string(),
            })?;
            commands.insert(words);
        }
        Ok(Self { commands })
    }

    /// Whether the whitelist is empty, which allows every command.
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    /// The number of distinct allowed commands.
    pub fn len(&self) -> usize {
        self.commands.len()
    }

    /// Whether the argument vector may run.
    pub fn allows(&self, argv: &[String]) -> bool {
        self.commands.is_empty() || self.commands.contains(argv)
    }

    /// Whether `command` — a command line or its words — may run.
    ///
    /// # Errors
    ///
    /// The error of [`CommandSpec::argv`] when the line cannot be split or
    /// the words are empty or hold a NUL byte.
    pub fn allows_command(&self, command: impl Into<CommandSpec>) -> Result<bool> {
        Ok(self.allows(&command.into().argv()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn compares_split_words_not_spelling() {
        let list = Whitelist::parse(["git status", "echo 'a b'"]).unwrap();
        assert!(list.allows_command("git   status").unwrap());
        assert!(list.allows_command("'git' \"status\"").unwrap());
        assert!(list.allows_command("echo a\\ b").unwrap());
        assert!(!list.allows_command("echo a b").unwrap());
        assert!(!list.allows_command("git status; rm -rf /").unwrap());
        assert!(!list.allows_command("git status --short").unwrap());
        assert!(!list.allows_command("git").unwrap());
    }

    #[test]
    fn empty_allows_everything() {
        let list = Whitelist::parse(Vec::<String>::new()).unwrap();
        assert!(list.is_empty());
        assert!(list.allows(&argv(&["rm", "-rf", "/"])));
    }

    #[test]
    fn a_bad_line_names_its_index() {
        let err = Whitelist::parse(["ls", "echo 'open"]).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Invalid);
        assert!(
            err.to_string()
                .starts_with("invalid command_whitelist[1]: "),
            "{err}"
        );
    }

    proptest! {
        /// Whatever its spelling, a command whose words are not listed never runs.
        #[test]
        fn an_unlisted_command_is_never_allowed(
            listed in proptest::collection::vec(proptest::collection::vec("[a-z ']{1,6}", 1..4), 1..4),
            candidate in proptest::collection::vec("[a-z ']{1,6}", 1..4),
        ) {
            let lines: Vec<String> = listed.iter().map(command_line::join).collect();
            let list = Whitelist::parse(&lines).unwrap();
            let spelled = command_line::join(&candidate);
            let allowed = list.allows_command(&spelled).unwrap();
            prop_assert_eq!(allowed, listed.contains(&candidate));
        }
    }
}
