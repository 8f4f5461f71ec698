//! Splitting a command line into an argument vector, as a POSIX shell splits words.
//!
//! Single quotes, double quotes and backslash escapes are honoured; nothing is
//! expanded: no variables, no globbing, no pipes, no redirection. `echo $HOME > f`
//! runs `echo` with the three arguments `$HOME`, `>` and `f`. As in a shell, a `#`
//! that starts a word begins a comment that runs to the end of the line.
//!
//! The split argument vector is what the whitelist compares and what runs, so the
//! two can never disagree.

use crate::error::{Error, Result};

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
        command: command_line.to_owned(),
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

    proptest! {
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
