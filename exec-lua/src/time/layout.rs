//! Go's time layouts, for `t:format(layout)` and `time.parse(layout, value)`:
//! the reference time `Mon Jan 2 15:04:05 MST 2006` written as the result
//! should look (`"2006-01-02"`, `"3:04PM"`, `"Z07:00"`, `".000"`, …), with
//! Go's rules for each element and Go's parse error messages.

use super::civil::{self, Civil};
use super::duration::quote;
use super::value::{Location, Time};
use std::ops::RangeInclusive;

/// Go's `time.RFC3339`.
pub(crate) const RFC3339: &str = "2006-01-02T15:04:05Z07:00";

pub(crate) const LONG_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
pub(crate) const LONG_DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// One element of a layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Element {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    Pm,
    LowerPm,
    Tz,
    /// A numeric offset: `-0700`, `-07:00`, `-07`, `-070000`, `-07:00:00`,
    /// or the same after `Z` (ISO 8601: `Z` stands for UTC).
    Offset(OffsetForm),
    /// `.000` (digits kept) or `.999` (trailing zeros dropped), with its
    /// separator (`.` or `,`) and number of digits.
    Fraction {
        trim: bool,
        digits: usize,
        separator: u8,
    },
}

/// How a numeric zone offset is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct OffsetForm {
    /// `Z07…`: `Z` for UTC.
    iso: bool,
    /// `-07:00`: a colon between the parts.
    colon: bool,
    /// `-07`: hours only.
    short: bool,
    /// `-070000`: seconds too.
    seconds: bool,
}

/// The offset element written `text` (`"-07:00"`, `"Z0700"`, …), and its
/// length, if `layout` starts with it.
fn offset_form(layout: &[u8]) -> Option<(OffsetForm, usize)> {
    let iso = layout.first() == Some(&b'Z');
    // Longest first, as Go matches them.
    [
        ("070000", false, false, true),
        ("07:00:00", true, false, true),
        ("0700", false, false, false),
        ("07:00", true, false, false),
        ("07", false, true, false),
    ]
    .into_iter()
    .find(|(text, ..)| layout[1..].starts_with(text.as_bytes()))
    .map(|(text, colon, short, seconds)| {
        let form = OffsetForm {
            iso,
            colon,
            short,
            seconds,
        };
        (form, 1 + text.len())
    })
}

/// Whether `s` starts with a lower-case ASCII letter.
fn starts_lower(s: &[u8]) -> bool {
    s.first().is_some_and(u8::is_ascii_lowercase)
}

/// Go's `nextStdChunk`: the literal text before the first element, the
/// element (`None` at the end) and what follows it.
fn next_element(layout: &[u8]) -> (&[u8], Option<Element>, &[u8]) {
    use Element::*;
    let at = |i: usize, text: &str| layout[i..].starts_with(text.as_bytes());
    for i in 0..layout.len() {
        let found: Option<(Element, usize)> = match layout[i] {
            b'J' if at(i, "January") => Some((LongMonth, 7)),
            b'J' if at(i, "Jan") && !starts_lower(&layout[i + 3..]) => Some((Month, 3)),
            b'M' if at(i, "Monday") => Some((LongWeekDay, 6)),
            b'M' if at(i, "Mon") && !starts_lower(&layout[i + 3..]) => Some((WeekDay, 3)),
            b'M' if at(i, "MST") => Some((Tz, 3)),
            b'0' => match layout.get(i + 1) {
                Some(b'1') => Some((ZeroMonth, 2)),
                Some(b'2') => Some((ZeroDay, 2)),
                Some(b'3') => Some((ZeroHour12, 2)),
                Some(b'4') => Some((ZeroMinute, 2)),
                Some(b'5') => Some((ZeroSecond, 2)),
                Some(b'6') => Some((Year, 2)),
                Some(b'0') if layout.get(i + 2) == Some(&b'2') => Some((ZeroYearDay, 3)),
                _ => None,
            },
            b'1' if layout.get(i + 1) == Some(&b'5') => Some((Hour, 2)),
            b'1' => Some((NumMonth, 1)),
            b'2' if at(i, "2006") => Some((LongYear, 4)),
            b'2' => Some((Day, 1)),
            b'_' if layout.get(i + 1) == Some(&b'2') => {
                if at(i + 1, "2006") {
                    // `_2006` is a literal `_` and then the year.
                    return (&layout[..=i], Some(LongYear), &layout[i + 5..]);
                }
                Some((UnderDay, 2))
            }
            b'_' if at(i, "__2") => Some((UnderYearDay, 3)),
            b'3' => Some((Hour12, 1)),
            b'4' => Some((Minute, 1)),
            b'5' => Some((Second, 1)),
            b'P' if layout.get(i + 1) == Some(&b'M') => Some((Pm, 2)),
            b'p' if layout.get(i + 1) == Some(&b'm') => Some((LowerPm, 2)),
            b'-' | b'Z' => offset_form(&layout[i..]).map(|(form, len)| (Offset(form), len)),
            separator @ (b'.' | b',') => match layout.get(i + 1) {
                Some(&digit @ (b'0' | b'9')) => {
                    let digits = layout[i + 1..].iter().take_while(|&&b| b == digit).count();
                    // Only a fraction if no other digit follows the run.
                    if layout.get(i + 1 + digits).is_some_and(u8::is_ascii_digit) {
                        None
                    } else {
                        Some((
                            Fraction {
                                trim: digit == b'9',
                                digits,
                                separator,
                            },
                            1 + digits,
                        ))
                    }
                }
                _ => None,
            },
            _ => None,
        };
        if let Some((element, len)) = found {
            return (&layout[..i], Some(element), &layout[i + len..]);
        }
    }
    (layout, None, &[])
}

/// `number` in at least `width` digits (a `-` before a negative one).
fn push_int(out: &mut String, number: i64, width: usize) {
    if number < 0 {
        out.push('-');
    }
    out.push_str(&format!("{:0width$}", number.unsigned_abs()));
}

/// Go's `Time.Format`.
pub(crate) fn format(time: &Time, layout: &str) -> String {
    use Element::*;
    let c: Civil = time.civil();
    let (offset, abbreviation) = time.zone();
    let mut out = String::with_capacity(layout.len() + 10);
    let mut rest = layout.as_bytes();
    loop {
        let (literal, element, after) = next_element(rest);
        out.push_str(&String::from_utf8_lossy(literal));
        let Some(element) = element else {
            break;
        };
        rest = after;
        let month_index = usize::try_from(c.month - 1).unwrap_or(0).min(11);
        let weekday = civil::weekday(civil::days_from_civil(c.year, c.month, c.day));
        let day_index = usize::try_from(weekday).unwrap_or(0).min(6);
        match element {
            Year => push_int(&mut out, c.year.abs() % 100, 2),
            LongYear => push_int(&mut out, c.year, 4),
            Month => out.push_str(&LONG_MONTHS[month_index][..3]),
            LongMonth => out.push_str(LONG_MONTHS[month_index]),
            NumMonth => push_int(&mut out, c.month, 0),
            ZeroMonth => push_int(&mut out, c.month, 2),
            WeekDay => out.push_str(&LONG_DAYS[day_index][..3]),
            LongWeekDay => out.push_str(LONG_DAYS[day_index]),
            Day => push_int(&mut out, c.day, 0),
            UnderDay => {
                if c.day < 10 {
                    out.push(' ');
                }
                push_int(&mut out, c.day, 0);
            }
            ZeroDay => push_int(&mut out, c.day, 2),
            UnderYearDay | ZeroYearDay => {
                let yday = civil::year_day(c.year, c.month, c.day);
                if element == UnderYearDay {
                    if yday < 100 {
                        out.push(' ');
                    }
                    if yday < 10 {
                        out.push(' ');
                    }
                    push_int(&mut out, yday, 0);
                } else {
                    push_int(&mut out, yday, 3);
                }
            }
            Hour => push_int(&mut out, c.hour, 2),
            Hour12 | ZeroHour12 => {
                let hour = match c.hour % 12 {
                    0 => 12,
                    h => h,
                };
                push_int(&mut out, hour, if element == Hour12 { 0 } else { 2 });
            }
            Minute => push_int(&mut out, c.minute, 0),
            ZeroMinute => push_int(&mut out, c.minute, 2),
            Second => push_int(&mut out, c.second, 0),
            ZeroSecond => push_int(&mut out, c.second, 2),
            Pm => out.push_str(if c.hour >= 12 { "PM" } else { "AM" }),
            LowerPm => out.push_str(if c.hour >= 12 { "pm" } else { "am" }),
            Offset(form) if form.iso && offset == 0 => out.push('Z'),
            Offset(form) => {
                let absolute = i64::from(offset).abs();
                out.push(if offset < 0 { '-' } else { '+' });
                push_int(&mut out, absolute / 3_600, 2);
                if !form.short {
                    if form.colon {
                        out.push(':');
                    }
                    push_int(&mut out, absolute / 60 % 60, 2);
                }
                if form.seconds {
                    if form.colon {
                        out.push(':');
                    }
                    push_int(&mut out, absolute % 60, 2);
                }
            }
            Tz => {
                if abbreviation.is_empty() {
                    let minutes = i64::from(offset) / 60;
                    out.push(if minutes < 0 { '-' } else { '+' });
                    push_int(&mut out, minutes.abs() / 60, 2);
                    push_int(&mut out, minutes.abs() % 60, 2);
                } else {
                    out.push_str(&abbreviation);
                }
            }
            Fraction {
                trim,
                digits,
                separator,
            } => {
                if trim && (digits == 0 || c.nanosecond == 0) {
                    continue;
                }
                let mut fraction = format!("{:09}", c.nanosecond);
                fraction.truncate(digits.min(9));
                if trim {
                    let kept = fraction.trim_end_matches('0').len();
                    fraction.truncate(kept);
                    if fraction.is_empty() {
                        continue;
                    }
                }
                out.push(char::from(separator));
                out.push_str(&fraction);
            }
        }
    }
    out
}

/// Why a parse failed: Go's `ParseError` message.
fn parse_error(layout: &str, value: &str, layout_elem: &[u8], value_elem: &[u8]) -> String {
    format!(
        "parsing time {} as {}: cannot parse {} as {}",
        quote(value),
        quote(layout),
        quote(&String::from_utf8_lossy(value_elem)),
        quote(&String::from_utf8_lossy(layout_elem))
    )
}

/// Go's `skip`: the literal `prefix` at the start of `value` (a space in it
/// matching one or more spaces), or `None`.
fn skip<'v>(mut value: &'v [u8], mut prefix: &[u8]) -> Option<&'v [u8]> {
    while let Some(&first) = prefix.first() {
        if first == b' ' {
            if value.first().is_some_and(|&b| b != b' ') {
                return None;
            }
            prefix = trim_spaces(prefix);
            value = trim_spaces(value);
            continue;
        }
        if value.first() != Some(&first) {
            return None;
        }
        prefix = &prefix[1..];
        value = &value[1..];
    }
    Some(value)
}

fn trim_spaces(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| b == b' ').count();
    &s[n..]
}

/// Go's `getnum`: one or two digits (`fixed`: exactly two).
fn getnum(value: &[u8], fixed: bool) -> Option<(i64, &[u8])> {
    let digit = |i: usize| {
        value
            .get(i)
            .filter(|b| b.is_ascii_digit())
            .map(|b| i64::from(b - b'0'))
    };
    let first = digit(0)?;
    match digit(1) {
        Some(second) => Some((first * 10 + second, &value[2..])),
        None if fixed => None,
        None => Some((first, &value[1..])),
    }
}

/// Go's `getnum3`: one to three digits (`fixed`: exactly three).
fn getnum3(value: &[u8], fixed: bool) -> Option<(i64, &[u8])> {
    let n = value
        .iter()
        .take(3)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if n == 0 || (fixed && n != 3) {
        return None;
    }
    let number = value[..n]
        .iter()
        .fold(0, |acc, b| acc * 10 + i64::from(b - b'0'));
    Some((number, &value[n..]))
}

/// Go's `lookup`: which of `names` (any case) `value` starts with.
fn lookup<'v>(names: &[&str], value: &'v [u8], short: bool) -> Option<(usize, &'v [u8])> {
    names.iter().enumerate().find_map(|(index, name)| {
        let name = if short { &name[..3] } else { name };
        (value.len() >= name.len() && value[..name.len()].eq_ignore_ascii_case(name.as_bytes()))
            .then(|| (index, &value[name.len()..]))
    })
}

/// Go's `parseNanoseconds`: a separator and up to nine digits of fraction
/// in the first `len` bytes of `value`.
fn parse_nanoseconds(value: &[u8], len: usize) -> Option<i64> {
    if !matches!(value.first(), Some(b'.' | b',')) {
        return None;
    }
    let len = len.min(10);
    let digits = value.get(1..len)?;
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut nanos = digits
        .iter()
        .fold(0_i64, |acc, b| acc * 10 + i64::from(b - b'0'));
    for _ in len..10 {
        nanos *= 10;
    }
    Some(nanos)
}

/// Go's `parseTimeZone`: how long the zone abbreviation at the start of
/// `value` is.
fn zone_name_len(value: &[u8]) -> Option<usize> {
    if value.len() < 3 {
        return None;
    }
    if value.starts_with(b"ChST") || value.starts_with(b"MeST") {
        return Some(4);
    }
    if value.starts_with(b"GMT") {
        return Some(3 + signed_offset_len(&value[3..]));
    }
    if value[0] == b'+' || value[0] == b'-' {
        let len = signed_offset_len(value);
        return (len > 0).then_some(len);
    }
    let upper = value
        .iter()
        .take(6)
        .take_while(|b| b.is_ascii_uppercase())
        .count();
    match upper {
        3 => Some(3),
        4 if value[3] == b'T' || value.starts_with(b"WITA") => Some(4),
        5 if value[4] == b'T' => Some(5),
        _ => None,
    }
}

/// Go's `parseSignedOffset`: the length of `+h`/`-h` (hours up to 23) at the
/// start of `value`, or 0.
fn signed_offset_len(value: &[u8]) -> usize {
    let Some(&sign) = value.first() else {
        return 0;
    };
    if sign != b'+' && sign != b'-' {
        return 0;
    }
    let digits = value[1..].iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return 0;
    }
    let hours = value[1..=digits].iter().try_fold(0_u64, |acc, b| {
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    });
    match hours {
        Some(h) if h <= 23 => 1 + digits,
        _ => 0,
    }
}

/// The parts read so far.
struct Fields {
    year: i64,
    month: i64,
    day: i64,
    yday: i64,
    hour: i64,
    minute: i64,
    second: i64,
    nanosecond: i64,
    pm: Option<bool>,
    utc: bool,
    zone_offset: Option<i32>,
    zone_name: String,
}

/// Go's `time.ParseInLocation`: `value` read as `layout`, in `location`
/// unless the text names a zone; the error is Go's message.
pub(crate) fn parse<'v>(layout: &str, value: &'v str, location: &Location) -> Result<Time, String> {
    use Element::*;
    let mut f = Fields {
        year: 0,
        month: -1,
        day: -1,
        yday: -1,
        hour: 0,
        minute: 0,
        second: 0,
        nanosecond: 0,
        pm: None,
        utc: false,
        zone_offset: None,
        zone_name: String::new(),
    };
    let range = |what: &str| format!("parsing time {}: {what} out of range", quote(value));
    let mut rest_layout = layout.as_bytes();
    let mut rest = value.as_bytes();
    loop {
        let (prefix, element, after) = next_element(rest_layout);
        let element_text = &rest_layout[prefix.len()..rest_layout.len() - after.len()];
        rest = skip(rest, prefix).ok_or_else(|| parse_error(layout, value, prefix, rest))?;
        let Some(element) = element else {
            if !rest.is_empty() {
                return Err(format!(
                    "parsing time {}: extra text: {}",
                    quote(value),
                    quote(&String::from_utf8_lossy(rest))
                ));
            }
            break;
        };
        rest_layout = after;
        let hold = rest;
        let bad = || parse_error(layout, value, element_text, hold);
        // Go's `getnum`, then its range check for the field `what`.
        let number = |text: &'v [u8], fixed: bool, bounds: RangeInclusive<i64>, what: &str| {
            let (number, after) = getnum(text, fixed).ok_or_else(bad)?;
            if bounds.contains(&number) {
                Ok((number, after))
            } else {
                Err(range(what))
            }
        };
        match element {
            Year => {
                let digits = rest
                    .get(..2)
                    .filter(|d| d.iter().all(u8::is_ascii_digit))
                    .ok_or_else(bad)?;
                let year = i64::from(digits[0] - b'0') * 10 + i64::from(digits[1] - b'0');
                f.year = if year >= 69 { 1900 + year } else { 2000 + year };
                rest = &rest[2..];
            }
            LongYear => {
                let digits = rest
                    .get(..4)
                    .filter(|d| d.iter().all(u8::is_ascii_digit))
                    .ok_or_else(bad)?;
                f.year = digits
                    .iter()
                    .fold(0, |acc, b| acc * 10 + i64::from(b - b'0'));
                rest = &rest[4..];
            }
            Month | LongMonth => {
                let (index, after) =
                    lookup(&LONG_MONTHS, rest, element == Month).ok_or_else(bad)?;
                f.month = i64::try_from(index).unwrap_or(0) + 1;
                rest = after;
            }
            NumMonth | ZeroMonth => {
                (f.month, rest) = number(rest, element == ZeroMonth, 1..=12, "month")?;
            }
            WeekDay | LongWeekDay => {
                let (_, after) = lookup(&LONG_DAYS, rest, element == WeekDay).ok_or_else(bad)?;
                rest = after;
            }
            Day | UnderDay | ZeroDay => {
                if element == UnderDay && rest.first() == Some(&b' ') {
                    rest = &rest[1..];
                }
                let (day, after) = getnum(rest, element == ZeroDay).ok_or_else(bad)?;
                f.day = day;
                rest = after;
            }
            UnderYearDay | ZeroYearDay => {
                for _ in 0..2 {
                    if element == UnderYearDay && rest.first() == Some(&b' ') {
                        rest = &rest[1..];
                    }
                }
                let (yday, after) = getnum3(rest, element == ZeroYearDay).ok_or_else(bad)?;
                f.yday = yday;
                rest = after;
            }
            Hour => (f.hour, rest) = number(rest, false, 0..=23, "hour")?,
            Hour12 | ZeroHour12 => {
                (f.hour, rest) = number(rest, element == ZeroHour12, 0..=12, "hour")?;
            }
            Minute | ZeroMinute => {
                (f.minute, rest) = number(rest, element == ZeroMinute, 0..=59, "minute")?;
            }
            Second | ZeroSecond => {
                (f.second, rest) = number(rest, element == ZeroSecond, 0..=59, "second")?;
                // A fraction in the text that the layout does not name is
                // read here, as Go reads it.
                if rest.len() >= 2
                    && matches!(rest[0], b'.' | b',')
                    && rest[1].is_ascii_digit()
                    && !matches!(next_element(rest_layout).1, Some(Fraction { .. }))
                {
                    let len = 1 + rest[1..].iter().take_while(|b| b.is_ascii_digit()).count();
                    f.nanosecond = parse_nanoseconds(rest, len).ok_or_else(bad)?;
                    rest = &rest[len..];
                }
            }
            Pm | LowerPm => {
                let text = rest.get(..2).ok_or_else(bad)?;
                let (pm, am) = if element == Pm {
                    (b"PM", b"AM")
                } else {
                    (b"pm", b"am")
                };
                f.pm = if text == pm {
                    Some(true)
                } else if text == am {
                    Some(false)
                } else {
                    return Err(bad());
                };
                rest = &rest[2..];
            }
            Offset(form) if form.iso && rest.first() == Some(&b'Z') => {
                f.utc = true;
                rest = &rest[1..];
            }
            Offset(form) => match numeric_zone(form, rest) {
                Ok((offset, after)) => {
                    f.zone_offset = Some(offset);
                    rest = after;
                }
                Err(Some(what)) => return Err(range(what)),
                Err(None) => return Err(bad()),
            },
            Tz => {
                if rest.starts_with(b"UTC") {
                    f.utc = true;
                    rest = &rest[3..];
                } else {
                    let len = zone_name_len(rest).ok_or_else(bad)?;
                    f.zone_name = String::from_utf8_lossy(&rest[..len]).into_owned();
                    rest = &rest[len..];
                }
            }
            Fraction {
                trim: false,
                digits,
                ..
            } => {
                let len = 1 + digits;
                if rest.len() < len {
                    return Err(bad());
                }
                f.nanosecond = parse_nanoseconds(rest, len).ok_or_else(bad)?;
                rest = &rest[len..];
            }
            Fraction { trim: true, .. } => {
                if rest.len() >= 2 && matches!(rest[0], b'.' | b',') && rest[1].is_ascii_digit() {
                    let len = 1 + rest[1..].iter().take_while(|b| b.is_ascii_digit()).count();
                    f.nanosecond = parse_nanoseconds(rest, len).ok_or_else(bad)?;
                    rest = &rest[len..];
                }
            }
        }
    }
    finish(f, value, location)
}

/// A numeric zone offset (`-0700`, `-07:00`, `-07`, `-070000`,
/// `-07:00:00`) at the start of `value`, in seconds east of UTC; the error
/// names the part out of range, or is `None` for text that is no offset.
fn numeric_zone(form: OffsetForm, value: &[u8]) -> Result<(i32, &[u8]), Option<&'static str>> {
    let has_colons = |at: &[usize]| at.iter().all(|&i| value[i] == b':');
    let (hour, minute, second, len): (&[u8], &[u8], &[u8], usize) =
        match (form.colon, form.short, form.seconds) {
            (true, _, true) if value.len() >= 9 && has_colons(&[3, 6]) => {
                (&value[1..3], &value[4..6], &value[7..9], 9)
            }
            (true, _, false) if value.len() >= 6 && has_colons(&[3]) => {
                (&value[1..3], &value[4..6], b"00", 6)
            }
            (false, true, _) if value.len() >= 3 => (&value[1..3], b"00", b"00", 3),
            (false, false, true) if value.len() >= 7 => {
                (&value[1..3], &value[3..5], &value[5..7], 7)
            }
            (false, false, false) if value.len() >= 5 => (&value[1..3], &value[3..5], b"00", 5),
            _ => return Err(None),
        };
    let (h, _) = getnum(hour, true).ok_or(None)?;
    let (m, _) = getnum(minute, true).ok_or(None)?;
    let (s, _) = getnum(second, true).ok_or(None)?;
    // As Go: more than 24 hours (not 24 itself) is out of range.
    if h > 24 {
        return Err(Some("time zone offset hour"));
    }
    if m > 60 {
        return Err(Some("time zone offset minute"));
    }
    if s > 60 {
        return Err(Some("time zone offset second"));
    }
    let offset = i32::try_from((h * 60 + m) * 60 + s).map_err(|_| None)?;
    match value[0] {
        b'+' => Ok((offset, &value[len..])),
        b'-' => Ok((-offset, &value[len..])),
        _ => Err(None),
    }
}

/// The end of Go's `parse`: the day of the year, the day's range, and the
/// zone.
fn finish(mut f: Fields, value: &str, location: &Location) -> Result<Time, String> {
    if f.pm == Some(true) && f.hour < 12 {
        f.hour += 12;
    } else if f.pm == Some(false) && f.hour == 12 {
        f.hour = 0;
    }
    if f.yday >= 0 {
        let days_in_year = if civil::is_leap(f.year) { 366 } else { 365 };
        if f.yday < 1 || f.yday > days_in_year {
            return Err(format!(
                "parsing time {}: day-of-year out of range",
                quote(value)
            ));
        }
        let days = civil::days_from_civil(f.year, 1, 1) + f.yday - 1;
        let (_, month, day) = civil::civil_from_days(days);
        if f.month >= 0 && f.month != month {
            return Err(format!(
                "parsing time {}: day-of-year does not match month",
                quote(value)
            ));
        }
        if f.day >= 0 && f.day != day {
            return Err(format!(
                "parsing time {}: day-of-year does not match day",
                quote(value)
            ));
        }
        f.month = month;
        f.day = day;
    } else {
        if f.month < 0 {
            f.month = 1;
        }
        if f.day < 0 {
            f.day = 1;
        }
    }
    if f.day < 1 || f.day > civil::days_in_month(f.year, f.month) {
        return Err(format!("parsing time {}: day out of range", quote(value)));
    }
    let civil = Civil {
        year: f.year,
        month: f.month,
        day: f.day,
        hour: f.hour,
        minute: f.minute,
        second: f.second,
        nanosecond: f.nanosecond,
    };
    if f.utc {
        return Ok(Time::from_civil(civil, Location::Utc));
    }
    let as_utc = Time::from_civil(civil, Location::Utc);
    if let Some(offset) = f.zone_offset {
        let nanos = as_utc.nanos - i128::from(offset) * civil::NANOS_PER_SECOND;
        // The location itself when it had this offset (and name) then;
        // otherwise a fixed zone recording the offset.
        let (local_offset, local_name) =
            location.lookup(civil::saturate(nanos.div_euclid(civil::NANOS_PER_SECOND)));
        let location =
            if local_offset == offset && (f.zone_name.is_empty() || local_name == f.zone_name) {
                location.clone()
            } else {
                Location::Fixed(f.zone_name, offset)
            };
        return Ok(Time { nanos, location });
    }
    if !f.zone_name.is_empty() {
        let unix = as_utc.unix_seconds();
        if let Some(offset) = offset_of_name(location, &f.zone_name, unix) {
            let nanos = as_utc.nanos - i128::from(offset) * civil::NANOS_PER_SECOND;
            return Ok(Time {
                nanos,
                location: location.clone(),
            });
        }
        // An abbreviation the location does not know: recorded with the
        // offset of a `GMT+h` name, else 0, as Go does.
        let offset = f
            .zone_name
            .strip_prefix("GMT")
            .and_then(|h| h.parse::<i32>().ok())
            .map_or(0, |h| h * 3_600);
        let nanos = as_utc.nanos - i128::from(offset) * civil::NANOS_PER_SECOND;
        return Ok(Time {
            nanos,
            location: Location::Fixed(f.zone_name, offset),
        });
    }
    Ok(Time::from_civil(civil, location.clone()))
}

/// Go's `Location.lookupName`: the offset of the zone called `name` in
/// `location`, preferring one that was in force at `unix`.
fn offset_of_name(location: &Location, name: &str, unix: i64) -> Option<i32> {
    let zones = location.zones_around(unix);
    let named = || zones.iter().filter(|(_, zone)| zone == name);
    named()
        .find_map(|(offset, _)| {
            let (in_force, zone) = location.lookup(unix - i64::from(*offset));
            (zone == name).then_some(in_force)
        })
        .or_else(|| named().next().map(|(offset, _)| *offset))
}

#[cfg(test)]
mod tests {
    use super::{Element, OffsetForm, next_element};

    #[test]
    fn layouts_split_into_gos_elements() {
        let elements = |layout: &str| {
            let mut rest = layout.as_bytes();
            let mut found = Vec::new();
            loop {
                let (_, element, after) = next_element(rest);
                match element {
                    Some(element) => found.push(element),
                    None => return found,
                }
                rest = after;
            }
        };
        use Element::*;
        assert_eq!(
            elements("2006-01-02T15:04:05.999999999Z07:00"),
            [
                LongYear,
                ZeroMonth,
                ZeroDay,
                Hour,
                ZeroMinute,
                ZeroSecond,
                Fraction {
                    trim: true,
                    digits: 9,
                    separator: b'.'
                },
                Offset(OffsetForm {
                    iso: true,
                    colon: true,
                    short: false,
                    seconds: false
                })
            ]
        );
        assert_eq!(
            elements("Jan _2 Monday Mon MST"),
            [Month, UnderDay, LongWeekDay, WeekDay, Tz]
        );
        assert_eq!(
            elements("Janet Mont"),
            [],
            "a lower-case letter after Jan or Mon is text"
        );
        assert_eq!(
            elements("_2006 __2 002"),
            [LongYear, UnderYearDay, ZeroYearDay]
        );
        assert_eq!(
            elements("3 03 4 5 PM pm -07 1"),
            [
                Hour12,
                ZeroHour12,
                Minute,
                Second,
                Pm,
                LowerPm,
                Offset(OffsetForm {
                    iso: false,
                    colon: false,
                    short: true,
                    seconds: false
                }),
                NumMonth
            ]
        );
        assert_eq!(
            elements("05.0009"),
            [ZeroSecond],
            "a fraction followed by a digit is text"
        );
    }
}
