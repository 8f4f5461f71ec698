//! What fills the channels of `time.after`, `time.timer` and `time.ticker`,
//! and the `Timer` and `Ticker` values scripts hold.
//!
//! A timer fires once, at its deadline, unless it is stopped or moved first
//! (as Wippy's: `stop()` and `reset()` answer `false` once it has fired). A
//! ticker ticks every period until it is stopped; its channel holds up to
//! [`TICKS_HELD`] ticks nobody has received, and drops the ones after (as
//! Wippy's, whose ticker channel holds 16).

use crate::errors::bad_argument;
use mlua::{AnyUserData, UserData, UserDataMethods};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};
use tokio::sync::Notify;
use tokio::time::Instant;

/// How many ticks a ticker's channel holds.
pub(crate) const TICKS_HELD: usize = 16;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The wall-clock time of `deadline` (`now` is the monotonic clock's now).
fn wall_at(deadline: Instant, now: Instant) -> SystemTime {
    let late = now.saturating_duration_since(deadline);
    SystemTime::now()
        .checked_sub(late)
        .unwrap_or_else(SystemTime::now)
}

/// `now + after`, or far in the future when that does not fit.
pub(crate) fn deadline_after(after: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(after)
        .unwrap_or_else(|| now + Duration::from_secs(30 * 365 * 86_400))
}

#[derive(Debug, Clone, Copy)]
enum TimerState {
    Pending(Instant),
    Fired,
    Stopped,
}

/// A timer's state, shared by its channel and the `Timer` value.
#[derive(Debug)]
pub(crate) struct TimerControl {
    state: Mutex<TimerState>,
    changed: Notify,
}

impl TimerControl {
    pub(crate) fn new(deadline: Instant) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(TimerState::Pending(deadline)),
            changed: Notify::new(),
        })
    }

    /// The fire, if it is due at `now` and nobody took it: the wall-clock
    /// time it fired at.
    pub(crate) fn claim(&self, now: Instant) -> Option<SystemTime> {
        let mut state = lock(&self.state);
        match *state {
            TimerState::Pending(deadline) if now >= deadline => {
                *state = TimerState::Fired;
                Some(wall_at(deadline, now))
            }
            _ => None,
        }
    }

    /// Waits for the fire and claims it (a stopped timer never fires; a
    /// moved one fires at its new deadline).
    pub(crate) async fn fired(&self) -> SystemTime {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let deadline = match *lock(&self.state) {
                TimerState::Pending(deadline) => Some(deadline),
                _ => None,
            };
            match deadline {
                Some(deadline) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(deadline) => {}
                        () = &mut changed => {}
                    }
                    if let Some(at) = self.claim(Instant::now()) {
                        return at;
                    }
                }
                None => changed.await,
            }
        }
    }

    /// `timer:stop()`: whether it was stopped before it fired.
    fn stop(&self) -> bool {
        let mut state = lock(&self.state);
        let stopped = matches!(*state, TimerState::Pending(deadline) if Instant::now() < deadline);
        if stopped {
            *state = TimerState::Stopped;
            self.changed.notify_waiters();
        }
        stopped
    }

    /// `timer:reset(d)`: whether it was still pending (and now fires `after`
    /// from now); a timer that fired or was stopped stays as it is.
    fn reset(&self, after: Duration) -> bool {
        let mut state = lock(&self.state);
        let pending = matches!(*state, TimerState::Pending(deadline) if Instant::now() < deadline);
        if pending {
            *state = TimerState::Pending(deadline_after(after));
            self.changed.notify_waiters();
        }
        pending
    }
}

#[derive(Debug)]
struct TickerState {
    next: Instant,
    period: Duration,
    stopped: bool,
}

/// A ticker's state, shared by its channel and the `Ticker` value.
#[derive(Debug)]
pub(crate) struct TickerControl {
    state: Mutex<TickerState>,
    changed: Notify,
}

impl TickerControl {
    pub(crate) fn new(period: Duration) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(TickerState {
                next: deadline_after(period),
                period,
                stopped: false,
            }),
            changed: Notify::new(),
        })
    }

    /// The ticks due at `now` that nobody took (at most [`TICKS_HELD`], the
    /// earliest; the others are dropped), as wall-clock times.
    pub(crate) fn claim(&self, now: Instant) -> Vec<SystemTime> {
        let mut state = lock(&self.state);
        if state.stopped || now < state.next {
            return Vec::new();
        }
        let period = state.period.max(Duration::from_nanos(1));
        let behind = now.saturating_duration_since(state.next).as_nanos() / period.as_nanos();
        let due = usize::try_from(behind)
            .unwrap_or(usize::MAX)
            .saturating_add(1);
        let ticks = (0..due.min(TICKS_HELD))
            .map(|i| {
                let at = period
                    .checked_mul(u32::try_from(i).unwrap_or(u32::MAX))
                    .and_then(|offset| state.next.checked_add(offset))
                    .unwrap_or(now);
                wall_at(at, now)
            })
            .collect();
        // The next tick after `now`, on the ticker's beat.
        let skipped = period
            .checked_mul(u32::try_from(due).unwrap_or(u32::MAX))
            .unwrap_or(period);
        state.next = state.next.checked_add(skipped).unwrap_or(now + period);
        if state.next <= now {
            state.next = now + period;
        }
        ticks
    }

    /// Waits for the next tick(s) and claims them.
    pub(crate) async fn ticks(&self) -> Vec<SystemTime> {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let next = {
                let state = lock(&self.state);
                (!state.stopped).then_some(state.next)
            };
            match next {
                Some(next) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(next) => {}
                        () = &mut changed => {}
                    }
                    let ticks = self.claim(Instant::now());
                    if !ticks.is_empty() {
                        return ticks;
                    }
                }
                None => changed.await,
            }
        }
    }

    fn stop(&self) {
        lock(&self.state).stopped = true;
        self.changed.notify_waiters();
    }
}

/// `time.timer(d)`: its channel (the user value `"channel"`) and control.
#[derive(Debug)]
pub(crate) struct Timer {
    pub(crate) control: Arc<TimerControl>,
}

/// `time.ticker(d)`: its channel (the user value `"channel"`) and control.
#[derive(Debug)]
pub(crate) struct Ticker {
    pub(crate) control: Arc<TickerControl>,
}

/// `response()` and `channel()`: the channel the value was made with.
fn channel_of(this: &AnyUserData) -> mlua::Result<AnyUserData> {
    this.named_user_value::<AnyUserData>("channel")
}

impl UserData for Timer {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_function("response", |_, this: AnyUserData| channel_of(&this));
        methods.add_function("channel", |_, this: AnyUserData| channel_of(&this));
        methods.add_method("stop", |_, this, ()| Ok(this.control.stop()));
        methods.add_method("reset", |_, this, value: mlua::Value| {
            let nanos = super::duration_arg(&value)
                .map_err(|e| bad_argument(1, "reset", &format!("timer:reset: {}", e.message())))?;
            let after = u64::try_from(nanos)
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| bad_argument(1, "reset", "timer:reset: duration must be > 0"))?;
            Ok(this.control.reset(Duration::from_nanos(after)))
        });
    }
}

impl UserData for Ticker {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_function("response", |_, this: AnyUserData| channel_of(&this));
        methods.add_function("channel", |_, this: AnyUserData| channel_of(&this));
        methods.add_method("stop", |_, this, ()| {
            this.control.stop();
            Ok(true)
        });
    }
}
