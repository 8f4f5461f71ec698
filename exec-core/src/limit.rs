//! How many processes may run at once: [`ProcessLimit`] and [`LimitedExecutor`].

use crate::error::{Error, Result};
use crate::executor::{BoxFuture, Capabilities, Executor};
use crate::pipes::Pipes;
use crate::pty::PtySize;
use crate::{CommandSpec, ExecOptions, ExitStatus, Process, ProcessState};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// At most `max` processes running at once, among every process of the
/// [`LimitedExecutor`]s that share it.
///
/// A process takes a slot when it starts and gives it back once its end is
/// known (`wait` returned, its state reads `Exited`), or it is closed (as
/// the close begins) or dropped. A start while every slot is taken fails at once with
/// [`Error::TooManyProcesses`] (kind `Unavailable`: try again later); nothing
/// runs then.
///
/// ```
/// use exec_core::{ErrorKind, Executor, ExecOptions, LimitedExecutor, ProcessLimit};
/// # use exec_core::{BoxFuture, CommandSpec, Pipes, Process, ProcessState, ExitStatus};
/// # use std::sync::Arc;
/// # #[derive(Debug)] struct Idle;
/// # #[derive(Debug)] struct Sleeper(Pipes);
/// # impl Default for Sleeper { fn default() -> Self { Self(Pipes::new(None, 1024).0) } }
/// # impl Process for Sleeper {
/// #     fn pipes(&self) -> &Pipes { &self.0 }
/// #     fn state(&self) -> ProcessState { ProcessState::Created }
/// #     fn start(&self) -> BoxFuture<'_, exec_core::Result<()>> { Box::pin(async { Ok(()) }) }
/// #     fn signal(&self, _: i32) -> BoxFuture<'_, exec_core::Result<()>> { Box::pin(async { Ok(()) }) }
/// #     fn wait(&self) -> BoxFuture<'_, exec_core::Result<ExitStatus>> { Box::pin(std::future::pending()) }
/// #     fn close(&self, _: bool) -> BoxFuture<'_, exec_core::Result<()>> { Box::pin(async { Ok(()) }) }
/// # }
/// # impl Executor for Idle {
/// #     fn id(&self) -> &str { "app:idle" }
/// #     fn create_process(&self, _: CommandSpec, _: ExecOptions) -> exec_core::Result<Box<dyn Process>> { Ok(Box::new(Sleeper::default())) }
/// # }
/// # futures_lite_block_on(async {
/// let limit = ProcessLimit::new("executor \"app:idle\" (max_running)", 1);
/// let idle = LimitedExecutor::new(Arc::new(Idle), limit.clone());
/// let first = idle.create_process("sleep 10".into(), ExecOptions::new())?;
/// let second = idle.create_process("sleep 10".into(), ExecOptions::new())?;
/// first.start().await?;
/// assert_eq!(second.start().await.unwrap_err().kind(), ErrorKind::Unavailable);
/// first.close(true).await?;
/// assert_eq!(limit.running(), 0);
/// second.start().await?;
/// # Ok::<(), exec_core::Error>(())
/// # })?;
/// # fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// # Ok::<(), exec_core::Error>(())
/// ```
#[derive(Debug)]
pub struct ProcessLimit {
    scope: String,
    max: usize,
    running: AtomicUsize,
}

impl ProcessLimit {
    /// A limit of `max` running processes; `scope` names it in the error a
    /// refused start gets (e.g. `executor "app:shell" (max_running)`).
    pub fn new(scope: impl Into<String>, max: usize) -> Arc<Self> {
        Arc::new(Self {
            scope: scope.into(),
            max,
            running: AtomicUsize::new(0),
        })
    }

    /// How many may run at once.
    pub fn max(&self) -> usize {
        self.max
    }

    /// How many run now (hold a slot).
    pub fn running(&self) -> usize {
        self.running.load(Ordering::Acquire)
    }

    fn acquire(self: &Arc<Self>) -> Result<Slot> {
        self.running
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .map_err(|_| Error::TooManyProcesses {
                scope: self.scope.clone(),
                limit: self.max,
            })?;
        Ok(Slot(Arc::clone(self)))
    }
}

/// One running process's place in a limit; given back on drop.
#[derive(Debug)]
struct Slot(Arc<ProcessLimit>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::AcqRel);
    }
}

/// An executor whose processes count against one or more
/// [`ProcessLimit`]s: a start past one fails at once with
/// [`Error::TooManyProcesses`].
#[derive(Debug, Clone)]
pub struct LimitedExecutor {
    inner: Arc<dyn Executor>,
    limits: Vec<Arc<ProcessLimit>>,
}

impl LimitedExecutor {
    /// `inner`, its processes bounded by `limit`.
    pub fn new(inner: Arc<dyn Executor>, limit: Arc<ProcessLimit>) -> Self {
        Self {
            inner,
            limits: vec![limit],
        }
    }

    /// Adds another limit the processes count against (a runner-wide one
    /// over an executor's own).
    #[must_use]
    pub fn with_limit(mut self, limit: Arc<ProcessLimit>) -> Self {
        self.limits.push(limit);
        self
    }

    /// The executor it bounds.
    pub fn inner(&self) -> &Arc<dyn Executor> {
        &self.inner
    }
}

impl Executor for LimitedExecutor {
    fn id(&self) -> &str {
        self.inner.id()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn create_process(
        &self,
        command: CommandSpec,
        options: ExecOptions,
    ) -> Result<Box<dyn Process>> {
        let inner = self.inner.create_process(command, options)?;
        Ok(Box::new(LimitedProcess {
            inner,
            limits: self.limits.clone(),
            slots: Mutex::new(Vec::new()),
        }))
    }
}

/// A process of a [`LimitedExecutor`]: holds its slots while it runs.
#[derive(Debug)]
struct LimitedProcess {
    inner: Box<dyn Process>,
    limits: Vec<Arc<ProcessLimit>>,
    slots: Mutex<Vec<Slot>>,
}

impl LimitedProcess {
    fn release(&self) {
        let slots = std::mem::take(&mut *self.slots.lock().unwrap_or_else(PoisonError::into_inner));
        drop(slots);
    }
}

impl Process for LimitedProcess {
    fn pipes(&self) -> &Pipes {
        self.inner.pipes()
    }

    fn state(&self) -> ProcessState {
        let state = self.inner.state();
        if matches!(state, ProcessState::Exited | ProcessState::Closed) {
            self.release();
        }
        state
    }

    fn id(&self) -> Option<u32> {
        self.inner.id()
    }

    fn start(&self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            // Only a process that can start takes slots: a second start, or
            // one after close, fails in the backend as it would unbounded.
            if self.inner.state() == ProcessState::Created {
                let slots = self
                    .limits
                    .iter()
                    .map(ProcessLimit::acquire)
                    .collect::<Result<Vec<Slot>>>()?;
                *self.slots.lock().unwrap_or_else(PoisonError::into_inner) = slots;
            }
            let started = self.inner.start().await;
            if started.is_err() {
                self.release();
            }
            started
        })
    }

    fn signal(&self, signal: i32) -> BoxFuture<'_, Result<()>> {
        self.inner.signal(signal)
    }

    fn wait(&self) -> BoxFuture<'_, Result<ExitStatus>> {
        Box::pin(async move {
            let status = self.inner.wait().await;
            if status.is_ok() {
                self.release();
            }
            status
        })
    }

    fn close(&self, force: bool) -> BoxFuture<'_, Result<()>> {
        // Given back as the close begins: a closed process is being killed
        // (within the grace period), and the caller may start the next one.
        self.release();
        self.inner.close(force)
    }

    fn resize(&self, size: PtySize) -> BoxFuture<'_, Result<()>> {
        self.inner.resize(size)
    }
}
