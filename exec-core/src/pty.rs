//! A terminal for a command instead of pipes (Wippy's `pty` option).
//!
//! A call asks for one with [`ExecOptions::with_pty`](crate::ExecOptions::with_pty).
//! The command then runs with a pseudo-terminal as its stdin, stdout and
//! stderr: it sees a terminal (`tty`, line editing, `^C` as SIGINT, `^D` as
//! end of input), of the size asked for, with `TERM` set. Its output — what
//! it writes to stdout and to stderr, which a terminal does not keep apart —
//! comes on the process's stdout stream; its stderr stream ends at once.
//! [`Process::resize`](crate::Process::resize) changes the size (the command
//! gets SIGWINCH). Only backends that declare
//! [`Capabilities::pty`](crate::Capabilities::pty) take a terminal; the
//! others refuse the call as `Invalid`.

use crate::error::{Error, Result};

/// The `TERM` a terminal gets unless the call names one.
pub const DEFAULT_TERM: &str = "xterm-256color";

/// The longest `TERM` taken.
const MAX_TERM: usize = 64;

/// A terminal's size in character cells.
///
/// ```
/// use exec_core::PtySize;
///
/// let size = PtySize::new(100, 30);
/// assert_eq!((size.width(), size.height()), (100, 30));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PtySize {
    width: u16,
    height: u16,
}

impl PtySize {
    /// `width` columns by `height` rows.
    pub const fn new(width: u16, height: u16) -> Self {
        Self { width, height }
    }

    /// Columns.
    pub const fn width(&self) -> u16 {
        self.width
    }

    /// Rows.
    pub const fn height(&self) -> u16 {
        self.height
    }

    /// `Invalid` naming `field` unless both sides are at least 1.
    pub(crate) fn check(&self, field: &str) -> Result<()> {
        if self.width == 0 || self.height == 0 {
            return Err(Error::InvalidArgument {
                field: field.to_owned(),
                reason: format!(
                    "a terminal of {} columns by {} rows: both must be at least 1",
                    self.width, self.height
                ),
            });
        }
        Ok(())
    }
}

/// A terminal for one command: its size and its `TERM`.
///
/// ```
/// use exec_core::{ExecOptions, Pty};
///
/// let options = ExecOptions::new().with_pty(Pty::new(120, 40).with_term("vt100"));
/// let pty = options.pty().unwrap();
/// assert_eq!((pty.size().width(), pty.size().height(), pty.term()), (120, 40, "vt100"));
/// assert_eq!(Pty::new(80, 24).term(), exec_core::DEFAULT_TERM);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pty {
    size: PtySize,
    term: String,
}

impl Pty {
    /// A terminal of `width` columns by `height` rows, with `TERM` set to
    /// [`DEFAULT_TERM`].
    pub fn new(width: u16, height: u16) -> Self {
        Self {
            size: PtySize::new(width, height),
            term: DEFAULT_TERM.to_owned(),
        }
    }

    /// Sets `TERM` (letters, digits, `.`, `_`, `+` and `-`; 64 at most).
    #[must_use]
    pub fn with_term(mut self, term: impl Into<String>) -> Self {
        self.term = term.into();
        self
    }

    /// The size.
    pub fn size(&self) -> PtySize {
        self.size
    }

    /// The `TERM` the command gets.
    pub fn term(&self) -> &str {
        &self.term
    }

    /// Whether `term` is a `TERM` a terminal may have: 1 to 64 letters,
    /// digits, `.`, `_`, `+` or `-` — a name in the terminfo database, never a
    /// path (a `/` would let a call pick the file).
    ///
    /// ```
    /// assert!(exec_core::Pty::is_valid_term("xterm-256color"));
    /// assert!(!exec_core::Pty::is_valid_term("../../tmp/x"));
    /// ```
    pub fn is_valid_term(term: &str) -> bool {
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-');
        !term.is_empty() && term.len() <= MAX_TERM && term.chars().all(allowed)
    }

    /// Checks the size and the `TERM` (see [`Pty::is_valid_term`]).
    pub(crate) fn validate(&self) -> Result<()> {
        self.size.check("pty")?;
        let term = &self.term;
        if !Self::is_valid_term(term) {
            return Err(Error::InvalidArgument {
                field: "pty".to_owned(),
                reason: format!(
                    "term {term:?}: a terminal type is 1 to {MAX_TERM} letters, digits, '.', '_', '+' or '-'"
                ),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_sizes_and_terms_are_refused_by_name() {
        assert!(Pty::new(80, 24).validate().is_ok());
        assert!(
            Pty::new(1, 1)
                .with_term("xterm+256color.v-2_x")
                .validate()
                .is_ok()
        );
        for bad in [
            Pty::new(0, 24),
            Pty::new(80, 0),
            Pty::new(80, 24).with_term(""),
            Pty::new(80, 24).with_term("../../tmp/evil"),
            Pty::new(80, 24).with_term("xterm 256"),
            Pty::new(80, 24).with_term("x".repeat(65)),
        ] {
            let err = bad.validate().unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Invalid, "{bad:?}");
            assert!(err.to_string().starts_with("invalid pty: "), "{err}");
        }
    }
}
