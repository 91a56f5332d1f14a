use dunlin_guest_sdk::testing::{
    context, contract_violation, date, escalated, notified, run_cases, ContextBuilder,
};
use dunlin_guest_sdk::{
    Action, ActionKind, Channel, Decision, EscalationKind, Notice, Policy, Tone,
};

use super::*;

fn decide(ctx: ContextBuilder) -> Decision {
    let ctx = ctx.build();
    let d = B2bSegmented::decide(&ctx).expect("the policy decides");
    assert!(!d.reason.trim().is_empty());
    if let Some(review) = d.review_on {
        assert!(
            review > ctx.as_of,
            "review-on {review} must be after {}",
            ctx.as_of
        );
    }
    assert_eq!(contract_violation(&ctx, &d), None);
    d
}

fn kinds(d: &Decision) -> Vec<ActionKind> {
    d.actions.iter().map(Action::kind).collect()
}

fn notice_of(d: &Decision) -> (u8, Tone, &str) {
    let n: &Notice = d.first_notice().expect("a notice");
    (n.level, n.tone, n.template.as_str())
}

/// Due 2026-01-31; long-standing customer with a clean record unless a test says otherwise.
fn established() -> ContextBuilder {
    context()
        .due("2026-01-31")
        .customer_since("2022-06-01")
        .payments_12m(11, 1)
        .lifetime_value(1_200_000)
        .reachable(&[Channel::Email, Channel::Letter, Channel::Phone])
}

fn high_value() -> ContextBuilder {
    established().lifetime_value(9_000_000)
}

fn chronic() -> ContextBuilder {
    established().payments_12m(4, 5)
}

#[test]
fn high_value_accounts_get_a_gentle_personal_ladder() {
    let d = decide(high_value().as_of("2026-02-07"));
    assert_eq!(d.segment, "high-value");
    assert_eq!(notice_of(&d), (1, Tone::Friendly, "courtesy-reminder"));
    assert_eq!(d.review_on, Some(date("2026-02-21")));

    let l1 = notified("2026-02-07", 1);
    let d = decide(high_value().as_of("2026-02-21").past(l1));
    assert_eq!(notice_of(&d), (2, Tone::Neutral, "statement-reminder"));
    // Day 30 would be 2026-03-02, but rungs are at least ten days apart.
    assert_eq!(d.review_on, Some(date("2026-03-03")));

    let l2 = notified("2026-02-21", 2);
    let d = decide(high_value().as_of("2026-03-03").history([l1, l2]));
    assert_eq!(
        d.escalation().map(|e| e.kind),
        Some(EscalationKind::AccountManager)
    );
    assert!(!d.ends_ladder());
    assert_eq!(d.review_on, Some(date("2026-03-17")));

    // The third rung is a call when the customer takes calls.
    let am = escalated("2026-03-03");
    let d = decide(high_value().as_of("2026-03-17").history([l1, l2, am]));
    let call = d.first_notice().unwrap();
    assert_eq!(
        (call.level, call.channel, call.template.as_str()),
        (3, Channel::Phone, "reminder-call")
    );
    assert_eq!(d.review_on, Some(date("2026-04-01")));

    // The ladder ends with the account manager, never with collections.
    let l3 = notified("2026-03-17", 3).with_channel(Channel::Phone);
    let d = decide(high_value().as_of("2026-04-01").history([l1, l2, am, l3]));
    assert_eq!(
        d.escalation().map(|e| e.kind),
        Some(EscalationKind::AccountManager)
    );
    assert!(d.ends_ladder());
    let d =
        decide(
            high_value()
                .as_of("2026-04-10")
                .history([l1, l2, am, l3, escalated("2026-04-01")]),
        );
    assert!(d.is_wait() && d.ends_ladder());
}

#[test]
fn chronic_late_payers_get_a_short_firm_ladder() {
    let d = decide(chronic().as_of("2026-02-01"));
    assert_eq!(d.segment, "chronic-late");
    assert_eq!(notice_of(&d), (2, Tone::Firm, "reminder-firm"));
    assert_eq!(d.review_on, Some(date("2026-02-10")));

    let l2 = notified("2026-02-01", 2);
    let d = decide(chronic().as_of("2026-02-10").past(l2));
    let channels: Vec<_> = d.notices().map(|n| (n.level, n.tone, n.channel)).collect();
    assert_eq!(
        channels,
        [
            (3, Tone::Final, Channel::Email),
            (3, Tone::Final, Channel::Letter)
        ]
    );
    assert_eq!(d.review_on, Some(date("2026-02-20")));

    let l3 = notified("2026-02-10", 3);
    let d = decide(chronic().as_of("2026-02-20").history([l2, l3]));
    assert_eq!(
        d.escalation().map(|e| e.kind),
        Some(EscalationKind::Collections)
    );
    assert!(d.ends_ladder());
}

#[test]
fn new_and_established_customers_get_the_standard_ladders() {
    let new = || {
        established()
            .customer_since("2025-11-01")
            .payments_12m(2, 0)
    };
    let d = decide(new().as_of("2026-02-03"));
    assert_eq!(d.segment, "new");
    assert_eq!(notice_of(&d), (1, Tone::Friendly, "reminder-friendly"));
    assert_eq!(d.review_on, Some(date("2026-02-14")));

    let d = decide(established().as_of("2026-02-03"));
    assert_eq!(d.segment, "established");
    assert!(d.is_wait());
    assert_eq!(d.review_on, Some(date("2026-02-05")));
    let d = decide(
        established()
            .as_of("2026-02-15")
            .past(notified("2026-02-05", 1)),
    );
    assert_eq!(notice_of(&d), (2, Tone::Neutral, "reminder-neutral"));
}

#[test]
fn several_overdue_invoices_make_a_customer_chronic_and_show_in_the_notice() {
    let d = decide(established().as_of("2026-02-01").other_overdue(2, 300_000));
    assert_eq!(d.segment, "chronic-late");
    let n = d.first_notice().unwrap();
    assert_eq!(n.get_var("other-overdue-count"), Some("2"));
    assert_eq!(n.get_var("total-overdue"), Some("3120.00 EUR"));
}

#[test]
fn a_large_total_overdue_brings_in_the_account_manager_once() {
    let exposed = || established().other_overdue(1, 2_500_000);
    let d = decide(exposed().as_of("2026-02-03"));
    assert_eq!(kinds(&d), [ActionKind::Escalate]);
    assert_eq!(
        d.escalation().map(|e| e.kind),
        Some(EscalationKind::AccountManager)
    );
    assert_eq!(d.review_on, Some(date("2026-02-05")));
    let d = decide(exposed().as_of("2026-02-05").past(escalated("2026-02-03")));
    assert_eq!(kinds(&d), [ActionKind::Notify]);

    // The escalation does not count as the final rung later on.
    let history = [
        escalated("2026-02-03"),
        notified("2026-02-05", 1),
        notified("2026-02-15", 2),
        notified("2026-03-02", 3),
    ];
    let d = decide(exposed().as_of("2026-03-17").history(history));
    assert_eq!(
        d.escalation().map(|e| e.kind),
        Some(EscalationKind::Collections)
    );

    // For a high-value account, the account manager's rung comes forward instead.
    let l1 = notified("2026-02-07", 1);
    let l2 = notified("2026-02-21", 2);
    let d = decide(
        high_value()
            .other_overdue(1, 2_500_000)
            .as_of("2026-02-21")
            .past(l1),
    );
    assert_eq!(kinds(&d), [ActionKind::Notify]);
    assert_eq!(d.review_on, Some(date("2026-03-03")));
    let d = decide(
        high_value()
            .other_overdue(1, 2_500_000)
            .as_of("2026-03-03")
            .history([l1, l2]),
    );
    assert_eq!(
        d.escalation().map(|e| e.kind),
        Some(EscalationKind::AccountManager)
    );
}

#[test]
fn small_balances_are_written_off_at_the_end() {
    let history = [notified("2026-02-01", 2), notified("2026-02-10", 3)];
    let d = decide(
        chronic()
            .amount(8000, "EUR")
            .as_of("2026-02-25")
            .history(history),
    );
    assert!(matches!(d.actions.as_slice(), [Action::Close(c)] if c.write_off));
    assert!(d.ends_ladder());
}

#[test]
fn a_late_start_climbs_one_rung_at_a_time() {
    let d = decide(established().as_of("2026-04-01"));
    assert_eq!(notice_of(&d).0, 1);
    assert_eq!(d.review_on, Some(date("2026-04-08")));
}

#[test]
fn disputed_or_planned_invoices_wait() {
    for ctx in [chronic().disputed(), high_value().on_payment_plan()] {
        let d = decide(ctx.as_of("2026-03-01"));
        assert!(d.is_wait());
        assert_eq!(d.review_on, Some(date("2026-03-08")));
    }
}

#[test]
fn unreachable_customers_go_to_the_account_manager() {
    let d = decide(
        established()
            .reachable(&[Channel::Email])
            .opted_out(Channel::Email)
            .as_of("2026-02-05"),
    );
    assert_eq!(
        d.escalation().map(|e| e.kind),
        Some(EscalationKind::AccountManager)
    );
    assert!(d.ends_ladder());
}

#[test]
fn tenant_thresholds_move_customers_between_segments() {
    let d = decide(
        established()
            .as_of("2026-02-05")
            .param("high-value-minor", 1_000_000),
    );
    assert_eq!(d.segment, "high-value");
    let d = decide(
        established()
            .as_of("2026-02-05")
            .param("chronic-late-count", 1),
    );
    assert_eq!(d.segment, "chronic-late");
    let d = decide(
        established()
            .as_of("2026-02-05")
            .param("new-customer-days", 3650),
    );
    assert_eq!(d.segment, "new");
    let err = B2bSegmented::decide(&established().param("exposure-minor", "lots").build());
    assert!(err
        .unwrap_err()
        .detail()
        .starts_with("exposure-minor: \"lots\" is not a valid i64"));
}

#[test]
fn cases_file_passes() {
    run_cases::<B2bSegmented>("cases.json");
}
