//! The guardian: a small process that kills this process's commands when
//! this process dies, however it dies (SIGKILL included).
//!
//! It is forked once, the first time an executor asks for it
//! ([`NativeExecutor::with_kill_with_parent`](crate::NativeExecutor::with_kill_with_parent)),
//! and does nothing but read a pipe: each command's process group is written
//! to it when the command starts and again when it has been reaped. When
//! the pipe ends — every writer gone, which is this process's end — it kills
//! the groups still registered and exits. So commands can be started with
//! `posix_spawn` (no code of ours runs in them, unlike `PR_SET_PDEATHSIG`),
//! and what a command started in its group dies with it too.
//!
//! The guardian leaves the process group it was forked in (a `^C` at the
//! terminal does not reach it), ignores the termination signals, holds no
//! descriptor of this process but its pipe end and `/dev/null`, and between
//! `fork` and its exit makes only async-signal-safe system calls on memory
//! prepared before the fork. It keeps (copy-on-write) the memory this
//! process had at the fork, which is why it is started early.

use nix::libc;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// The most process groups the guardian holds at once; more are not
/// guarded (their commands still end by every other means).
const CAPACITY: usize = 1 << 16;

/// The guardian, once asked for: running, stopped, or not startable.
static GUARDIAN: Mutex<Option<State>> = Mutex::new(None);

enum State {
    Running {
        /// Our end of its pipe.
        pipe: OwnedFd,
        pid: i32,
        owned: crate::reaper::Owned,
    },
    /// [`stop`] ended it: this process is exiting.
    Stopped,
    /// It could not be started (`errno`).
    Failed,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Starts the guardian unless it runs; whether it does.
pub(crate) fn ensure() -> bool {
    let mut guardian = lock(&GUARDIAN);
    if guardian.is_none() {
        *guardian = Some(start().unwrap_or(State::Failed));
    }
    matches!(&*guardian, Some(State::Running { .. }))
}

/// Ends the guardian (this process is exiting and has killed its commands
/// itself) and reaps it, so it is not left to this process's parent.
pub(crate) async fn stop() {
    let state = lock(&GUARDIAN).replace(State::Stopped);
    let Some(State::Running {
        pipe,
        pid,
        mut owned,
    }) = state
    else {
        return;
    };
    drop(pipe);
    let pid = nix::unistd::Pid::from_raw(pid);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        match nix::sys::wait::waitpid(pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
            Ok(nix::sys::wait::WaitStatus::StillAlive) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            Ok(nix::sys::wait::WaitStatus::StillAlive) => {
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
                let _ = nix::sys::wait::waitpid(pid, None);
                break;
            }
            _ => break,
        }
    }
    owned.reaped();
}

/// Tells the guardian that process group `pgid` is this process's command
/// (`true`) or is gone (`false`). Best effort.
pub(crate) fn tell(pgid: i32, alive: bool) {
    if let Some(State::Running { pipe, .. }) = &*lock(&GUARDIAN) {
        let message = if alive { pgid } else { -pgid };
        // Four bytes: one atomic write to a pipe.
        let _ = nix::unistd::write(pipe, &message.to_ne_bytes());
    }
}

#[allow(unsafe_code)]
fn start() -> io::Result<State> {
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let null = nix::fcntl::open(
        "/dev/null",
        nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    let mut table: Vec<i32> = Vec::with_capacity(CAPACITY);
    // The guardian is our child: no sweep may take it for an orphan.
    let gate = crate::reaper::spawn_gate();
    // SAFETY: in the child only `watch` runs, which makes raw system calls
    // (setpgid, sigaction, dup2, close_range, read, kill, _exit) and touches
    // only `table`'s preallocated memory and its own stack: async-signal-safe,
    // as a child of a multi-threaded process must be until it exits.
    match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Child => unsafe {
            watch(read.as_raw_fd(), null.as_raw_fd(), &mut table)
        },
        nix::unistd::ForkResult::Parent { child } => {
            // Owned until `stop`: no sweep may take it.
            let owned = crate::reaper::Owned::register(child.as_raw());
            drop(gate);
            drop((read, null));
            Ok(State::Running {
                pipe: write,
                pid: child.as_raw(),
                owned,
            })
        }
    }
}

/// The guardian's whole life; see the module docs. Never returns.
#[allow(unsafe_code)]
unsafe fn watch(pipe: i32, null: i32, table: &mut Vec<i32>) -> ! {
    // SAFETY: raw system calls on descriptor numbers and stack memory; the
    // table never grows past the capacity reserved before the fork.
    unsafe {
        libc::setpgid(0, 0);
        let mut ignore: libc::sigaction = std::mem::zeroed();
        ignore.sa_sigaction = libc::SIG_IGN;
        for signal in [
            libc::SIGINT,
            libc::SIGTERM,
            libc::SIGHUP,
            libc::SIGQUIT,
            libc::SIGPIPE,
            libc::SIGTSTP,
            libc::SIGTTIN,
            libc::SIGTTOU,
        ] {
            libc::sigaction(signal, &ignore, std::ptr::null_mut());
        }
        // Out of the way first: either may be 0, 1, 2 or 3.
        let pipe = libc::fcntl(pipe, libc::F_DUPFD, 10);
        let null = libc::fcntl(null, libc::F_DUPFD, 10);
        for fd in 0..3 {
            libc::dup2(null, fd);
        }
        libc::dup2(pipe, 3);
        libc::syscall(
            libc::SYS_close_range,
            4 as libc::c_uint,
            libc::c_uint::MAX,
            0,
        );
        let mut buffer = [0u8; 4096];
        let mut pending = 0usize;
        loop {
            let n = libc::read(
                3,
                buffer[pending..].as_mut_ptr().cast(),
                buffer.len() - pending,
            );
            if n < 0 && *libc::__errno_location() == libc::EINTR {
                continue;
            }
            if n <= 0 {
                break;
            }
            let end = pending + n as usize;
            let whole = end - end % 4;
            for chunk in buffer[..whole].chunks_exact(4) {
                let pgid = i32::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
                if pgid > 0 {
                    if table.len() < table.capacity() {
                        table.push(pgid);
                    }
                } else if let Some(at) = table.iter().position(|p| *p == -pgid) {
                    table.swap_remove(at);
                }
            }
            buffer.copy_within(whole..end, 0);
            pending = end - whole;
        }
        for pgid in table.iter() {
            libc::kill(-*pgid, libc::SIGKILL);
        }
        libc::_exit(0)
    }
}
