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

use mlua::thread::AsyncThread;
use mlua::{LightUserData, Lua, MultiValue, Thread, Value, WeakLua};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll, Wake, Waker};

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

/// The spawned coroutines of one Lua state, kept in its app data.
pub(crate) struct Scheduler {
    /// Set while a root runs the spawned coroutines: a wait inside one of
    /// them then only polls its own future.
    driving: AtomicBool,
    inner: Mutex<Inner>,
    roots: Arc<Roots>,
    next_root: AtomicU64,
    /// How many spawned coroutines have not ended: with none, a wait has
    /// nothing to run and skips the root's bookkeeping.
    alive: AtomicUsize,
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
    /// Spawned coroutines that have run at least once.
    tasks: Vec<Task>,
    /// Spawned since the last pass began: each runs in the pass that follows.
    incoming: Vec<Task>,
    /// Errors of spawned coroutines in this pass.
    failures: Vec<String>,
}

struct Task {
    /// The coroutine itself, to reset when it is stopped.
    thread: Thread,
    future: AsyncThread<MultiValue>,
    waker: Arc<TaskWaker>,
}

/// The wakers of the calls currently driving the state (usually one: the main
/// flow's). A spawned coroutine's waker wakes them all.
#[derive(Default)]
struct Roots {
    wakers: Mutex<HashMap<u64, Waker>>,
}

impl Roots {
    fn wake_all(&self) {
        let wakers: Vec<Waker> = lock(&self.wakers).values().cloned().collect();
        for waker in wakers {
            waker.wake();
        }
    }
}

struct TaskWaker {
    woken: AtomicBool,
    roots: Weak<Roots>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        if let Some(roots) = self.roots.upgrade() {
            roots.wake_all();
        }
    }
}

impl Scheduler {
    fn new() -> Self {
        Self {
            driving: AtomicBool::new(false),
            inner: Mutex::new(Inner::default()),
            roots: Arc::new(Roots::default()),
            next_root: AtomicU64::new(0),
            alive: AtomicUsize::new(0),
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
        let waker = Arc::new(TaskWaker {
            woken: AtomicBool::new(true),
            roots: Arc::downgrade(&self.roots),
        });
        self.alive.fetch_add(1, Ordering::AcqRel);
        lock(&self.inner).incoming.push(Task {
            thread,
            future,
            waker,
        });
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
        let tasks = std::mem::take(&mut lock(&self.inner).tasks);
        let mut kept = Vec::with_capacity(tasks.len());
        for mut task in tasks {
            if self.poll_task(&mut task) {
                kept.push(task);
            }
        }
        loop {
            let incoming = std::mem::take(&mut lock(&self.inner).incoming);
            if incoming.is_empty() {
                break;
            }
            for mut task in incoming {
                if self.poll_task(&mut task) {
                    kept.push(task);
                }
            }
        }
        let mut inner = lock(&self.inner);
        inner.tasks.extend(kept);
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
        let mut wakers = lock(&self.roots.wakers);
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
            let mut wakers = lock(&self.roots.wakers);
            wakers.remove(&id);
            !wakers.is_empty()
        };
        if others {
            self.roots.wake_all();
        }
    }

    /// Takes every spawned coroutine out of the scheduler.
    fn take_all(&self) -> Vec<Task> {
        let mut inner = lock(&self.inner);
        let mut tasks = std::mem::take(&mut inner.tasks);
        tasks.append(&mut inner.incoming);
        self.alive.fetch_sub(tasks.len(), Ordering::AcqRel);
        tasks
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

/// What an async call of this crate keeps while it waits: the scheduler, and
/// a *weak* handle of the state. A call pending in a spawned coroutine that is
/// never resumed again lives in that coroutine's stack, inside the state: a
/// strong handle there would keep the state alive for ever, and with it every
/// process it holds.
#[derive(Clone)]
pub(crate) struct Caller {
    lua: WeakLua,
    scheduler: Option<Arc<Scheduler>>,
}

impl Caller {
    /// Takes the place of the strong handle an async function is given.
    pub(crate) fn new(lua: Lua) -> Self {
        Self {
            scheduler: Scheduler::of(&lua),
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

    /// Awaits `future`, running the spawned coroutines meanwhile if no other
    /// call is (see the module docs).
    ///
    /// # Errors
    ///
    /// The error of a spawned coroutine that failed while this call ran it.
    pub(crate) async fn drive<F: Future>(&self, future: F) -> mlua::Result<F::Output> {
        let mut future = std::pin::pin!(future);
        let mut root = self.scheduler.clone().map(|scheduler| Root {
            scheduler,
            id: None,
        });
        std::future::poll_fn(move |cx| {
            if let Some(root) = root.as_mut()
                && root.scheduler.alive.load(Ordering::Acquire) > 0
                && let Some(_driving) = root.scheduler.enter()
            {
                let scheduler = &root.scheduler;
                let id = *root
                    .id
                    .get_or_insert_with(|| scheduler.next_root.fetch_add(1, Ordering::Relaxed));
                scheduler.set_root_waker(id, cx.waker());
                if let Some(failure) = scheduler.run_pass() {
                    return Poll::Ready(Err(failure));
                }
            }
            future.as_mut().poll(cx).map(Ok)
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
