use std::collections::BTreeMap;

use chrono::{NaiveTime, TimeZone};
use chrono_tz::{America, Europe, Pacific};
use dunlin_core::{Closure, Escalation, EscalationKind, Notice, Pause, Retry, Tone};

use super::*;

const UTC: Tz = chrono_tz::UTC;
const HELSINKI: Tz = Europe::Helsinki;
const NEW_YORK: Tz = America::New_York;
const AUCKLAND: Tz = Pacific::Auckland;

/// The instant of a wall-clock time that exists once in `tz`.
fn local(tz: Tz, y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    tz.with_ymd_and_hms(y, m, d, h, min, 0)
        .single()
        .unwrap_or_else(|| panic!("{y}-{m}-{d} {h}:{min} exists once in {tz}"))
        .to_utc()
}

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    local(UTC, y, m, d, h, min)
}

fn window(start: (u32, u32), end: (u32, u32)) -> ContactWindow {
    let at = |(h, m)| NaiveTime::from_hms_opt(h, m, 0).expect("a time of day");
    ContactWindow {
        start: at(start),
        end: at(end),
    }
}

fn notice(channel: Channel) -> Action {
    Action::Notify(Notice {
        level: 2,
        channel,
        tone: Tone::Firm,
        template: "reminder-2".into(),
        vars: BTreeMap::new(),
    })
}

fn sms() -> Action {
    notice(Channel::Sms)
}

fn retry() -> Action {
    Action::RetryPayment(Retry {
        reason: "payday".into(),
    })
}

fn escalate(kind: EscalationKind) -> Action {
    Action::Escalate(Escalation {
        kind,
        reason: "60 days overdue".into(),
    })
}

fn pause() -> Action {
    Action::Pause(Pause {
        until: chrono::NaiveDate::from_ymd_opt(2026, 7, 1).expect("a date"),
        reason: "promise to pay".into(),
    })
}

fn close() -> Action {
    Action::Close(Closure {
        write_off: false,
        reason: "paid elsewhere".into(),
    })
}

/// Every kind of action, each escalation kind included.
fn every_action() -> Vec<Action> {
    let mut actions: Vec<Action> = [
        Channel::Email,
        Channel::Sms,
        Channel::Letter,
        Channel::Phone,
        Channel::InApp,
    ]
    .into_iter()
    .map(notice)
    .collect();
    actions.push(retry());
    for kind in [
        EscalationKind::AccountManager,
        EscalationKind::Collections,
        EscalationKind::Legal,
        EscalationKind::SuspendService,
    ] {
        actions.push(escalate(kind));
    }
    actions.extend([pause(), close()]);
    actions
}

/// An open invoice, a customer in `tz` with no opt-outs and no recent contacts, the default
/// 08:00–21:00 window, no quiet days.
fn input(tz: Tz, now: DateTime<Utc>, action: Action) -> SendCheck {
    SendCheck {
        now,
        action,
        time_zone: tz,
        window: ContactWindow::default(),
        quiet_days: Vec::new(),
        opted_out: Vec::new(),
        status: InvoiceStatus::Open,
        open_balance_minor: 12_345,
        disputed: false,
        payment_plan: false,
        hold_while_disputed: true,
        hold_during_payment_plan: true,
        recent_contacts: Vec::new(),
        max_contacts_per_customer_7_days: 7,
    }
}

fn wait_until(verdict: Verdict) -> DateTime<Utc> {
    match verdict {
        Verdict::Wait { until, .. } => until,
        other => panic!("expected a wait, got {other:?}"),
    }
}

fn reason(verdict: &Verdict) -> &str {
    match verdict {
        Verdict::Wait { reason, .. } | Verdict::Cancel { reason } | Verdict::Block { reason } => {
            reason
        }
        Verdict::Send => panic!("expected a reason, got a send"),
    }
}

#[test]
fn window_in_the_customers_zone_across_zones() {
    // A Wednesday in June: no DST change near, New Zealand on standard time.
    for tz in [HELSINKI, NEW_YORK, AUCKLAND, UTC] {
        let at = |d, h, m| local(tz, 2026, 6, d, h, m);
        let cases = [
            (at(10, 12, 0), None),
            (at(10, 8, 0), None),
            (at(10, 20, 59), None),
            (at(10, 7, 59), Some(at(10, 8, 0))),
            (at(10, 0, 0), Some(at(10, 8, 0))),
            // The end is exclusive.
            (at(10, 21, 0), Some(at(11, 8, 0))),
            (at(10, 23, 30), Some(at(11, 8, 0))),
        ];
        for (now, expected) in cases {
            let verdict = check(&input(tz, now, sms()));
            match expected {
                None => assert_eq!(verdict, Verdict::Send, "{tz} {now}"),
                Some(until) => {
                    assert!(
                        reason(&verdict).contains(&format!("08:00–21:00 in {}", tz.name())),
                        "{verdict:?}"
                    );
                    assert_eq!(wait_until(verdict), until, "{tz} {now}");
                }
            }
        }
    }
    // The same instant is inside the window in one zone and outside in another.
    let now = utc(2026, 6, 10, 19, 30);
    assert_eq!(check(&input(NEW_YORK, now, sms())), Verdict::Send);
    assert_eq!(
        wait_until(check(&input(HELSINKI, now, sms()))),
        utc(2026, 6, 11, 5, 0)
    );
    assert_eq!(
        wait_until(check(&input(AUCKLAND, now, sms()))),
        utc(2026, 6, 10, 20, 0)
    );
}

#[test]
fn window_across_spring_forward() {
    // Helsinki, 2026-03-29: 03:00 EET becomes 04:00 EEST at 01:00 UTC.
    let start_in_gap = |now| SendCheck {
        window: window((3, 30), (21, 0)),
        ..input(HELSINKI, now, sms())
    };
    // The start does not exist that day: the window opens when the clocks jump.
    assert_eq!(
        wait_until(check(&start_in_gap(utc(2026, 3, 29, 0, 30)))),
        utc(2026, 3, 29, 1, 0)
    );
    assert_eq!(check(&start_in_gap(utc(2026, 3, 29, 1, 0))), Verdict::Send);
    // The next day's start exists again, an hour further from UTC than before the change.
    assert_eq!(
        wait_until(check(&start_in_gap(utc(2026, 3, 29, 18, 0)))),
        utc(2026, 3, 30, 0, 30)
    );
    // The default 08:00 after a Saturday evening: 08:00 EEST, 05:00 UTC, not 06:00.
    assert_eq!(
        wait_until(check(&input(HELSINKI, utc(2026, 3, 28, 20, 0), sms()))),
        utc(2026, 3, 29, 5, 0)
    );
    // An end in the gap: 02:59 EET is inside, the next instant on the wall is 04:00, outside.
    let end_in_gap = |now| SendCheck {
        window: window((1, 0), (3, 30)),
        ..input(HELSINKI, now, sms())
    };
    assert_eq!(check(&end_in_gap(utc(2026, 3, 29, 0, 59))), Verdict::Send);
    assert_eq!(
        wait_until(check(&end_in_gap(utc(2026, 3, 29, 1, 0)))),
        utc(2026, 3, 29, 22, 0)
    );

    // New York, 2026-03-08: 02:00 EST becomes 03:00 EDT at 07:00 UTC.
    let ny = |start, end, now| SendCheck {
        window: window(start, end),
        ..input(NEW_YORK, now, sms())
    };
    assert_eq!(
        wait_until(check(&ny((2, 30), (21, 0), utc(2026, 3, 8, 5, 0)))),
        utc(2026, 3, 8, 7, 0)
    );
    // A window wholly inside the gap has no instant that day: the next day's opens.
    assert_eq!(
        wait_until(check(&ny((2, 0), (2, 45), utc(2026, 3, 8, 5, 0)))),
        utc(2026, 3, 9, 6, 0)
    );
    assert_eq!(
        wait_until(check(&input(NEW_YORK, utc(2026, 3, 8, 6, 0), sms()))),
        utc(2026, 3, 8, 12, 0)
    );
}

#[test]
fn window_across_fall_back() {
    // Helsinki, 2026-10-25: 04:00 EEST becomes 03:00 EET at 01:00 UTC, so 03:00–03:59
    // happens twice; a start in that hour opens at its first occurrence.
    let helsinki = |now| SendCheck {
        window: window((3, 30), (21, 0)),
        ..input(HELSINKI, now, sms())
    };
    assert_eq!(
        wait_until(check(&helsinki(utc(2026, 10, 24, 23, 0)))),
        utc(2026, 10, 25, 0, 30)
    );
    // Between the two occurrences the window is already open.
    assert_eq!(check(&helsinki(utc(2026, 10, 25, 1, 0))), Verdict::Send);
    // The day after, 03:30 is EET again, 01:30 UTC.
    assert_eq!(
        wait_until(check(&helsinki(utc(2026, 10, 25, 19, 30)))),
        utc(2026, 10, 26, 1, 30)
    );
    // An end in the repeated hour is read on the wall clock: 03:10 is before 03:30 both times.
    let end_repeated = |now| SendCheck {
        window: window((1, 0), (3, 30)),
        ..input(HELSINKI, now, sms())
    };
    assert_eq!(
        check(&end_repeated(utc(2026, 10, 25, 0, 10))),
        Verdict::Send
    );
    assert_eq!(
        check(&end_repeated(utc(2026, 10, 25, 1, 10))),
        Verdict::Send
    );
    assert_eq!(
        wait_until(check(&end_repeated(utc(2026, 10, 25, 1, 30)))),
        utc(2026, 10, 25, 23, 0)
    );

    // New York, 2026-11-01: 02:00 EDT becomes 01:00 EST at 06:00 UTC.
    let ny = |now| SendCheck {
        window: window((1, 30), (21, 0)),
        ..input(NEW_YORK, now, sms())
    };
    assert_eq!(
        wait_until(check(&ny(utc(2026, 11, 1, 4, 0)))),
        utc(2026, 11, 1, 5, 30)
    );
    // The default 08:00 the morning after the change: 08:00 EST, 13:00 UTC.
    assert_eq!(
        wait_until(check(&input(NEW_YORK, utc(2026, 11, 1, 2, 0), sms()))),
        utc(2026, 11, 1, 13, 0)
    );
}

#[test]
fn quiet_days_wait_for_the_next_working_morning() {
    let weekend = |tz, now| SendCheck {
        quiet_days: vec![Weekday::Sat, Weekday::Sun],
        ..input(tz, now, sms())
    };
    for tz in [HELSINKI, NEW_YORK, AUCKLAND, UTC] {
        // 2026-06-12 is a Friday.
        let friday_evening = local(tz, 2026, 6, 12, 21, 30);
        let monday_morning = local(tz, 2026, 6, 15, 8, 0);
        assert_eq!(
            wait_until(check(&weekend(tz, friday_evening))),
            monday_morning,
            "{tz}"
        );
        assert_eq!(
            check(&weekend(tz, local(tz, 2026, 6, 12, 20, 0))),
            Verdict::Send
        );
        let saturday_noon = check(&weekend(tz, local(tz, 2026, 6, 13, 12, 0)));
        assert_eq!(
            reason(&saturday_noon),
            format!("Saturday is a quiet day in {}", tz.name())
        );
        assert_eq!(wait_until(saturday_noon), monday_morning, "{tz}");
        // Sunday night is quiet even where it is already Monday in UTC.
        assert_eq!(
            wait_until(check(&weekend(tz, local(tz, 2026, 6, 14, 23, 0)))),
            monday_morning,
            "{tz}"
        );
    }
    // The weekday is the customer's: Friday 22:00 UTC is Saturday in Helsinki.
    let friday_late_utc = utc(2026, 6, 12, 22, 0);
    assert_eq!(
        wait_until(check(&weekend(HELSINKI, friday_late_utc))),
        local(HELSINKI, 2026, 6, 15, 8, 0)
    );
    assert_eq!(
        check(&weekend(NEW_YORK, friday_late_utc)),
        Verdict::Send,
        "18:00 on a Friday in New York"
    );
}

#[test]
fn a_window_that_never_opens_blocks() {
    let now = utc(2026, 6, 10, 12, 0);
    let every_day = SendCheck {
        quiet_days: vec![
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
            Weekday::Sat,
            Weekday::Sun,
        ],
        ..input(UTC, now, sms())
    };
    assert!(matches!(check(&every_day), Verdict::Block { .. }));
    let empty = SendCheck {
        window: window((9, 0), (9, 0)),
        ..input(UTC, now, sms())
    };
    assert!(matches!(check(&empty), Verdict::Block { .. }));
}

#[test]
fn an_opted_out_channel_blocks_the_notice_only() {
    let now = local(HELSINKI, 2026, 6, 10, 12, 0);
    let opted_out = |action| SendCheck {
        opted_out: vec![Channel::Sms, Channel::Email],
        ..input(HELSINKI, now, action)
    };
    for channel in [Channel::Sms, Channel::Email] {
        let verdict = check(&opted_out(notice(channel)));
        assert_eq!(
            verdict,
            Verdict::Block {
                reason: format!("the customer opted out of {} notices", channel.as_str())
            }
        );
    }
    for action in [
        notice(Channel::Letter),
        retry(),
        escalate(EscalationKind::Collections),
        pause(),
        close(),
    ] {
        assert_eq!(check(&opted_out(action.clone())), Verdict::Send, "{action}");
    }
}

#[test]
fn the_weekly_cap_waits_until_a_contact_leaves_the_span() {
    let tz = HELSINKI;
    let now = local(tz, 2026, 6, 10, 12, 0);
    let days_ago = |days: i64, h, m| local(tz, 2026, 6, 10, h, m) - TimeDelta::days(days);
    let capped = |contacts: Vec<DateTime<Utc>>, cap| SendCheck {
        recent_contacts: contacts,
        max_contacts_per_customer_7_days: cap,
        ..input(tz, now, sms())
    };
    // Six of seven: room for one more.
    let six: Vec<_> = (1..=6).map(|d| days_ago(d, 10, 0)).collect();
    assert_eq!(check(&capped(six.clone(), 7)), Verdict::Send);

    // Seven, the oldest six days ago at 10:00 (given out of order): it leaves the span
    // tomorrow at 10:00, inside the window.
    let mut seven = six.clone();
    seven.insert(2, days_ago(0, 9, 0));
    let verdict = check(&capped(seven.clone(), 7));
    assert_eq!(
        reason(&verdict),
        "the customer has had 7 contacts in the last 7 days, the tenant's cap"
    );
    assert_eq!(wait_until(verdict), days_ago(6, 10, 0) + CAP_SPAN);

    // Contacts older than the span do not count.
    let mut with_old = six.clone();
    with_old.push(now - CAP_SPAN);
    with_old.push(now - TimeDelta::days(30));
    assert_eq!(check(&capped(with_old, 7)), Verdict::Send);

    // A contact that leaves the span at night: the wait goes on to the next opening.
    let mut late = six[..5].to_vec();
    late.push(days_ago(6, 23, 0));
    late.push(days_ago(0, 9, 0));
    assert_eq!(
        wait_until(check(&capped(late, 7))),
        local(tz, 2026, 6, 5, 8, 0) + CAP_SPAN
    );

    // Nine contacts against a cap of seven (the tenant lowered it): the three oldest must
    // leave before one more may go.
    let nine: Vec<_> = (0..9).map(|i| now - TimeDelta::hours(1 + 12 * i)).collect();
    assert_eq!(
        wait_until(check(&capped(nine.clone(), 7))),
        nine[6] + CAP_SPAN
    );

    assert!(matches!(
        check(&capped(Vec::new(), 0)),
        Verdict::Block { .. }
    ));
    // The cap counts notices only.
    for action in [retry(), escalate(EscalationKind::Legal), pause(), close()] {
        let over = SendCheck {
            action: action.clone(),
            ..capped(seven.clone(), 7)
        };
        assert_eq!(check(&over), Verdict::Send, "{action}");
    }
}

#[test]
fn each_cancel_reason_for_each_dunning_action() {
    let now = local(HELSINKI, 2026, 6, 10, 12, 0);
    type Change = fn(&mut SendCheck);
    let cases: [(Change, &str); 6] = [
        (
            |c| c.status = InvoiceStatus::Paid,
            "the invoice was paid after the decision",
        ),
        (
            |c| c.status = InvoiceStatus::Void,
            "the invoice was voided after the decision",
        ),
        (
            |c| c.status = InvoiceStatus::WrittenOff,
            "the invoice was written off after the decision",
        ),
        (
            |c| c.open_balance_minor = 0,
            "nothing is left to collect on the invoice",
        ),
        (|c| c.disputed = true, "the invoice is disputed"),
        (
            |c| c.payment_plan = true,
            "a payment plan or promise to pay is in good standing",
        ),
    ];
    for action in every_action() {
        let ladder = matches!(action, Action::Pause(_) | Action::Close(_));
        for (change, expected) in cases {
            let mut input = input(HELSINKI, now, action.clone());
            change(&mut input);
            let verdict = check(&input);
            if ladder {
                assert_eq!(verdict, Verdict::Send, "{action}: {expected}");
            } else {
                assert_eq!(
                    verdict,
                    Verdict::Cancel {
                        reason: expected.to_owned()
                    },
                    "{action}"
                );
            }
        }
        // A credit balance is nothing to collect either.
        let credit = SendCheck {
            open_balance_minor: -500,
            ..input(HELSINKI, now, action.clone())
        };
        assert_eq!(matches!(check(&credit), Verdict::Cancel { .. }), !ladder);
    }
}

#[test]
fn disputes_and_plans_hold_only_while_the_tenant_holds_them() {
    let now = local(HELSINKI, 2026, 6, 10, 12, 0);
    for action in [sms(), retry(), escalate(EscalationKind::Collections)] {
        let released = SendCheck {
            disputed: true,
            payment_plan: true,
            hold_while_disputed: false,
            hold_during_payment_plan: false,
            ..input(HELSINKI, now, action.clone())
        };
        assert_eq!(check(&released), Verdict::Send, "{action}");
        let plan_held = SendCheck {
            hold_during_payment_plan: true,
            ..released.clone()
        };
        assert!(
            matches!(check(&plan_held), Verdict::Cancel { .. }),
            "{action}"
        );
    }
}

#[test]
fn a_cancel_comes_before_a_block_or_a_wait() {
    // Paid, on an opted-out channel, at night, over the cap: the cancel is what is final.
    let night = local(HELSINKI, 2026, 6, 10, 3, 0);
    let all_wrong = SendCheck {
        status: InvoiceStatus::Paid,
        opted_out: vec![Channel::Sms],
        recent_contacts: vec![night - TimeDelta::hours(1)],
        max_contacts_per_customer_7_days: 1,
        ..input(HELSINKI, night, sms())
    };
    assert_eq!(
        reason(&check(&all_wrong)),
        "the invoice was paid after the decision"
    );
    // Opted out at night: blocked now, not made to wait for a morning that changes nothing.
    let blocked = SendCheck {
        status: InvoiceStatus::Open,
        ..all_wrong
    };
    assert!(matches!(check(&blocked), Verdict::Block { .. }));
}

#[test]
fn only_notices_keep_the_window() {
    // 03:00 on a quiet Sunday in Auckland, the cap reached: every action but a notice goes.
    let now = local(AUCKLAND, 2026, 6, 14, 3, 0);
    for action in every_action() {
        let verdict = check(&SendCheck {
            quiet_days: vec![Weekday::Sun],
            recent_contacts: vec![now - TimeDelta::days(1)],
            max_contacts_per_customer_7_days: 1,
            ..input(AUCKLAND, now, action.clone())
        });
        if let Action::Notify(_) = action {
            assert!(matches!(verdict, Verdict::Wait { .. }), "{action}");
        } else {
            assert_eq!(verdict, Verdict::Send, "{action}");
        }
    }
}

#[test]
fn next_opening_is_the_start_of_a_window_it_finds() {
    // Every wait ends inside the window, on a day that is not quiet, and nothing earlier
    // after `from` is: checked hour by hour over a year in each zone.
    let quiet = [Weekday::Sun];
    let w = window((8, 30), (17, 0));
    for tz in [HELSINKI, NEW_YORK, AUCKLAND, UTC] {
        let mut from = utc(2026, 1, 1, 0, 17);
        while from < utc(2027, 1, 1, 0, 0) {
            let opens = next_opening(from, tz, w, &quiet).expect("a window opens each week");
            let at = opens.with_timezone(&tz);
            assert!(opens >= from, "{tz} {from}");
            assert!(
                w.start <= at.time() && at.time() < w.end,
                "{tz} {from}: {at}"
            );
            assert_ne!(at.weekday(), Weekday::Sun, "{tz} {from}");
            if opens > from {
                let before = (opens - TimeDelta::seconds(1)).with_timezone(&tz);
                let open_before = before.weekday() != Weekday::Sun
                    && w.start <= before.time()
                    && before.time() < w.end;
                assert!(
                    !open_before || opens - TimeDelta::seconds(1) < from,
                    "{tz} {from}"
                );
            }
            from += TimeDelta::minutes(61);
        }
    }
}
