//! Splitting a command line into an argument vector, as a POSIX shell splits words.
//!
//! Single quotes, double quotes and backslash escapes are honoured; nothing is
//! expanded: no variables, no globbing, no pipes, no redirection. `echo $HOME > f`
//! runs `echo` with the three arguments `$HOME`, `>` and `f`. As in a shell, a `#`
//! that starts a word begins a comment that runs to the end of the line.
//!
//! The split argument vector is what the whitelist compares and what runs, so the
//! two can never disagree. A caller that already holds the words passes them as
//! they are ([`CommandSpec::Words`]); they are compared the same way.

use crate::error::{Error, Result};
use std::fmt;

/// What to run: a command line to split, or the words themselves. Both reach
/// the whitelist as the same argument vector, so `"git status"` and
/// `["git", "status"]` are the same command.
///
/// Anything that names a command converts into it: `&str` and `String` are
/// lines; arrays, slices and `Vec`s of strings are words.
///
/// ```
/// use exec_core::CommandSpec;
///
/// assert_eq!(CommandSpec::from("git 'status'").argv()?, ["git", "status"]);
/// assert_eq!(CommandSpec::from(["git", "status"]).argv()?, ["git", "status"]);
/// // Words are taken as they are: no splitting, no quotes.
/// assert_eq!(CommandSpec::from(["echo", "a b"]).argv()?, ["echo", "a b"]);
/// assert!(CommandSpec::from(Vec::<String>::new()).argv().is_err());
/// # Ok::<(), exec_core::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum CommandSpec {
    /// A command line, split as a POSIX shell splits words (see [`split`]).
    Line(String),
    /// The argument vector itself: the program, then its arguments.
    Words(Vec<String>),
}

impl CommandSpec {
    /// The argument vector: the line split, or the words checked.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidCommandLine`] (kind `Invalid`) for a line [`split`]
    /// refuses, an empty list of words, or a word with a NUL byte.
    pub fn argv(&self) -> Result<Vec<String>> {
        match self {
            CommandSpec::Line(line) => split(line),
            CommandSpec::Words(words) => {
                let invalid = |reason: String| Error::InvalidCommandLine {
                    command: shorten(&join(words)),
                    reason,
                };
                if words.is_empty() {
                    return Err(invalid("the list of words is empty".to_owned()));
                }
                if let Some(index) = words.iter().position(|w| w.contains('\0')) {
                    return Err(invalid(format!("word {index} contains a NUL byte")));
                }
                Ok(words.clone())
            }
        }
    }

    /// The command as a user would type it, shortened for messages (see
    /// [`shorten`]): a line as given, words joined with quotes where needed.
    pub fn display(&self) -> String {
        match self {
            CommandSpec::Line(line) => shorten(line),
            CommandSpec::Words(words) => shorten(&join(words)),
        }
    }
}

impl fmt::Debug for CommandSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandSpec::Line(_) => f.debug_tuple("Line").field(&self.display()).finish(),
            CommandSpec::Words(_) => f.debug_tuple("Words").field(&self.display()).finish(),
        }
    }
}

impl From<&str> for CommandSpec {
    fn from(line: &str) -> Self {
        CommandSpec::Line(line.to_owned())
    }
}

impl From<String> for CommandSpec {
    fn from(line: String) -> Self {
        CommandSpec::Line(line)
    }
}

impl From<&String> for CommandSpec {
    fn from(line: &String) -> Self {
        CommandSpec::Line(line.clone())
    }
}

impl From<Vec<String>> for CommandSpec {
    fn from(words: Vec<String>) -> Self {
        CommandSpec::Words(words)
    }
}

impl From<&[String]> for CommandSpec {
    fn from(words: &[String]) -> Self {
        CommandSpec::Words(words.to_vec())
    }
}

impl From<&[&str]> for CommandSpec {
    fn from(words: &[&str]) -> Self {
        CommandSpec::Words(words.iter().map(|w| (*w).to_owned()).collect())
    }
}

impl From<Vec<&str>> for CommandSpec {
    fn from(words: Vec<&str>) -> Self {
        Self::from(words.as_slice())
    }
}

impl<const N: usize> From<[&str; N]> for CommandSpec {
    fn from(words: [&str; N]) -> Self {
        Self::from(words.as_slice())
    }
}

/// The most of a command that messages quote, in bytes.
pub const MESSAGE_QUOTE_LIMIT: usize = 256;

/// `text` as messages quote it: whole up to [`MESSAGE_QUOTE_LIMIT`] bytes,
/// otherwise its start (cut at a character boundary) and how long it was, so
/// that a 3 MB argument does not make a 3 MB message.
///
/// ```
/// use exec_core::command_line::shorten;
///
/// assert_eq!(shorten("echo hi"), "echo hi");
/// let long = format!("echo {}", "x".repeat(3_000_000));
/// let short = shorten(&long);
/// assert!(short.len() < 300 && short.ends_with("… (3000005 bytes in all)"), "{short}");
/// ```
pub fn shorten(text: &str) -> String {
    if text.len() <= MESSAGE_QUOTE_LIMIT {
        return text.to_owned();
    }
    let mut end = MESSAGE_QUOTE_LIMIT - 48;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &text[..end], text.len())
}

/// Splits `command_line` into its words.
///
/// # Errors
///
/// [`Error::InvalidCommandLine`] (kind `Invalid`) for an unclosed quote, an empty command (nothing but blanks or a comment) or a NUL byte,
/// which no program can receive.
///
/// # Examples
///
/// ```
/// use exec_core::command_line::split;
///
/// assert_eq!(split(r#"git commit -m "first commit""#)?, ["git", "commit", "-m", "first commit"]);
/// assert_eq!(split("echo 'a b'")?, split(r#"echo "a b""#)?);
/// assert!(split("echo 'unclosed").is_err());
/// # Ok::<(), exec_core::Error>(())
/// ```
pub fn split(command_line: &str) -> Result<Vec<String>> {
    let invalid = |reason: &str| Error::InvalidCommandLine {
        command: shorten(command_line),
        reason: reason.to_owned(),
    };
    if command_line.contains('\0') {
        return Err(invalid("it contains a NUL byte"));
    }
    let words = shell_words::split(command_line).map_err(|_| invalid("unclosed quote"))?;
    if words.is_empty() {
        return Err(invalid("the command is empty"));
    }
    Ok(words)
}

/// Joins words into a command line that [`split`] turns back into the same words.
///
/// Words that need it are single-quoted. Use it to show an argument vector to a
/// user or to build a whitelist line from one.
///
/// ```
/// use exec_core::command_line::{join, split};
///
/// let words = ["printf", "%s\n", "it's"];
/// assert_eq!(split(&join(words))?, words);
/// # Ok::<(), exec_core::Error>(())
/// ```
pub fn join<I, S>(words: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    shell_words::join(words)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use proptest::prelude::*;

    #[test]
    fn quotes_and_escapes_follow_the_shell() {
        assert_eq!(split("echo 'a b'").unwrap(), ["echo", "a b"]);
        assert_eq!(split("echo \"a b\"").unwrap(), ["echo", "a b"]);
        assert_eq!(split(r"echo a\ b").unwrap(), ["echo", "a b"]);
        assert_eq!(
            split(r#"echo "a \"q\" b""#).unwrap(),
            ["echo", r#"a "q" b"#]
        );
        assert_eq!(
            split(r#"echo 'no \escape'"#).unwrap(),
            ["echo", r"no \escape"]
        );
        assert_eq!(split("git   status\t").unwrap(), ["git", "status"]);
        assert_eq!(split("echo ''").unwrap(), ["echo", ""]);
        // As `sh -c 'echo a\'` does, a backslash at the very end stays literal.
        assert_eq!(split("echo a\\").unwrap(), ["echo", "a\\"]);
    }

    #[test]
    fn nothing_is_expanded() {
        assert_eq!(
            split("echo $HOME *.rs | wc > out; rm x && y").unwrap(),
            [
                "echo", "$HOME", "*.rs", "|", "wc", ">", "out;", "rm", "x", "&&", "y"
            ]
        );
        assert_eq!(split("echo `id` $(id)").unwrap(), ["echo", "`id`", "$(id)"]);
    }

    #[test]
    fn bad_command_lines_are_invalid_and_named() {
        for bad in [
            "echo 'open",
            "echo \"open",
            "",
            "   ",
            "# only a comment",
            "a\0b",
        ] {
            let err = split(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Invalid, "{bad:?}");
            assert!(err.to_string().contains(&format!("{bad:?}")), "{err}");
        }
        let err = split("echo 'open").unwrap_err();
        assert!(err.to_string().contains("unclosed quote"), "{err}");
    }

    #[test]
    fn words_are_checked_not_split() {
        let words = CommandSpec::from(["echo", "'a b'", "$HOME"]);
        assert_eq!(words.argv().unwrap(), ["echo", "'a b'", "$HOME"]);
        assert_eq!(
            CommandSpec::from(["git", "status"]).argv().unwrap(),
            CommandSpec::from("git   status").argv().unwrap()
        );
        let err = CommandSpec::from(Vec::<String>::new()).argv().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Invalid);
        assert!(err.to_string().contains("empty"), "{err}");
        let err = CommandSpec::from(["echo", "a\0b"]).argv().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Invalid);
        assert!(
            err.to_string().contains("word 1 contains a NUL byte"),
            "{err}"
        );
    }

    #[test]
    fn messages_quote_a_few_hundred_bytes_at_most() {
        let huge = format!("echo '{}", "é".repeat(1_500_000));
        let err = split(&huge).unwrap_err();
        assert!(
            err.to_string().len() < 400,
            "{} bytes",
            err.to_string().len()
        );
        assert!(err.to_string().contains("bytes in all"), "{err}");
        let words = CommandSpec::Words(vec!["echo".into(), "x".repeat(3_000_000)]);
        assert!(words.display().len() < 300);
        assert!(format!("{words:?}").len() < 320);
    }

    proptest! {
        #[test]
        fn shorten_never_panics_and_stays_short(text in ".{0,400}") {
            let short = shorten(&text);
            prop_assert!(short.len() <= MESSAGE_QUOTE_LIMIT);
        }

        #[test]
        fn never_panics(line in ".{0,64}") {
            let _ = split(&line);
        }

        #[test]
        fn quoting_round_trips(words in proptest::collection::vec("[^\0]{0,12}", 1..6)) {
            prop_assert_eq!(split(&join(&words)).unwrap(), words);
        }
    }
}
