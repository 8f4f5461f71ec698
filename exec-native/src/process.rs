//! The native transport: spawn the child in its own process group, signal
//! the group, reap the child. The life cycle around it (state, wait, timeout,
//! close, kill on drop) is exec-core's [`ManagedProcess`].

use crate::child::ChildSetup;
use crate::lookup::resolve_program;
use crate::reaper::{self, Owned};
use crate::terminal::{Controller, Terminal};
use exec_core::backend::{
    BackendPipes, Control, Exit, Exited, Launch, Launched, ManagedProcess, OutputSink,
    PreparedCommand, Transport,
};
use exec_core::{BoxFuture, Error, ErrorKind, PtySize, Result};
use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use tokio::io::DuplexStream;
use tokio::process::{Child, Command};

/// A host process created by [`NativeExecutor`](crate::NativeExecutor).
pub type NativeProcess = ManagedProcess<NativeTransport>;

/// How a host process is launched: what [`NativeExecutor`](crate::NativeExecutor)
/// hands exec-core's life cycle for each command.
#[derive(Debug)]
pub struct NativeTransport {
    pub(crate) pipe_size: usize,
    pub(crate) kill_with_parent: bool,
}

impl Transport for NativeTransport {
    const BACKEND: &'static str = "native";

    async fn launch(self, launch: Launch) -> Result<Launched> {
        let Launch {
            command,
            pipes,
            exited,
            ..
        } = launch;
        let program = resolve_program(&command)?;
        let work_dir = work_dir(&command)?;
        let mut cmd = Command::new(&program);
        cmd.arg0(command.program())
            .args(&command.argv()[1..])
            .env_clear()
            .envs(command.env())
            .kill_on_drop(true);
        let mut setup = ChildSetup::new(self.kill_with_parent);
        let controller = match command.pty() {
            // The child leads a session of its own (and so a process group)
            // on the terminal: set up in the child, not with process_group.
            Some(pty) => {
                let Terminal {
                    controller,
                    terminal,
                } = Terminal::open(pty.size()).map_err(|e| terminal_error(&command, e))?;
                let dup = |fd: &std::os::fd::OwnedFd| {
                    fd.try_clone()
                        .map(std::process::Stdio::from)
                        .map_err(|e| terminal_error(&command, e))
                };
                cmd.stdin(dup(&terminal)?)
                    .stdout(dup(&terminal)?)
                    .stderr(std::process::Stdio::from(terminal));
                setup = setup.with_terminal();
                Some(controller)
            }
            None => {
                cmd.stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .process_group(0);
                None
            }
        };
        if let Some(dir) = &work_dir {
            cmd.current_dir(dir);
        }
        if setup.needed() {
            setup.install(&mut cmd);
        }
        // No sweep may see the child before it is registered as ours.
        let gate = reaper::spawn_gate();
        let mut child = cmd
            .spawn()
            .map_err(|e| spawn_error(&command, &program, e))?;
        // Never pid 0: killpg(0) would signal our own process group.
        let pid = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .filter(|id| *id > 0)
            .ok_or_else(|| {
                Error::backend(
                    NativeTransport::BACKEND,
                    ErrorKind::Other,
                    format!("{:?} exited before its pid was known", command.display()),
                )
            })?;
        let owned = Owned::register(pid);
        drop(gate);
        // Our copies of the terminal side go, so that its end (EIO) comes
        // when the command and what it started have closed theirs.
        drop(cmd);
        let group = Arc::new(Group {
            pgid: Pid::from_raw(pid),
            reaped: Mutex::new(false),
        });
        match &controller {
            Some(controller) => connect_terminal(controller, pipes, exited),
            None => connect(&mut child, pipes, exited, self.pipe_size),
        }
        let exit = reap(child, owned, group.clone());
        let control = GroupControl {
            group,
            terminal: controller,
        };
        Ok(Launched::new(control, exit).with_pid(pid.unsigned_abs()))
    }
}

/// The child's process group; `reaped` turns true once the child has been
/// waited for, after which its pid may be reused and must not be signalled.
#[derive(Debug)]
struct Group {
    pgid: Pid,
    reaped: Mutex<bool>,
}

impl Group {
    /// Sends `signal` to the group unless the child was reaped.
    fn kill(&self, signal: Signal) -> nix::Result<()> {
        let reaped = lock(&self.reaped);
        if *reaped {
            return Ok(());
        }
        match killpg(self.pgid, signal) {
            Ok(()) | Err(Errno::ESRCH) => Ok(()),
            Err(errno) => Err(errno),
        }
    }
}

/// Signals reach the child's whole process group; a resize, its terminal.
struct GroupControl {
    group: Arc<Group>,
    terminal: Option<Controller>,
}

impl Control for GroupControl {
    fn signal(&self, signal: i32) -> BoxFuture<'_, Result<()>> {
        let sent = Signal::try_from(signal)
            .map_err(|_| Error::InvalidArgument {
                field: "signal".to_owned(),
                reason: format!("{signal} is not a signal number this system knows"),
            })
            .and_then(|signal| {
                self.group.kill(signal).map_err(|errno| {
                    Error::backend_io(
                        NativeTransport::BACKEND,
                        format!("send {signal} to process group {}", self.group.pgid),
                        errno.into(),
                    )
                })
            });
        Box::pin(std::future::ready(sent))
    }

    fn kill_now(&self) {
        let _ = self.group.kill(Signal::SIGKILL);
    }

    fn resize(&self, size: PtySize) -> BoxFuture<'_, Result<()>> {
        let resized = match &self.terminal {
            Some(terminal) => terminal
                .resize(size)
                .map_err(|e| Error::backend_io(NativeTransport::BACKEND, "resize the terminal", e)),
            None => Err(Error::invalid_state(
                "resize the terminal",
                "the process has no terminal",
            )),
        };
        Box::pin(std::future::ready(resized))
    }
}

/// Waits for the child and reaps it, then kills what is left of its group
/// (the leader is gone; any member keeps the group alive).
async fn reap(mut child: Child, mut owned: Owned, group: Arc<Group>) -> Result<Exit> {
    let waited = child.wait().await;
    owned.reaped();
    {
        let mut reaped = lock(&group.reaped);
        *reaped = true;
        let _ = killpg(group.pgid, Signal::SIGKILL);
    }
    reaper::group_killed(group.pgid.as_raw());
    Ok(match waited {
        Ok(status) => match (status.code(), status.signal()) {
            (Some(code), _) => Exit::from_code(code),
            (None, Some(signal)) => Exit::from_signal(signal),
            (None, None) => Exit::from_code(-1),
        },
        // waitpid failing here means the child is already gone; say how little we know.
        Err(_) => Exit::from_code(-1),
    })
}

/// Joins the child's pipes to the user's.
fn connect(child: &mut Child, pipes: BackendPipes, exited: Exited, pipe_size: usize) {
    let BackendPipes {
        stdin,
        stdout,
        stderr,
        ..
    } = pipes;
    if let Some(out) = child.stdout.take() {
        enlarge_pipe(&out, pipe_size);
        tokio::spawn(pump(stdout, out));
    }
    if let Some(err) = child.stderr.take() {
        enlarge_pipe(&err, pipe_size);
        tokio::spawn(pump(stderr, err));
    }
    if let Some(child_stdin) = child.stdin.take() {
        tokio::spawn(forward_stdin(stdin, child_stdin, exited));
    }
}

/// Joins the terminal to the user's pipes: all the command writes comes on
/// stdout (a terminal does not keep stderr apart), so stderr ends at once;
/// what the user writes is typed into the terminal.
fn connect_terminal(controller: &Controller, pipes: BackendPipes, exited: Exited) {
    let BackendPipes {
        stdin,
        stdout,
        stderr,
        ..
    } = pipes;
    drop(stderr);
    tokio::spawn(pump(stdout, controller.clone()));
    tokio::spawn(forward_stdin(stdin, controller.clone(), exited));
}

fn terminal_error(command: &PreparedCommand, error: std::io::Error) -> Error {
    Error::backend_io(
        NativeTransport::BACKEND,
        format!("open a terminal for {:?}", command.display()),
        error,
    )
}

/// The work dir to run in: it must exist, and a confined one must still
/// lie in its roots once symlinks are followed (it is then used in its
/// resolved form, so a link changed later does not move the command).
fn work_dir(command: &PreparedCommand) -> Result<Option<PathBuf>> {
    let Some(dir) = command.work_dir() else {
        return Ok(None);
    };
    let not_found = || Error::NotFound {
        what: format!("work dir {:?} for command {:?}", dir, command.display()),
    };
    if !dir.is_dir() {
        return Err(not_found());
    }
    let Some(confinement) = command.work_dir_confinement() else {
        return Ok(Some(dir.to_owned()));
    };
    let resolved = std::fs::canonicalize(dir).map_err(|_| not_found())?;
    confinement.check_resolved(&resolved, |root| std::fs::canonicalize(root).ok())?;
    Ok(Some(resolved))
}

/// The error for a failed spawn: an argument list the kernel refuses as
/// too long is `Invalid` with its size; the rest keep their I/O kind.
fn spawn_error(
    command: &PreparedCommand,
    program: &std::path::Path,
    error: std::io::Error,
) -> Error {
    if error.raw_os_error() == Some(nix::libc::E2BIG) {
        let words: usize = command.argv().iter().map(|w| w.len() + 1).sum();
        let env: usize = command
            .env()
            .iter()
            .map(|(k, v)| k.len() + v.len() + 2)
            .sum();
        let pointers =
            (command.argv().len() + command.env().len() + 2) * std::mem::size_of::<usize>();
        let limit = nix::unistd::sysconf(nix::unistd::SysconfVar::ARG_MAX)
            .ok()
            .flatten()
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(0);
        return Error::ArgumentListTooLong {
            command: command.display().to_owned(),
            size: words + env + pointers,
            limit,
        };
    }
    Error::backend_io(
        NativeTransport::BACKEND,
        format!("start {:?} ({})", command.display(), program.display()),
        error,
    )
}

/// Asks the kernel for a larger pipe: the child then writes longer before it
/// waits for us, and both sides switch less (see `NativeExecutor::pipe_size`).
/// Best effort: a refusal (a per-user pipe quota) keeps the default size.
fn enlarge_pipe(pipe: &impl std::os::fd::AsFd, size: usize) {
    if let Ok(size) = i32::try_from(size) {
        if size > 0 {
            let _ = nix::fcntl::fcntl(pipe, nix::fcntl::FcntlArg::F_SETPIPE_SZ(size));
        }
    }
}

async fn pump(sink: OutputSink, source: impl tokio::io::AsyncRead + Unpin) {
    // A read error on a pipe ends the stream; the user sees EOF.
    let _ = sink.pump(source).await;
}

/// Copies what the user writes to the child's stdin until the user closes it
/// (EOF for the child) or the child exits.
async fn forward_stdin(
    mut from_user: DuplexStream,
    mut to_child: impl tokio::io::AsyncWrite + Unpin,
    mut exited: Exited,
) {
    tokio::select! {
        _ = tokio::io::copy(&mut from_user, &mut to_child) => {}
        () = exited.wait() => {}
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
