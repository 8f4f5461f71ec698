//! What the daemons' provisioning (`docker.rs`, `incus.rs`) shares: finding
//! programs and installing Debian packages.

use std::process::{Command, Stdio};

/// Whether `name` is an executable file in a directory of `PATH`.
pub(crate) fn have_program(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
}

/// `apt-get ARGS` without questions (it waits up to 10 minutes for another
/// apt's lock); an error prefixed with `who` unless it exits with 0.
pub(crate) fn apt_get(who: &str, args: &[&str]) -> Result<(), String> {
    let status = Command::new("apt-get")
        .args(["-o", "DPkg::Lock::Timeout=600", "-q", "-y"])
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("{who}: cannot run apt-get: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "{who}: apt-get {} failed ({status})",
            args.join(" ")
        ))
    }
}

/// The tools the tests drive besides the daemons: `tmux` (the runner's
/// terminal, driven as a person would) — installed when missing.
pub(crate) fn test_tools() -> Result<(), String> {
    if have_program("tmux") {
        return Ok(());
    }
    eprintln!("xtask: installing tmux (apt-get) for the terminal tests");
    apt_get("tools", &["update"])?;
    apt_get("tools", &["install", "--no-install-recommends", "tmux"])
}
