//! An [`Executor`] written the way a third party would write one: in its own
//! crate, with `exec-core` as its only dependency from the exec project. Its
//! test (`tests/conformance.rs`) runs exec-core's whole conformance kit, which
//! is how such a crate proves it keeps the contract.
//!
//! It runs host processes with `tokio::process`, kept deliberately small: the
//! checks come from [`ExecutorSettings::prepare`], the pipes from
//! [`PreparedCommand::pipes`], and only the life cycle is its own. It declares
//! [`Capabilities::signals`] but not `host_pid`, so the kit checks the "no pid"
//! side of that promise.
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

use exec_core::pipes::BackendPipes;
use exec_core::{
    BoxFuture, Capabilities, CommandSpec, Error, ErrorKind, ExecOptions, Executor,
    ExecutorSettings, ExitStatus, Pipes, PreparedCommand, Process, ProcessState, Result,
};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::watch;

const BACKEND: &str = "third-party";

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
        command.refuse_mounts("tokio-process")?;
        let (pipes, backend) = command.pipes();
        Ok(Box::new(HostProcess {
            command,
            pipes,
            backend: Mutex::new(Some(backend)),
            group: Arc::new(Mutex::new(Group::NotStarted)),
            closed: AtomicBool::new(false),
            outcome: watch::Sender::new(None),
        }))
    }
}

/// The process group, once started; `Reaped` once its pid may be reused.
#[derive(Debug, Clone, Copy)]
enum Group {
    NotStarted,
    Running(Pid),
    Reaped,
}

/// How it ended: a status, or `None` for a timeout.
type Outcome = Option<Option<ExitStatus>>;

#[derive(Debug)]
struct HostProcess {
    command: PreparedCommand,
    pipes: Pipes,
    backend: Mutex<Option<BackendPipes>>,
    group: Arc<Mutex<Group>>,
    closed: AtomicBool,
    outcome: watch::Sender<Outcome>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl HostProcess {
    fn send(&self, signal: Signal) -> Result<()> {
        match *lock(&self.group) {
            Group::Running(pgid) => match killpg(pgid, signal) {
                Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
                Err(e) => Err(Error::backend_io(
                    BACKEND,
                    format!("send {signal}"),
                    e.into(),
                )),
            },
            Group::Reaped => Ok(()),
            Group::NotStarted => Err(Error::invalid_state(
                "signal the process",
                "it has not been started",
            )),
        }
    }

    async fn ended_within(&self, limit: Duration) -> bool {
        let mut outcome = self.outcome.subscribe();
        tokio::time::timeout(limit, outcome.wait_for(Option::is_some))
            .await
            .is_ok()
    }
}

impl Process for HostProcess {
    fn pipes(&self) -> &Pipes {
        &self.pipes
    }

    fn state(&self) -> ProcessState {
        if self.closed.load(Ordering::Acquire) {
            ProcessState::Closed
        } else if self.outcome.borrow().is_some() {
            ProcessState::Exited
        } else if matches!(*lock(&self.group), Group::NotStarted) {
            ProcessState::Created
        } else {
            ProcessState::Running
        }
    }

    fn start(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let mut group = lock(&self.group);
            if self.closed.load(Ordering::Acquire) || !matches!(*group, Group::NotStarted) {
                return Err(Error::invalid_state(
                    "start the process",
                    "it was started or closed",
                ));
            }
            let mut command = tokio::process::Command::new(self.command.program());
            command
                .args(&self.command.argv[1..])
                .env_clear()
                .envs(&self.command.env)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .process_group(0)
                .kill_on_drop(true);
            if let Some(dir) = &self.command.work_dir {
                command.current_dir(dir);
            }
            let started = Instant::now();
            let mut child = command.spawn().map_err(|e| {
                Error::backend_io(BACKEND, format!("start {:?}", self.command.display()), e)
            })?;
            // Never pid 0: killpg(0) would signal our own process group.
            let pgid = child
                .id()
                .and_then(|id| i32::try_from(id).ok())
                .map(Pid::from_raw)
                .ok_or_else(|| {
                    Error::backend(
                        BACKEND,
                        ErrorKind::Other,
                        format!(
                            "{:?} exited before its pid was known",
                            self.command.display()
                        ),
                    )
                })?;
            *group = Group::Running(pgid);
            drop(group);
            self.command.audit.started(None);
            if let Some(mut backend) = lock(&self.backend).take() {
                if let Some(out) = child.stdout.take() {
                    tokio::spawn(backend.stdout.pump(out));
                }
                if let Some(err) = child.stderr.take() {
                    tokio::spawn(backend.stderr.pump(err));
                }
                if let Some(mut stdin) = child.stdin.take() {
                    tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut backend.stdin, &mut stdin).await;
                    });
                }
            }
            let (timeout, sender, group, audit) = (
                self.command.timeout,
                self.outcome.clone(),
                self.group.clone(),
                self.command.audit.clone(),
            );
            tokio::spawn(async move {
                let waited = match timeout {
                    Some(limit) => tokio::time::timeout(limit, child.wait()).await.ok(),
                    None => Some(child.wait().await),
                };
                let _ = killpg(pgid, Signal::SIGKILL);
                let status = match waited {
                    Some(Ok(status)) => Some(match status.signal() {
                        Some(signal) => ExitStatus::from_signal(signal, started.elapsed()),
                        None => {
                            ExitStatus::from_code(status.code().unwrap_or(-1), started.elapsed())
                        }
                    }),
                    Some(Err(_)) => Some(ExitStatus::from_code(-1, started.elapsed())),
                    None => {
                        let _ = child.wait().await;
                        audit.timed_out(timeout.unwrap_or_default());
                        None
                    }
                };
                if let Some(status) = &status {
                    audit.exited(status);
                }
                *lock(&group) = Group::Reaped;
                sender.send_replace(Some(status));
            });
            Ok(())
        })
    }

    fn signal(&self, signal: i32) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let signal = Signal::try_from(signal).map_err(|_| Error::InvalidArgument {
                field: "signal".into(),
                reason: format!("{signal} is not a signal number"),
            })?;
            self.send(signal)
        })
    }

    fn wait(&self) -> BoxFuture<'_, Result<ExitStatus>> {
        Box::pin(async move {
            if matches!(*lock(&self.group), Group::NotStarted) {
                return Err(Error::invalid_state(
                    "wait for the process",
                    "it has not been started",
                ));
            }
            let mut outcome = self.outcome.subscribe();
            let ended = outcome
                .wait_for(Option::is_some)
                .await
                .map_err(|_| Error::backend(BACKEND, ErrorKind::Other, "the supervisor stopped"))?;
            match *ended {
                Some(Some(status)) => Ok(status),
                _ => Err(self
                    .command
                    .timeout_error(self.command.timeout.unwrap_or_default())),
            }
        })
    }

    fn close(&self, force: bool) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            if !self.closed.swap(true, Ordering::AcqRel) {
                self.command.audit.closed(force);
            }
            // Readers taken before a start that never comes see the end.
            lock(&self.backend).take();
            if matches!(*lock(&self.group), Group::Running(_)) && self.outcome.borrow().is_none() {
                self.send(if force {
                    Signal::SIGKILL
                } else {
                    Signal::SIGTERM
                })?;
                if !self.ended_within(Duration::from_secs(2)).await {
                    self.send(Signal::SIGKILL)?;
                    self.ended_within(Duration::from_secs(10)).await;
                }
            }
            self.pipes.release();
            Ok(())
        })
    }
}
