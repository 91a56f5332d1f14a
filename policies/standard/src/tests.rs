use dunlin_guest_sdk::testing::{context, date, escalated, notified, run_cases, ContextBuilder};
use dunlin_guest_sdk::{
    ActionOutcome, Channel, Decision, EscalationKind, Notice, PastAction, Policy, PolicyError, Tone,
};

use super::*;

fn decide(ctx: ContextBuilder) -> Decision {
    let ctx = ctx.build();
    let d = Standard::decide(&ctx).expect("the standard policy decides");
    assert_eq!(d.segment, SEGMENT);
    assert!(!d.reason.trim().is_empty());
    if let Some(review) = d.review_on {
        assert!(
            review > ctx.as_of,
            "review-on {review} must be after {}",
            ctx.as_of
        );
    }
    assert_eq!(
        dunlin_guest_sdk::testing::contract_violation(&ctx, &d),
        None
    );
    d
}

fn only_notice(d: &Decision) -> &Notice {
    assert_eq!(d.actions.len(), 1, "{d:?}");
    d.first_notice().expect("a notice")
}

/// Due 2026-01-31; the default context is as of 2026-02-10.
fn due_jan_31() -> ContextBuilder {
    context().due("2026-01-31")
}

/// The notice expected from a decision: level, template, tone.
type Sent = Option<(u8, &'static str, Tone)>;

#[test]
fn the_ladder_climbs_one_level_at_a_time_on_schedule() {
    // as of, history, the notice sent (none: wait, or collections when no review), review.
    let table: [(&str, Vec<PastAction>, Sent, Option<&str>); 9] = [
        ("2026-01-20", vec![], None, Some("2026-01-28")),
        (
            "2026-01-28",
            vec![],
            Some((1, "pre-due-reminder", Tone::Friendly)),
            Some("2026-02-03"),
        ),
        (
            "2026-02-01",
            vec![notified("2026-01-28", 1)],
            None,
            Some("2026-02-03"),
        ),
        (
            "2026-02-03",
            vec![notified("2026-01-28", 1)],
            Some((1, "reminder-friendly", Tone::Friendly)),
            Some("2026-02-14"),
        ),
        (
            "2026-02-10",
            vec![notified("2026-02-03", 1)],
            None,
            Some("2026-02-14"),
        ),
        (
            "2026-02-14",
            vec![notified("2026-02-03", 1)],
            Some((2, "reminder-firm", Tone::Firm)),
            Some("2026-02-28"),
        ),
        (
            "2026-02-28",
            vec![notified("2026-02-03", 1), notified("2026-02-14", 2)],
            Some((3, "final-notice", Tone::Final)),
            Some("2026-03-14"),
        ),
        (
            "2026-03-13",
            vec![notified("2026-02-14", 2), notified("2026-02-28", 3)],
            None,
            Some("2026-03-14"),
        ),
        (
            "2026-03-14",
            vec![notified("2026-02-14", 2), notified("2026-02-28", 3)],
            None,
            None,
        ),
    ];
    for (as_of, history, expected, review) in table {
        let d = decide(due_jan_31().as_of(as_of).history(history));
        match expected {
            Some((level, template, tone)) => {
                let n = only_notice(&d);
                assert_eq!(
                    (n.level, n.template.as_str(), n.tone),
                    (level, template, tone),
                    "{as_of}"
                );
            }
            None if review.is_some() => assert!(d.is_wait(), "{as_of}: {d:?}"),
            None => assert_eq!(
                d.escalation().map(|e| e.kind),
                Some(EscalationKind::Collections),
                "{as_of}"
            ),
        }
        assert_eq!(d.review_on, review.map(date), "{as_of}: {}", d.reason);
    }
}

#[test]
fn a_late_start_sends_one_level_and_respects_the_gap() {
    // 40 days overdue with nothing sent: only the friendly reminder, not the whole ladder.
    let d = decide(due_jan_31().as_of("2026-03-12"));
    assert_eq!(only_notice(&d).level, 1);
    assert_eq!(d.review_on, Some(date("2026-03-19")));
    // A week later the firm reminder, then the final notice a week after that.
    let d = decide(
        due_jan_31()
            .as_of("2026-03-19")
            .past(notified("2026-03-12", 1)),
    );
    assert_eq!(only_notice(&d).level, 2);
    let d = decide(
        due_jan_31()
            .as_of("2026-03-18")
            .past(notified("2026-03-12", 1)),
    );
    assert!(d.is_wait());
}

#[test]
fn final_notice_names_the_collections_date_and_can_go_by_letter() {
    let ctx = due_jan_31()
        .as_of("2026-02-28")
        .reachable(&[Channel::Email, Channel::Letter])
        .param("final-by-letter", true)
        .history([notified("2026-02-03", 1), notified("2026-02-14", 2)]);
    let d = decide(ctx);
    let notices: Vec<_> = d.notices().collect();
    assert_eq!(notices.len(), 2);
    assert_eq!(notices[0].channel, Channel::Email);
    assert_eq!(notices[1].channel, Channel::Letter);
    for n in notices {
        assert_eq!(n.get_var("collections-on"), Some("2026-03-14"));
        assert_eq!(n.get_var("days-overdue"), Some("28"));
    }
    assert!(d.reason.contains("by email and letter"), "{}", d.reason);
}

#[test]
fn disputed_and_planned_invoices_wait_whatever_the_ladder_says() {
    for ctx in [due_jan_31().disputed(), due_jan_31().on_payment_plan()] {
        let d = decide(ctx.as_of("2026-03-30").param("hold-review-days", 10));
        assert!(d.is_wait());
        assert_eq!(d.review_on, Some(date("2026-04-09")));
    }
}

#[test]
fn channels_follow_the_parameter_and_reachability() {
    let d = decide(
        due_jan_31()
            .as_of("2026-02-03")
            .reachable(&[Channel::Sms, Channel::InApp]),
    );
    assert_eq!(only_notice(&d).channel, Channel::InApp);
    let d = decide(
        due_jan_31()
            .as_of("2026-02-03")
            .reachable(&[Channel::Email, Channel::Letter])
            .param("channel", "letter"),
    );
    assert_eq!(only_notice(&d).channel, Channel::Letter);
    let d = decide(
        due_jan_31()
            .as_of("2026-02-03")
            .reachable(&[Channel::Email])
            .opted_out(Channel::Email),
    );
    assert_eq!(
        d.escalation().map(|e| e.kind),
        Some(EscalationKind::AccountManager)
    );
    assert!(d.ends_ladder());
}

#[test]
fn small_balances_are_written_off_instead_of_collected() {
    let ctx = due_jan_31()
        .as_of("2026-03-20")
        .amount(3000, "EUR")
        .param("write-off-below-minor", 5000)
        .history([notified("2026-02-14", 2), notified("2026-02-28", 3)]);
    let d = decide(ctx);
    assert!(matches!(d.actions.as_slice(), [Action::Close(c)] if c.write_off));
    assert!(d.ends_ladder());
}

#[test]
fn failed_or_blocked_notices_are_sent_again() {
    let d = decide(
        due_jan_31()
            .as_of("2026-02-14")
            .history([notified("2026-02-03", 1).with_outcome(ActionOutcome::Blocked)]),
    );
    assert_eq!(only_notice(&d).level, 1);
}

#[test]
fn the_ladder_stays_over_after_an_escalation_or_when_paid() {
    let d = decide(
        due_jan_31()
            .as_of("2026-04-01")
            .past(escalated("2026-03-14")),
    );
    assert!(d.is_wait() && d.ends_ladder());
    let d = decide(due_jan_31().open_balance(0));
    assert!(matches!(d.actions.as_slice(), [Action::Close(c)] if !c.write_off));
}

#[test]
fn pre_due_reminders_can_be_turned_off() {
    let d = decide(due_jan_31().as_of("2026-01-29").param("pre-due-days", 0));
    assert!(d.is_wait());
    assert_eq!(d.review_on, Some(date("2026-02-03")));
}

#[test]
fn malformed_or_inconsistent_params_are_refused() {
    let cases = [
        (
            "firm-days",
            "two weeks",
            "firm-days: \"two weeks\" is not a valid i64",
        ),
        (
            "firm-days",
            "2",
            "firm-days: 2 must be greater than reminder-days (3)",
        ),
        (
            "collections-days",
            "28",
            "collections-days: 28 must be greater than final-days (28)",
        ),
        (
            "channel",
            "pigeon",
            "channel: \"pigeon\" is not a valid Channel",
        ),
        (
            "min-gap-days",
            "0",
            "min-gap-days: 0 is outside the allowed range 1 to 90",
        ),
    ];
    for (key, value, expected) in cases {
        let err = Standard::decide(&due_jan_31().param(key, value).build()).unwrap_err();
        assert!(
            matches!(&err, PolicyError::BadParam(d) if d.starts_with(expected)),
            "{err:?}"
        );
    }
}

#[test]
fn cases_file_passes() {
    run_cases::<Standard>("cases.json");
}
