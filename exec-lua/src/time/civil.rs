//! Calendar arithmetic on the proleptic Gregorian calendar, as Go's `time`
//! package does it: days from a date and back, and `time.Date`'s
//! normalisation of out-of-range fields (month 13, day 0, hour 25 …).

/// Nanoseconds in a second.
pub(crate) const NANOS_PER_SECOND: i128 = 1_000_000_000;
/// Seconds in a day.
pub(crate) const SECONDS_PER_DAY: i64 = 86_400;

/// The years a date may have: a trillion either way (Go's own range is some
/// 292 billion years), so that no arithmetic here overflows whatever a
/// script passes.
const MAX_YEAR: i64 = 1_000_000_000_000;
/// The days in [`MAX_YEAR`] years, and then some.
const MAX_DAYS: i64 = 366 * MAX_YEAR;

/// The days from 1970-01-01 to `year-month-day` (`month` 1-12, `day` from 1;
/// a larger day counts on into the next months).
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = year.clamp(-MAX_YEAR, MAX_YEAR);
    let month = month.clamp(1, 12);
    let day = day.clamp(-MAX_DAYS, MAX_DAYS);
    // Howard Hinnant's algorithm, on a year that starts in March.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * m + 2) / 5;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468 + (day - 1)
}

/// The date (`year`, `month` 1-12, `day` 1-31) of a day counted from
/// 1970-01-01.
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days.clamp(-MAX_DAYS, MAX_DAYS) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Whether `year` has a February 29th.
pub(crate) fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// The days in `month` of `year`.
pub(crate) fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The day of the year, 1-366.
pub(crate) fn year_day(year: i64, month: i64, day: i64) -> i64 {
    days_from_civil(year, month, day) - days_from_civil(year, 1, 1) + 1
}

/// The weekday of a day counted from 1970-01-01 (a Thursday): 0 is Sunday.
pub(crate) fn weekday(days: i64) -> i64 {
    (days + 4).rem_euclid(7)
}

/// The wall-clock parts of a moment, as Go's `time.Date` takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Civil {
    pub(crate) year: i64,
    pub(crate) month: i64,
    pub(crate) day: i64,
    pub(crate) hour: i64,
    pub(crate) minute: i64,
    pub(crate) second: i64,
    pub(crate) nanosecond: i64,
}

impl Civil {
    /// Nanoseconds from 1970-01-01T00:00:00 on the wall clock (no zone),
    /// every field carried into the next as Go's `time.Date` carries it
    /// (years beyond a trillion either way stop there).
    pub(crate) fn local_nanos(self) -> i128 {
        let months = i128::from(self.year) * 12 + i128::from(self.month) - 1;
        let year = months.div_euclid(12);
        let month = months.rem_euclid(12) + 1;
        let day_one = days_from_civil(saturate(year), saturate(month), 1);
        let seconds = (i128::from(day_one) + i128::from(self.day) - 1)
            * i128::from(SECONDS_PER_DAY)
            + i128::from(self.hour) * 3_600
            + i128::from(self.minute) * 60
            + i128::from(self.second);
        seconds * NANOS_PER_SECOND + i128::from(self.nanosecond)
    }

    /// The wall-clock parts of `local_nanos` (nanoseconds from
    /// 1970-01-01T00:00:00 on the wall clock).
    pub(crate) fn from_local_nanos(local_nanos: i128) -> Self {
        let seconds = local_nanos.div_euclid(NANOS_PER_SECOND);
        let nanosecond = local_nanos.rem_euclid(NANOS_PER_SECOND);
        let days = seconds.div_euclid(i128::from(SECONDS_PER_DAY));
        let in_day = seconds.rem_euclid(i128::from(SECONDS_PER_DAY));
        let (year, month, day) = civil_from_days(saturate(days));
        Self {
            year,
            month,
            day,
            hour: saturate(in_day / 3_600),
            minute: saturate(in_day % 3_600 / 60),
            second: saturate(in_day % 60),
            nanosecond: saturate(nanosecond),
        }
    }
}

/// An `i128` that fits, as an `i64`; the nearest bound otherwise.
pub(crate) fn saturate(value: i128) -> i64 {
    i64::try_from(value).unwrap_or(if value < 0 { i64::MIN } else { i64::MAX })
}

#[cfg(test)]
mod tests {
    use super::{Civil, civil_from_days, days_from_civil, weekday, year_day};

    #[test]
    fn days_and_dates_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1, 1, 1), -719_162);
        for days in [-800_000, -719_162, -1, 0, 1, 11_016, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(weekday(days_from_civil(2024, 12, 29)), 0);
        assert_eq!(year_day(2024, 12, 29), 364);
        assert_eq!(year_day(2023, 12, 31), 365);
    }

    #[test]
    fn out_of_range_fields_carry_as_in_go() {
        let over = Civil {
            year: 2024,
            month: 13,
            day: 32,
            hour: 25,
            minute: 0,
            second: 0,
            nanosecond: 0,
        };
        let back = Civil::from_local_nanos(over.local_nanos());
        assert_eq!(
            (back.year, back.month, back.day, back.hour),
            (2025, 2, 2, 1)
        );
        let under = Civil {
            year: 2024,
            month: 0,
            day: 0,
            hour: 0,
            minute: 0,
            second: -1,
            nanosecond: -1,
        };
        let back = Civil::from_local_nanos(under.local_nanos());
        assert_eq!(
            (
                back.year,
                back.month,
                back.day,
                back.hour,
                back.minute,
                back.second,
                back.nanosecond
            ),
            (2023, 11, 29, 23, 59, 58, 999_999_999)
        );
    }
}
