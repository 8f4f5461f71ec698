//! Wippy's channels: `channel.new(size?)`, `ch:send(v)`, `ch:receive()`,
//! `ch:close()`, `ch:case_send(v)`, `ch:case_receive()` and
//! `channel.select{case, ..., default = bool}`, with Go's semantics.
//!
//! A channel holds up to `size` values; an unbuffered one (`size` 0) hands a
//! value over only when a receiver takes it, so `send` returns once it has.
//! Waiting operations register in the channel's queues (a `select` in each of
//! its cases', sharing one [`Op`] that only the first ready case completes),
//! as Go's runtime does.
//!
//! Some channels also have a *source* that fills them: the channel of
//! `time.after(d)` and of a `time.timer` (a `Time` when the timer fires, once),
//! of a `time.ticker` (a `Time` at every tick until it is stopped), and of
//! `proc:done()` (the exit when the process ends; then the channel closes, as
//! Wippy's does, so a second receive answers `nil, false`). A receiver checks
//! the source itself, so nothing runs in the background for them.

use crate::errors::lua_type;
use crate::scheduler::Caller;
use crate::time::{TickerControl, TimerControl};
use exec_core::{ExitStatus, Process, ProcessState};
use mlua::{AnyUserData, Lua, MetaMethod, Table, UserData, UserDataMethods, Value};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::SystemTime;
use tokio::time::Instant;

/// What a send on a closed channel raises, as in Wippy (and Go).
pub(crate) const SEND_ON_CLOSED: &str = "send on closed channel";

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The state of one channel, shared by its userdata and the cases made of it.
pub(crate) struct Core {
    inner: Mutex<Inner>,
}

struct Inner {
    capacity: usize,
    buffer: VecDeque<Value>,
    closed: bool,
    /// Blocked receive operations (a `receive`, or a `select`'s receive case).
    receivers: VecDeque<Waiter>,
    /// Blocked send operations with the value each offers.
    senders: VecDeque<(Waiter, Value)>,
    /// What fills the channel once (a timer, a process's exit); `None` once
    /// it has.
    source: Option<Source>,
}

/// What fills a channel.
#[derive(Clone)]
pub(crate) enum Source {
    /// `time.after`, `time.timer`: a `Time` when the timer fires (it may be
    /// stopped or moved first).
    Timer(Arc<TimerControl>),
    /// `time.ticker`: a `Time` at each tick until it is stopped.
    Ticker(Arc<TickerControl>),
    /// `proc:done()`: `{code, signal, error}` when the process has ended;
    /// then the channel closes.
    Exit(Arc<dyn Process>),
    /// A terminal process's `done()`: `{exit = {code, signal, error},
    /// terminal_error}` when its session has ended; then the channel closes.
    #[cfg(feature = "terminal")]
    Terminal(crate::terminal::Ended),
}

/// A source that has something to deliver.
enum Fired {
    /// The wall-clock times of timer fires or ticks.
    Times(Vec<SystemTime>),
    Exit(exec_core::Result<ExitStatus>),
    #[cfg(feature = "terminal")]
    Terminal(Arc<crate::terminal::SessionEnd>),
}

struct Waiter {
    op: Arc<Op>,
    /// The case of the operation this waiter stands for.
    case: usize,
}

/// One blocked operation (a `send`, a `receive` or a whole `select`): the
/// first case that becomes ready completes it, once.
#[derive(Default)]
struct Op {
    state: Mutex<OpState>,
}

#[derive(Default)]
struct OpState {
    claimed: bool,
    done: Option<Done>,
    waker: Option<Waker>,
}

/// How a blocked operation was completed.
enum Done {
    Received { case: usize, value: Value, ok: bool },
    Sent { case: usize },
    SendClosed,
}

impl Op {
    /// Completes the operation with what `done` makes, unless it was
    /// completed already; whether this did.
    fn complete(&self, done: impl FnOnce() -> Done) -> bool {
        let waker = {
            let mut state = lock(&self.state);
            if state.claimed {
                return false;
            }
            state.claimed = true;
            state.done = Some(done());
            state.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
        true
    }

    fn take(&self, waker: &Waker) -> Option<Done> {
        let mut state = lock(&self.state);
        let done = state.done.take();
        if done.is_none() {
            match &mut state.waker {
                Some(known) if known.will_wake(waker) => {}
                slot => *slot = Some(waker.clone()),
            }
        }
        done
    }
}

enum TrySend {
    Sent,
    Full,
    Closed,
}

impl Inner {
    /// Gives `value` to the first blocked receiver still waiting; the value
    /// back when none took it.
    fn hand_to_receiver(&mut self, value: Value) -> Option<Value> {
        let mut value = Some(value);
        while let Some(waiter) = self.receivers.pop_front() {
            let case = waiter.case;
            if waiter.op.complete(|| Done::Received {
                case,
                value: value.take().unwrap_or(Value::Nil),
                ok: true,
            }) {
                return None;
            }
        }
        value
    }

    /// Blocked receivers get `nil, false`, blocked senders raise. Values
    /// already buffered can still be received. Twice is nothing.
    fn close(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        for waiter in std::mem::take(&mut self.receivers) {
            let case = waiter.case;
            waiter.op.complete(|| Done::Received {
                case,
                value: Value::Nil,
                ok: false,
            });
        }
        for (waiter, _) in std::mem::take(&mut self.senders) {
            waiter.op.complete(|| Done::SendClosed);
        }
    }
}

impl Core {
    pub(crate) fn new(capacity: usize, source: Option<Source>) -> Self {
        Self {
            inner: Mutex::new(Inner {
                capacity,
                buffer: VecDeque::new(),
                closed: false,
                receivers: VecDeque::new(),
                senders: VecDeque::new(),
                source,
            }),
        }
    }

    fn try_send(&self, value: Value) -> TrySend {
        let mut inner = lock(&self.inner);
        if inner.closed {
            return TrySend::Closed;
        }
        let Some(value) = inner.hand_to_receiver(value) else {
            return TrySend::Sent;
        };
        if inner.buffer.len() < inner.capacity {
            inner.buffer.push_back(value);
            TrySend::Sent
        } else {
            TrySend::Full
        }
    }

    /// A value and `true`; `nil, false` once closed and empty; `None` when
    /// a receive would have to wait.
    fn try_receive(&self) -> Option<(Value, bool)> {
        let mut inner = lock(&self.inner);
        if let Some(value) = inner.buffer.pop_front() {
            // A blocked sender's value takes the freed place.
            while let Some((waiter, offered)) = inner.senders.pop_front() {
                let case = waiter.case;
                if waiter.op.complete(|| Done::Sent { case }) {
                    inner.buffer.push_back(offered);
                    break;
                }
            }
            return Some((value, true));
        }
        while let Some((waiter, offered)) = inner.senders.pop_front() {
            let case = waiter.case;
            if waiter.op.complete(|| Done::Sent { case }) {
                return Some((offered, true));
            }
        }
        inner.closed.then_some((Value::Nil, false))
    }

    /// `close()`: see [`Inner::close`].
    fn close(&self) {
        lock(&self.inner).close();
    }

    /// What the source has now, without waiting (a timer's fire is claimed).
    fn source_ready(&self) -> Option<Fired> {
        let source = lock(&self.inner).source.clone()?;
        match source {
            Source::Timer(timer) => timer.claim(Instant::now()).map(|at| Fired::Times(vec![at])),
            Source::Ticker(ticker) => {
                let ticks = ticker.claim(Instant::now());
                (!ticks.is_empty()).then_some(Fired::Times(ticks))
            }
            Source::Exit(process) => match process.state() {
                ProcessState::Created | ProcessState::Running => None,
                _ => {
                    // Ended (or closed): `wait` has the answer at once, or
                    // soon after a close.
                    let mut wait = process.wait();
                    match wait.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
                        Poll::Ready(result) => Some(Fired::Exit(result)),
                        Poll::Pending => None,
                    }
                }
            },
            #[cfg(feature = "terminal")]
            Source::Terminal(ended) => ended.borrow().clone().map(Fired::Terminal),
        }
    }

    /// A future that is ready when the source has something.
    fn source_future(&self) -> Option<SourceFuture> {
        let source = lock(&self.inner).source.clone()?;
        Some(match source {
            Source::Timer(timer) => {
                Box::pin(async move { Fired::Times(vec![timer.fired().await]) })
            }
            Source::Ticker(ticker) => Box::pin(async move { Fired::Times(ticker.ticks().await) }),
            Source::Exit(process) => Box::pin(async move { Fired::Exit(process.wait().await) }),
            #[cfg(feature = "terminal")]
            Source::Terminal(mut ended) => Box::pin(async move {
                loop {
                    if let Some(end) = ended.borrow_and_update().clone() {
                        return Fired::Terminal(end);
                    }
                    // The session always sends its end before it goes.
                    if ended.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
            }),
        })
    }

    /// Delivers what the source gave: each value to the first blocked
    /// receiver, or into the buffer (ticks that find it full are dropped, as
    /// Go's ticker drops them). A timer and an exit deliver once; after an
    /// exit the channel closes.
    fn fire(&self, values: Vec<Value>) {
        let mut inner = lock(&self.inner);
        if inner.closed {
            return;
        }
        let (once, then_close) = match &inner.source {
            None => return,
            Some(Source::Ticker(_)) => (false, false),
            Some(Source::Timer(_)) => (true, false),
            Some(Source::Exit(_)) => (true, true),
            #[cfg(feature = "terminal")]
            Some(Source::Terminal(_)) => (true, true),
        };
        if once {
            inner.source = None;
        }
        for value in values {
            if let Some(value) = inner.hand_to_receiver(value)
                && (once || inner.buffer.len() < inner.capacity)
            {
                inner.buffer.push_back(value);
            }
        }
        if then_close {
            inner.close();
        }
    }

    /// Takes the waiters of `op` out of the queues.
    fn forget(&self, op: &Arc<Op>) {
        let mut inner = lock(&self.inner);
        inner.receivers.retain(|w| !Arc::ptr_eq(&w.op, op));
        inner.senders.retain(|(w, _)| !Arc::ptr_eq(&w.op, op));
    }
}

type SourceFuture = Pin<Box<dyn Future<Output = Fired> + Send>>;

/// What a source delivers, as the Lua values scripts receive: `Time` values
/// for a timer or ticker, `{code, signal, error}` for an exit.
fn fired_values(lua: &Lua, fired: Fired) -> mlua::Result<Vec<Value>> {
    match fired {
        Fired::Times(times) => times
            .into_iter()
            .map(|at| crate::time::time_value(lua, at))
            .collect(),
        Fired::Exit(result) => Ok(vec![Value::Table(exit_table(lua, result)?)]),
        #[cfg(feature = "terminal")]
        Fired::Terminal(end) => {
            let done = lua.create_table()?;
            let status = match &end.status {
                Ok(status) => Ok(*status),
                Err(error) => Err(exec_core::Error::other(
                    error.kind(),
                    exec_core::report(error),
                )),
            };
            done.set("exit", exit_table(lua, status)?)?;
            done.set("terminal_error", end.terminal_error.clone())?;
            Ok(vec![Value::Table(done)])
        }
    }
}

/// `{code, signal}` for how a process ended, or `{error}` when that could
/// not be learnt.
fn exit_table(lua: &Lua, result: exec_core::Result<ExitStatus>) -> mlua::Result<Table> {
    let status = lua.create_table()?;
    match result {
        Ok(exit) => {
            status.set("code", exit.shell_code())?;
            status.set("signal", exit.signal())?;
        }
        Err(error) => {
            status.set(
                "error",
                crate::errors::ScriptError::from(error).into_lua_value(lua)?,
            )?;
        }
    }
    Ok(status)
}

/// One case of an operation: a receive, or a send of a value.
pub(crate) struct Case {
    core: Arc<Core>,
    send: Option<Value>,
}

/// What a `select` chose.
enum Selected {
    Case {
        index: usize,
        value: Value,
        ok: bool,
    },
    Default,
}

/// The waiters of one blocked operation, taken out of the queues when it
/// ends (completed, or abandoned with its coroutine).
struct Registration<'a> {
    op: Arc<Op>,
    cases: &'a [Case],
}

impl<'a> Registration<'a> {
    fn new(op: Arc<Op>, cases: &'a [Case]) -> Self {
        for (case, c) in cases.iter().enumerate() {
            let mut inner = lock(&c.core.inner);
            let waiter = Waiter {
                op: op.clone(),
                case,
            };
            match &c.send {
                Some(value) => inner.senders.push_back((waiter, value.clone())),
                None => inner.receivers.push_back(waiter),
            }
        }
        Self { op, cases }
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        for case in self.cases {
            case.core.forget(&self.op);
        }
    }
}

/// The first case (in order) that can go on now, if any.
fn try_cases(lua: &Lua, cases: &[Case]) -> mlua::Result<Option<Selected>> {
    for (index, case) in cases.iter().enumerate() {
        match &case.send {
            None => {
                if let Some(fired) = case.core.source_ready() {
                    case.core.fire(fired_values(lua, fired)?);
                }
                if let Some((value, ok)) = case.core.try_receive() {
                    return Ok(Some(Selected::Case { index, value, ok }));
                }
            }
            Some(value) => match case.core.try_send(value.clone()) {
                TrySend::Sent => {
                    return Ok(Some(Selected::Case {
                        index,
                        value: value.clone(),
                        ok: true,
                    }));
                }
                TrySend::Closed => return Err(mlua::Error::runtime(SEND_ON_CLOSED)),
                TrySend::Full => {}
            },
        }
    }
    Ok(None)
}

// `Arc` and `Mutex` throughout: the state is `Send` and `Sync` where mlua's
// `send` feature makes Lua values so; without it the same code runs on one
// thread (and the lint below has nothing to say with it).

/// Runs `cases` as Go's `select` does (the first ready case in order wins;
/// with `default`, nothing waits).
#[cfg_attr(not(feature = "send"), allow(clippy::arc_with_non_send_sync))]
async fn select(caller: &Caller, cases: &[Case], default: bool) -> mlua::Result<Selected> {
    if let Some(selected) = try_cases(&caller.lua()?, cases)? {
        return Ok(selected);
    }
    if default {
        return Ok(Selected::Default);
    }
    let op = Arc::new(Op::default());
    let registration = Registration::new(op.clone(), cases);
    let mut sources: Vec<(usize, SourceFuture)> = cases
        .iter()
        .enumerate()
        .filter(|(_, case)| case.send.is_none())
        .filter_map(|(index, case)| case.core.source_future().map(|f| (index, f)))
        .collect();
    // Only another coroutine can complete a wait no source feeds.
    let _parked = if sources.is_empty() {
        caller.park()
    } else {
        None
    };
    let done = std::future::poll_fn(|cx| {
        if let Some(done) = op.take(cx.waker()) {
            return Poll::Ready(Ok(done));
        }
        let mut k = 0;
        while k < sources.len() {
            match sources[k].1.as_mut().poll(cx) {
                Poll::Ready(fired) => {
                    let index = sources[k].0;
                    let core = &cases[index].core;
                    match caller.lua().and_then(|lua| fired_values(&lua, fired)) {
                        Ok(values) => core.fire(values),
                        Err(e) => return Poll::Ready(Err(e)),
                    }
                    // A ticker goes on: its next tick's future takes this
                    // one's place (and is polled at once, for the waker).
                    match core.source_future() {
                        Some(next) => sources[k].1 = next,
                        None => {
                            drop(sources.swap_remove(k));
                        }
                    }
                }
                Poll::Pending => k += 1,
            }
        }
        match op.take(cx.waker()) {
            Some(done) => Poll::Ready(Ok(done)),
            None => Poll::Pending,
        }
    })
    .await?;
    drop(registration);
    match done {
        Done::Received { case, value, ok } => Ok(Selected::Case {
            index: case,
            value,
            ok,
        }),
        Done::Sent { case } => Ok(Selected::Case {
            index: case,
            value: cases
                .get(case)
                .and_then(|c| c.send.clone())
                .unwrap_or(Value::Nil),
            ok: true,
        }),
        Done::SendClosed => Err(mlua::Error::runtime(SEND_ON_CLOSED)),
    }
}

/// The userdata scripts hold: `channel.new()`, `time.after()`, `proc:done()`.
pub(crate) struct Channel {
    core: Arc<Core>,
}

impl Channel {
    #[cfg_attr(not(feature = "send"), allow(clippy::arc_with_non_send_sync))]
    pub(crate) fn new(capacity: usize, source: Option<Source>) -> Self {
        Self {
            core: Arc::new(Core::new(capacity, source)),
        }
    }
}

/// A case for `channel.select`, made by `ch:case_send(v)` or
/// `ch:case_receive()`; its user value is the channel's userdata, which
/// `select` hands back as `r.channel`.
pub(crate) struct SelectCase {
    core: Arc<Core>,
    send: Option<Value>,
}

impl UserData for SelectCase {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(if this.send.is_some() {
                "channel case (send)"
            } else {
                "channel case (receive)"
            })
        });
    }
}

fn make_case(lua: &Lua, this: &AnyUserData, send: Option<Value>) -> mlua::Result<AnyUserData> {
    let core = this.borrow::<Channel>()?.core.clone();
    let case = lua.create_userdata(SelectCase { core, send })?;
    case.set_user_value(this)?;
    Ok(case)
}

impl UserData for Channel {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_async_method("send", |lua, this, value: Value| {
            let core = this.core.clone();
            drop(this);
            let caller = Caller::new(lua);
            async move {
                let cases = [Case {
                    core,
                    send: Some(value),
                }];
                caller.drive(select(&caller, &cases, false)).await??;
                Ok(true)
            }
        });
        methods.add_async_method("receive", |lua, this, ()| {
            let core = this.core.clone();
            drop(this);
            let caller = Caller::new(lua);
            async move {
                let cases = [Case { core, send: None }];
                match caller.drive(select(&caller, &cases, false)).await?? {
                    Selected::Case { value, ok, .. } => Ok((value, ok)),
                    Selected::Default => Ok((Value::Nil, false)),
                }
            }
        });
        methods.add_method("close", |_, this, ()| {
            this.core.close();
            Ok(())
        });
        methods.add_function("case_send", |lua, (this, value): (AnyUserData, Value)| {
            make_case(lua, &this, Some(value))
        });
        methods.add_function("case_receive", |lua, this: AnyUserData| {
            make_case(lua, &this, None)
        });
        methods.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(format!("channel: {:p}", Arc::as_ptr(&this.core)))
        });
    }
}

/// `channel.new(size?)`.
fn new_channel(lua: &Lua, size: Value) -> mlua::Result<AnyUserData> {
    let capacity = match size {
        Value::Nil => 0,
        Value::Integer(n) => n,
        Value::Number(n) if n.fract() == 0.0 && n.is_finite() => n as i64,
        other => {
            return Err(mlua::Error::runtime(format!(
                "bad argument #1 to 'new' (integer expected, got {})",
                describe(&other)
            )));
        }
    };
    let capacity = usize::try_from(capacity).map_err(|_| {
        mlua::Error::runtime(format!(
            "bad argument #1 to 'new' (the size must be 0 or more, got {capacity})"
        ))
    })?;
    lua.create_userdata(Channel::new(capacity, None))
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Number(_) => "non-integer number",
        other => lua_type(other),
    }
}

/// The cases of `channel.select(cases, default?)`, in order, with each one's
/// channel userdata; misuse raises, as Wippy documents.
fn parse_select(
    cases: &Value,
    default: &Value,
) -> mlua::Result<(Vec<Case>, Vec<AnyUserData>, bool)> {
    let Value::Table(table) = cases else {
        return Err(mlua::Error::runtime(format!(
            "bad argument #1 to 'select' (table of cases expected, got {})",
            lua_type(cases)
        )));
    };
    let mut with_default = match default {
        Value::Nil => false,
        Value::Boolean(b) => *b,
        other => {
            return Err(mlua::Error::runtime(format!(
                "bad argument #2 to 'select' (boolean expected, got {})",
                lua_type(other)
            )));
        }
    };
    let mut found: Vec<(i64, AnyUserData)> = Vec::new();
    for pair in table.pairs::<Value, Value>() {
        let (key, value) = pair?;
        match key {
            Value::String(s) if s.as_bytes().as_ref() == b"default" => match value {
                Value::Boolean(b) => with_default |= b,
                other => {
                    return Err(mlua::Error::runtime(format!(
                        "channel.select: default must be a boolean, got {}",
                        lua_type(&other)
                    )));
                }
            },
            Value::Integer(i) if i >= 1 => match value {
                Value::UserData(ud) if ud.is::<SelectCase>() => found.push((i, ud)),
                other => {
                    return Err(mlua::Error::runtime(format!(
                        "channel.select: case {i} is not a select case (make one with \
                         ch:case_receive() or ch:case_send(value)), got {}",
                        crate::errors::lua_type(&other)
                    )));
                }
            },
            other => {
                return Err(mlua::Error::runtime(format!(
                    "channel.select: unexpected key {} (the table holds cases, and default = true)",
                    key_text(&other)
                )));
            }
        }
    }
    found.sort_by_key(|(i, _)| *i);
    if found.is_empty() && !with_default {
        return Err(mlua::Error::runtime(
            "channel.select: no cases (give ch:case_receive() or ch:case_send(value) cases, \
             or default = true)",
        ));
    }
    let mut list = Vec::with_capacity(found.len());
    let mut channels = Vec::with_capacity(found.len());
    for (_, ud) in found {
        let case = ud.borrow::<SelectCase>()?;
        list.push(Case {
            core: case.core.clone(),
            send: case.send.clone(),
        });
        drop(case);
        channels.push(ud.user_value::<AnyUserData>()?);
    }
    Ok((list, channels, with_default))
}

fn key_text(key: &Value) -> String {
    match key {
        Value::String(s) => format!("{:?}", s.to_string_lossy()),
        Value::Integer(i) => i.to_string(),
        Value::Number(n) => n.to_string(),
        other => format!("of type {}", lua_type(other)),
    }
}

/// `channel.select{...}`.
async fn select_function(
    caller: Caller,
    parsed: mlua::Result<(Vec<Case>, Vec<AnyUserData>, bool)>,
) -> mlua::Result<Table> {
    let (cases, channels, default) = parsed?;
    let selected = caller.drive(select(&caller, &cases, default)).await??;
    let result = caller.lua()?.create_table()?;
    match selected {
        Selected::Case { index, value, ok } => {
            result.set("channel", channels.get(index).cloned())?;
            result.set("value", value)?;
            result.set("ok", ok)?;
        }
        Selected::Default => {
            result.set("default", true)?;
            result.set("ok", true)?;
        }
    }
    Ok(result)
}

/// The `channel` table: `new` and `select`.
pub(crate) fn module(lua: &Lua) -> mlua::Result<Table> {
    let channel = lua.create_table()?;
    channel.set("new", lua.create_function(new_channel)?)?;
    channel.set(
        "select",
        lua.create_async_function(|lua, (cases, default): (Value, Value)| {
            let parsed = parse_select(&cases, &default);
            select_function(Caller::new(lua), parsed)
        })?,
    )?;
    Ok(channel)
}
