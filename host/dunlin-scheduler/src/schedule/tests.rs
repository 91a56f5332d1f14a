//! Instants are written in UTC with the local time beside them. Dates used:
//! - Europe/Helsinki is UTC+2 (EET) in winter, UTC+3 (EEST) in summer; in 2026 the clocks jump
//!   03:00→04:00 on Sunday 29 March (01:00 UTC) and go back 04:00→03:00 on Sunday 25 October
//!   (01:00 UTC).
//! - America/New_York is UTC−5 (EST) / UTC−4 (EDT); in 2026 the clocks jump 02:00→03:00 on
//!   Sunday 8 March (07:00 UTC) and go back 02:00→01:00 on Sunday 1 November (06:00 UTC).

use std::collections::BTreeMap;
use std::error::Error as _;

use super::*;

fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("test instant")
}

fn schedule(expr: &str, tz: &str) -> Schedule {
    Schedule::parse(expr, tz).expect("test schedule")
}

const WEEKDAYS_9: &str = "0 0 9 * * Mon-Fri";
const DAILY_0330: &str = "0 30 3 * * *";
const HELSINKI: &str = "Europe/Helsinki";
const NEW_YORK: &str = "America/New_York";

#[test]
fn next_after_table() {
    // (what, expression, zone, after, expected next tick)
    let rows: &[(&str, &str, &str, &str, Option<&str>)] = &[
        (
            "Helsinki weekday, Thursday just before 09:00 EET",
            WEEKDAYS_9,
            HELSINKI,
            "2026-03-12T06:59:59Z",
            Some("2026-03-12T07:00:00Z"),
        ),
        (
            "Helsinki weekday, exactly at Friday's tick: next is Monday",
            WEEKDAYS_9,
            HELSINKI,
            "2026-03-13T07:00:00Z",
            Some("2026-03-16T07:00:00Z"),
        ),
        (
            "Helsinki weekday, half a second after the tick: next is Monday",
            WEEKDAYS_9,
            HELSINKI,
            "2026-03-13T07:00:00.500Z",
            Some("2026-03-16T07:00:00Z"),
        ),
        (
            "Helsinki weekday in summer: 09:00 EEST is 06:00 UTC",
            WEEKDAYS_9,
            HELSINKI,
            "2026-06-01T00:00:00Z",
            Some("2026-06-01T06:00:00Z"),
        ),
        (
            "Helsinki weekday, Saturday 23:30 local is still Friday in UTC",
            WEEKDAYS_9,
            HELSINKI,
            "2026-03-14T21:30:00Z",
            Some("2026-03-16T07:00:00Z"),
        ),
        (
            "spring forward: the day before, 03:30 EET",
            DAILY_0330,
            HELSINKI,
            "2026-03-27T12:00:00Z",
            Some("2026-03-28T01:30:00Z"),
        ),
        (
            "spring forward: 03:30 does not exist, fires at the jump (04:00 EEST)",
            DAILY_0330,
            HELSINKI,
            "2026-03-28T01:30:00Z",
            Some("2026-03-29T01:00:00Z"),
        ),
        (
            "spring forward: the day after, 03:30 EEST",
            DAILY_0330,
            HELSINKI,
            "2026-03-29T01:00:00Z",
            Some("2026-03-30T00:30:00Z"),
        ),
        (
            "fall back: 03:30 happens first at 00:30 UTC (EEST)",
            DAILY_0330,
            HELSINKI,
            "2026-10-24T12:00:00Z",
            Some("2026-10-25T00:30:00Z"),
        ),
        (
            "fall back: not again at 01:30 UTC (EET); next is the following day",
            DAILY_0330,
            HELSINKI,
            "2026-10-25T00:30:00Z",
            Some("2026-10-26T01:30:00Z"),
        ),
        (
            "fall back: asked during the repeated hour, still the following day",
            DAILY_0330,
            HELSINKI,
            "2026-10-25T01:15:00Z",
            Some("2026-10-26T01:30:00Z"),
        ),
        (
            "every 15 minutes across the gap: 03:00-03:45 collapse into the jump",
            "0 */15 * * * *",
            HELSINKI,
            "2026-03-29T00:50:00Z",
            Some("2026-03-29T01:00:00Z"),
        ),
        (
            "every 15 minutes, after the jump: 04:15 EEST, no tick repeated",
            "0 */15 * * * *",
            HELSINKI,
            "2026-03-29T01:00:00Z",
            Some("2026-03-29T01:15:00Z"),
        ),
        (
            "New York weekday, Friday 09:00 EST = 14:00 UTC, next Monday 09:00 EDT",
            WEEKDAYS_9,
            NEW_YORK,
            "2026-03-06T14:00:00Z",
            Some("2026-03-09T13:00:00Z"),
        ),
        (
            "New York: 02:30 skipped on 8 March, fires at the jump (03:00 EDT)",
            "0 30 2 * * *",
            NEW_YORK,
            "2026-03-07T12:00:00Z",
            Some("2026-03-08T07:00:00Z"),
        ),
        (
            "New York: 01:30 repeated on 1 November, first occurrence (EDT)",
            "0 30 1 * * *",
            NEW_YORK,
            "2026-10-31T12:00:00Z",
            Some("2026-11-01T05:30:00Z"),
        ),
        (
            "New York: and not the second (EST)",
            "0 30 1 * * *",
            NEW_YORK,
            "2026-11-01T05:30:00Z",
            Some("2026-11-02T06:30:00Z"),
        ),
        (
            "UTC monthly, first of the month",
            "0 0 6 1 * *",
            "UTC",
            "2026-01-31T23:00:00Z",
            Some("2026-02-01T06:00:00Z"),
        ),
        (
            "UTC, shorthand @daily",
            "@daily",
            "UTC",
            "2026-02-28T12:00:00Z",
            Some("2026-03-01T00:00:00Z"),
        ),
        (
            "a year field in the past: no more ticks",
            "0 0 9 1 1 * 2025",
            "UTC",
            "2026-01-01T00:00:00Z",
            None,
        ),
    ];
    let mut failures = Vec::new();
    for &(what, expr, tz, after, expected) in rows {
        let got = schedule(expr, tz).next_after(at(after));
        if got != expected.map(at) {
            failures.push(format!("{what}: got {got:?}, expected {expected:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn due_tick_table() {
    // (what, expression, zone, last run, now, expected due tick)
    type Row = (
        &'static str,
        &'static str,
        &'static str,
        Option<&'static str>,
        &'static str,
        Option<&'static str>,
    );
    let rows: &[Row] = &[
        (
            "down three days: one due tick, the latest",
            "0 0 9 * * *",
            HELSINKI,
            Some("2026-03-10T07:00:00Z"),
            "2026-03-13T08:00:00Z",
            Some("2026-03-13T07:00:00Z"),
        ),
        (
            "down over the weekend on a weekday schedule: Monday's tick",
            WEEKDAYS_9,
            HELSINKI,
            Some("2026-03-12T07:00:00Z"),
            "2026-03-16T10:00:00Z",
            Some("2026-03-16T07:00:00Z"),
        ),
        (
            "down since Friday, now Sunday: Friday's tick ran, nothing due",
            WEEKDAYS_9,
            HELSINKI,
            Some("2026-03-13T07:00:00Z"),
            "2026-03-15T12:00:00Z",
            None,
        ),
        (
            "now exactly at the tick: due",
            WEEKDAYS_9,
            HELSINKI,
            Some("2026-03-12T07:00:00Z"),
            "2026-03-13T07:00:00Z",
            Some("2026-03-13T07:00:00Z"),
        ),
        (
            "just before today's tick: nothing due",
            WEEKDAYS_9,
            HELSINKI,
            Some("2026-03-12T07:00:00Z"),
            "2026-03-13T06:59:59Z",
            None,
        ),
        (
            "already ran this tick: nothing due",
            WEEKDAYS_9,
            HELSINKI,
            Some("2026-03-13T07:00:00Z"),
            "2026-03-13T07:00:01Z",
            None,
        ),
        (
            "never ran: the latest tick so far",
            WEEKDAYS_9,
            HELSINKI,
            None,
            "2026-03-15T12:00:00Z",
            Some("2026-03-13T07:00:00Z"),
        ),
        (
            "no tick yet: a schedule that starts in 2030",
            "0 0 9 1 1 * 2030",
            "UTC",
            None,
            "2026-03-15T12:00:00Z",
            None,
        ),
        (
            "a clock that went backwards: nothing due",
            WEEKDAYS_9,
            HELSINKI,
            Some("2026-03-13T07:00:00Z"),
            "2026-03-12T12:00:00Z",
            None,
        ),
        (
            "spring forward: the skipped 03:30 is due from the jump",
            DAILY_0330,
            HELSINKI,
            Some("2026-03-28T01:30:00Z"),
            "2026-03-29T01:00:00Z",
            Some("2026-03-29T01:00:00Z"),
        ),
        (
            "spring forward: not yet due just before the jump",
            DAILY_0330,
            HELSINKI,
            Some("2026-03-28T01:30:00Z"),
            "2026-03-29T00:59:59Z",
            None,
        ),
        (
            "fall back: during the repeated hour the first 03:30 is due",
            DAILY_0330,
            HELSINKI,
            Some("2026-10-24T00:30:00Z"),
            "2026-10-25T01:15:00Z",
            Some("2026-10-25T00:30:00Z"),
        ),
        (
            "fall back: at the second 03:30 nothing more is due",
            DAILY_0330,
            HELSINKI,
            Some("2026-10-25T00:30:00Z"),
            "2026-10-25T01:30:00Z",
            None,
        ),
        (
            "New York, down across the spring jump: latest tick in EDT",
            WEEKDAYS_9,
            NEW_YORK,
            Some("2026-03-05T14:00:00Z"),
            "2026-03-10T20:00:00Z",
            Some("2026-03-10T13:00:00Z"),
        ),
        (
            "UTC hourly, down 50 hours: only the latest hour",
            "0 0 * * * *",
            "UTC",
            Some("2026-05-01T00:00:00Z"),
            "2026-05-03T02:59:59Z",
            Some("2026-05-03T02:00:00Z"),
        ),
    ];
    let mut failures = Vec::new();
    for &(what, expr, tz, last_run, now, expected) in rows {
        let got = schedule(expr, tz).due_tick(last_run.map(at), at(now));
        if got != expected.map(at) {
            failures.push(format!("{what}: got {got:?}, expected {expected:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn as_of_date_is_the_ticks_local_date() {
    // (zone, tick, expected as-of)
    let rows = [
        (HELSINKI, "2026-03-29T01:00:00Z", "2026-03-29"),
        (HELSINKI, "2026-03-28T22:30:00Z", "2026-03-29"), // 00:30 EET
        (HELSINKI, "2026-10-25T00:30:00Z", "2026-10-25"),
        (NEW_YORK, "2026-03-10T03:30:00Z", "2026-03-09"), // 23:30 EDT
        ("UTC", "2026-03-10T23:59:59Z", "2026-03-10"),
    ];
    for (tz, tick, expected) in rows {
        let got = schedule("@daily", tz).as_of_date(at(tick));
        assert_eq!(got, expected.parse::<NaiveDate>().unwrap(), "{tz} {tick}");
    }
}

/// All ticks in `[from, to)`, by repeated `next_after`.
fn ticks(s: &Schedule, from: &str, to: &str) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    let mut t = at(from) - TimeDelta::seconds(1);
    while let Some(next) = s.next_after(t).filter(|&n| n < at(to)) {
        assert!(next > t, "next_after({t}) went nowhere: {next}");
        out.push(next);
        t = next;
    }
    out
}

#[test]
fn a_daily_schedule_ticks_once_per_local_day_across_both_dst_changes() {
    let s = schedule(DAILY_0330, HELSINKI);
    for (from, to) in [
        ("2026-03-27T00:00:00Z", "2026-03-31T00:00:00Z"),
        ("2026-10-23T00:00:00Z", "2026-10-27T00:00:00Z"),
    ] {
        let ticks = ticks(&s, from, to);
        let dates: Vec<String> = ticks.iter().map(|&t| s.as_of_date(t).to_string()).collect();
        let expected: Vec<String> = (0..4)
            .map(|i| (at(from).date_naive() + TimeDelta::days(i)).to_string())
            .collect();
        assert_eq!(dates, expected, "{ticks:?}");
    }
}

#[test]
fn latest_at_or_before_agrees_with_walking_forward() {
    // Every tick found walking forward is its own latest-at-or-before, and one second earlier
    // the previous tick is, around both Helsinki changes, for a few kinds of schedule.
    for expr in [DAILY_0330, "0 */20 * * * *", "0 0 4 * * *", "0 0 3 * * *"] {
        let s = schedule(expr, HELSINKI);
        for (from, to) in [
            ("2026-03-28T20:00:00Z", "2026-03-29T04:00:00Z"),
            ("2026-10-24T20:00:00Z", "2026-10-25T04:00:00Z"),
        ] {
            let ticks = ticks(&s, from, to);
            assert!(!ticks.is_empty(), "{expr}");
            for pair in ticks.windows(2) {
                assert!(pair[0] < pair[1], "{expr}: {ticks:?}");
                assert_eq!(s.latest_at_or_before(pair[1]), Some(pair[1]), "{expr}");
                assert_eq!(
                    s.latest_at_or_before(pair[1] - TimeDelta::seconds(1)),
                    Some(pair[0]),
                    "{expr}"
                );
            }
        }
    }
}

#[test]
fn next_wakeup_is_the_earliest_tick_and_names_every_tenant_on_it() {
    let tenants = BTreeMap::from([
        ("acme", schedule(WEEKDAYS_9, HELSINKI)),      // 07:00 UTC
        ("bolt", schedule(WEEKDAYS_9, NEW_YORK)),      // 13:00 UTC
        ("cask", schedule("0 0 7 * * *", "UTC")),      // 07:00 UTC
        ("done", schedule("0 0 9 1 1 * 2025", "UTC")), // never again
    ]);
    let now = at("2026-03-16T00:00:00Z");
    assert_eq!(
        next_wakeup(&tenants, now),
        Some((at("2026-03-16T07:00:00Z"), vec!["acme", "cask"]))
    );
    assert_eq!(
        next_wakeup(&tenants, at("2026-03-16T07:00:00Z")),
        Some((at("2026-03-16T13:00:00Z"), vec!["bolt"]))
    );
    let finished = BTreeMap::from([("done", schedule("0 0 9 1 1 * 2025", "UTC"))]);
    assert_eq!(next_wakeup(&finished, now), None);
    assert_eq!(next_wakeup(&BTreeMap::<&str, Schedule>::new(), now), None);
}

#[test]
fn bad_expressions_and_unknown_zones_are_clear_errors() {
    for expr in [
        "0 9 * * *",
        "0 0 25 * * *",
        "",
        "every day at nine",
        "0 0 9 * * Funday",
    ] {
        let err = Schedule::parse(expr, HELSINKI).expect_err(expr);
        assert!(
            matches!(&err, ScheduleError::BadExpression { expr: e, .. } if e == expr),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(text.contains("seconds first"), "{text}");
        assert!(err.source().is_some(), "the parser's reason is kept");
    }
    for name in ["Europe/Helsinky", "helsinki", "", "UTC+2"] {
        let err = Schedule::parse(WEEKDAYS_9, name).expect_err(name);
        assert_eq!(
            err.to_string(),
            format!(
                "unknown time zone {name:?}: expected an IANA name such as \"Europe/Helsinki\""
            )
        );
    }
}

#[test]
fn a_schedule_shows_its_expression_and_zone() {
    let s = schedule(WEEKDAYS_9, HELSINKI);
    assert_eq!(s.expression(), WEEKDAYS_9);
    assert_eq!(s.time_zone(), HELSINKI);
    assert_eq!(s.to_string(), "0 0 9 * * Mon-Fri (Europe/Helsinki)");
}
