//! Go's duration strings: `time.ParseDuration` (`"1h30m"`, `"1.5s"`,
//! `"250ms"`, `"-2m"`) and `Duration.String()` (`"1h30m0s"`, `"1.5µs"`),
//! with Go's error messages.

/// Nanoseconds in each unit of a duration string.
const UNITS: [(&str, u64); 8] = [
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// The most a duration may be, in nanoseconds, before its sign.
const LIMIT: u64 = 1 << 63;

/// Go's `strconv.Quote` for the ASCII text of messages: `"…"` with `"`,
/// `\` and control characters escaped.
pub(crate) fn quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            '\r' => quoted.push_str("\\r"),
            c if c.is_control() => quoted.push_str(&format!("\\x{:02x}", u32::from(c))),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// The digits at the start of `s` as a number (`None` past 2⁶³), and the rest.
fn leading_int(s: &str) -> Option<(u64, &str)> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let mut x: u64 = 0;
    for b in s[..digits].bytes() {
        if x > LIMIT / 10 {
            return None;
        }
        x = x * 10 + u64::from(b - b'0');
        if x > LIMIT {
            return None;
        }
    }
    Some((x, &s[digits..]))
}

/// The digits of a fraction as a number and its scale (10ⁿ), and the rest;
/// digits past what fits are read and dropped.
fn leading_fraction(s: &str) -> (u64, f64, &str) {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let (mut x, mut scale, mut overflow) = (0_u64, 1.0_f64, false);
    for b in s[..digits].bytes() {
        if overflow {
            continue;
        }
        if x > (LIMIT - 1) / 10 {
            overflow = true;
            continue;
        }
        let y = x * 10 + u64::from(b - b'0');
        if y > LIMIT {
            overflow = true;
            continue;
        }
        x = y;
        scale *= 10.0;
    }
    (x, scale, &s[digits..])
}

/// Go's `time.ParseDuration`: `[-+]?([0-9]*(\.[0-9]*)?unit)+` or `0`, in
/// nanoseconds; the error is Go's message (`time: invalid duration "x"`).
pub(crate) fn parse(text: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", quote(text));
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        if !rest.starts_with(|c: char| c == '.' || c.is_ascii_digit()) {
            return Err(invalid());
        }
        let before = rest.len();
        let (whole, after) = leading_int(rest).ok_or_else(invalid)?;
        let had_whole = after.len() != before;
        rest = after;
        let (mut fraction, mut scale, mut had_fraction) = (0, 1.0, false);
        if let Some(after_dot) = rest.strip_prefix('.') {
            let (f, s, after) = leading_fraction(after_dot);
            had_fraction = after.len() != after_dot.len();
            (fraction, scale, rest) = (f, s, after);
        }
        if !had_whole && !had_fraction {
            return Err(invalid());
        }
        let unit_len = rest
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(rest.len());
        if unit_len == 0 {
            return Err(format!("time: missing unit in duration {}", quote(text)));
        }
        let (unit, after) = rest.split_at(unit_len);
        rest = after;
        let Some(&(_, scale_ns)) = UNITS.iter().find(|(name, _)| *name == unit) else {
            return Err(format!(
                "time: unknown unit {} in duration {}",
                quote(unit),
                quote(text)
            ));
        };
        if whole > LIMIT / scale_ns {
            return Err(invalid());
        }
        let mut part = whole * scale_ns;
        if fraction > 0 {
            // As Go does: a float keeps fractions of an hour exact to the
            // nanosecond, and the product is far below 2⁶³.
            part += (fraction as f64 * (scale_ns as f64 / scale)) as u64;
            if part > LIMIT {
                return Err(invalid());
            }
        }
        total += part;
        if total > LIMIT {
            return Err(invalid());
        }
    }
    if negative {
        // -2⁶³ fits; the cast wraps 2⁶³ to it.
        return Ok((total as i64).wrapping_neg());
    }
    i64::try_from(total).map_err(|_| invalid())
}

/// Go's `Duration.String()`: `"1h30m0s"`, `"1.5s"`, `"250ms"`, `"1.5µs"`,
/// `"0s"`.
pub(crate) fn format(nanos: i64) -> String {
    let negative = nanos < 0;
    let mut u = nanos.unsigned_abs();
    // Built from the end, as Go builds it.
    let mut out: Vec<u8> = Vec::with_capacity(32);
    let second = 1_000_000_000_u64;
    if u < second {
        if u == 0 {
            return "0s".to_owned();
        }
        let (unit, precision): (&str, usize) = if u < 1_000 {
            ("ns", 0)
        } else if u < 1_000_000 {
            ("µs", 3)
        } else {
            ("ms", 6)
        };
        push_reversed(&mut out, unit);
        u = push_fraction(&mut out, u, precision);
        push_int(&mut out, u);
    } else {
        out.push(b's');
        u = push_fraction(&mut out, u, 9);
        push_int(&mut out, u % 60);
        u /= 60;
        if u > 0 {
            out.push(b'm');
            push_int(&mut out, u % 60);
            u /= 60;
            if u > 0 {
                out.push(b'h');
                push_int(&mut out, u);
            }
        }
    }
    if negative {
        out.push(b'-');
    }
    out.reverse();
    String::from_utf8_lossy(&out).into_owned()
}

fn push_reversed(out: &mut Vec<u8>, text: &str) {
    out.extend(text.bytes().rev());
}

/// The last `precision` digits of `v` as a fraction without trailing zeros
/// (nothing, not even the dot, when they are all zero); returns `v` without
/// them.
fn push_fraction(out: &mut Vec<u8>, mut v: u64, precision: usize) -> u64 {
    let mut printing = false;
    for _ in 0..precision {
        let digit = (v % 10) as u8;
        printing = printing || digit != 0;
        if printing {
            out.push(b'0' + digit);
        }
        v /= 10;
    }
    if printing {
        out.push(b'.');
    }
    v
}

fn push_int(out: &mut Vec<u8>, mut v: u64) {
    if v == 0 {
        out.push(b'0');
        return;
    }
    while v > 0 {
        out.push(b'0' + (v % 10) as u8);
        v /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::{format, parse};

    #[test]
    fn go_duration_strings_parse_to_nanoseconds() {
        for (text, nanos) in [
            ("0", 0),
            ("-0", 0),
            ("5s", 5_000_000_000),
            ("250ms", 250_000_000),
            ("1h30m", 5_400_000_000_000),
            ("1.5s", 1_500_000_000),
            (".5s", 500_000_000),
            ("1.s", 1_000_000_000),
            ("-2m", -120_000_000_000),
            ("+3us", 3_000),
            ("3µs", 3_000),
            ("3μs", 3_000),
            ("1h2m3s4ms5us6ns", 3_723_004_005_006),
            ("2562047h47m16.854775807s", i64::MAX),
            ("-2562047h47m16.854775808s", i64::MIN),
            ("0.100000000000000000000h", 360_000_000_000),
        ] {
            assert_eq!(parse(text), Ok(nanos), "{text}");
        }
        for (bad, message) in [
            ("", r#"time: invalid duration """#),
            ("5", r#"time: missing unit in duration "5""#),
            ("s", r#"time: invalid duration "s""#),
            (".s", r#"time: invalid duration ".s""#),
            ("5 s", r#"time: unknown unit " s" in duration "5 s""#),
            ("5sec", r#"time: unknown unit "sec" in duration "5sec""#),
            ("1.2.3s", r#"time: missing unit in duration "1.2.3s""#),
            ("-", r#"time: invalid duration "-""#),
            ("2562048h", r#"time: invalid duration "2562048h""#),
            (
                "9223372036854775808ns",
                r#"time: invalid duration "9223372036854775808ns""#,
            ),
            ("1e3s", r#"time: unknown unit "e" in duration "1e3s""#),
        ] {
            assert_eq!(parse(bad), Err(message.to_owned()), "{bad:?}");
        }
    }

    #[test]
    fn durations_print_as_gos_duration_string() {
        for (nanos, text) in [
            (0, "0s"),
            (1, "1ns"),
            (1_100, "1.1µs"),
            (2_200_000, "2.2ms"),
            (3_300_000_000, "3.3s"),
            (-4_000_000_000 - 5 * 60_000_000_000, "-5m4s"),
            (5_400_000_000_000, "1h30m0s"),
            (i64::MAX, "2562047h47m16.854775807s"),
            (i64::MIN, "-2562047h47m16.854775808s"),
        ] {
            assert_eq!(format(nanos), text, "{nanos}");
        }
    }
}
