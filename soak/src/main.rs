//! `exec-soak KIND RUNS`: the long runs `cargo xtask soak` makes, each
//! printing what it ran and what was left, and failing when something was.
//!
//! - `native RUNS` — host processes, mixed: plain, killed, timed out,
//!   dropped mid-read, and leaving a background child. Then: zombies, open
//!   descriptors before and after, resident memory after the first tenth
//!   and at the end, and processes of the runs still alive. Run it as PID 1
//!   of a pid namespace (`unshare --pid --fork --mount-proc`) and it is a
//!   subreaper that must reap every orphan too.
//! - `docker RUNS` — containers with `auto_remove`, mixed: plain, killed,
//!   timed out. Then: the containers left with the soak's label.
//! - `incus RUNS` — commands in an instance, mixed likewise. Then: the soak's
//!   commands still running in the instance, and the daemon's operations
//!   still running.
//!
//! The daemons come from the variables `cargo xtask test-all` sets
//! (`EXEC_TEST_DOCKER_*`, `EXEC_INCUS_*`).

mod docker;
mod incus;
mod mix;
mod native;

use std::process::ExitCode;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (kind, runs) = match args.as_slice() {
        [kind, runs] => match runs.parse::<usize>() {
            Ok(runs) if runs > 0 => (kind.as_str(), runs),
            _ => return usage(),
        },
        _ => return usage(),
    };
    let result = match kind {
        "native" => native::soak(runs).await,
        "docker" => docker::soak(runs).await,
        "incus" => incus::soak(runs).await,
        _ => return usage(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("exec-soak: {message}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: exec-soak <native | docker | incus> RUNS");
    ExitCode::FAILURE
}
