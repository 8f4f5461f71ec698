//! Helpers shared by the exec crates' tests and benchmarks (not published).
//!
//! - [`procfs`] — what a process holds that must not leak (open descriptors,
//!   unreaped children), and whether a pid is alive, from Linux's `/proc`
//!   through one parser of `/proc/<pid>/stat`.
//! - [`bench`](mod@bench) — side-by-side figures for `cargo xtask bench`: each figure
//!   alternates ours with its baseline so machine noise hits both alike, and
//!   prints medians and their ratio.
//! - [`daemons`] — where `cargo xtask test-all` put the Docker and Incus
//!   daemons the backend tests need (and, with feature `docker`, the
//!   containers and volumes a test left there).
//! - `faults` (feature `faults`) — daemons that misbehave on cue: a proxy
//!   that cuts connections, a fake daemon the test answers for, private
//!   daemons to kill and restart.
//! - `outcomes` (feature `faults`) — what those tests ask of a failure: in
//!   time, of its kind, saying what it should; a cut stream saying so.
//! - [`files`] — programs and links a test plants in a directory.
//! - [`incus`] — the Incus daemon `cargo xtask test-all` provisions, from its
//!   `EXEC_INCUS_*` variables.
//! - `tls` (feature `tls`) — certificates made on the spot and TLS servers
//!   that present them, for the tests of refused handshakes.

#![warn(missing_docs)]
#![forbid(unsafe_code)]
// Test and bench helpers: a failure should stop the test or the bench loudly.
#![allow(clippy::expect_used, clippy::unwrap_used)]

pub mod bench;
pub mod daemons;
#[cfg(feature = "faults")]
pub mod faults;
pub mod files;
pub mod incus;
#[cfg(feature = "faults")]
pub mod outcomes;
#[cfg(feature = "faults")]
pub mod private;
pub mod procfs;
#[cfg(feature = "tls")]
pub mod tls;
