use dunlin_guest_sdk::testing::{
    closed, context, contract_violation, date, escalated, notified, retried, run_cases,
    ContextBuilder,
};
use dunlin_guest_sdk::{
    Action, ActionKind, ActionOutcome, Channel, Decision, EscalationKind, Policy, Tone,
};

use super::*;

fn decide(ctx: ContextBuilder) -> Decision {
    let ctx = ctx.build();
    let d = SaasCard::decide(&ctx).expect("the policy decides");
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

fn templates(d: &Decision) -> Vec<&str> {
    d.notices().map(|n| n.template.as_str()).collect()
}

/// A card invoice due 2026-01-31 that soft-declined on the due date.
fn soft_card() -> ContextBuilder {
    context()
        .due("2026-01-31")
        .card()
        .soft_decline("insufficient_funds")
        .reachable(&[Channel::Email, Channel::InApp])
}

#[test]
fn soft_declines_are_retried_on_a_spaced_schedule_up_to_the_cap() {
    // First retry three days after the decline, with a friendly in-app note.
    let d = decide(soft_card().as_of("2026-02-03"));
    assert_eq!(kinds(&d), [ActionKind::RetryPayment, ActionKind::Notify]);
    let note = d.first_notice().unwrap();
    assert_eq!(
        (note.level, note.channel, note.tone),
        (1, Channel::InApp, Tone::Friendly)
    );
    assert_eq!(note.template, "payment-failed");
    assert_eq!(note.get_var("decline-code"), Some("insufficient_funds"));
    assert_eq!(d.segment, "card");
    assert_eq!(d.review_on, Some(date("2026-02-06")));

    // Too early for the next one: wait for the spacing.
    let d = decide(
        soft_card()
            .as_of("2026-02-04")
            .failed_on("2026-02-03")
            .history([notified("2026-02-03", 1), retried("2026-02-03")]),
    );
    assert!(d.is_wait());
    assert_eq!(d.review_on, Some(date("2026-02-06")));

    // Later retries come without a note.
    let d = decide(
        soft_card()
            .as_of("2026-02-06")
            .failed_on("2026-02-03")
            .history([notified("2026-02-03", 1), retried("2026-02-03")]),
    );
    assert_eq!(kinds(&d), [ActionKind::RetryPayment]);
    assert!(d.reason.contains("retry 2 of 4"), "{}", d.reason);
}

#[test]
fn used_up_retries_turn_into_a_request_for_a_new_card() {
    let history = ["2026-02-03", "2026-02-06", "2026-02-09", "2026-02-12"].map(retried);
    let d = decide(
        soft_card()
            .as_of("2026-02-15")
            .failed_on("2026-02-12")
            .history(history),
    );
    assert_eq!(templates(&d), ["update-card"]);
    assert_eq!(d.first_notice().unwrap().level, 2);
    assert!(!d.has(ActionKind::RetryPayment));
    assert_eq!(d.review_on, Some(date("2026-02-18")));
}

#[test]
fn tenants_choose_fewer_retries_but_not_more_than_networks_tolerate() {
    let d = decide(
        soft_card()
            .as_of("2026-02-06")
            .param("max-card-retries", 1)
            .history([retried("2026-02-03")]),
    );
    assert_eq!(templates(&d), ["update-card"]);
    let err = SaasCard::decide(&soft_card().param("max-card-retries", 20).build()).unwrap_err();
    assert_eq!(
        err.detail(),
        "max-card-retries: 20 is outside the allowed range 0 to 8"
    );
    let err = SaasCard::decide(&soft_card().param("max-debit-retries", 3).build()).unwrap_err();
    assert_eq!(
        err.detail(),
        "max-debit-retries: 3 is outside the allowed range 0 to 2"
    );
}

#[test]
fn direct_debits_get_fewer_retries_spaced_further_apart() {
    let debit = || soft_card().direct_debit().failed_on("2026-01-31");
    let d = decide(debit().as_of("2026-02-03"));
    assert!(d.is_wait());
    assert_eq!(d.review_on, Some(date("2026-02-05")));
    let d = decide(debit().as_of("2026-02-05"));
    assert!(d.has(ActionKind::RetryPayment));
    assert_eq!(d.segment, "direct-debit");
    let d = decide(
        debit()
            .as_of("2026-02-15")
            .failed_on("2026-02-10")
            .history([retried("2026-02-05"), retried("2026-02-10")]),
    );
    assert_eq!(templates(&d), ["update-payment-method"]);
}

#[test]
fn hard_declines_are_never_retried() {
    let d = decide(soft_card().hard_decline("stolen_card").as_of("2026-02-01"));
    assert!(!d.has(ActionKind::RetryPayment));
    assert_eq!(templates(&d), ["update-card"]);
    assert_eq!(d.first_notice().unwrap().channel, Channel::Email);
    // Reminded once, three days later, firmly, with the suspension date.
    let asked = notified("2026-02-01", 2);
    let d = decide(
        soft_card()
            .hard_decline("stolen_card")
            .as_of("2026-02-04")
            .past(asked),
    );
    let n = d.first_notice().unwrap();
    assert_eq!(
        (n.level, n.tone, n.template.as_str()),
        (3, Tone::Firm, "update-card-reminder")
    );
    assert_eq!(n.get_var("suspend-on"), Some("2026-02-21"));
    let d = decide(
        soft_card()
            .hard_decline("stolen_card")
            .as_of("2026-02-08")
            .history([asked, notified("2026-02-04", 3)]),
    );
    assert!(d.is_wait());
    assert_eq!(d.review_on, Some(date("2026-02-21")));
}

#[test]
fn service_is_suspended_after_the_grace_period_then_the_ladder_closes() {
    let hard = || soft_card().hard_decline("expired_card");
    let asked = [notified("2026-02-01", 2), notified("2026-02-04", 3)];
    let d = decide(hard().as_of("2026-02-21").history(asked));
    assert_eq!(kinds(&d), [ActionKind::Escalate, ActionKind::Notify]);
    assert_eq!(d.escalation().unwrap().kind, EscalationKind::SuspendService);
    let n = d.first_notice().unwrap();
    assert_eq!(
        (n.level, n.tone, n.template.as_str()),
        (4, Tone::Final, "service-suspended")
    );
    assert_eq!(d.review_on, Some(date("2026-04-01")));

    let suspended = || hard().history(asked).past(escalated("2026-02-21"));
    let d = decide(suspended().as_of("2026-03-01"));
    assert!(d.is_wait());
    assert_eq!(d.review_on, Some(date("2026-04-01")));

    // Small balances are written off, large ones go to collections.
    let d = decide(suspended().as_of("2026-04-01").amount(2900, "EUR"));
    assert!(matches!(d.actions.as_slice(), [Action::Close(c)] if c.write_off));
    assert!(d.ends_ladder());
    let d = decide(suspended().as_of("2026-04-01").amount(90_000, "EUR"));
    assert_eq!(d.escalation().unwrap().kind, EscalationKind::Collections);
    assert!(d.ends_ladder());

    // And it stays over.
    let d = decide(
        suspended()
            .as_of("2026-04-02")
            .past(escalated("2026-04-01")),
    );
    assert!(d.is_wait() && d.ends_ladder());
    let d = decide(suspended().as_of("2026-04-02").past(closed("2026-04-01")));
    assert!(d.is_wait() && d.ends_ladder());
}

#[test]
fn a_pending_retry_is_awaited() {
    let d = decide(
        soft_card()
            .as_of("2026-02-04")
            .past(retried("2026-02-03").with_outcome(ActionOutcome::Pending)),
    );
    assert!(d.is_wait());
    assert_eq!(d.review_on, Some(date("2026-02-05")));
}

#[test]
fn an_overdue_card_invoice_without_attempts_is_charged() {
    let d = decide(context().card().due("2026-01-31").as_of("2026-02-01"));
    assert_eq!(kinds(&d), [ActionKind::RetryPayment]);
}

#[test]
fn nothing_happens_before_the_due_date() {
    let d = decide(soft_card().as_of("2026-01-20"));
    assert!(d.is_wait());
    assert_eq!(d.review_on, Some(date("2026-02-01")));
}

#[test]
fn bank_transfers_get_plain_payment_reminders() {
    let d = decide(
        context()
            .bank_transfer()
            .due("2026-01-31")
            .as_of("2026-02-01"),
    );
    assert_eq!(d.segment, "manual");
    let n = d.first_notice().unwrap();
    assert_eq!(
        (n.level, n.tone, n.template.as_str()),
        (1, Tone::Friendly, "payment-reminder")
    );
    let d = decide(
        context()
            .due("2026-01-31")
            .as_of("2026-02-04")
            .past(notified("2026-02-01", 1)),
    );
    assert_eq!(templates(&d), ["payment-reminder-firm"]);
}

#[test]
fn disputed_or_planned_invoices_wait() {
    for ctx in [soft_card().disputed(), soft_card().on_payment_plan()] {
        let d = decide(ctx.as_of("2026-02-20"));
        assert!(d.is_wait());
        assert_eq!(d.review_on, Some(date("2026-02-27")));
    }
}

#[test]
fn unreachable_customers_are_still_retried_and_suspended() {
    let d = decide(
        soft_card()
            .reachable(&[Channel::Email])
            .opted_out(Channel::Email)
            .as_of("2026-02-03"),
    );
    assert_eq!(kinds(&d), [ActionKind::RetryPayment]);
    assert!(d.reason.contains("no reachable channel"), "{}", d.reason);
}

#[test]
fn cases_file_passes() {
    run_cases::<SaasCard>("cases.json");
}
