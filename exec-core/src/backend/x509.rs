//! What a backend needs to say which certificate a TLS peer presented:
//! the subject, the issuer and the validity period of an X.509 certificate,
//! read from its DER without trusting it (any bytes give an answer or
//! `None`, never a panic).
//!
//! ```
//! use exec_core::backend::x509::{Summary, utc};
//!
//! assert!(Summary::parse(b"not a certificate").is_none());
//! assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
//! assert_eq!(utc(1_795_000_000), "2026-11-18 11:06:40 UTC");
//! ```

use std::fmt;

/// A certificate's names and validity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The subject, as `CN=…, O=…` (the attributes it has, in its order).
    pub subject: String,
    /// The issuer, in the same form.
    pub issuer: String,
    /// The start of the validity period, in seconds since the Unix epoch.
    pub not_before: i64,
    /// The end of the validity period, in seconds since the Unix epoch.
    pub not_after: i64,
}

impl Summary {
    /// Reads `der` as an X.509 certificate; `None` if it is not one.
    pub fn parse(der: &[u8]) -> Option<Self> {
        let (certificate, _) = element(der, SEQUENCE)?;
        let (tbs, _) = element(certificate, SEQUENCE)?;
        let mut rest = tbs;
        // [0] version, optional.
        if rest.first() == Some(&0xa0) {
            rest = element(rest, 0xa0)?.1;
        }
        let (_serial, rest) = element(rest, INTEGER)?;
        let (_signature, rest) = element(rest, SEQUENCE)?;
        let (issuer, rest) = element(rest, SEQUENCE)?;
        let (validity, rest) = element(rest, SEQUENCE)?;
        let (subject, _) = element(rest, SEQUENCE)?;
        let (not_before, after) = time(validity)?;
        let (not_after, _) = time(after)?;
        Some(Self {
            subject: name(subject)?,
            issuer: name(issuer)?,
            not_before,
            not_after,
        })
    }

    /// Whether `now` (seconds since the Unix epoch) lies in the validity period.
    pub fn valid_at(&self, now: i64) -> bool {
        self.not_before <= now && now <= self.not_after
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "subject \"{}\", issued by \"{}\", valid from {} to {}",
            self.subject,
            self.issuer,
            utc(self.not_before),
            utc(self.not_after)
        )
    }
}

const INTEGER: u8 = 0x02;
const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// The contents of the DER element at the start of `der` if its tag is
/// `tag`, and what follows it.
fn element(der: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&found, rest) = der.split_first()?;
    if found != tag {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, rest) = rest.split_at(count);
        let length = bytes.iter().fold(0usize, |n, b| (n << 8) | usize::from(*b));
        (length, rest)
    };
    if rest.len() < length {
        return None;
    }
    Some(rest.split_at(length))
}

/// Any element at the start of `der`: its tag, contents, and what follows.
fn any(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *der.first()?;
    let (contents, rest) = element(der, tag)?;
    Some((tag, contents, rest))
}

/// A distinguished name: `CN=a, O=b`.
fn name(mut der: &[u8]) -> Option<String> {
    let mut parts = Vec::new();
    while !der.is_empty() {
        let (set, rest) = element(der, SET)?;
        der = rest;
        let mut attributes = set;
        while !attributes.is_empty() {
            let (attribute, rest) = element(attributes, SEQUENCE)?;
            attributes = rest;
            let (oid, value) = element(attribute, OID)?;
            let (_, value, _) = any(value)?;
            let label = match oid {
                [0x55, 0x04, 0x03] => "CN".to_owned(),
                [0x55, 0x04, 0x06] => "C".to_owned(),
                [0x55, 0x04, 0x07] => "L".to_owned(),
                [0x55, 0x04, 0x08] => "ST".to_owned(),
                [0x55, 0x04, 0x0a] => "O".to_owned(),
                [0x55, 0x04, 0x0b] => "OU".to_owned(),
                other => format!("OID {other:02x?}"),
            };
            parts.push(format!("{label}={}", String::from_utf8_lossy(value)));
        }
    }
    Some(parts.join(", "))
}

/// A `UTCTime` or `GeneralizedTime` at the start of `der`, in seconds since
/// the Unix epoch, and what follows it.
fn time(der: &[u8]) -> Option<(i64, &[u8])> {
    let (tag, text, rest) = any(der)?;
    let digits = |s: &[u8]| -> Option<i64> {
        s.iter().try_fold(0i64, |n, b| {
            b.is_ascii_digit().then(|| n * 10 + i64::from(b - b'0'))
        })
    };
    let (year, text) = match tag {
        UTC_TIME if text.len() >= 12 => {
            let year = digits(&text[..2])?;
            (
                if year >= 50 { 1900 + year } else { 2000 + year },
                &text[2..],
            )
        }
        GENERALIZED_TIME if text.len() >= 14 => (digits(&text[..4])?, &text[4..]),
        _ => return None,
    };
    let field = |at: usize| digits(text.get(at..at + 2)?);
    let (month, day) = (field(0)?, field(2)?);
    let (hour, minute, second) = (field(4)?, field(6)?, field(8)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some((days * 86_400 + hour * 3_600 + minute * 60 + second, rest))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// `seconds` since the Unix epoch as `YYYY-MM-DD hh:mm:ss UTC`.
pub fn utc(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        of_day / 3_600,
        of_day % 3_600 / 60,
        of_day % 60
    )
}

/// Seconds since the Unix epoch now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_go_both_ways() {
        for (seconds, text) in [
            (0, "1970-01-01 00:00:00 UTC"),
            (951_782_400, "2000-02-29 00:00:00 UTC"),
            (-86_400, "1969-12-31 00:00:00 UTC"),
            (4_102_444_799, "2099-12-31 23:59:59 UTC"),
        ] {
            assert_eq!(utc(seconds), text);
            let day = seconds.div_euclid(86_400);
            let [y, m, d]: [i64; 3] = text[..10]
                .split('-')
                .map(|p| p.parse().unwrap())
                .collect::<Vec<_>>()
                .try_into()
                .unwrap();
            assert_eq!(days_from_civil(y, m, d), day);
        }
    }

    #[test]
    fn a_certificate_is_read_and_garbage_is_not() {
        // A self-signed certificate for CN=exec test, O=exec (openssl req -x509).
        let der = include_bytes!("x509_test_cert.der");
        let summary = Summary::parse(der).unwrap();
        assert_eq!(summary.subject, "CN=exec test, O=exec");
        assert_eq!(summary.issuer, summary.subject);
        assert!(summary.not_before < summary.not_after);
        assert!(
            summary
                .to_string()
                .contains("issued by \"CN=exec test, O=exec\"")
        );
        for cut in 0..der.len() {
            assert!(Summary::parse(&der[..cut]).is_none(), "cut at {cut}");
        }
    }
}
