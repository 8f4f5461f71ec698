//! The part of Wippy's `time` module that scripts use with exec:
//! `time.sleep(d)`, `time.after(d)` and the duration constants
//! (`time.NANOSECOND` … `time.HOUR`, in nanoseconds).
//!
//! A duration is what Wippy takes: a number of nanoseconds (`5 *
//! time.SECOND`), or a Go duration string (`"5s"`, `"250ms"`, `"1h30m"`,
//! `"1.5s"`; units `ns`, `us`, `µs`, `ms`, `s`, `m`, `h`).

use crate::channel::{Channel, Source};
use crate::errors::{Outcome, ScriptError, lua_type, returns};
use crate::scheduler::Caller;
use mlua::{Lua, MultiValue, Table, Value};
use std::time::Duration;

/// Nanoseconds in each unit of a duration string.
const UNITS: [(&str, i128); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// A duration given to `time.sleep` or `time.after`, in nanoseconds (may be
/// zero or negative).
pub(crate) fn duration(value: &Value) -> Outcome<i128> {
    match value {
        Value::Integer(n) => Ok(i128::from(*n)),
        Value::Number(n) if n.is_finite() && n.abs() < 9.2e18 => Ok(n.round() as i128),
        Value::String(s) => {
            let text = s.to_str().map_err(|_| {
                ScriptError::invalid("a duration string must be valid UTF-8".to_owned())
            })?;
            parse_duration(&text).ok_or_else(|| {
                ScriptError::invalid(format!(
                    "invalid duration {:?}: write a number of nanoseconds or a string \
                     such as \"5s\", \"250ms\" or \"1h30m\" (units ns, us, ms, s, m, h)",
                    text.to_string()
                ))
            })
        }
        other => Err(ScriptError::invalid(format!(
            "a duration is a number of nanoseconds or a string such as \"5s\", got {}",
            lua_type(other)
        ))),
    }
}

/// Go's `time.ParseDuration`: `[-+]?([0-9]*(\.[0-9]*)?unit)+`, or `0`.
fn parse_duration(text: &str) -> Option<i128> {
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (whole, after) = rest.split_at(digits);
        let (fraction, after) = match after.strip_prefix('.') {
            Some(after) => {
                let n = after.bytes().take_while(u8::is_ascii_digit).count();
                after.split_at(n)
            }
            None => ("", after),
        };
        if whole.is_empty() && fraction.is_empty() {
            return None;
        }
        let unit_len = after
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(after.len(), |(i, _)| i);
        let (unit, after) = after.split_at(unit_len);
        let scale = UNITS.iter().find(|(name, _)| *name == unit)?.1;
        let whole: i128 = if whole.is_empty() {
            0
        } else {
            whole.parse().ok()?
        };
        let mut part = whole.checked_mul(scale)?;
        // At most 18 fraction digits count: beyond, they are below a nanosecond.
        let fraction = &fraction[..fraction.len().min(18)];
        if !fraction.is_empty() {
            let digits: i128 = fraction.parse().ok()?;
            let divisor = 10_i128.pow(u32::try_from(fraction.len()).ok()?);
            part = part.checked_add(digits.checked_mul(scale)? / divisor)?;
        }
        total = total.checked_add(part)?;
        if total > i128::from(i64::MAX) {
            return None;
        }
        rest = after;
    }
    Some(if negative { -total } else { total })
}

fn to_std(nanos: i128) -> Duration {
    Duration::from_nanos(u64::try_from(nanos.max(0)).unwrap_or(u64::MAX))
}

/// `time.sleep(d)`: nothing, after `d` (at once for 0 or less); `nil, err`
/// (`INVALID`) for a bad duration. Spawned coroutines run meanwhile.
async fn sleep(caller: Caller, value: Value) -> mlua::Result<MultiValue> {
    match duration(&value) {
        Ok(nanos) => {
            caller.drive(tokio::time::sleep(to_std(nanos))).await?;
            Ok(MultiValue::new())
        }
        Err(e) => returns::<Value>(&caller.lua()?, Err(e)),
    }
}

/// `time.after(d)`: a channel that receives once, `d` from now (the time in
/// seconds since the Unix epoch); `nil, err` (`INVALID`) for a bad duration
/// or one of 0 or less.
fn after(lua: &Lua, value: Value) -> mlua::Result<MultiValue> {
    let outcome = duration(&value).and_then(|nanos| {
        if nanos <= 0 {
            return Err(ScriptError::invalid(format!(
                "time.after needs a duration above 0, got {nanos}ns"
            )));
        }
        let now = tokio::time::Instant::now();
        let deadline = now
            .checked_add(to_std(nanos))
            .unwrap_or_else(|| now + Duration::from_secs(30 * 365 * 86_400));
        Ok(Channel::new(1, Some(Source::Timer(deadline))))
    });
    returns(lua, outcome)
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
    time.set(
        "sleep",
        lua.create_async_function(|lua, value: Value| sleep(Caller::new(lua), value))?,
    )?;
    time.set("after", lua.create_function(after)?)?;
    Ok(time)
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn go_duration_strings_parse_to_nanoseconds() {
        for (text, nanos) in [
            ("0", 0),
            ("5s", 5_000_000_000),
            ("250ms", 250_000_000),
            ("1h30m", 5_400_000_000_000),
            ("1.5s", 1_500_000_000),
            (".5s", 500_000_000),
            ("1.s", 1_000_000_000),
            ("-2m", -120_000_000_000),
            ("+3us", 3_000),
            ("3µs", 3_000),
            ("1h2m3s4ms5us6ns", 3_723_004_005_006),
            ("2562047h47m16.854775807s", i128::from(i64::MAX)),
        ] {
            assert_eq!(parse_duration(text), Some(nanos), "{text}");
        }
        for bad in [
            "", "5", "s", ".s", "5 s", "5sec", "1.2.3s", "-", "2562048h", "1e3s", "+",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }
}
