//! Starting a host command with `posix_spawn`, and learning its exit from a
//! pidfd.
//!
//! glibc's `posix_spawn` starts the child with `clone(CLONE_VM|CLONE_VFORK)`:
//! no copy of this process's memory, however large it is, and the child does
//! in the kernel's order what a command needs before `exec` — a process group
//! (or a session) of its own, default signal dispositions and an empty
//! signal mask, its standard streams, its work dir — and, with
//! `posix_spawn_file_actions_addclosefrom_np`, closes every descriptor from 3
//! up, so nothing the embedding process holds without close-on-exec reaches
//! it (no look at `/proc/self/fd`, no fork). A terminal becomes the child's
//! controlling terminal by being opened, after `setsid`, as its stdin.
//!
//! What `posix_spawn` cannot do — `PR_SET_PDEATHSIG`
//! ([`NativeExecutor::with_kill_with_parent`](crate::NativeExecutor::with_kill_with_parent))
//! — stays with `std`'s fork (see `child.rs`).

use exec_core::env::Env;
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus};
use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use tokio::io::unix::AsyncFd;

/// What the child's standard streams are.
pub(crate) enum Streams<'a> {
    /// Three new pipes; ours are returned in [`Spawned`].
    Pipes,
    /// The terminal at this path (`/dev/pts/N`): opened as stdin after
    /// `setsid`, so it becomes the controlling terminal, and duplicated onto
    /// stdout and stderr.
    Terminal(&'a Path),
}

/// A command to start.
pub(crate) struct Spawn<'a> {
    pub(crate) program: &'a Path,
    pub(crate) arg0: &'a str,
    pub(crate) args: &'a [String],
    pub(crate) env: &'a Env,
    pub(crate) work_dir: Option<&'a Path>,
    pub(crate) streams: Streams<'a>,
}

/// A started child: its pid, a pidfd to learn its exit by, and our ends of
/// its pipes (none for a terminal).
pub(crate) struct Spawned {
    pub(crate) pid: i32,
    pub(crate) pidfd: OwnedFd,
    pub(crate) stdin: Option<OwnedFd>,
    pub(crate) stdout: Option<OwnedFd>,
    pub(crate) stderr: Option<OwnedFd>,
}

fn c_string(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a NUL byte"))
}

fn check(code: i32) -> io::Result<()> {
    if code == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(code))
    }
}

/// Owns a `posix_spawn_file_actions_t` and a `posix_spawnattr_t`.
struct Setup {
    actions: nix::libc::posix_spawn_file_actions_t,
    attr: nix::libc::posix_spawnattr_t,
}

#[allow(unsafe_code)]
impl Setup {
    fn new() -> io::Result<Box<Self>> {
        // SAFETY: both are plain C structs that `*_init` fill in; zeroed
        // memory is a valid value to hand to them, and they are destroyed
        // (in `Drop`) only after both inits succeeded (a failed one returns
        // before the box exists).
        unsafe {
            let mut setup = Box::new(Self {
                actions: std::mem::zeroed(),
                attr: std::mem::zeroed(),
            });
            check(nix::libc::posix_spawn_file_actions_init(&mut setup.actions))?;
            if let Err(e) = check(nix::libc::posix_spawnattr_init(&mut setup.attr)) {
                nix::libc::posix_spawn_file_actions_destroy(&mut setup.actions);
                std::mem::forget(setup);
                return Err(e);
            }
            Ok(setup)
        }
    }
}

#[allow(unsafe_code)]
impl Drop for Setup {
    fn drop(&mut self) {
        // SAFETY: both were initialised in `new`.
        unsafe {
            nix::libc::posix_spawn_file_actions_destroy(&mut self.actions);
            nix::libc::posix_spawnattr_destroy(&mut self.attr);
        }
    }
}

/// Starts the command; see the module docs.
#[allow(unsafe_code)]
pub(crate) fn spawn(command: &Spawn<'_>) -> io::Result<Spawned> {
    use nix::libc;
    let program = c_string(command.program.as_os_str().as_bytes())?;
    let mut argv = Vec::with_capacity(command.args.len() + 1);
    argv.push(c_string(command.arg0.as_bytes())?);
    for arg in command.args {
        argv.push(c_string(arg.as_bytes())?);
    }
    let mut envp = Vec::with_capacity(command.env.len());
    for (name, value) in command.env {
        let mut pair = Vec::with_capacity(name.len() + value.len() + 1);
        pair.extend_from_slice(name.as_bytes());
        pair.push(b'=');
        pair.extend_from_slice(value.as_bytes());
        envp.push(c_string(&pair)?);
    }
    let pointers = |strings: &[CString]| -> Vec<*mut libc::c_char> {
        strings
            .iter()
            .map(|s| s.as_ptr().cast_mut())
            .chain(std::iter::once(std::ptr::null_mut()))
            .collect()
    };
    let (argv_pointers, envp_pointers) = (pointers(&argv), pointers(&envp));
    let work_dir = command
        .work_dir
        .map(|dir| c_string(dir.as_os_str().as_bytes()))
        .transpose()?;

    let mut setup = Setup::new()?;
    let (mut ours_in, mut ours_out, mut ours_err) = (None, None, None);
    // The child's ends, kept open here until the spawn is done.
    let mut theirs: Vec<OwnedFd> = Vec::new();
    let terminal;
    // SAFETY: every call below gets the initialised `setup` and pointers to
    // NUL-terminated strings that outlive the `posix_spawn` call (argv,
    // envp, the terminal path and the work dir are owned here); the file
    // actions copy what they need. The descriptors handed to `adddup2` are
    // open (owned in `theirs`) until `posix_spawn` has returned.
    unsafe {
        let actions = &mut setup.actions;
        let mut flags =
            (libc::POSIX_SPAWN_SETSIGMASK | libc::POSIX_SPAWN_SETSIGDEF) as libc::c_short;
        match &command.streams {
            Streams::Pipes => {
                let (child_in, our_in) = pipe()?;
                let (our_out, child_out) = pipe()?;
                let (our_err, child_err) = pipe()?;
                for (fd, target) in [(&child_in, 0), (&child_out, 1), (&child_err, 2)] {
                    check(libc::posix_spawn_file_actions_adddup2(
                        actions,
                        fd.as_raw_fd(),
                        target,
                    ))?;
                }
                theirs.extend([child_in, child_out, child_err]);
                (ours_in, ours_out, ours_err) = (Some(our_in), Some(our_out), Some(our_err));
                flags |= libc::POSIX_SPAWN_SETPGROUP as libc::c_short;
                check(libc::posix_spawnattr_setpgroup(&mut setup.attr, 0))?;
            }
            Streams::Terminal(path) => {
                terminal = c_string(path.as_os_str().as_bytes())?;
                // After setsid (glibc makes the session before the file
                // actions), a terminal opened without O_NOCTTY becomes the
                // session's controlling terminal.
                check(libc::posix_spawn_file_actions_addopen(
                    actions,
                    0,
                    terminal.as_ptr(),
                    libc::O_RDWR,
                    0,
                ))?;
                check(libc::posix_spawn_file_actions_adddup2(actions, 0, 1))?;
                check(libc::posix_spawn_file_actions_adddup2(actions, 0, 2))?;
                flags |= libc::POSIX_SPAWN_SETSID as libc::c_short;
            }
        }
        if let Some(dir) = &work_dir {
            check(libc::posix_spawn_file_actions_addchdir_np(
                actions,
                dir.as_ptr(),
            ))?;
        }
        check(libc::posix_spawn_file_actions_addclosefrom_np(actions, 3))?;
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        check(libc::posix_spawnattr_setsigmask(&mut setup.attr, &none))?;
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        check(libc::posix_spawnattr_setsigdefault(&mut setup.attr, &all))?;
        check(libc::posix_spawnattr_setflags(&mut setup.attr, flags))?;
        let mut pid: libc::pid_t = 0;
        check(libc::posix_spawn(
            &mut pid,
            program.as_ptr(),
            &setup.actions,
            &setup.attr,
            argv_pointers.as_ptr(),
            envp_pointers.as_ptr(),
        ))?;
        drop(theirs);
        // The child exists and is ours to reap: from here on a failure must
        // not lose it, so the pidfd is opened before anything else.
        let pidfd = pidfd_open(pid)?;
        Ok(Spawned {
            pid,
            pidfd,
            stdin: ours_in,
            stdout: ours_out,
            stderr: ours_err,
        })
    }
}

/// A pipe, close-on-exec, both ends numbered 3 or more: in a process whose
/// 0, 1 or 2 is closed a new pipe could take those numbers, and the child's
/// `dup2`s onto 0, 1 and 2 would then overwrite one another's sources.
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let above_stdio = |fd: OwnedFd| -> io::Result<OwnedFd> {
        if fd.as_raw_fd() > 2 {
            return Ok(fd);
        }
        Ok(
            nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(3)).map(|raw| {
                // SAFETY: F_DUPFD_CLOEXEC returned a new descriptor we own.
                #[allow(unsafe_code)]
                unsafe {
                    <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw)
                }
            })?,
        )
    };
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    Ok((above_stdio(read)?, above_stdio(write)?))
}

/// A pidfd for `pid` (close-on-exec), Linux 5.3 and later.
fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    let pid = rustix::process::Pid::from_raw(pid)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "pid 0"))?;
    Ok(rustix::process::pidfd_open(
        pid,
        rustix::process::PidfdFlags::empty(),
    )?)
}

/// How the child ended, once it has: waits (without blocking a thread) for
/// its pidfd to say so, then reaps it.
pub(crate) async fn wait(pidfd: OwnedFd) -> io::Result<std::process::ExitStatus> {
    use std::os::unix::process::ExitStatusExt;
    // SAFETY: an `OwnedFd` is a valid open descriptor, owned here, and stays
    // the same descriptor until the `AsyncFd` drops it.
    #[allow(unsafe_code)]
    let pidfd = unsafe { AsyncFd::register_with_interest(pidfd, tokio::io::Interest::READABLE) }
        .map_err(io::Error::from)?;
    loop {
        let mut ready = pidfd.readable().await?;
        match nix::sys::wait::waitid(
            Id::PIDFd(pidfd.get_ref().as_fd()),
            WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG,
        ) {
            Ok(WaitStatus::Exited(_, code)) => {
                return Ok(std::process::ExitStatus::from_raw((code & 0xff) << 8));
            }
            Ok(WaitStatus::Signaled(_, signal, _)) => {
                return Ok(std::process::ExitStatus::from_raw(signal as i32));
            }
            Ok(_) => ready.clear_ready(),
            Err(nix::errno::Errno::EINTR) => {}
            Err(errno) => return Err(errno.into()),
        }
    }
}
