//! Dates in JSON as chrono writes them (`"2026-02-13"`), without chrono's trip through
//! `fmt`. Every decision's context is serialised with up to a dozen dates in it, and
//! formatting each one through `fmt::Debug` cost about 75 ns against 10 here: a fifth of
//! serialising a whole context. Years outside 0 to 9999, which chrono writes with a sign,
//! still go through chrono, so the text is the same for every date.
//!
//! Read back, a date must have that shape too ([`deserialize`]): chrono alone would also
//! take `26-02-10` as the year 26 or a date after a space, which the guest SDK's copy of the
//! format refuses; the contract's shared cases (`wit/policy@0.1.0/cases/`) hold both sides
//! to the one rule.

use chrono::Datelike;
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

use crate::Date;

/// `#[serde(serialize_with = "iso_date::serialize")]` for a [`Date`] field.
pub fn serialize<S: Serializer>(date: &Date, s: S) -> Result<S::Ok, S::Error> {
    match text(date) {
        Some(bytes) => s.serialize_str(as_str(&bytes)),
        None => date.serialize(s),
    }
}

/// A date's text exactly as `date.to_string()` writes it, without allocating for the
/// usual years: the store binds several dates per recorded invoice.
pub fn iso(date: Date) -> IsoDate {
    match text(&date) {
        Some(bytes) => IsoDate::Short(bytes),
        None => IsoDate::Long(date.to_string()),
    }
}

/// The text [`iso`] returns; it dereferences to `str`.
#[derive(Clone, Debug)]
pub enum IsoDate {
    /// `YYYY-MM-DD`.
    Short([u8; 10]),
    /// A year chrono writes with a sign or more digits.
    Long(String),
}

impl std::ops::Deref for IsoDate {
    type Target = str;

    fn deref(&self) -> &str {
        match self {
            IsoDate::Short(bytes) => as_str(bytes),
            IsoDate::Long(s) => s,
        }
    }
}

/// `#[serde(serialize_with = "iso_date::option")]` for an `Option<Date>` field.
pub fn option<S: Serializer>(date: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
    match date {
        Some(d) => s.serialize_some(&Iso(*d)),
        None => s.serialize_none(),
    }
}

/// A date that serialises through [`serialize`].
struct Iso(Date);

impl Serialize for Iso {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize(&self.0, s)
    }
}

/// Parses a date as chrono's `FromStr` does, reading the usual `YYYY-MM-DD` without chrono's
/// format machinery (the store reads several dates per invoice of a page); any other text
/// goes to chrono, so the result is chrono's for every input.
pub fn parse(s: &str) -> Result<Date, chrono::ParseError> {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b[r].iter().try_fold(0u32, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    if b.len() == 10 && b[4] == b'-' && b[7] == b'-' {
        if let (Some(y), Some(m), Some(d)) = (digits(0..4), digits(5..7), digits(8..10)) {
            if let Some(date) = i32::try_from(y)
                .ok()
                .and_then(|y| Date::from_ymd_opt(y, m, d))
            {
                return Ok(date);
            }
        }
    }
    s.parse()
}

/// `#[serde(deserialize_with = "iso_date::deserialize")]` for a [`Date`] field: `YYYY-MM-DD`
/// (a year of four digits or more, with a sign if chrono writes one; month and day of one
/// or two digits), read as [`parse`] reads it.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Date, D::Error> {
    struct Visitor;

    impl de::Visitor<'_> for Visitor {
        type Value = Date;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a date as YYYY-MM-DD")
        }

        fn visit_str<E: de::Error>(self, s: &str) -> Result<Date, E> {
            let digits = |part: &str, min: usize, max: usize| {
                (min..=max).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_digit())
            };
            let mut parts = s.strip_prefix(['+', '-']).unwrap_or(s).split('-');
            let shaped = matches!(
                (parts.next(), parts.next(), parts.next(), parts.next()),
                (Some(y), Some(m), Some(d), None)
                    if digits(y, 4, 9) && digits(m, 1, 2) && digits(d, 1, 2)
            );
            match shaped.then(|| parse(s).ok()).flatten() {
                Some(date) => Ok(date),
                None => Err(E::invalid_value(de::Unexpected::Str(s), &self)),
            }
        }
    }

    d.deserialize_str(Visitor)
}

/// `#[serde(default, deserialize_with = "iso_date::deserialize_option")]` for an
/// `Option<Date>` field: `null` or a date as [`deserialize`] reads it.
pub fn deserialize_option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Date>, D::Error> {
    #[derive(Deserialize)]
    struct Strict(#[serde(deserialize_with = "deserialize")] Date);

    Ok(Option::<Strict>::deserialize(d)?.map(|Strict(date)| date))
}

/// `YYYY-MM-DD` for a year from 0 to 9999; `None` for the years chrono writes with a sign.
fn text(date: &Date) -> Option<[u8; 10]> {
    let year = u32::try_from(date.year()).ok().filter(|y| *y <= 9999)?;
    let mut out = *b"0000-00-00";
    let mut put = |at: usize, width: usize, mut n: u32| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, date.month());
    put(8, 2, date.day());
    Some(out)
}

fn as_str(bytes: &[u8; 10]) -> &str {
    // Only ASCII digits and dashes are ever written.
    std::str::from_utf8(bytes).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Both {
        #[serde(serialize_with = "serialize")]
        fast: Date,
        chrono: Date,
        #[serde(serialize_with = "option")]
        fast_some: Option<Date>,
        chrono_some: Option<Date>,
    }

    #[test]
    fn parse_agrees_with_chrono() {
        let texts = [
            "2026-02-13",
            "0000-01-01",
            "9999-12-31",
            "2024-02-29",
            "2026-02-29",
            "2026-13-01",
            "2026-00-10",
            "2026-01-32",
            "2026-1-05",
            "+12345-01-01",
            "-0001-06-30",
            "2026-02-1x",
            "2026/02/13",
            " 2026-02-13",
            "",
            "٢٠٢٦-02-13",
        ];
        for text in texts {
            let chrono: Result<Date, _> = text.parse();
            assert_eq!(parse(text).ok(), chrono.ok(), "{text:?}");
        }
        for day in [
            Date::MIN,
            Date::MAX,
            Date::from_ymd_opt(2026, 2, 13).unwrap(),
        ] {
            assert_eq!(parse(&iso(day)), Ok(day));
        }
    }

    #[test]
    fn dates_are_read_back_only_in_the_shape_they_are_written() {
        #[derive(Deserialize)]
        struct Day(#[serde(deserialize_with = "deserialize")] Date);
        let read = |text: &str| serde_json::from_value::<Day>(text.into()).map(|Day(d)| d);
        for day in [
            Date::MIN,
            Date::MAX,
            Date::from_ymd_opt(0, 1, 1).unwrap(),
            Date::from_ymd_opt(-1, 6, 30).unwrap(),
            Date::from_ymd_opt(10000, 1, 1).unwrap(),
        ] {
            assert_eq!(read(&iso(day)).unwrap(), day, "{day}");
        }
        assert_eq!(
            read("2026-1-5").unwrap(),
            Date::from_ymd_opt(2026, 1, 5).unwrap()
        );
        for refused in [
            "26-02-10",
            " 2026-02-10",
            "2026-02-10 ",
            "2026-02- 1",
            "2026-02-30",
            "2026-02-10T00:00:00Z",
            "",
        ] {
            let err = read(refused).map(|d| d.to_string()).unwrap_err();
            assert!(err.to_string().contains("YYYY-MM-DD"), "{refused:?}: {err}");
        }
    }

    #[test]
    fn iso_is_to_string() {
        for day in [
            Date::MIN,
            Date::MAX,
            Date::from_ymd_opt(2026, 2, 13).unwrap(),
        ] {
            assert_eq!(&*iso(day), day.to_string());
        }
    }

    #[test]
    fn dates_serialise_exactly_as_chrono_writes_them() {
        let days = [
            Date::from_ymd_opt(2026, 2, 13),
            Date::from_ymd_opt(1, 1, 1),
            Date::from_ymd_opt(0, 12, 31),
            Date::from_ymd_opt(999, 10, 9),
            Date::from_ymd_opt(9999, 12, 31),
            Date::from_ymd_opt(10000, 1, 1),
            Date::from_ymd_opt(-1, 6, 30),
            Some(Date::MIN),
            Some(Date::MAX),
        ];
        for day in days.into_iter().map(Option::unwrap) {
            let v = serde_json::to_value(Both {
                fast: day,
                chrono: day,
                fast_some: Some(day),
                chrono_some: Some(day),
            })
            .unwrap();
            assert_eq!(v["fast"], v["chrono"], "{day:?}");
            assert_eq!(v["fast_some"], v["chrono_some"], "{day:?}");
        }
        let none = serde_json::to_value(Both {
            fast: Date::MIN,
            chrono: Date::MIN,
            fast_some: None,
            chrono_some: None,
        })
        .unwrap();
        assert_eq!(none["fast_some"], serde_json::Value::Null);
    }
}
