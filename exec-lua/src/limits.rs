//! What a script may consume, and how it is stopped from outside: the Lua
//! state's memory limit, a deadline, and a [`Stopper`] the host (the
//! runner's signal handler) uses to end a running script.
//!
//! A script is stopped in two places. While it runs Lua code, an
//! instruction-count hook (every [`CHECK_EVERY`] instructions, on every
//! coroutine) raises the stop as an error; while it waits (an exec call, a
//! channel, a timer), the wait ends with that error
//! ([`Caller::drive`](crate::scheduler::Caller::drive)). Neither `pcall`,
//! `xpcall`, `coroutine.resume` nor `coroutine.close` can keep it: once the
//! script is stopped they raise the error again instead of returning it, and
//! an `xpcall` message handler is skipped (Lua runs a handler with hooks off,
//! so one that loops could not be stopped).
//!
//! What the hook cannot reach: one call into C that runs long (a
//! pathological `string.find` pattern) and `__gc` finalizers (Lua runs them
//! with hooks off). The memory limit still holds there; the `exec-lua`
//! runner exits on its own one second after a stop that did not end the
//! script, killing and reaping the host processes it started.

use mlua::{HookTriggers, Lua, VmState};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;
use tokio::sync::Notify;

/// How many Lua instructions run between two checks for a stop or the
/// deadline: about a tenth of a millisecond of a tight loop.
pub const CHECK_EVERY: u32 = 10_000;

/// The memory limit of a state [`StateOptions`](crate::StateOptions) makes
/// unless told otherwise: 1 GiB of Lua memory (strings, tables, functions,
/// coroutines, the userdata of exec values).
pub const DEFAULT_MEMORY_LIMIT: usize = 1 << 30;

/// Why a script was stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// The deadline of [`StateOptions::deadline`](crate::StateOptions::deadline) passed.
    Deadline,
    /// [`Stopper::stop`] was called, with this reason (e.g. "SIGTERM").
    Stopped(String),
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StopReason::Deadline => f.write_str("its deadline passed"),
            StopReason::Stopped(reason) => f.write_str(reason),
        }
    }
}

/// The stop state of one Lua state, kept in its app data.
#[derive(Debug, Default)]
pub(crate) struct Limits {
    stopped: AtomicBool,
    reason: Mutex<Option<StopReason>>,
    /// Wakes every wait in progress when the script is stopped.
    notify: Notify,
    deadline: Option<Instant>,
    /// Async calls so far ([`Limits::count_call`]).
    calls: AtomicUsize,
}

/// How many async calls run between two steps of the garbage collector.
const GC_STEP_EVERY: usize = 256;

impl Limits {
    fn stop(&self, reason: StopReason) {
        {
            let mut slot = self.reason.lock().unwrap_or_else(PoisonError::into_inner);
            if slot.is_some() {
                return;
            }
            *slot = Some(reason);
        }
        self.stopped.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }

    /// Counts an async call; every [`GC_STEP_EVERY`] calls (or one per
    /// coroutine alive, when more are), a step of the garbage collector.
    /// mlua keeps a finished call's future (in Rust's heap, some hundreds of
    /// bytes) until the collector frees the small userdata holding it, and
    /// Lua paces its collector by its own heap alone: a loop of channel
    /// operations would otherwise hold hundreds of megabytes of finished
    /// futures that no limit sees. A step costs more the more coroutines are
    /// alive (each is traversed), hence the longer period then.
    pub(crate) fn count_call(&self, lua: &Lua, alive: usize) {
        let calls = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        let period = alive.max(GC_STEP_EVERY);
        if calls >= period {
            self.calls.store(0, Ordering::Relaxed);
            let _ = lua.gc_step();
        }
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    fn reason(&self) -> Option<StopReason> {
        self.reason
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The error a stopped script's code and waits raise.
    pub(crate) fn error(&self) -> mlua::Error {
        let reason = self.reason().unwrap_or(StopReason::Deadline);
        mlua::Error::runtime(format!("the script was stopped: {reason}"))
    }

    /// Stops the script if its deadline passed; whether it is stopped.
    fn check(&self) -> bool {
        if let Some(deadline) = self.deadline
            && !self.is_stopped()
            && Instant::now() >= deadline
        {
            self.stop(StopReason::Deadline);
        }
        self.is_stopped()
    }

    /// The limits of `lua`, if [`install`]ed.
    pub(crate) fn of(lua: &Lua) -> Option<Arc<Limits>> {
        lua.app_data_ref::<Arc<Limits>>().map(|l| Arc::clone(&l))
    }

    /// Waits until the script is stopped or its deadline passes; then
    /// returns the error to raise.
    pub(crate) async fn stopped(&self) -> mlua::Error {
        let deadline = async {
            match self.deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        let notified = self.notify.notified();
        let mut notified = std::pin::pin!(notified);
        notified.as_mut().enable();
        if !self.check() {
            tokio::select! {
                () = notified => {}
                () = deadline => { self.check(); }
            }
        }
        self.error()
    }
}

/// A handle that stops the script running in a Lua state, from any thread
/// (a signal handler's task, a watchdog): see [`stopper`].
#[derive(Debug, Clone)]
pub struct Stopper(Arc<Limits>);

impl Stopper {
    /// Stops the script: its running Lua code (within [`CHECK_EVERY`]
    /// instructions) and every wait in progress or to come raise "the script
    /// was stopped: `reason`", which `pcall` cannot keep. Only the first
    /// stop's reason is kept.
    pub fn stop(&self, reason: impl Into<String>) {
        self.0.stop(StopReason::Stopped(reason.into()));
    }

    /// Why the script was stopped, if it was ([`StopReason::Deadline`] once
    /// its deadline passed and the script noticed).
    pub fn reason(&self) -> Option<StopReason> {
        self.0.reason()
    }
}

/// The [`Stopper`] of a state made by [`new_state`](crate::new_state) or
/// [`sandbox_with`](crate::sandbox_with); `None` for a state without them.
///
/// ```
/// use exec_lua::Registry;
/// use std::sync::Arc;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let lua = exec_lua::new_state(Arc::new(Registry::new()))?;
/// let stopper = exec_lua::stopper(&lua).expect("a state of new_state has one");
/// let busy = std::thread::spawn(move || {
///     std::thread::sleep(std::time::Duration::from_millis(50));
///     stopper.stop("enough");
/// });
/// let error = lua
///     .load("while true do pcall(function() while true do end end) end")
///     .exec_async()
///     .await
///     .unwrap_err();
/// assert!(error.to_string().contains("the script was stopped: enough"));
/// busy.join().unwrap();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn stopper(lua: &Lua) -> Option<Stopper> {
    Limits::of(lua).map(Stopper)
}

/// Sets `lua`'s memory limit, puts its [`Limits`] in its app data, installs
/// the hook and makes `pcall`, `xpcall`, `coroutine.resume` and
/// `coroutine.close` give a stop back.
pub(crate) fn install(
    lua: &Lua,
    memory_limit: Option<usize>,
    deadline: Option<Instant>,
) -> mlua::Result<()> {
    if let Some(limit) = memory_limit {
        lua.set_memory_limit(limit)?;
    }
    let limits = Arc::new(Limits {
        deadline,
        ..Limits::default()
    });
    lua.set_app_data(Arc::clone(&limits));
    let hooked = Arc::clone(&limits);
    lua.set_global_hook(
        HookTriggers::new().every_nth_instruction(CHECK_EVERY),
        move |_, _| {
            if hooked.check() {
                Err(hooked.error())
            } else {
                Ok(VmState::Continue)
            }
        },
    )?;
    let checked = Arc::clone(&limits);
    let stopped = lua.create_function(move |_, ()| Ok(checked.check()))?;
    lua.load(KEEP_STOPS)
        .set_name("=exec-lua limits")
        .call::<()>(stopped)
}

/// `pcall`, `xpcall`, `coroutine.resume` and `coroutine.close` that raise a
/// stop again rather than hand it to the script (see the module docs).
const KEEP_STOPS: &str = r#"
local stopped = ...
local pcall, xpcall, error, type = pcall, xpcall, error, type
local function pass(ok, ...)
    if not ok and stopped() then error((...), 0) end
    return ok, ...
end
function _G.pcall(f, ...)
    return pass(pcall(f, ...))
end
function _G.xpcall(f, handler, ...)
    local handle = handler
    if type(handler) == "function" then
        handle = function(e)
            if stopped() then return e end
            return handler(e)
        end
    end
    return pass(xpcall(f, handle, ...))
end
local co = coroutine
if type(co) == "table" then
    local resume, close = co.resume, co.close
    if resume then co.resume = function(...) return pass(resume(...)) end end
    if close then co.close = function(...) return pass(close(...)) end end
end
"#;
