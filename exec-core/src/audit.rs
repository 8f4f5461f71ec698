//! Audit events: what ran and what was refused, as [`tracing`] events
//! (feature `tracing`, on by default; without it every call here does nothing).
//!
//! Every process gets one span, `exec::process`, carrying the executor id, the
//! command (its words, shortened for long ones), the work dir, the *names*
//! of its environment variables — never their values — and the host paths
//! the call mounts (`mounts`: each source, target and `ro`/`rw`). Inside it come the
//! events, each with the target `exec` and a message naming the step:
//!
//! | message | level | fields | emitted by |
//! |---|---|---|---|
//! | `acquire` | info | `executor` | registries, when an executor is handed out |
//! | `acquire denied` | warn | `executor`, `reason` | registries, when the policy refuses |
//! | `allowed` | info | | [`ExecutorSettings::prepare`](crate::ExecutorSettings::prepare) |
//! | `denied` | warn | `reason` | `prepare`, for the whitelist or the policy |
//! | `start` | info | `pid` (where there is one) | the backend |
//! | `signal` | info | `signal` | the backend |
//! | `exit` | info | `code`, `signal`, `duration_ms`, `oom_killed` | the backend |
//! | `timeout` | warn | `after_ms` | the backend |
//! | `close` | info | `force` | the backend |
//!
//! An operator sees them with any `tracing` subscriber; the `exec-lua` runner
//! prints them on stderr with `--log info` or `RUST_LOG=exec=info`.

use crate::mount::Mount;
use crate::status::ExitStatus;
use std::path::Path;
use std::time::Duration;

/// The audit trail of one process: its span and the events of its life
/// cycle. Made by [`ExecutorSettings::prepare`](crate::ExecutorSettings::prepare)
/// and carried in the [`PreparedCommand`](crate::backend::PreparedCommand); backends
/// call its methods as the process moves on.
#[derive(Debug, Clone)]
pub struct Audit {
    #[cfg(feature = "tracing")]
    span: tracing::Span,
}

impl Default for Audit {
    /// An audit trail that records nothing (for tests of backends).
    fn default() -> Self {
        Self {
            #[cfg(feature = "tracing")]
            span: tracing::Span::none(),
        }
    }
}

impl Audit {
    /// The span for a command of `executor_id`.
    pub(crate) fn for_command(
        executor_id: &str,
        command: &str,
        work_dir: Option<&Path>,
        env_names: &[&str],
        mounts: &[Mount],
    ) -> Self {
        #[cfg(feature = "tracing")]
        {
            let span = tracing::info_span!(
                target: "exec",
                "process",
                executor = executor_id,
                command = command,
                work_dir = work_dir.map(|d| tracing::field::debug(d.display())),
                env = tracing::field::display(names_field(env_names)),
                mounts = (!mounts.is_empty()).then(|| tracing::field::display(mounts_field(mounts))),
            );
            Self { span }
        }
        #[cfg(not(feature = "tracing"))]
        {
            let _ = (executor_id, command, work_dir, env_names, mounts);
            Self {}
        }
    }

    /// The process's span, to enter or to parent a backend's own events.
    #[cfg(feature = "tracing")]
    pub fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// The whitelist and the policy allowed the command.
    pub fn allowed(&self) {
        #[cfg(feature = "tracing")]
        tracing::info!(target: "exec", parent: &self.span, "allowed");
    }

    /// The whitelist or the policy refused the command, for `reason`.
    pub fn denied(&self, reason: &str) {
        #[cfg(feature = "tracing")]
        tracing::warn!(target: "exec", parent: &self.span, reason, "denied");
        #[cfg(not(feature = "tracing"))]
        let _ = reason;
    }

    /// The command started (with its host pid, where there is one).
    pub fn started(&self, pid: Option<u32>) {
        #[cfg(feature = "tracing")]
        tracing::info!(target: "exec", parent: &self.span, pid, "start");
        #[cfg(not(feature = "tracing"))]
        let _ = pid;
    }

    /// Signal `signal` was sent to the command.
    pub fn signalled(&self, signal: i32) {
        #[cfg(feature = "tracing")]
        tracing::info!(target: "exec", parent: &self.span, signal, "signal");
        #[cfg(not(feature = "tracing"))]
        let _ = signal;
    }

    /// The command ended with `status`.
    pub fn exited(&self, status: &ExitStatus) {
        #[cfg(feature = "tracing")]
        tracing::info!(
            target: "exec",
            parent: &self.span,
            code = status.code(),
            signal = status.signal(),
            duration_ms = u64::try_from(status.duration().as_millis()).unwrap_or(u64::MAX),
            oom_killed = status.oom_killed(),
            "exit"
        );
        #[cfg(not(feature = "tracing"))]
        let _ = status;
    }

    /// The command outlived its timeout of `after` and was killed.
    pub fn timed_out(&self, after: Duration) {
        #[cfg(feature = "tracing")]
        tracing::warn!(
            target: "exec",
            parent: &self.span,
            after_ms = u64::try_from(after.as_millis()).unwrap_or(u64::MAX),
            "timeout"
        );
        #[cfg(not(feature = "tracing"))]
        let _ = after;
    }

    /// The process was closed (`force`: killed at once).
    pub fn closed(&self, force: bool) {
        #[cfg(feature = "tracing")]
        tracing::info!(target: "exec", parent: &self.span, force, "close");
        #[cfg(not(feature = "tracing"))]
        let _ = force;
    }
}

/// The env names as one field: `A,B_2`. A call chooses its names, so any
/// name but letters, digits and `_` is quoted and escaped: it cannot break
/// the log line (a newline and a forged event after it) or pass for two.
#[cfg(feature = "tracing")]
fn names_field(names: &[&str]) -> String {
    let shown: Vec<String> = names
        .iter()
        .map(|name| {
            if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                (*name).to_owned()
            } else {
                format!("{name:?}")
            }
        })
        .collect();
    shown.join(",")
}

/// The mounts as one field: `"/srv/a":"/work/a":ro,"/srv/b":"/work/b":rw`.
/// A call chooses the paths, so each is quoted and escaped: a newline in
/// one cannot forge a log line.
#[cfg(feature = "tracing")]
fn mounts_field(mounts: &[Mount]) -> String {
    let shown: Vec<String> = mounts
        .iter()
        .map(|m| {
            let mode = if m.read_only() { "ro" } else { "rw" };
            format!("{:?}:{:?}:{mode}", m.source(), m.target())
        })
        .collect();
    shown.join(",")
}

/// The executor `executor_id` was handed out. Registries call it.
pub fn acquired(executor_id: &str) {
    #[cfg(feature = "tracing")]
    tracing::info!(target: "exec", executor = executor_id, "acquire");
    #[cfg(not(feature = "tracing"))]
    let _ = executor_id;
}

/// The policy refused to hand out `executor_id`, for `reason`. Registries call it.
pub fn acquire_denied(executor_id: &str, reason: &str) {
    #[cfg(feature = "tracing")]
    tracing::warn!(target: "exec", executor = executor_id, reason, "acquire denied");
    #[cfg(not(feature = "tracing"))]
    let _ = (executor_id, reason);
}

#[cfg(all(test, feature = "tracing"))]
mod tests {
    use super::*;

    #[test]
    fn the_mounts_field_quotes_each_path_so_none_can_forge_a_line() {
        let mounts = [
            Mount::new("/srv/roots/repo", "/work/repo"),
            Mount::new("/srv/roots/x\n1970-01-01 INFO exec: allowed", "/work/x")
                .with_read_only(true),
        ];
        let field = mounts_field(&mounts);
        assert_eq!(
            field,
            r#""/srv/roots/repo":"/work/repo":rw,"/srv/roots/x\n1970-01-01 INFO exec: allowed":"/work/x":ro"#
        );
        assert!(!field.contains('\n'));
    }
}
