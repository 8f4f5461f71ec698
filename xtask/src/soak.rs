//! `cargo xtask soak [native | docker | incus] [--runs N]`: the long runs
//! of `soak/` (exec-soak, built with optimisations), each printing what it
//! ran and what it left:
//!
//! - native: 10,000 host processes mixed (plain, killed, timed out,
//!   dropped mid-read, leaving a background child) — zombies, descriptors,
//!   resident memory — once as an ordinary process and once as PID 1 of a
//!   pid namespace (`unshare --pid --fork --mount-proc`);
//! - docker: 1,000 containers with `auto_remove` — containers left;
//! - incus: 1,000 commands in an instance — commands left there, and the
//!   daemon's running operations.
//!
//! The daemons are provisioned as for `test-all` (and stopped after).

use std::path::PathBuf;
use std::process::Command;

use crate::{cargo, docker, incus, run, workspace_root};

pub(crate) fn soak(args: &[String]) -> Result<(), String> {
    let mut only = None;
    let mut runs = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => {
                runs = Some(
                    args.next()
                        .and_then(|n| n.parse::<usize>().ok())
                        .filter(|n| *n > 0)
                        .ok_or("soak: --runs takes a number above 0")?,
                );
            }
            kind @ ("native" | "docker" | "incus") if only.is_none() => only = Some(kind),
            other => return Err(format!("soak: unexpected argument {other:?}")),
        }
    }
    run(
        "build the soak (cargo build --release -p exec-soak)",
        cargo(&["build", "--release", "--quiet", "-p", "exec-soak"]),
    )?;
    let wanted = |kind: &str| only.is_none_or(|k| k == kind);
    if wanted("native") {
        let runs = runs.unwrap_or(10_000).to_string();
        run(
            &format!("native soak, {runs} runs"),
            soak_command(&["native", &runs]),
        )?;
        let mut pid1 = Command::new("unshare");
        pid1.args(["--pid", "--fork", "--mount-proc"])
            .arg(binary())
            .args(["native", &runs]);
        run(
            &format!("native soak as PID 1 of a pid namespace, {runs} runs"),
            pid1,
        )?;
    }
    if wanted("docker") {
        let runs = runs.unwrap_or(1_000).to_string();
        let daemon = docker::provision()?;
        let mut command = soak_command(&["docker", &runs]);
        command.envs(daemon.env.iter().map(|(k, v)| (k, v)));
        run(&format!("docker soak, {runs} runs"), command)?;
    }
    if wanted("incus") {
        let runs = runs.unwrap_or(1_000).to_string();
        let daemon = incus::provision()?;
        let mut command = soak_command(&["incus", &runs]);
        command.envs(daemon.env.iter().map(|(k, v)| (k, v)));
        run(&format!("incus soak, {runs} runs"), command)?;
    }
    Ok(())
}

fn binary() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from);
    target.join("release/exec-soak")
}

fn soak_command(args: &[&str]) -> Command {
    let mut command = Command::new(binary());
    command.args(args);
    command
}
