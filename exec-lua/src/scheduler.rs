//! `coroutine.spawn`: coroutines that run concurrently with the one that
//! spawned them, on the same Lua state, without the host doing anything more
//! than it does for a plain script.
//!
//! Every call of this crate that can wait (an exec call, a channel operation,
//! a timer) goes through [`Caller::drive`]. The first such call in progress on a state
//! — in practice the main flow, run by the host's `exec_async`/`call_async` —
//! is the *root*: each time the host polls it, it first resumes every spawned
//! coroutine that was woken (their wakers wake the root), then polls its own
//! work. A spawned coroutine's own waits see the root at work and only poll
//! their own future. So spawned coroutines advance whenever the host drives
//! any call into the state, on the host's task: no `LocalSet`, no
//! `tokio::spawn`, no `Send` bound, and the same behaviour with and without
//! mlua's `send` feature.
//!
//! Like Wippy's scheduler, this is cooperative: a coroutine runs until it
//! waits. When nothing drives the state (the main chunk has ended), spawned
//! coroutines stay where they are until the next async call into the state or
//! [`stop_spawned`].
//!
//! An error in a spawned coroutine ends it and is raised, with the spawned
//! coroutine's traceback, by the call that was driving it: the main flow fails
//! as a Wippy process does.

use crate::limits::Limits;
use mlua::thread::AsyncThread;
use mlua::{LightUserData, Lua, MultiValue, Thread, Value, WeakLua};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll, Wake, Waker};
use tokio::task::Unconstrained;

/// What a failed spawned coroutine's error says before its own message.
pub(crate) const SPAWN_FAILED: &str = "a coroutine started by coroutine.spawn failed: ";

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What a spawned coroutine's wrapper returns first when its function
/// failed, followed by the error's text and traceback (see
/// `coroutines.rs`): a value no script can make.
static FAILED: u8 = 0;

pub(crate) fn failed_marker() -> Value {
    Value::LightUserData(LightUserData(std::ptr::from_ref(&FAILED).cast_mut().cast()))
}

/// The text of a failure a spawned coroutine's wrapper returned, if it did.
fn returned_failure(values: &MultiValue) -> Option<String> {
    match (values.front(), values.get(1)) {
        (Some(Value::LightUserData(marker)), Some(Value::String(text)))
            if std::ptr::eq(marker.0.cast_const().cast(), &FAILED) =>
        {
            Some(text.to_string_lossy())
        }
        _ => None,
    }
}

/// What a wait that can never end raises, as Go's runtime says it.
pub(crate) const DEADLOCK: &str = "all coroutines are asleep - deadlock! This wait, and every \
     coroutine's, is a channel operation that nothing can complete: no timer, process or other \
     call is pending that could send, receive or close";

/// The spawned coroutines of one Lua state, kept in its app data.
///
/// Waking, spawning and ending a coroutine cost O(1): a woken coroutine's
/// waker puts its id on the ready queue, and a pass resumes only those.
pub(crate) struct Scheduler {
    /// Set while a root runs the spawned coroutines: a wait inside one of
    /// them then only polls its own future.
    driving: AtomicBool,
    inner: Mutex<Inner>,
    shared: Arc<Shared>,
    next_root: AtomicU64,
    /// How many spawned coroutines have not ended: with none, a wait has
    /// nothing to run and skips the root's bookkeeping.
    alive: AtomicUsize,
    /// Waits (calls in [`Caller::drive`]) pending now, in every coroutine.
    waiting: AtomicUsize,
    /// Of those, the channel operations only another coroutine can complete
    /// (no timer or process feeds their channels): when every wait is one,
    /// and no coroutine is ready to run, nothing can ever wake any.
    parked: AtomicUsize,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = lock(&self.inner);
        f.debug_struct("Scheduler")
            .field("spawned", &(inner.tasks.len() + inner.incoming.len()))
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Inner {
    /// Spawned coroutines that have run at least once, by id.
    tasks: HashMap<u64, Task>,
    /// Spawned since the last pass began: each runs in the pass that follows.
    incoming: Vec<(u64, Task)>,
    /// Errors of spawned coroutines in this pass.
    failures: Vec<String>,
    next_task: u64,
}

struct Task {
    /// The coroutine itself, to reset when it is stopped.
    thread: Thread,
    /// Outside tokio's cooperative budget: every coroutine of a pass runs in
    /// the one poll of the host's task, and once that poll's budget is spent
    /// tokio's timers and channels would answer "pending, try again" to each
    /// of them, waking it at once, over and over.
    future: Unconstrained<AsyncThread<MultiValue>>,
    waker: Arc<TaskWaker>,
}

/// What wakers reach: the ids of the woken coroutines, and the wakers of the
/// calls currently driving the state (usually one: the main flow's).
#[derive(Default)]
struct Shared {
    ready: Mutex<Vec<u64>>,
    roots: Mutex<HashMap<u64, Waker>>,
}

impl Shared {
    fn wake_roots(&self) {
        let wakers: Vec<Waker> = lock(&self.roots).values().cloned().collect();
        for waker in wakers {
            waker.wake();
        }
    }
}

struct TaskWaker {
    id: u64,
    woken: AtomicBool,
    shared: Weak<Shared>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.woken.swap(true, Ordering::AcqRel) {
            return; // queued already
        }
        if let Some(shared) = self.shared.upgrade() {
            let first = {
                let mut ready = lock(&shared.ready);
                ready.push(self.id);
                ready.len() == 1
            };
            // A queue that was not empty has woken the roots already.
            if first {
                shared.wake_roots();
            }
        }
    }
}

impl Scheduler {
    fn new() -> Self {
        Self {
            driving: AtomicBool::new(false),
            inner: Mutex::new(Inner::default()),
            shared: Arc::new(Shared::default()),
            next_root: AtomicU64::new(0),
            alive: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            parked: AtomicUsize::new(0),
        }
    }

    /// Puts a scheduler in `lua`'s app data, unless one is there. (It is
    /// `Send` and `Sync` where mlua's `send` feature makes coroutines so.)
    #[cfg_attr(not(feature = "send"), allow(clippy::arc_with_non_send_sync))]
    pub(crate) fn install(lua: &Lua) {
        if lua.app_data_ref::<Arc<Scheduler>>().is_none() {
            lua.set_app_data(Arc::new(Scheduler::new()));
        }
    }

    /// The scheduler of `lua`, if [`install`](Scheduler::install)ed.
    pub(crate) fn of(lua: &Lua) -> Option<Arc<Scheduler>> {
        lua.app_data_ref::<Arc<Scheduler>>()
            .map(|scheduler| Arc::clone(&scheduler))
    }

    /// Adds a coroutine; it first runs in the next pass.
    fn add(&self, thread: Thread, future: AsyncThread<MultiValue>) {
        let mut inner = lock(&self.inner);
        let id = inner.next_task;
        inner.next_task += 1;
        let waker = Arc::new(TaskWaker {
            id,
            // Not queued: `incoming` runs it.
            woken: AtomicBool::new(true),
            shared: Arc::downgrade(&self.shared),
        });
        self.alive.fetch_add(1, Ordering::AcqRel);
        inner.incoming.push((
            id,
            Task {
                thread,
                future: tokio::task::unconstrained(future),
                waker,
            },
        ));
    }

    /// Marks this call as the root, unless another one is running the
    /// spawned coroutines now.
    fn enter(self: &Arc<Self>) -> Option<Driving> {
        self.driving
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .ok()
            .map(|_| Driving(self.clone()))
    }

    /// One pass: every woken coroutine runs until it waits or ends, and the
    /// ones it spawns likewise. The errors of the spawned coroutines that
    /// failed come back as one.
    fn run_pass(&self) -> Option<mlua::Error> {
        let ready = std::mem::take(&mut *lock(&self.shared.ready));
        for id in ready {
            let task = lock(&self.inner).tasks.remove(&id);
            if let Some(mut task) = task
                && self.poll_task(&mut task)
            {
                lock(&self.inner).tasks.insert(id, task);
            }
        }
        loop {
            let incoming = std::mem::take(&mut lock(&self.inner).incoming);
            if incoming.is_empty() {
                break;
            }
            for (id, mut task) in incoming {
                if self.poll_task(&mut task) {
                    lock(&self.inner).tasks.insert(id, task);
                }
            }
        }
        let mut inner = lock(&self.inner);
        if inner.failures.is_empty() {
            return None;
        }
        // All of them at once: none is left for a call that may never come.
        let failures: Vec<String> = inner
            .failures
            .drain(..)
            .map(|text| format!("{SPAWN_FAILED}{text}"))
            .collect();
        Some(mlua::Error::runtime(failures.join("\n")))
    }

    /// Resumes `task` if it was woken; whether it goes on.
    fn poll_task(&self, task: &mut Task) -> bool {
        if !task.waker.woken.swap(false, Ordering::AcqRel) {
            return true;
        }
        let waker = Waker::from(task.waker.clone());
        let mut cx = Context::from_waker(&waker);
        match Pin::new(&mut task.future).poll(&mut cx) {
            Poll::Pending => true,
            Poll::Ready(Ok(values)) => {
                self.alive.fetch_sub(1, Ordering::AcqRel);
                if let Some(text) = returned_failure(&values) {
                    lock(&self.inner).failures.push(text);
                }
                false
            }
            Poll::Ready(Err(error)) => {
                self.alive.fetch_sub(1, Ordering::AcqRel);
                lock(&self.inner)
                    .failures
                    .push(crate::errors::error_text(&error));
                false
            }
        }
    }

    fn set_root_waker(&self, id: u64, waker: &Waker) {
        let mut wakers = lock(&self.shared.roots);
        match wakers.get_mut(&id) {
            Some(known) if known.will_wake(waker) => {}
            Some(known) => known.clone_from(waker),
            None => {
                wakers.insert(id, waker.clone());
            }
        }
    }

    /// Forgets a root that finished; if coroutines are left and another root
    /// waits, it takes over.
    fn leave_root(&self, id: u64) {
        let others = {
            let mut wakers = lock(&self.shared.roots);
            wakers.remove(&id);
            !wakers.is_empty()
        };
        if others {
            self.shared.wake_roots();
        }
    }

    /// Takes every spawned coroutine out of the scheduler.
    fn take_all(&self) -> Vec<Task> {
        let mut inner = lock(&self.inner);
        let mut tasks: Vec<Task> = inner.tasks.drain().map(|(_, task)| task).collect();
        tasks.extend(inner.incoming.drain(..).map(|(_, task)| task));
        lock(&self.shared.ready).clear();
        self.alive.fetch_sub(tasks.len(), Ordering::AcqRel);
        tasks
    }

    /// Whether nothing can ever wake the script again: every wait is a
    /// parked channel operation and no coroutine is ready or new.
    fn deadlocked(&self) -> bool {
        let waiting = self.waiting.load(Ordering::Acquire);
        waiting > 0
            && waiting == self.parked.load(Ordering::Acquire)
            && lock(&self.shared.ready).is_empty()
            && lock(&self.inner).incoming.is_empty()
    }
}

/// Counts a wait in [`Scheduler::waiting`] or [`Scheduler::parked`] while it
/// lives.
pub(crate) struct Counted {
    scheduler: Arc<Scheduler>,
    parked: bool,
}

impl Counted {
    fn new(scheduler: Arc<Scheduler>, parked: bool) -> Self {
        let counter = if parked {
            &scheduler.parked
        } else {
            &scheduler.waiting
        };
        counter.fetch_add(1, Ordering::AcqRel);
        Self { scheduler, parked }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        let counter = if self.parked {
            &self.scheduler.parked
        } else {
            &self.scheduler.waiting
        };
        counter.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The root's hold on the scheduler for one poll.
struct Driving(Arc<Scheduler>);

impl Drop for Driving {
    fn drop(&mut self) {
        self.0.driving.store(false, Ordering::Release);
    }
}

/// A call's registration as a root, kept while the call is in progress.
struct Root {
    scheduler: Arc<Scheduler>,
    id: Option<u64>,
}

impl Drop for Root {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.scheduler.leave_root(id);
        }
    }
}

/// What an async call of this crate keeps while it waits: the scheduler, the
/// state's limits, and a *weak* handle of the state. A call pending in a
/// spawned coroutine that is never resumed again lives in that coroutine's
/// stack, inside the state: a strong handle there would keep the state alive
/// for ever, and with it every process it holds.
#[derive(Clone)]
pub(crate) struct Caller {
    lua: WeakLua,
    scheduler: Option<Arc<Scheduler>>,
    limits: Option<Arc<Limits>>,
}

impl Caller {
    /// Takes the place of the strong handle an async function is given.
    pub(crate) fn new(lua: Lua) -> Self {
        let limits = Limits::of(&lua);
        let scheduler = Scheduler::of(&lua);
        if let Some(limits) = &limits {
            let alive = scheduler
                .as_ref()
                .map_or(0, |s| s.alive.load(Ordering::Relaxed));
            limits.count_call(&lua, alive);
        }
        Self {
            scheduler,
            limits,
            lua: lua.weak(),
        }
    }

    /// The state, for the moments a call needs it (never held across a
    /// wait). It is there whenever the call runs: the state runs it.
    pub(crate) fn lua(&self) -> mlua::Result<Lua> {
        self.lua
            .try_upgrade()
            .ok_or_else(|| mlua::Error::runtime("the Lua state is gone"))
    }

    /// Marks the channel operation in progress as one only another coroutine
    /// can complete, for deadlock detection (see [`DEADLOCK`]), while the
    /// returned guard lives.
    pub(crate) fn park(&self) -> Option<Counted> {
        self.scheduler
            .clone()
            .map(|scheduler| Counted::new(scheduler, true))
    }

    /// Awaits `future`, running the spawned coroutines meanwhile if no other
    /// call is (see the module docs).
    ///
    /// # Errors
    ///
    /// The error of a spawned coroutine that failed while this call ran it;
    /// the stop of a stopped script (see [`limits`](crate::limits)); a
    /// deadlock ([`DEADLOCK`]) when this call drives the state and nothing
    /// can wake any coroutine.
    pub(crate) async fn drive<F: Future>(&self, future: F) -> mlua::Result<F::Output> {
        let mut future = std::pin::pin!(future);
        let limits = self.limits.clone();
        let mut stopped = std::pin::pin!(async move {
            match limits {
                Some(limits) => limits.stopped().await,
                None => std::future::pending().await,
            }
        });
        let mut root = self.scheduler.clone().map(|scheduler| Root {
            scheduler,
            id: None,
        });
        let mut counted: Option<Counted> = None;
        let mut suspected = false;
        std::future::poll_fn(move |cx| {
            if let Poll::Ready(error) = stopped.as_mut().poll(cx) {
                return Poll::Ready(Err(error));
            }
            let mut drives = false;
            if let Some(root) = root.as_mut() {
                if root.scheduler.alive.load(Ordering::Acquire) == 0 {
                    drives = true;
                } else if let Some(_driving) = root.scheduler.enter() {
                    drives = true;
                    let scheduler = &root.scheduler;
                    let id = *root
                        .id
                        .get_or_insert_with(|| scheduler.next_root.fetch_add(1, Ordering::Relaxed));
                    scheduler.set_root_waker(id, cx.waker());
                    if let Some(failure) = scheduler.run_pass() {
                        return Poll::Ready(Err(failure));
                    }
                }
            }
            match future.as_mut().poll(cx) {
                Poll::Ready(output) => Poll::Ready(Ok(output)),
                Poll::Pending => {
                    let Some(root) = root.as_ref() else {
                        return Poll::Pending;
                    };
                    if counted.is_none() {
                        counted = Some(Counted::new(root.scheduler.clone(), false));
                    }
                    if drives && root.scheduler.deadlocked() {
                        // Confirmed on a second look, at once: a wait in a
                        // coroutine the script made itself is abandoned after
                        // its first poll (see `coroutines.rs`), never a
                        // deadlock of the script.
                        if suspected {
                            return Poll::Ready(Err(mlua::Error::runtime(DEADLOCK)));
                        }
                        suspected = true;
                        cx.waker().wake_by_ref();
                    } else {
                        suspected = false;
                    }
                    Poll::Pending
                }
            }
        })
        .await
    }
}

/// The Rust half of `coroutine.spawn(fn, ...)`: makes a coroutine of `fn`
/// (already wrapped so that its error carries its traceback), lets it run
/// until it first waits, and returns it.
pub(crate) fn spawn_function(lua: &Lua) -> mlua::Result<mlua::Function> {
    lua.create_async_function(|lua, (function, args): (mlua::Function, MultiValue)| {
        let made = lua.create_thread(function).and_then(|thread| {
            let future = thread.clone().into_async::<MultiValue>(args)?;
            if let Some(scheduler) = Scheduler::of(&lua) {
                scheduler.add(thread.clone(), future);
            }
            Ok(thread)
        });
        let caller = Caller::new(lua);
        async move {
            let thread = made?;
            caller.drive(std::future::ready(())).await?;
            Ok(thread)
        }
    })
}

/// Stops every coroutine that `coroutine.spawn` started on `lua` and that has
/// not ended, and releases what they held; returns how many there were.
///
/// Spawned coroutines run while the host drives an async call into the state
/// (the main chunk's `exec_async`, `eval_async` or `call_async`); when that
/// call returns they stay where they are, and the next async call into the
/// state would run them again. Call this when the main chunk has ended, as
/// Wippy ends a process's coroutines when its main function returns (the
/// `exec-lua` runner does). Each stopped coroutine is closed (on Lua 5.4 and
/// 5.5 its pending to-be-closed variables are closed too) and the garbage
/// collector runs, so the processes only they held are killed (their whole
/// process group) and reaped, and their streams closed. Dropping the state
/// does the same.
///
/// ```
/// use exec_lua::Registry;
/// use std::sync::Arc;
///
/// # tokio::runtime::Runtime::new()?.block_on(async {
/// let lua = exec_lua::new_state(Arc::new(Registry::new()))?;
/// lua.load(r#"
///     local ch = channel.new()
///     coroutine.spawn(function() ch:receive() end)   -- waits for ever
/// "#)
/// .exec_async()
/// .await?;
/// assert_eq!(exec_lua::stop_spawned(&lua)?, 1);
/// assert_eq!(exec_lua::stop_spawned(&lua)?, 0);
/// # Ok::<(), exec_lua::mlua::Error>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// Only if the garbage collector fails (an error in a `__gc` metamethod).
pub fn stop_spawned(lua: &Lua) -> mlua::Result<usize> {
    let Some(scheduler) = Scheduler::of(lua) else {
        return Ok(0);
    };
    let tasks = scheduler.take_all();
    let stopped = tasks.len();
    if stopped == 0 {
        return Ok(0);
    }
    let nothing = lua.create_function(|_, ()| Ok(()))?;
    for task in tasks {
        let Task { thread, future, .. } = task;
        drop(future);
        // Lua 5.4 and 5.5 close a suspended coroutine; elsewhere only a
        // finished one resets, and the collector frees the rest once the
        // script holds no reference to it.
        let _ = thread.reset(nothing.clone());
    }
    lua.gc_collect()?;
    lua.gc_collect()?;
    Ok(stopped)
}
