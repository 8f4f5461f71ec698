//! The contract of the exec family: run a command in a controlled environment —
//! a host process, a Docker container, an Incus instance — through one API.
//!
//! This crate has no backend. It defines what every backend implements and the
//! checks every backend shares, so that a command is judged the same way
//! wherever it runs:
//!
//! - [`Executor`] — object safe, stored as `Arc<dyn Executor>` — turns a
//!   [`CommandSpec`] (a command line, or the words themselves) into a
//!   [`Process`] that has **not** started yet, and declares its
//!   [`Capabilities`].
//! - [`Process`] — pipes available before `start`; `start`, `write_stdin`,
//!   `close_stdin`, `signal`, `wait` → [`ExitStatus`], `close`, `output`
//!   (run to the end, collect everything) and [`state`](Process::state)
//!   ([`ProcessState`]). All methods take `&self`, so one task may wait while
//!   another signals.
//! - [`ExecutorSettings::prepare`] — the checks, in order: the command line is
//!   split like a POSIX shell splits words ([`command_line`]), compared with the
//!   [`Whitelist`], the call's environment variables and work dir are held to
//!   what the config allows ([`confine`]), the environment is merged from
//!   nothing ([`env`](mod@env)), and the [`Policy`] is asked.
//! - [`Error`] with [`ErrorKind`] — one error type whose messages name the thing.
//! - [`decode`] — legacy output encodings (`cp949`, `shift_jis`, …) to UTF-8.
//! - [`Pipes`] — the pipes every backend uses, so output is never lost because
//!   `wait` ran before reading, and is handed over without a second copy.
//! - [`audit`] — `tracing` events of what ran and what was refused (feature
//!   `tracing`, on by default).
//!
//! For the crates that provide executors:
//!
//! - [`backend`] — the backend API: a backend supplies its transport (launch,
//!   signal, exit, kill) and [`backend::ManagedProcess`] runs the one process
//!   life cycle over it — state, start once, shared wait, timeout, signal
//!   bookkeeping, close, kill on drop.
//! - `conformance` (feature `conformance`) — the suite every backend runs,
//!   including one written outside this project.
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
//! use exec_core::confine::EnvAllow;
//!
//! let settings = ExecutorSettings::new("app:git")
//!     .with_default_work_dir("/srv/repo")
//!     .with_default_env_var("PATH", "/usr/bin:/bin")
//!     .with_env_allow(EnvAllow::parse(["LANG"])?)
//!     .with_whitelist(Whitelist::parse(["git status", "git log --oneline"])?);
//!
//! // Quoting and spacing do not matter: the split words are compared.
//! let command = settings.prepare("git   'status'".into(), ExecOptions::new().with_env("LANG", "C"))?;
//! assert_eq!(command.argv(), ["git", "status"]);
//! assert_eq!(command.env().keys().collect::<Vec<_>>(), ["LANG", "PATH"]);
//! // Words a caller already holds are the same command.
//! let command = settings.prepare(["git", "status"].into(), ExecOptions::new())?;
//! assert_eq!(command.argv(), ["git", "status"]);
//!
//! // Anything else is refused before a process exists.
//! let err = settings.prepare("git push --force".into(), ExecOptions::new()).unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::PermissionDenied);
//! let err = settings.prepare("git status 'unclosed".into(), ExecOptions::new()).unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::Invalid);
//! // So are variables and work dirs the config does not let a call choose.
//! let hook = ExecOptions::new().with_env("LD_PRELOAD", "/tmp/evil.so");
//! let err = settings.prepare("git status".into(), hook).unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::PermissionDenied);
//! let elsewhere = ExecOptions::new().with_work_dir("/srv/repo/../other");
//! let err = settings.prepare("git status".into(), elsewhere).unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::PermissionDenied);
//! # Ok::<(), exec_core::Error>(())
//! ```
//!
//! Running a command needs a backend: see `exec-native`'s crate docs for the
//! same settings running `git status` on the host.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod audit;
pub mod backend;
pub mod command_line;
pub mod confine;
pub mod decode;
pub mod env;
mod error;
mod executor;
mod limit;
mod mount;
mod output;
mod pipes;
pub mod policy;
mod process;
mod pty;
mod settings;
mod status;
mod whitelist;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use backend::in_flight::settle;
pub use command_line::CommandSpec;
pub use error::{BoxError, Error, ErrorKind, MAX_ARG_STRLEN, Result, report};
pub use executor::{BoxFuture, Capabilities, Executor};
pub use limit::{LimitedExecutor, ProcessLimit};
pub use mount::Mount;
pub use output::Output;
pub use pipes::{OutputReader, Pipes, StdinWriter};
pub use policy::Policy;
pub use process::{Process, ProcessState};
pub use pty::{DEFAULT_TERM, Pty, PtySize};
pub use settings::{DEFAULT_CLOSE_GRACE, DEFAULT_OUTPUT_BUFFER, ExecOptions, ExecutorSettings};
pub use status::ExitStatus;
pub use whitelist::Whitelist;
