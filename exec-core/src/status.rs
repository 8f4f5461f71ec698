//! How a process ended.

use std::fmt;
use std::time::Duration;

/// How a process ended: its exit code or the signal that killed it, whether the
/// kernel killed it for running out of memory (where the backend can know), and
/// how long it ran.
///
/// ```
/// use exec_core::ExitStatus;
/// use std::time::Duration;
///
/// let status = ExitStatus::from_signal(15, Duration::from_millis(5));
/// assert_eq!(status.code(), None); // as std: no exit code when a signal ended it
/// assert_eq!(status.signal(), Some(15));
/// assert_eq!(status.shell_code(), 143); // 128 + n where one number is needed
/// assert!(!status.success());
///
/// let status = ExitStatus::from_code(3, Duration::from_millis(5));
/// assert_eq!((status.code(), status.shell_code()), (Some(3), 3));
///
/// // Equality is about how it ended, not how long it took.
/// assert_eq!(status, ExitStatus::from_code(3, Duration::from_secs(9)));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ExitStatus {
    termination: Termination,
    oom_killed: bool,
    duration: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Termination {
    Exited(i32),
    Signaled(i32),
}

impl ExitStatus {
    /// A process that exited with `code`.
    pub fn from_code(code: i32, duration: Duration) -> Self {
        Self {
            termination: Termination::Exited(code),
            oom_killed: false,
            duration,
        }
    }

    /// A process killed by signal number `signal`.
    pub fn from_signal(signal: i32, duration: Duration) -> Self {
        Self {
            termination: Termination::Signaled(signal),
            oom_killed: false,
            duration,
        }
    }

    /// The same status, marked as (or not as) killed for running out of memory.
    #[must_use]
    pub fn with_oom_killed(mut self, oom_killed: bool) -> Self {
        self.oom_killed = oom_killed;
        self
    }

    /// One number for the outcome, as a POSIX shell reports it in `$?`: the
    /// exit code, or 128 + n for a death by signal n. The Lua module and the
    /// `exec-lua` runner report this number.
    pub fn shell_code(&self) -> i32 {
        match self.termination {
            Termination::Exited(code) => code,
            Termination::Signaled(signal) => 128 + signal,
        }
    }

    /// The exit code if the process exited by itself, `None` if a signal
    /// killed it — as [`std::process::ExitStatus::code`].
    pub fn code(&self) -> Option<i32> {
        match self.termination {
            Termination::Exited(code) => Some(code),
            Termination::Signaled(_) => None,
        }
    }

    /// The signal that killed the process, if one did.
    pub fn signal(&self) -> Option<i32> {
        match self.termination {
            Termination::Exited(_) => None,
            Termination::Signaled(signal) => Some(signal),
        }
    }

    /// Whether the process exited with code 0.
    pub fn success(&self) -> bool {
        self.termination == Termination::Exited(0)
    }

    /// Whether the process was killed for running out of memory.
    pub fn oom_killed(&self) -> bool {
        self.oom_killed
    }

    /// How long the process ran, from start to exit.
    pub fn duration(&self) -> Duration {
        self.duration
    }
}

impl PartialEq for ExitStatus {
    fn eq(&self, other: &Self) -> bool {
        (self.termination, self.oom_killed) == (other.termination, other.oom_killed)
    }
}

impl Eq for ExitStatus {}

impl std::hash::Hash for ExitStatus {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (self.termination, self.oom_killed).hash(state);
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.termination {
            Termination::Exited(code) => write!(f, "exit code {code}")?,
            Termination::Signaled(signal) => {
                write!(
                    f,
                    "killed by signal {signal} (exit code {})",
                    self.shell_code()
                )?;
            }
        }
        if self.oom_killed {
            f.write_str(", out of memory")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_and_signals_are_told_apart() {
        let d = Duration::ZERO;
        let exited = ExitStatus::from_code(42, d);
        assert_eq!(
            (exited.shell_code(), exited.code(), exited.signal()),
            (42, Some(42), None)
        );
        assert_eq!(exited.to_string(), "exit code 42");
        let killed = ExitStatus::from_signal(9, d).with_oom_killed(true);
        assert_eq!(
            (killed.shell_code(), killed.code(), killed.signal()),
            (137, None, Some(9))
        );
        assert!(killed.oom_killed());
        assert_eq!(
            killed.to_string(),
            "killed by signal 9 (exit code 137), out of memory"
        );
        assert!(ExitStatus::from_code(0, d).success());
        assert!(!ExitStatus::from_code(1, d).success());
    }
}
