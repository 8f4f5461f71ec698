//! Executors from YAML: entries in the Wippy format become a [`Registry`] of
//! `Arc<dyn Executor>` keyed `namespace:name`.
//!
//! A file is either a map with `namespace:` and `entries:` (and optionally
//! `version:` and `meta:`, accepted and ignored), or a bare list of entries
//! whose namespace the caller gives. Each entry has a `name`, a `kind` and the
//! kind's fields; its id is `namespace:name` (neither part empty, neither with
//! `:` or blanks). Every kind takes the common fields:
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `default_work_dir` | string | work dir when a call names none |
//! | `default_env` | map | the child's environment (a call's `env` is merged over it); nothing else of the host's environment reaches the child |
//! | `command_whitelist` | list of strings | the only commands allowed, compared word by word after shell-like splitting; absent allows all, and a present one must list at least one command (`command_whitelist:` with nothing under it, or `[]`, is an error) |
//! | `output_encoding` | string | decode output from this encoding into UTF-8 (`cp949`, `euc-kr`, `shift_jis`, `gbk`, `windows-1252`, …); the labels of WHATWG's "replacement" encoding (`iso-2022-kr`, `hz-gb-2312`, …), which would turn all output into one U+FFFD, are an error |
//! | `max_running` | integer ≥ 1 | at most this many of the executor's processes run at once; a `start` beyond it fails at once with `TooManyProcesses` (kind `Unavailable`); a process counts from its start until its end is known (`wait`, `Exited`), it is closed or dropped. Absent: no limit |
//! | `meta` | anything | ignored (Wippy's entry metadata) |
//!
//! Kinds: `exec.native` (feature `native`, on by default), `exec.docker`
//! (feature `docker`: one container per command, fields in `DockerSpec` and
//! exec-docker's builder) and `exec.incus` (feature `incus`: commands in an
//! Incus instance, with the fields `instance`, `host`, `project`,
//! `client_cert`, `client_key`, `server_cert`, `server_fingerprint`, `user`,
//! `group`; see `IncusSpec`). Other backends come the same way, each behind
//! its own feature, and a program registers kinds of its own with
//! [`Loader::register_kind`] and an [`ExecutorKind`].
//!
//! Everything is checked at load: an unknown field (with the nearest valid one
//! suggested), a wrong type, a missing `name` or `kind`, an unknown kind, a
//! duplicate id, a whitelist line that cannot be split, a whitelist that is
//! present but empty, an unknown encoding (or one that would lose all output),
//! a bad variable name, an unknown top-level key, a bare list without a
//! namespace, YAML syntax. Errors name the file, line, column, entry id and
//! field:
//!
//! ```text
//! executors.yaml:7:5: entry app:shell: unknown field "defualt_env"; did you mean "default_env"?; valid fields: name, kind, …
//! ```
//!
//! # Example
//!
//! ```
//! # #[cfg(feature = "native")] {
//! use exec_config::Registry;
//! use exec_core::{ErrorKind, ExecOptions};
//!
//! let yaml = r#"
//! namespace: app
//! entries:
//!   - name: shell
//!     kind: exec.native
//!     default_work_dir: /tmp
//!     default_env: { PATH: /usr/bin:/bin, LANG: C.UTF-8 }
//!     command_whitelist: ["git status", "ls -la"]
//! "#;
//! let registry = Registry::from_yaml(yaml, std::path::Path::new("executors.yaml"), None)?;
//! let shell = registry.get("app:shell")?; // an Arc<dyn Executor>
//! assert_eq!(shell.id(), "app:shell");
//!
//! // Created, not started: `start()` (or `output().await`) runs it.
//! let process = shell.create_process("git  'status'".into(), ExecOptions::new())?;
//! # drop(process);
//! let denied = shell.create_process("git push".into(), ExecOptions::new()).unwrap_err();
//! assert_eq!(denied.kind(), ErrorKind::PermissionDenied);
//!
//! let err = Registry::from_yaml("- { name: x, kind: exec.nativ }", std::path::Path::new("bad.yaml"), Some("app")).unwrap_err();
//! assert!(err.to_string().starts_with(
//!     "bad.yaml:1:20: entry app:x: unknown kind \"exec.nativ\"; did you mean \"exec.native\"?; known kinds: "
//! ));
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Limits
//!
//! A config is text from a trusted source, but the loader does not trust it to
//! be small: before parsing, it refuses a config over
//! [`DEFAULT_MAX_CONFIG_BYTES`] (4 MiB; of a file it reads at most one byte
//! more, so a device or pipe that never ends is refused at once) and one whose
//! lists and maps nest deeper than [`DEFAULT_MAX_CONFIG_DEPTH`] (32 levels; a
//! config's own structure takes five), found by a scan of the text that is
//! linear in its length, where serde_yaml's parser takes time quadratic in the
//! nesting (a minute for a 200 KB file nested 100,000 deep). The embedder sets
//! other limits with [`Loader::with_max_config_bytes`] and
//! [`Loader::with_max_config_depth`]:
//!
//! ```text
//! big.yaml: the config is 52428800 bytes, more than the limit of 4194304 bytes; it was not parsed
//! deep.yaml:2:38: the config nests lists and maps more than 32 levels deep; it was not parsed
//! ```
//!
//! A UTF-8 byte order mark at the start of a config is skipped.
//!
//! # The parts
//!
//! [`Loader`] reads files with the registered [`ExecutorKind`]s and fills a
//! [`Registry`]; [`ConfigError`] (with its [`Location`]) says why a file did not
//! load; `NativeKind` is the `exec.native` kind (feature `native`), `IncusKind`
//! the `exec.incus` kind (feature `incus`).

#![warn(missing_docs)]
#![forbid(unsafe_code)]

#[cfg(feature = "docker")]
mod docker;
mod error;
#[cfg(feature = "incus")]
mod incus;
mod kind;
mod limits;
mod loader;
#[cfg(feature = "native")]
mod native;
mod registry;
mod shape;
mod suggest;
mod walk;

#[cfg(feature = "docker")]
pub use docker::{DockerKind, DockerSpec, docker_executor};
pub use error::{ConfigError, Location};
#[cfg(feature = "incus")]
pub use incus::{IncusKind, IncusSpec};
pub use kind::ExecutorKind;
pub use limits::{DEFAULT_MAX_CONFIG_BYTES, DEFAULT_MAX_CONFIG_DEPTH};
pub use loader::{COMMON_FIELDS, FILE_FIELDS, Loader};
#[cfg(feature = "native")]
pub use native::{NativeKind, NativeSpec};
pub use registry::Registry;
