//! The native transport: spawn the child in its own process group, signal
//! the group, reap the child. The life cycle around it (state, wait, timeout,
//! close, kill on drop) is exec-core's [`ManagedProcess`].

use crate::child::ChildSetup;
use crate::guardian;
use crate::lookup::resolve_program;
use crate::reaper::{self, Owned};
use crate::spawn;
use crate::terminal::{Controller, Terminal};
use exec_core::backend::{
    BackendPipes, Control, Exit, Exited, Launch, Launched, ManagedProcess, OutputSink,
    PreparedCommand, Transport,
};
use exec_core::{BoxFuture, Error, PtySize, Result};
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
        let terminal = command
            .pty()
            .map(|pty| Terminal::open(pty.size()))
            .transpose()
            .map_err(|e| terminal_error(&command, e))?;
        // No sweep may see the child before it is registered as ours.
        let gate = reaper::spawn_gate();
        // Killed with this process by the guardian when it runs; by
        // PR_SET_PDEATHSIG (a fork, code in the child) when it could not start.
        let guarded = self.kill_with_parent && guardian::ensure();
        let terminal_ref = terminal.as_ref();
        let work_dir_ref = work_dir.as_deref();
        let started = if self.kill_with_parent && !guarded {
            fork(
                &command,
                &program,
                work_dir_ref,
                terminal_ref,
                true,
                self.pipe_size,
            )
        } else {
            posix_spawn(
                &command,
                &program,
                work_dir_ref,
                terminal_ref,
                self.pipe_size,
            )
        }
        .map_err(|e| spawn_error(&command, &program, e))?;
        let pid = started.pid;
        if guarded {
            guardian::tell(pid, true);
        }
        let owned = Owned::register(pid);
        drop(gate);
        let group = Arc::new(Group {
            pgid: Pid::from_raw(pid),
            reaped: Mutex::new(false),
        });
        // Our copy of the terminal side goes, so that its end (EIO) comes
        // when the command and what it started have closed theirs.
        let controller = terminal.map(|terminal| terminal.controller);
        match (&controller, started.streams) {
            (Some(controller), _) => connect_terminal(controller, pipes, exited),
            (None, Some(streams)) => connect(streams, pipes, exited),
            (None, None) => {}
        }
        let exit = reap(started.waiter, owned, group.clone(), guarded);
        let control = GroupControl {
            group,
            terminal: controller,
        };
        Ok(Launched::new(control, exit).with_pid(pid.unsigned_abs()))
    }
}

/// A child just started: its pid, how its exit is learnt, and our ends of
/// its pipes (none in a terminal).
struct Started {
    pid: i32,
    waiter: Waiter,
    streams: Option<ChildStreams>,
}

/// How a child's exit is learnt.
enum Waiter {
    /// A child of tokio's `Command` (the fork path).
    Tokio(Child),
    /// A child of `posix_spawn`, by its pidfd.
    Pidfd(std::os::fd::OwnedFd),
}

impl Waiter {
    async fn wait(self) -> std::io::Result<std::process::ExitStatus> {
        match self {
            Waiter::Tokio(mut child) => child.wait().await,
            Waiter::Pidfd(pidfd) => spawn::wait(pidfd).await,
        }
    }
}

/// Our ends of a child's pipes.
struct ChildStreams {
    stdin: Box<dyn tokio::io::AsyncWrite + Send + Unpin>,
    stdout: Box<dyn tokio::io::AsyncRead + Send + Unpin>,
    stderr: Box<dyn tokio::io::AsyncRead + Send + Unpin>,
}

/// Starts the child with `posix_spawn` (see `spawn.rs`): no fork, and no
/// descriptor from 3 up reaches it.
fn posix_spawn(
    command: &PreparedCommand,
    program: &std::path::Path,
    work_dir: Option<&std::path::Path>,
    terminal: Option<&Terminal>,
    pipe_size: usize,
) -> std::io::Result<Started> {
    let streams = match terminal {
        Some(terminal) => spawn::Streams::Terminal(&terminal.path),
        None => spawn::Streams::Pipes,
    };
    let spawned = spawn::spawn(&spawn::Spawn {
        program,
        arg0: command.program(),
        args: &command.argv()[1..],
        env: command.env(),
        work_dir,
        streams,
    })?;
    let streams = match (spawned.stdin, spawned.stdout, spawned.stderr) {
        (Some(stdin), Some(stdout), Some(stderr)) => {
            let stdout = tokio::net::unix::pipe::Receiver::from_owned_fd(stdout)?;
            let stderr = tokio::net::unix::pipe::Receiver::from_owned_fd(stderr)?;
            let stdin = tokio::net::unix::pipe::Sender::from_owned_fd(stdin)?;
            Some(ChildStreams::new(stdin, stdout, stderr, pipe_size))
        }
        _ => None,
    };
    Ok(Started {
        pid: spawned.pid,
        waiter: Waiter::Pidfd(spawned.pidfd),
        streams,
    })
}

/// Starts the child with tokio's `Command`: a fork, for what only code in the
/// child can do (`PR_SET_PDEATHSIG`, see `child.rs`).
fn fork(
    command: &PreparedCommand,
    program: &std::path::Path,
    work_dir: Option<&std::path::Path>,
    terminal: Option<&Terminal>,
    kill_with_parent: bool,
    pipe_size: usize,
) -> std::io::Result<Started> {
    let mut cmd = Command::new(program);
    cmd.arg0(command.program())
        .args(&command.argv()[1..])
        .env_clear()
        .envs(command.env())
        .kill_on_drop(true);
    let mut setup = ChildSetup::new(kill_with_parent);
    match terminal {
        // The child leads a session of its own (and so a process group) on
        // the terminal: set up in the child, not with process_group.
        Some(terminal) => {
            let dup = || terminal.terminal.try_clone().map(std::process::Stdio::from);
            cmd.stdin(dup()?).stdout(dup()?).stderr(dup()?);
            setup = setup.with_terminal();
        }
        None => {
            cmd.stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .process_group(0);
        }
    }
    if let Some(dir) = work_dir {
        cmd.current_dir(dir);
    }
    if setup.needed() {
        setup.install(&mut cmd);
    }
    let mut child = cmd.spawn()?;
    // Never pid 0: killpg(0) would signal our own process group.
    let pid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .filter(|id| *id > 0)
        .ok_or_else(|| std::io::Error::other("the child exited before its pid was known"))?;
    let streams = match (child.stdin.take(), child.stdout.take(), child.stderr.take()) {
        (Some(stdin), Some(stdout), Some(stderr)) => {
            Some(ChildStreams::new(stdin, stdout, stderr, pipe_size))
        }
        _ => None,
    };
    Ok(Started {
        pid,
        waiter: Waiter::Tokio(child),
        streams,
    })
}

impl ChildStreams {
    /// The streams, stdout's and stderr's pipes enlarged to `pipe_size`.
    fn new<I, O, E>(stdin: I, stdout: O, stderr: E, pipe_size: usize) -> Self
    where
        I: tokio::io::AsyncWrite + Send + Unpin + 'static,
        O: tokio::io::AsyncRead + std::os::fd::AsFd + Send + Unpin + 'static,
        E: tokio::io::AsyncRead + std::os::fd::AsFd + Send + Unpin + 'static,
    {
        enlarge_pipe(&stdout, pipe_size);
        enlarge_pipe(&stderr, pipe_size);
        Self {
            stdin: Box::new(stdin),
            stdout: Box::new(stdout),
            stderr: Box::new(stderr),
        }
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
async fn reap(waiter: Waiter, mut owned: Owned, group: Arc<Group>, guarded: bool) -> Result<Exit> {
    let waited = waiter.wait().await;
    owned.reaped();
    {
        let mut reaped = lock(&group.reaped);
        *reaped = true;
        let _ = killpg(group.pgid, Signal::SIGKILL);
    }
    reaper::group_killed(group.pgid.as_raw());
    if guarded {
        guardian::tell(group.pgid.as_raw(), false);
    }
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
fn connect(streams: ChildStreams, pipes: BackendPipes, exited: Exited) {
    let BackendPipes {
        stdin,
        stdout,
        stderr,
        ..
    } = pipes;
    tokio::spawn(pump(stdout, streams.stdout));
    tokio::spawn(pump(stderr, streams.stderr));
    tokio::spawn(forward_stdin(stdin, streams.stdin, exited));
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
