//! Calendar arithmetic on the contract's [`Date`] record: parse, print, add days, count days,
//! compare.
//!
//! Dates are proleptic Gregorian without time or zone, as in the contract. The arithmetic
//! goes through a day count since 1970-01-01 (Howard Hinnant's `days_from_civil`), which keeps
//! the SDK free of a date library.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use crate::Date;

/// Text that is not a calendar date in the form `YYYY-MM-DD`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DateError {
    input: String,
}

impl fmt::Display for DateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a calendar date in the form YYYY-MM-DD",
            self.input
        )
    }
}

impl std::error::Error for DateError {}

impl Date {
    /// The date `year-month-day`, or `None` if there is no such day (e.g. February 30th).
    pub fn new(year: i32, month: u8, day: u8) -> Option<Date> {
        let date = Date { year, month, day };
        date.is_valid().then_some(date)
    }

    /// Parses `YYYY-MM-DD` (the host's JSON form; one-digit months and days are accepted).
    pub fn parse(text: &str) -> Result<Date, DateError> {
        let err = || DateError {
            input: text.to_owned(),
        };
        // A leading minus belongs to the year; split the rest on '-'.
        let (negative, rest) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let mut parts = rest.split('-');
        let (Some(y), Some(m), Some(d), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(err());
        };
        let digits = |s: &str, min: usize, max: usize| {
            (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
        };
        if !digits(y, 4, 9) || !digits(m, 1, 2) || !digits(d, 1, 2) {
            return Err(err());
        }
        let year: i32 = y.parse().map_err(|_| err())?;
        let year = if negative { -year } else { year };
        let month: u8 = m.parse().map_err(|_| err())?;
        let day: u8 = d.parse().map_err(|_| err())?;
        Date::new(year, month, day).ok_or_else(err)
    }

    /// Whether this is a real calendar day (the month exists and has that day).
    pub fn is_valid(&self) -> bool {
        (1..=12).contains(&self.month)
            && self.day >= 1
            && self.day <= days_in_month(self.year, self.month)
    }

    /// Days since 1970-01-01 (negative before it).
    pub fn days_since_epoch(&self) -> i64 {
        days_from_civil(i64::from(self.year), self.month, self.day)
    }

    /// The date `days` days after 1970-01-01 (before it for negative `days`).
    ///
    /// Years beyond the range of `i32` saturate; no real dunning ladder gets near them.
    pub fn from_days_since_epoch(days: i64) -> Date {
        let (year, month, day) = civil_from_days(days);
        let year = i32::try_from(year).unwrap_or(if year < 0 { i32::MIN } else { i32::MAX });
        Date { year, month, day }
    }

    /// The date `days` days later (earlier for negative `days`).
    pub fn add_days(self, days: i64) -> Date {
        Date::from_days_since_epoch(self.days_since_epoch().saturating_add(days))
    }

    /// How many days from `self` to `later`; negative if `later` is earlier.
    pub fn days_until(self, later: Date) -> i64 {
        later.days_since_epoch() - self.days_since_epoch()
    }

    /// How many days from `earlier` to `self`; negative if `earlier` is later.
    pub fn days_since(self, earlier: Date) -> i64 {
        self.days_since_epoch() - earlier.days_since_epoch()
    }
}

impl PartialOrd for Date {
    fn partial_cmp(&self, other: &Date) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Date {
    fn cmp(&self, other: &Date) -> Ordering {
        (self.year, self.month, self.day).cmp(&(other.year, other.month, other.day))
    }
}

impl std::hash::Hash for Date {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (self.year, self.month, self.day).hash(state);
    }
}

impl fmt::Display for Date {
    /// `YYYY-MM-DD`, the form the host uses in JSON and in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.year < 0 {
            write!(f, "-{:04}", self.year.unsigned_abs())?;
        } else {
            write!(f, "{:04}", self.year)?;
        }
        write!(f, "-{:02}-{:02}", self.month, self.day)
    }
}

impl FromStr for Date {
    type Err = DateError;

    fn from_str(text: &str) -> Result<Date, DateError> {
        Date::parse(text)
    }
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
    let (month, day) = (i64::from(month), i64::from(day));
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let days = days.saturating_add(719_468);
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    // Both fit by construction: month is 1..=12 and day 1..=31.
    (year, month as u8, day as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Date {
        text.parse().unwrap()
    }

    #[test]
    fn parses_and_prints_iso_dates() {
        assert_eq!(
            d("2026-02-10"),
            Date {
                year: 2026,
                month: 2,
                day: 10
            }
        );
        assert_eq!(d("2026-2-1").to_string(), "2026-02-01");
        assert_eq!(d("0900-12-31").to_string(), "0900-12-31");
    }

    #[test]
    fn rejects_text_that_is_not_a_calendar_day() {
        for bad in [
            "",
            "2026",
            "2026-02",
            "2026-02-30",
            "2025-02-29",
            "2026-13-01",
            "2026-00-10",
            "26-02-10",
            "2026-02-10T00:00",
            "2026/02/10",
            " 2026-02-10",
            "2026-02-1x",
        ] {
            let err = Date::parse(bad).unwrap_err();
            assert!(err.to_string().contains("YYYY-MM-DD"), "{bad:?}: {err}");
        }
        assert!(Date::parse("2024-02-29").is_ok());
        assert_eq!(Date::new(2026, 4, 31), None);
    }

    #[test]
    fn adds_days_across_months_years_and_leap_days() {
        assert_eq!(d("2026-01-31").add_days(1), d("2026-02-01"));
        assert_eq!(d("2024-02-28").add_days(1), d("2024-02-29"));
        assert_eq!(d("2023-02-28").add_days(1), d("2023-03-01"));
        assert_eq!(d("2025-12-31").add_days(1), d("2026-01-01"));
        assert_eq!(d("2026-03-01").add_days(-1), d("2026-02-28"));
        assert_eq!(d("2026-02-10").add_days(365), d("2027-02-10"));
        assert_eq!(d("1970-01-01").days_since_epoch(), 0);
        assert_eq!(d("2000-03-01").days_since_epoch(), 11_017);
        assert_eq!(d("1969-12-31").days_since_epoch(), -1);
    }

    #[test]
    fn every_day_round_trips_through_the_day_count() {
        let mut date = d("1899-12-25");
        for n in date.days_since_epoch()..d("2101-01-05").days_since_epoch() {
            assert_eq!(date.days_since_epoch(), n);
            assert_eq!(Date::from_days_since_epoch(n), date);
            assert!(date.is_valid());
            let next = date.add_days(1);
            assert!(next > date);
            date = next;
        }
    }

    #[test]
    fn counts_days_between_dates() {
        assert_eq!(d("2026-01-31").days_until(d("2026-02-10")), 10);
        assert_eq!(d("2026-02-10").days_since(d("2026-01-31")), 10);
        assert_eq!(d("2026-02-10").days_until(d("2026-01-31")), -10);
    }

    #[test]
    fn orders_by_year_then_month_then_day() {
        assert!(d("2026-02-10") < d("2026-02-11"));
        assert!(d("2026-01-31") < d("2026-02-01"));
        assert!(d("2025-12-31") < d("2026-01-01"));
        assert_eq!(d("2026-02-10").max(d("2026-01-10")), d("2026-02-10"));
    }
}
