//! The contract of the exec family: run a command in a controlled environment —
//! a host process, a Docker container, an Incus instance — through one API.
//!
//! This crate has no backend. It defines what every backend implements and the
//! checks every backend shares, so that a command is judged the same way
//! wherever it runs:
//!
//! - [`Executor`] — object safe, stored as `Arc<dyn Executor>` — turns a command
//!   line into a [`Process`] that has **not** started yet.
//! - [`Process`] — stdio available before `start`; `start`, `write_stdin`,
//!   `close_stdin`, `signal`, `wait` → [`ExitStatus`], `close`, and `output`
//!   (run to the end, collect everything). All methods take `&self`, so one task
//!   may wait while another signals.
//! - [`ExecutorSettings::prepare`] — the checks, in order: the command line is
//!   split like a POSIX shell splits words ([`command_line`]), compared with the
//!   [`Whitelist`], the environment is merged from nothing ([`env`](mod@env)), and the
//!   [`Policy`] is asked.
//! - [`Error`] with [`ErrorKind`] — one error type whose messages name the thing.
//! - [`decode`] — legacy output encodings (`cp949`, `shift_jis`, …) to UTF-8.
//! - [`stdio`] — the buffered pipes every backend uses, so output is never lost
//!   because `wait` ran before reading.
//! - `conformance` (feature `conformance`) — the suite every backend runs.
//!
//! Backends: `exec-native` (host processes), `exec-docker`, `exec-incus`.
//! `exec-config` builds a registry of executors from YAML.
//!
//! # Example
//!
//! The checks every backend makes before anything runs:
//!
//! ```
//! use exec_core::{ErrorKind, ExecOptions, ExecutorSettings, Whitelist};
//!
//! let settings = ExecutorSettings::new("app:git")
//!     .default_work_dir("/srv/repo")
//!     .default_env_var("PATH", "/usr/bin:/bin")
//!     .whitelist(Whitelist::parse(["git status", "git log --oneline"])?);
//!
//! // Quoting and spacing do not matter: the split words are compared.
//! let command = settings.prepare("git   'status'", ExecOptions::new().env("LANG", "C"))?;
//! assert_eq!(command.argv, ["git", "status"]);
//! assert_eq!(command.env.keys().collect::<Vec<_>>(), ["LANG", "PATH"]);
//!
//! // Anything else is refused before a process exists.
//! let err = settings.prepare("git push --force", ExecOptions::new()).unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::PermissionDenied);
//! let err = settings.prepare("git status 'unclosed", ExecOptions::new()).unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::Invalid);
//! # Ok::<(), exec_core::Error>(())
//! ```
//!
//! Running a command needs a backend: see `exec-native`'s crate docs for the
//! same settings running `git status` on the host.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod command_line;
pub mod decode;
pub mod env;
mod error;
mod executor;
mod output;
pub mod policy;
mod settings;
mod status;
pub mod stdio;
mod whitelist;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use error::{BoxError, Error, ErrorKind, Result};
pub use executor::{BoxFuture, Executor, Process};
pub use output::Output;
pub use policy::Policy;
pub use settings::{DEFAULT_OUTPUT_BUFFER, ExecOptions, ExecutorSettings, PreparedCommand};
pub use status::ExitStatus;
pub use stdio::{ProcessOutput, ProcessStdin, Stdio};
pub use whitelist::Whitelist;
