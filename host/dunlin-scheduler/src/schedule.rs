//! A tenant's sweep schedule: a cron expression read as wall-clock time in an IANA time zone.
//!
//! Expressions use the `cron` crate's format: seconds first, 6 fields (7 with a year), e.g.
//! `0 0 9 * * Mon-Fri` is 09:00:00 local time on weekdays; `@daily` and friends also work.
//!
//! **Daylight saving time.** The expression is matched against local wall-clock times, which
//! are then placed on the UTC time line:
//! - A local time that does not exist (spring forward: in Europe/Helsinki on the last Sunday of
//!   March the clocks jump from 03:00 to 04:00, so 03:30 never happens) fires at the instant of
//!   the jump (04:00 local, 01:00 UTC). The day's sweep runs late rather than not at all; several
//!   ticks inside the same gap collapse into that one instant.
//! - A local time that happens twice (fall back: on the last Sunday of October 03:30 happens at
//!   00:30 and again at 01:30 UTC) fires once, at its first occurrence.
//!
//! So a daily expression gives exactly one tick per local day, all year round, and every tick
//! falls on the local date it was meant for ([`Schedule::as_of_date`]).

use std::fmt;
use std::str::FromStr;

use chrono::offset::LocalResult;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Offset, TimeDelta, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

/// A schedule that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// The cron expression does not parse.
    #[error(
        "cron expression {expr:?} is not valid: expected 6 or 7 fields, seconds first, \
         e.g. \"0 0 9 * * Mon-Fri\""
    )]
    BadExpression {
        /// The expression given.
        expr: String,
        /// What the parser said.
        #[source]
        source: cron::error::Error,
    },
    /// The time zone is not an IANA time zone name.
    #[error("unknown time zone {name:?}: expected an IANA name such as \"Europe/Helsinki\"")]
    UnknownTimeZone {
        /// The name given.
        name: String,
    },
}

/// A cron expression evaluated in a time zone. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Schedule {
    cron: cron::Schedule,
    tz: Tz,
}

impl Schedule {
    /// Parses `expr` (seconds first, e.g. `0 0 9 * * Mon-Fri`) for the IANA zone `tz_name`
    /// (e.g. `Europe/Helsinki`; exact spelling).
    pub fn parse(expr: &str, tz_name: &str) -> Result<Schedule, ScheduleError> {
        let cron =
            cron::Schedule::from_str(expr).map_err(|source| ScheduleError::BadExpression {
                expr: expr.to_owned(),
                source,
            })?;
        let tz = tz_name
            .parse::<Tz>()
            .map_err(|_| ScheduleError::UnknownTimeZone {
                name: tz_name.to_owned(),
            })?;
        Ok(Schedule { cron, tz })
    }

    /// The cron expression, as given.
    pub fn expression(&self) -> &str {
        self.cron.source()
    }

    /// The IANA time zone name.
    pub fn time_zone(&self) -> &str {
        self.tz.name()
    }

    /// The first tick strictly after `instant`; `None` if the expression has no more ticks
    /// (a year field in the past).
    pub fn next_after(&self, instant: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // Ticks at local times before `instant`'s own local time map to instants at or before
        // it (the mapping is monotonic), so the search can start there.
        let from = whole_second(self.local(instant)) - TimeDelta::seconds(1);
        self.cron
            .after(&proxy(from))
            .map(|local| self.place(local.naive_utc()))
            .find(|&tick| tick > instant)
    }

    /// The latest tick at or before `instant`, if any.
    pub fn latest_at_or_before(&self, instant: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // A tick at a local time later than `instant`'s can still lie before `instant` on the
        // time line when the clocks went back in the last day; start from the latest local
        // time the last day reached.
        let from = whole_second(self.local_ceiling(instant)) + TimeDelta::seconds(1);
        self.cron
            .after(&proxy(from))
            .rev()
            .map(|local| self.place(local.naive_utc()))
            .find(|&tick| tick <= instant)
    }

    /// The tick to run now: the latest tick in `(last_run, now]`, or in `(-∞, now]` if the
    /// schedule never ran. Ticks missed while the daemon was down therefore run once, as the
    /// latest of them, never once per missed tick. `None` when nothing is due.
    pub fn due_tick(
        &self,
        last_run: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        self.latest_at_or_before(now)
            .filter(|&tick| last_run.is_none_or(|last| tick > last))
    }

    /// The as-of date of a sweep started by `tick`: the tick's date in the schedule's zone.
    pub fn as_of_date(&self, tick: DateTime<Utc>) -> NaiveDate {
        self.local(tick).date()
    }

    fn local(&self, instant: DateTime<Utc>) -> NaiveDateTime {
        instant.with_timezone(&self.tz).naive_local()
    }

    fn offset_seconds(&self, instant: NaiveDateTime) -> i64 {
        i64::from(
            self.tz
                .offset_from_utc_datetime(&instant)
                .fix()
                .local_minus_utc(),
        )
    }

    /// The latest local time reached in the 28 hours up to `instant`. Offsets hold for far
    /// longer than an hour, so sampling them hourly finds every offset in force in that span;
    /// earlier instants cannot reach a later local time (offsets lie within −12 h..+14 h).
    fn local_ceiling(&self, instant: DateTime<Utc>) -> NaiveDateTime {
        let utc = instant.naive_utc();
        let max_offset = (0..=28)
            .map(|h| self.offset_seconds(utc - TimeDelta::hours(h)))
            .max()
            .expect("the range is not empty");
        utc + TimeDelta::seconds(max_offset)
    }

    /// Places a local wall-clock time on the time line (see the module docs for DST).
    fn place(&self, local: NaiveDateTime) -> DateTime<Utc> {
        match self.tz.from_local_datetime(&local) {
            LocalResult::Single(t) => t.to_utc(),
            LocalResult::Ambiguous(first, _) => first.to_utc(),
            LocalResult::None => self.end_of_gap(local),
        }
    }

    /// `local` was skipped by the clocks: the instant of the jump, i.e. the first instant whose
    /// local time is later than `local`.
    fn end_of_gap(&self, local: NaiveDateTime) -> DateTime<Utc> {
        let later = |utc: NaiveDateTime| utc + TimeDelta::seconds(self.offset_seconds(utc)) > local;
        // Offsets lie within −12 h..+14 h, so these bracket the jump.
        let (mut lo, mut hi) = (local - TimeDelta::hours(15), local + TimeDelta::hours(13));
        debug_assert!(!later(lo) && later(hi));
        while hi - lo > TimeDelta::seconds(1) {
            let mid = lo + (hi - lo) / 2;
            if later(mid) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        Utc.from_utc_datetime(&whole_second(hi))
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.expression(), self.time_zone())
    }
}

/// The earliest next tick after `now` across `schedules`, with the keys of every schedule that
/// ticks at that instant (in iteration order); `None` if no schedule ticks again.
pub fn next_wakeup<'a, K: Clone + 'a>(
    schedules: impl IntoIterator<Item = (&'a K, &'a Schedule)>,
    now: DateTime<Utc>,
) -> Option<(DateTime<Utc>, Vec<K>)> {
    let mut earliest: Option<(DateTime<Utc>, Vec<K>)> = None;
    for (key, schedule) in schedules {
        let Some(tick) = schedule.next_after(now) else {
            continue;
        };
        match &mut earliest {
            Some((at, keys)) if *at == tick => keys.push(key.clone()),
            Some((at, _)) if *at < tick => {}
            _ => earliest = Some((tick, vec![key.clone()])),
        }
    }
    earliest
}

/// The `cron` crate iterates in a time zone; iterating in UTC walks plain wall-clock times,
/// with no gaps or repeats, which [`Schedule::place`] then resolves in the real zone.
fn proxy(local: NaiveDateTime) -> DateTime<Utc> {
    Utc.from_utc_datetime(&local)
}

fn whole_second(t: NaiveDateTime) -> NaiveDateTime {
    t.with_nanosecond(0).expect("0 is a valid nanosecond")
}

#[cfg(test)]
mod tests;
