//! The values of Wippy's `time` module: `Time` (a moment and the location it
//! is shown in), `Duration` (nanoseconds) and `Location` (UTC, the local
//! zone, an IANA zone or a fixed offset), with their methods.

use super::civil::{self, Civil, NANOS_PER_SECOND};
use super::{duration, duration_arg, layout};
use crate::errors::{bad_argument, lua_type};
use jiff::Timestamp;
use jiff::tz::TimeZone;
use mlua::{Lua, MetaMethod, UserData, UserDataMethods, Value};
use std::time::SystemTime;

/// Nanoseconds from Go's zero time (January 1st of year 1, UTC) to the Unix
/// epoch.
const ZERO_TIME_NANOS: i128 = -62_135_596_800 * NANOS_PER_SECOND;

/// Where a time is shown: its offset from UTC and zone abbreviation at each
/// moment.
#[derive(Debug, Clone)]
pub(crate) enum Location {
    /// UTC, named `"UTC"`.
    Utc,
    /// The host's zone (`TZ`, `/etc/localtime`), named `"Local"`.
    Local(TimeZone),
    /// A zone of the IANA database, named as loaded.
    Named(String, TimeZone),
    /// `time.fixed_zone(name, offset)`: always `offset` seconds east of UTC.
    Fixed(String, i32),
}

impl Location {
    /// The host's zone (UTC when it cannot be found).
    pub(crate) fn local() -> Self {
        Location::Local(TimeZone::try_system().unwrap_or(TimeZone::UTC))
    }

    /// The name `loc:string()` and `tostring(loc)` give.
    pub(crate) fn name(&self) -> &str {
        match self {
            Location::Utc => "UTC",
            Location::Local(_) => "Local",
            Location::Named(name, _) | Location::Fixed(name, _) => name,
        }
    }

    /// The offset (seconds east of UTC) and zone abbreviation in force at
    /// `unix_seconds`.
    pub(crate) fn lookup(&self, unix_seconds: i64) -> (i32, String) {
        match self {
            Location::Utc => (0, "UTC".to_owned()),
            Location::Fixed(name, offset) => (*offset, name.clone()),
            Location::Local(tz) | Location::Named(_, tz) => {
                let info = tz.to_offset_info(timestamp(unix_seconds));
                (info.offset().seconds(), info.abbreviation().to_owned())
            }
        }
    }

    /// The zones (offset, abbreviation) in force around `unix_seconds`: the
    /// one then and those a few transitions before and after, for reading
    /// an abbreviation in `time.parse`.
    pub(crate) fn zones_around(&self, unix_seconds: i64) -> Vec<(i32, String)> {
        let mut zones = vec![self.lookup(unix_seconds)];
        if let Location::Local(tz) | Location::Named(_, tz) = self {
            let at = timestamp(unix_seconds);
            for transition in tz.preceding(at).take(4).chain(tz.following(at).take(4)) {
                zones.push((
                    transition.offset().seconds(),
                    transition.abbreviation().to_owned(),
                ));
            }
        }
        zones
    }

    /// The moment (Unix nanoseconds) at which the wall clock of this
    /// location shows `local_nanos`; in a gap or an overlap, what Go's
    /// `time.Date` picks.
    pub(crate) fn resolve(&self, local_nanos: i128) -> i128 {
        let local_seconds = civil::saturate(local_nanos.div_euclid(NANOS_PER_SECOND));
        let (guess, _) = self.lookup(local_seconds);
        let utc = local_seconds.saturating_sub(i64::from(guess));
        let (offset, _) = self.lookup(utc);
        let offset = if offset == guess { guess } else { offset };
        local_nanos - i128::from(offset) * NANOS_PER_SECOND
    }
}

/// `unix_seconds` as a jiff timestamp, brought within jiff's range (years
/// -9999 to 9999: zones have no other rules beyond).
fn timestamp(unix_seconds: i64) -> Timestamp {
    let bounded = unix_seconds.clamp(Timestamp::MIN.as_second(), Timestamp::MAX.as_second());
    Timestamp::from_second(bounded).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// A moment, shown in a location.
#[derive(Debug, Clone)]
pub(crate) struct Time {
    /// Nanoseconds since the Unix epoch.
    pub(crate) nanos: i128,
    pub(crate) location: Location,
}

impl Time {
    /// The moment `at` of the system clock, in the local zone.
    pub(crate) fn from_system(at: SystemTime) -> Self {
        let nanos = match at.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(after) => i128::try_from(after.as_nanos()).unwrap_or(i128::MAX),
            Err(before) => -i128::try_from(before.duration().as_nanos()).unwrap_or(i128::MAX),
        };
        Self {
            nanos,
            location: Location::local(),
        }
    }

    /// Go's `time.Date`: the wall-clock `civil` in `location`.
    pub(crate) fn from_civil(civil: Civil, location: Location) -> Self {
        Self {
            nanos: location.resolve(civil.local_nanos()),
            location,
        }
    }

    pub(crate) fn unix_seconds(&self) -> i64 {
        civil::saturate(self.nanos.div_euclid(NANOS_PER_SECOND))
    }

    /// The offset and zone abbreviation in force.
    pub(crate) fn zone(&self) -> (i32, String) {
        self.location.lookup(self.unix_seconds())
    }

    /// The wall-clock parts in the time's location.
    pub(crate) fn civil(&self) -> Civil {
        let (offset, _) = self.zone();
        Civil::from_local_nanos(self.nanos + i128::from(offset) * NANOS_PER_SECOND)
    }

    fn with_nanos(&self, nanos: i128) -> Self {
        Self {
            nanos,
            location: self.location.clone(),
        }
    }

    fn in_location(&self, location: Location) -> Self {
        Self {
            nanos: self.nanos,
            location,
        }
    }

    /// Go's `Round` (`up` false: `Truncate`) to a multiple of `step`
    /// nanoseconds since Go's zero time; a `step` of 0 or less changes
    /// nothing.
    fn round(&self, step: i64, up: bool) -> Self {
        if step <= 0 {
            return self.clone();
        }
        let step = i128::from(step);
        let remainder = (self.nanos - ZERO_TIME_NANOS).rem_euclid(step);
        let mut nanos = self.nanos - remainder;
        if up && remainder + remainder >= step {
            nanos += step;
        }
        self.with_nanos(nanos)
    }
}

/// A length of time in nanoseconds, as Go's `time.Duration`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Duration(pub(crate) i64);

/// The userdata behind a location.
#[derive(Debug, Clone)]
pub(crate) struct LocationValue(pub(crate) Location);

/// A `Time` argument, or an argument error naming `position` and `function`.
fn time_arg(value: &Value, position: usize, function: &str) -> mlua::Result<Time> {
    if let Value::UserData(ud) = value
        && let Ok(time) = ud.borrow::<Time>()
    {
        return Ok(time.clone());
    }
    Err(bad_argument(
        position,
        function,
        &format!("time expected, got {}", lua_type(value)),
    ))
}

/// A `Location` argument.
pub(crate) fn location_arg(
    value: &Value,
    position: usize,
    function: &str,
) -> mlua::Result<Location> {
    if let Value::UserData(ud) = value
        && let Ok(location) = ud.borrow::<LocationValue>()
    {
        return Ok(location.0.clone());
    }
    Err(bad_argument(
        position,
        function,
        &format!("location expected, got {}", lua_type(value)),
    ))
}

/// A `Duration` value (not a number or string) argument.
fn duration_value_arg(value: &Value, position: usize, function: &str) -> mlua::Result<i64> {
    if let Value::UserData(ud) = value
        && let Ok(duration) = ud.borrow::<Duration>()
    {
        return Ok(duration.0);
    }
    Err(bad_argument(
        position,
        function,
        &format!("duration expected, got {}", lua_type(value)),
    ))
}

/// An integer argument (a float is cut to its integer part, a numeric
/// string read), as Go's `CheckInt` takes it.
pub(crate) fn int_arg(
    lua: &Lua,
    value: &Value,
    position: usize,
    function: &str,
) -> mlua::Result<i64> {
    let number = match value {
        Value::Integer(n) => return Ok(*n),
        Value::Number(n) => Some(*n),
        Value::String(_) => lua.coerce_number(value.clone())?,
        _ => None,
    };
    match number {
        Some(n) if n.is_finite() => Ok(n as i64),
        _ => Err(bad_argument(
            position,
            function,
            &format!("number expected, got {}", lua_type(value)),
        )),
    }
}

impl UserData for Time {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(layout::format(
                this,
                "2006-01-02 15:04:05.999999999 -0700 MST",
            ))
        });
        methods.add_method("add", |_, this, value: Value| {
            let nanos = duration_arg(&value).map_err(|e| bad_argument(1, "add", e.message()))?;
            Ok(this.with_nanos(this.nanos + i128::from(nanos)))
        });
        methods.add_method("sub", |_, this, other: Value| {
            let other = time_arg(&other, 1, "sub")?;
            let difference =
                (this.nanos - other.nanos).clamp(i128::from(i64::MIN), i128::from(i64::MAX));
            Ok(Duration(civil::saturate(difference)))
        });
        methods.add_method(
            "add_date",
            |lua, this, (years, months, days): (Value, Value, Value)| {
                let mut civil = this.civil();
                civil.year = civil
                    .year
                    .saturating_add(int_arg(lua, &years, 1, "add_date")?);
                civil.month = civil
                    .month
                    .saturating_add(int_arg(lua, &months, 2, "add_date")?);
                civil.day = civil
                    .day
                    .saturating_add(int_arg(lua, &days, 3, "add_date")?);
                Ok(Time::from_civil(civil, this.location.clone()))
            },
        );
        methods.add_method("after", |_, this, other: Value| {
            Ok(this.nanos > time_arg(&other, 1, "after")?.nanos)
        });
        methods.add_method("before", |_, this, other: Value| {
            Ok(this.nanos < time_arg(&other, 1, "before")?.nanos)
        });
        methods.add_method("equal", |_, this, other: Value| {
            Ok(this.nanos == time_arg(&other, 1, "equal")?.nanos)
        });
        methods.add_method("format", |_, this, layout: Value| match layout {
            Value::String(layout) => Ok(layout::format(this, &layout.to_string_lossy())),
            other => Err(bad_argument(
                1,
                "format",
                &format!("string expected, got {}", lua_type(&other)),
            )),
        });
        methods.add_method("format_rfc3339", |_, this, ()| {
            Ok(layout::format(this, layout::RFC3339))
        });
        methods.add_method("unix", |_, this, ()| Ok(this.unix_seconds()));
        methods.add_method("unix_nano", |_, this, ()| {
            // Go's UnixNano: wraps past the years 1678 to 2262.
            Ok(this.nanos as i64)
        });
        methods.add_method("date", |_, this, ()| {
            let c = this.civil();
            Ok((c.year, c.month, c.day))
        });
        methods.add_method("clock", |_, this, ()| {
            let c = this.civil();
            Ok((c.hour, c.minute, c.second))
        });
        methods.add_method("year", |_, this, ()| Ok(this.civil().year));
        methods.add_method("month", |_, this, ()| Ok(this.civil().month));
        methods.add_method("day", |_, this, ()| Ok(this.civil().day));
        methods.add_method("hour", |_, this, ()| Ok(this.civil().hour));
        methods.add_method("minute", |_, this, ()| Ok(this.civil().minute));
        methods.add_method("second", |_, this, ()| Ok(this.civil().second));
        methods.add_method("nanosecond", |_, this, ()| Ok(this.civil().nanosecond));
        methods.add_method("weekday", |_, this, ()| {
            let c = this.civil();
            Ok(civil::weekday(civil::days_from_civil(
                c.year, c.month, c.day,
            )))
        });
        methods.add_method("year_day", |_, this, ()| {
            let c = this.civil();
            Ok(civil::year_day(c.year, c.month, c.day))
        });
        methods.add_method("is_zero", |_, this, ()| Ok(this.nanos == ZERO_TIME_NANOS));
        methods.add_method("in_location", |_, this, location: Value| {
            Ok(this.in_location(location_arg(&location, 1, "in_location")?))
        });
        methods.add_method("location", |_, this, ()| {
            Ok(LocationValue(this.location.clone()))
        });
        methods.add_method("utc", |_, this, ()| Ok(this.in_location(Location::Utc)));
        methods.add_method("in_local", |_, this, ()| {
            Ok(this.in_location(Location::local()))
        });
        methods.add_method("round", |_, this, step: Value| {
            Ok(this.round(duration_value_arg(&step, 1, "round")?, true))
        });
        methods.add_method("truncate", |_, this, step: Value| {
            Ok(this.round(duration_value_arg(&step, 1, "truncate")?, false))
        });
    }
}

impl UserData for Duration {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(duration::format(this.0))
        });
        methods.add_method("nanoseconds", |_, this, ()| Ok(this.0));
        methods.add_method("microseconds", |_, this, ()| Ok(this.0 / 1_000));
        methods.add_method("milliseconds", |_, this, ()| Ok(this.0 / 1_000_000));
        methods.add_method("seconds", |_, this, ()| Ok(in_units(this.0, 1_000_000_000)));
        methods.add_method("minutes", |_, this, ()| {
            Ok(in_units(this.0, 60_000_000_000))
        });
        methods.add_method("hours", |_, this, ()| {
            Ok(in_units(this.0, 3_600_000_000_000))
        });
    }
}

/// `nanos` in a unit of `unit` nanoseconds, as Go's `Seconds()`,
/// `Minutes()` and `Hours()` compute it (whole units, then the rest).
fn in_units(nanos: i64, unit: i64) -> f64 {
    (nanos / unit) as f64 + (nanos % unit) as f64 / unit as f64
}

impl UserData for LocationValue {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(this.0.name().to_owned())
        });
        methods.add_method("string", |_, this, ()| Ok(this.0.name().to_owned()));
    }
}
