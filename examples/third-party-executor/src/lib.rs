//! An [`Executor`] written the way a third party would write one: in its own
//! crate, with `exec-core` as its only dependency from the exec project. Its
//! test (`tests/conformance.rs`) runs exec-core's whole conformance kit, which
//! is how such a crate proves it keeps the contract.
//!
//! It runs host processes with `tokio::process`, kept deliberately small: the
//! checks come from [`ExecutorSettings::prepare`], the life cycle (state,
//! wait, timeout, close, kill on drop) from exec-core's
//! [`ManagedProcess`]; what is its own is
//! only its transport — how to launch a command with its pipes, how to signal
//! it, how its exit is learnt. It declares [`Capabilities::signals`] but not
//! `host_pid`, so the kit checks the "no pid" side of that promise.
//!
//! ```
//! # fn main() -> exec_core::Result<()> {
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use exec_core::{ExecOptions, Executor, ExecutorSettings};
//! use third_party_executor::ThirdPartyExecutor;
//!
//! let executor = ThirdPartyExecutor::new(
//!     ExecutorSettings::new("demo:host").with_default_env_var("PATH", "/usr/bin:/bin"),
//! );
//! let process = executor.create_process(["echo", "hi"].into(), ExecOptions::new())?;
//! assert_eq!(process.output().await?.stdout, b"hi\n");
//! # Ok(()) })
//! # }
//! ```

#![warn(missing_docs)]
#![forbid(unsafe_code)]

use exec_core::backend::{Control, Exit, Launch, Launched, ManagedProcess, Transport};
use exec_core::{
    BoxFuture, Capabilities, CommandSpec, Error, ErrorKind, ExecOptions, Executor,
    ExecutorSettings, Process, Result,
};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::os::unix::process::ExitStatusExt;
use std::sync::{Arc, Mutex, PoisonError};

/// Runs commands as host processes. See the [crate docs](crate).
#[derive(Debug)]
pub struct ThirdPartyExecutor {
    settings: ExecutorSettings,
}

impl ThirdPartyExecutor {
    /// An executor with these settings.
    pub fn new(settings: ExecutorSettings) -> Self {
        Self { settings }
    }
}

impl Executor for ThirdPartyExecutor {
    fn id(&self) -> &str {
        self.settings.id()
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::new().with_signals(true)
    }

    fn create_process(
        &self,
        command: CommandSpec,
        options: ExecOptions,
    ) -> Result<Box<dyn Process>> {
        let command = self.settings.prepare(command, options)?;
        command.refuse_unsupported(TokioProcess::BACKEND, self.capabilities())?;
        Ok(Box::new(ManagedProcess::new(command, TokioProcess)))
    }
}

/// The transport: a `tokio::process` child leading its own process group.
struct TokioProcess;

impl Transport for TokioProcess {
    const BACKEND: &'static str = "third-party";

    async fn launch(self, launch: Launch) -> Result<Launched> {
        let command = &launch.command;
        let mut child = tokio::process::Command::new(command.program())
            .args(&command.argv()[1..])
            .env_clear()
            .envs(command.env())
            .current_dir(command.work_dir().unwrap_or(std::path::Path::new("/")))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                Error::backend_io(Self::BACKEND, format!("start {:?}", command.display()), e)
            })?;
        // Never pid 0: killpg(0) would signal our own process group.
        let group = child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .filter(|id| *id > 0)
            .map(|id| Arc::new(Group(Mutex::new(Some(Pid::from_raw(id))))))
            .ok_or_else(|| {
                Error::backend(Self::BACKEND, ErrorKind::Other, "the child has no pid")
            })?;
        let mut pipes = launch.pipes;
        if let Some(out) = child.stdout.take() {
            tokio::spawn(pipes.stdout.pump(out));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(pipes.stderr.pump(err));
        }
        if let Some(mut stdin) = child.stdin.take() {
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut pipes.stdin, &mut stdin).await;
            });
        }
        let reaped = group.clone();
        let exit = async move {
            let status = child.wait().await;
            // Reaped: the pid may be reused, so no more signals; the rest of
            // the group goes with its leader.
            if let Some(pgid) = reaped
                .0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
            {
                let _ = killpg(pgid, Signal::SIGKILL);
            }
            let status = status.map_err(|e| Error::backend_io(Self::BACKEND, "wait", e))?;
            Ok(match status.signal() {
                Some(signal) => Exit::from_signal(signal),
                None => Exit::from_code(status.code().unwrap_or(-1)),
            })
        };
        Ok(Launched::new(GroupControl(group), exit))
    }
}

/// The child's process group, until it is reaped.
struct Group(Mutex<Option<Pid>>);

struct GroupControl(Arc<Group>);

impl GroupControl {
    fn send(&self, signal: Signal) -> Result<()> {
        let group = self.0.0.lock().unwrap_or_else(PoisonError::into_inner);
        match *group {
            Some(pgid) => match killpg(pgid, signal) {
                Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
                Err(e) => Err(Error::backend_io(
                    TokioProcess::BACKEND,
                    format!("send {signal}"),
                    e.into(),
                )),
            },
            None => Ok(()),
        }
    }
}

impl Control for GroupControl {
    fn signal(&self, signal: i32) -> BoxFuture<'_, Result<()>> {
        let sent = Signal::try_from(signal)
            .map_err(|_| Error::InvalidArgument {
                field: "signal".into(),
                reason: format!("{signal} is not a signal number"),
            })
            .and_then(|signal| self.send(signal));
        Box::pin(std::future::ready(sent))
    }

    fn kill_now(&self) {
        let _ = self.send(Signal::SIGKILL);
    }
}
