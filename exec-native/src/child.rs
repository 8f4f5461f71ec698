//! What a child does for itself between `fork` and `exec` — on the fork path
//! only, which a command takes when it must be killed with this process and
//! the guardian (`guardian.rs`) could not start: every other command starts
//! with `posix_spawn` (`spawn.rs`), which does the same from its attributes
//! and file actions.
//!
//! Two things the parent cannot do for it:
//!
//! - **Only stdin, stdout and stderr go through `exec`.** Every descriptor
//!   from 3 up is marked close-on-exec, whatever the embedding process holds
//!   without `O_CLOEXEC` (a raw `open`, a `dup`, a descriptor it inherited from
//!   its own parent). They are marked rather than closed because the standard
//!   library reports a failed `exec` to the parent through a close-on-exec
//!   pipe of its own: closing it would turn "not found" into a silent exit.
//!   One `close_range(3, ~0, CLOSE_RANGE_CLOEXEC)` (Linux 5.11) does it; on an
//!   older kernel each descriptor below the open-files limit is marked with
//!   `fcntl` (slower the higher the limit).
//! - **A terminal of its own** (a call that asked for a `pty`): `setsid`
//!   makes the child the leader of a new session and of a new process group
//!   (so close and kill still reach the whole group), and `TIOCSCTTY` makes
//!   its stdin — the terminal — its controlling terminal, so `^C` is SIGINT
//!   and `tty` names it.
//! - **Kill with the parent** (opt-in, `NativeExecutor::with_kill_with_parent`):
//!   `PR_SET_PDEATHSIG(SIGKILL)`, then the child checks that its parent is
//!   still the process that forked it (it may have died before the `prctl`),
//!   and gives up otherwise.
//!
//! With either, the standard library can no longer use `posix_spawn` and forks
//! instead, which costs a fork of the whole parent (measured: spawn + wait of
//! `true` 1.5x the time of a plain `std::process::Command`, growing with the
//! parent's memory). So the hook is installed only when it has work to do:
//! kill-with-parent is on, or a descriptor from 3 up is open without
//! close-on-exec at the time of the spawn ([`ChildSetup::needed`], one look at
//! `/proc/self/fd`). Rust's standard library, tokio and this crate open every
//! descriptor close-on-exec, so in the usual process there is none and the
//! child comes from `posix_spawn`. What is not covered: a descriptor another
//! thread opens without close-on-exec during the spawn itself.

use nix::libc;
use std::io;

/// The highest descriptor count the fallback loop goes to, whatever the
/// limit says: Linux's default `fs.nr_open`, the most descriptors a process
/// can have unless the administrator raised it.
const FALLBACK_FD_CEILING: libc::c_int = 1 << 20;

/// Whether this process has a descriptor from 3 up that an `exec` would pass
/// on (no close-on-exec flag). `true` when `/proc/self/fd` cannot be read.
fn inheritable_descriptor_open() -> bool {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return true;
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<libc::c_int>().ok())
        .filter(|fd| *fd >= 3)
        .any(|fd| {
            // SAFETY: F_GETFD reads the flags of a descriptor number and
            // touches no memory; a number closed meanwhile is EBADF (-1),
            // which reads as "nothing to pass on".
            #[allow(unsafe_code)]
            let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
            flags >= 0 && flags & libc::FD_CLOEXEC == 0
        })
}

/// What the child does before `exec`, decided in the parent before the fork
/// (so the child computes and allocates nothing).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChildSetup {
    /// Descriptors `3..fallback_limit` are marked one by one when the kernel
    /// lacks `close_range` with `CLOSE_RANGE_CLOEXEC`.
    fallback_limit: libc::c_int,
    /// The pid of the parent the child dies with, if it should.
    kill_with_parent: Option<libc::pid_t>,
    /// The child leads a new session whose controlling terminal is its stdin.
    terminal: bool,
}

impl ChildSetup {
    /// The setup for a child of this process. What the child needs is worked
    /// out only when [`needed`](Self::needed) says it will run.
    pub(crate) fn new(kill_with_parent: bool) -> Self {
        Self {
            fallback_limit: 0,
            kill_with_parent: kill_with_parent.then(|| nix::unistd::getpid().as_raw()),
            terminal: false,
        }
    }

    /// The child starts a session of its own whose controlling terminal is
    /// its stdin (which must be a terminal).
    pub(crate) fn with_terminal(mut self) -> Self {
        self.terminal = true;
        self
    }

    /// Whether the child needs this setup at all: kill-with-parent is on, or
    /// a descriptor from 3 up is open without close-on-exec (or `/proc` cannot
    /// tell: then it is assumed).
    pub(crate) fn needed(&self) -> bool {
        self.terminal || self.kill_with_parent.is_some() || inheritable_descriptor_open()
    }

    /// Has `command` run this setup in its child before `exec`.
    #[allow(unsafe_code)]
    pub(crate) fn install(mut self, command: &mut tokio::process::Command) {
        self.fallback_limit = nix::unistd::sysconf(nix::unistd::SysconfVar::OPEN_MAX)
            .ok()
            .flatten()
            .and_then(|n| libc::c_int::try_from(n).ok())
            .map_or(FALLBACK_FD_CEILING, |n| n.clamp(3, FALLBACK_FD_CEILING));
        // SAFETY: the closure runs in the child between fork and exec, where
        // only async-signal-safe functions may be called (another thread of
        // the parent may have held the allocator's or any other lock at the
        // fork). `in_child` makes raw system calls only (setsid, ioctl, prctl,
        // getppid, close_range, fcntl), allocates nothing (the error it may return is
        // an OS error code, stored inline), takes no lock, and touches no
        // memory but the copied `self`.
        unsafe {
            command.pre_exec(move || self.in_child());
        }
    }

    /// Runs in the child: async-signal-safe calls only (see `install`).
    #[allow(unsafe_code)]
    fn in_child(&self) -> io::Result<()> {
        if self.terminal {
            // SAFETY: setsid and ioctl are system calls, async-signal-safe;
            // TIOCSCTTY takes an integer argument and reads no memory.
            unsafe {
                if libc::setsid() == -1 {
                    return Err(io::Error::last_os_error());
                }
                if libc::ioctl(0, libc::TIOCSCTTY, 0) == -1 {
                    return Err(io::Error::last_os_error());
                }
            }
        }
        if let Some(parent) = self.kill_with_parent {
            // SAFETY: prctl and getppid are system calls, async-signal-safe;
            // PR_SET_PDEATHSIG takes a signal number and reads no memory.
            unsafe {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == -1 {
                    return Err(io::Error::last_os_error());
                }
                // The parent died before the prctl: no signal will come.
                if libc::getppid() != parent {
                    return Err(io::Error::from_raw_os_error(libc::ESRCH));
                }
            }
        }
        // SAFETY: close_range and fcntl are system calls, async-signal-safe;
        // they take descriptor numbers and flags, no memory. Marking a
        // descriptor close-on-exec changes only the child's own table (fork
        // copied it), and a number that is not open is EBADF, ignored.
        unsafe {
            let marked = libc::syscall(
                libc::SYS_close_range,
                3 as libc::c_uint,
                libc::c_uint::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            );
            if marked != 0 {
                for fd in 3..self.fallback_limit {
                    libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
                }
            }
        }
        Ok(())
    }
}
