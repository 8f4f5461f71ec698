//! Wippy's `time` module, as its runtime spec
//! (`runtime/lua/modules/time/spec.md`) defines it: the duration, format,
//! month and weekday constants, `time.utc` and `time.localtz`; `sleep`,
//! `after`, `timer` and `ticker` (whose channels deliver `Time` values);
//! `now`, `date`, `unix`, `parse` (Go layouts), `parse_duration` (Go
//! duration strings), `load_location` and `fixed_zone`; and the `Time`,
//! `Duration` and `Location` values with their methods.
//!
//! A duration is what Wippy takes: a number of nanoseconds (`5 *
//! time.SECOND`), a Go duration string (`"5s"`, `"250ms"`, `"1h30m"`,
//! `"1.5s"`; units `ns`, `us`, `µs`, `ms`, `s`, `m`, `h`) or a `Duration`.
//!
//! Misuse answers as Wippy's does: a bad duration or a failed parse is `nil,
//! err` (`INVALID`), an unknown zone `nil, err` (`NOT_FOUND`); an argument
//! of the wrong type to a constructor or a method raises.

mod civil;
mod duration;
mod layout;
mod timer;
mod value;

pub(crate) use timer::{TickerControl, TimerControl};

use crate::channel::{Channel, Source};
use crate::errors::{NOT_FOUND, Outcome, ScriptError, bad_argument, lua_type, returns};
use crate::scheduler::Caller;
use civil::Civil;
use jiff::tz::TimeZone;
use mlua::{AnyUserData, Lua, MaybeSend, MaybeSync, MultiValue, Table, UserData, Value};
use std::time::SystemTime;
use timer::{Ticker, Timer, deadline_after};
use value::{Duration, Location, LocationValue, Time, int_arg, location_arg};

/// A duration argument, in nanoseconds (may be zero or negative): a number
/// (a float cut to its integer part, as Go converts it), a Go duration
/// string or a `Duration`.
pub(crate) fn duration_arg(value: &Value) -> Outcome<i64> {
    match value {
        Value::Integer(n) => Ok(*n),
        Value::Number(n) if n.is_finite() => Ok(*n as i64),
        Value::String(s) => {
            let text = s.to_str().map_err(|_| {
                ScriptError::invalid("a duration string must be valid UTF-8".to_owned())
            })?;
            duration::parse(&text).map_err(ScriptError::invalid)
        }
        Value::UserData(ud) if ud.is::<Duration>() => ud
            .borrow::<Duration>()
            .map(|d| d.0)
            .map_err(|e| ScriptError::invalid(e.to_string())),
        other => Err(ScriptError::invalid(format!(
            "duration must be number or string, got {}",
            lua_type(other)
        ))),
    }
}

/// A duration above zero for `function` (`time.after`, `time.timer`,
/// `time.ticker`).
fn positive_duration(function: &str, value: &Value) -> Outcome<std::time::Duration> {
    let nanos = duration_arg(value)?;
    u64::try_from(nanos)
        .ok()
        .filter(|n| *n > 0)
        .map(std::time::Duration::from_nanos)
        .ok_or_else(|| ScriptError::invalid(format!("{function}: duration must be > 0")))
}

/// The `Time` value scripts receive for the system clock's `at` (in the local
/// zone), as timers deliver it.
pub(crate) fn time_value(lua: &Lua, at: SystemTime) -> mlua::Result<Value> {
    lua.create_userdata(Time::from_system(at))
        .map(Value::UserData)
}

/// `time.sleep(d)`: nothing, after `d` (at once for 0 or less); `nil, err`
/// (`INVALID`) for a bad duration. Spawned coroutines run meanwhile.
async fn sleep(caller: Caller, value: Value) -> mlua::Result<MultiValue> {
    match duration_arg(&value) {
        Ok(nanos) => {
            let after = std::time::Duration::from_nanos(u64::try_from(nanos).unwrap_or(0));
            if after.is_zero() {
                // A turn for the others, not a trip through the timer wheel
                // (a millisecond each).
                caller.drive(YieldOnce(false)).await?;
            } else {
                caller.drive(tokio::time::sleep(after)).await?;
            }
            Ok(MultiValue::new())
        }
        Err(e) => returns::<Value>(&caller.lua()?, Err(e)),
    }
}

/// Pending once (waking itself at once), then ready: lets every other
/// coroutine that can go on run first.
struct YieldOnce(bool);

impl std::future::Future for YieldOnce {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

/// `time.after(d)`: a channel that receives a `Time` once, `d` from now.
fn after(lua: &Lua, value: Value) -> mlua::Result<MultiValue> {
    let outcome = positive_duration("time.after", &value).map(|after| {
        Channel::new(
            1,
            Some(Source::Timer(TimerControl::new(deadline_after(after)))),
        )
    });
    returns(lua, outcome)
}

/// `time.timer(d)`: a `Timer` whose channel receives a `Time` once, `d` from
/// now, unless it is stopped or moved first.
fn new_timer(lua: &Lua, value: Value) -> mlua::Result<MultiValue> {
    let outcome = match positive_duration("time.timer", &value) {
        Ok(after) => {
            let control = TimerControl::new(deadline_after(after));
            let source = Source::Timer(control.clone());
            Ok(with_channel(lua, Timer { control }, 1, source)?)
        }
        Err(e) => Err(e),
    };
    returns(lua, outcome)
}

/// `time.ticker(d)`: a `Ticker` whose channel receives a `Time` every `d`
/// until it is stopped.
fn new_ticker(lua: &Lua, value: Value) -> mlua::Result<MultiValue> {
    let outcome = match positive_duration("time.ticker", &value) {
        Ok(period) => {
            let control = TickerControl::new(period);
            let source = Source::Ticker(control.clone());
            Ok(with_channel(
                lua,
                Ticker { control },
                timer::TICKS_HELD,
                source,
            )?)
        }
        Err(e) => Err(e),
    };
    returns(lua, outcome)
}

/// `value` (a `Timer` or `Ticker`) for scripts, with the channel `source`
/// fills (holding up to `capacity` values) as its user value `"channel"`,
/// which `response()` hands out.
fn with_channel<T: UserData + MaybeSend + MaybeSync + 'static>(
    lua: &Lua,
    value: T,
    capacity: usize,
    source: Source,
) -> mlua::Result<AnyUserData> {
    let channel = lua.create_userdata(Channel::new(capacity, Some(source)))?;
    let value = lua.create_userdata(value)?;
    value.set_named_user_value("channel", channel)?;
    Ok(value)
}

/// An optional location argument: absent or `nil` is the local zone.
fn optional_location(
    value: Option<&Value>,
    position: usize,
    function: &str,
) -> mlua::Result<Location> {
    match value {
        None | Some(Value::Nil) => Ok(Location::local()),
        Some(value) => location_arg(value, position, function),
    }
}

/// A string argument (a number is taken as its text, as Go's `CheckString`
/// takes it).
fn string_arg(lua: &Lua, value: &Value, position: usize, function: &str) -> mlua::Result<String> {
    match value {
        Value::String(_) | Value::Integer(_) | Value::Number(_) => Ok(lua
            .coerce_string(value.clone())?
            .map(|s| s.to_string_lossy())
            .unwrap_or_default()),
        other => Err(bad_argument(
            position,
            function,
            &format!("string expected, got {}", lua_type(other)),
        )),
    }
}

/// `time.date(year, month, day, hour, min, sec, nsec, loc?)`.
fn date(lua: &Lua, args: MultiValue) -> mlua::Result<Time> {
    let args: Vec<Value> = args.into_iter().collect();
    let int = |i: usize| int_arg(lua, args.get(i).unwrap_or(&Value::Nil), i + 1, "date");
    let civil = Civil {
        year: int(0)?,
        month: int(1)?,
        day: int(2)?,
        hour: int(3)?,
        minute: int(4)?,
        second: int(5)?,
        nanosecond: int(6)?,
    };
    let location = optional_location(args.get(7), 8, "date")?;
    Ok(Time::from_civil(civil, location))
}

/// `time.unix(sec, nsec)`, in the local zone.
fn unix(lua: &Lua, (seconds, nanos): (Value, Value)) -> mlua::Result<Time> {
    let seconds = int_arg(lua, &seconds, 1, "unix")?;
    let nanos = int_arg(lua, &nanos, 2, "unix")?;
    Ok(Time {
        nanos: i128::from(seconds) * civil::NANOS_PER_SECOND + i128::from(nanos),
        location: Location::local(),
    })
}

/// `time.parse(layout, value, loc?)`: the time, or `nil, err` (`INVALID`,
/// Go's message).
fn parse(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let args: Vec<Value> = args.into_iter().collect();
    let layout = string_arg(lua, args.first().unwrap_or(&Value::Nil), 1, "parse")?;
    let text = string_arg(lua, args.get(1).unwrap_or(&Value::Nil), 2, "parse")?;
    let location = optional_location(args.get(2), 3, "parse")?;
    returns(
        lua,
        layout::parse(&layout, &text, &location).map_err(ScriptError::invalid),
    )
}

/// `time.parse_duration(d)`: a `Duration`, or `nil, err` (`INVALID`).
fn parse_duration(lua: &Lua, value: Value) -> mlua::Result<MultiValue> {
    returns(lua, duration_arg(&value).map(Duration))
}

/// `time.load_location(name)`: `UTC`, `Local`, or a zone of the IANA
/// database; `nil, err` (`INVALID` for an empty name, `NOT_FOUND` for one
/// that is not there).
fn load_location(lua: &Lua, name: Value) -> mlua::Result<MultiValue> {
    let name = string_arg(lua, &name, 1, "load_location")?;
    let outcome = match name.as_str() {
        "" => Err(ScriptError::invalid("empty location name".to_owned())),
        "UTC" => Ok(LocationValue(Location::Utc)),
        "Local" => Ok(LocationValue(Location::local())),
        // As Go: no way out of the zone database.
        _ if name.contains("..") || name.starts_with(['/', '\\']) => {
            Err(ScriptError::new(NOT_FOUND, "time: invalid location name").retryable(false))
        }
        _ => TimeZone::get(&name)
            .map(|tz| LocationValue(Location::Named(name.clone(), tz)))
            .map_err(|_| {
                ScriptError::new(NOT_FOUND, format!("unknown time zone {name}")).retryable(false)
            }),
    };
    returns(lua, outcome)
}

/// `time.fixed_zone(name, offset)`: a zone always `offset` seconds east of
/// UTC.
fn fixed_zone(lua: &Lua, (name, offset): (Value, Value)) -> mlua::Result<LocationValue> {
    let name = string_arg(lua, &name, 1, "fixed_zone")?;
    let offset = int_arg(lua, &offset, 2, "fixed_zone")?;
    let offset = i32::try_from(offset)
        .map_err(|_| bad_argument(2, "fixed_zone", "the offset is out of range"))?;
    Ok(LocationValue(Location::Fixed(name, offset)))
}

/// The `time` table.
pub(crate) fn module(lua: &Lua) -> mlua::Result<Table> {
    let time = lua.create_table()?;
    for (name, nanos) in [
        ("NANOSECOND", 1_i64),
        ("MICROSECOND", 1_000),
        ("MILLISECOND", 1_000_000),
        ("SECOND", 1_000_000_000),
        ("MINUTE", 60_000_000_000),
        ("HOUR", 3_600_000_000_000),
    ] {
        time.set(name, nanos)?;
    }
    for (name, layout) in [
        ("RFC3339", layout::RFC3339),
        ("RFC3339NANO", "2006-01-02T15:04:05.999999999Z07:00"),
        ("RFC822", "02 Jan 06 15:04 MST"),
        ("RFC822Z", "02 Jan 06 15:04 -0700"),
        ("RFC850", "Monday, 02-Jan-06 15:04:05 MST"),
        ("RFC1123", "Mon, 02 Jan 2006 15:04:05 MST"),
        ("RFC1123Z", "Mon, 02 Jan 2006 15:04:05 -0700"),
        ("KITCHEN", "3:04PM"),
        ("STAMP", "Jan _2 15:04:05"),
        ("STAMP_MILLI", "Jan _2 15:04:05.000"),
        ("STAMP_MICRO", "Jan _2 15:04:05.000000"),
        ("STAMP_NANO", "Jan _2 15:04:05.000000000"),
        ("DATE_TIME", "2006-01-02 15:04:05"),
        ("DATE_ONLY", "2006-01-02"),
        ("TIME_ONLY", "15:04:05"),
    ] {
        time.set(name, layout)?;
    }
    // time.JANUARY = 1 … time.DECEMBER = 12, time.SUNDAY = 0 … time.SATURDAY = 6.
    for (number, name) in (1_i64..).zip(layout::LONG_MONTHS) {
        time.set(name.to_ascii_uppercase(), number)?;
    }
    for (number, name) in (0_i64..).zip(layout::LONG_DAYS) {
        time.set(name.to_ascii_uppercase(), number)?;
    }
    time.set("utc", LocationValue(Location::Utc))?;
    time.set("localtz", LocationValue(Location::local()))?;
    time.set(
        "sleep",
        lua.create_async_function(|lua, value: Value| sleep(Caller::new(lua), value))?,
    )?;
    time.set("after", lua.create_function(after)?)?;
    time.set("timer", lua.create_function(new_timer)?)?;
    time.set("ticker", lua.create_function(new_ticker)?)?;
    time.set(
        "now",
        lua.create_function(|_, ()| Ok(Time::from_system(SystemTime::now())))?,
    )?;
    time.set("date", lua.create_function(date)?)?;
    time.set("unix", lua.create_function(unix)?)?;
    time.set("parse", lua.create_function(parse)?)?;
    time.set("parse_duration", lua.create_function(parse_duration)?)?;
    time.set("load_location", lua.create_function(load_location)?)?;
    time.set("fixed_zone", lua.create_function(fixed_zone)?)?;
    Ok(time)
}
