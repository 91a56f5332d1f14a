use super::*;
use crate::context::{Customer, Invoice, OtherOverdue, PaymentMethod};
use crate::{
    ActionKind, ActionOutcome, Channel, Closure, Currency, Escalation, Money, PastAction, Pause,
    Retry, Tone,
};

fn d(s: &str) -> Date {
    s.parse().expect("test date")
}

/// Everything `apply` takes; each table row edits a copy of the base case.
struct Case {
    settings: GuardrailSettings,
    ctx: Context,
    facts: InvoiceFacts,
    counts: ContactCounts,
    decision: Decision,
}

/// As of 2026-03-15, an invoice due 2026-02-01 (42 days overdue), a customer reachable by
/// email and SMS, no history, no contacts yet; the policy's decision is filled in per row.
fn base() -> Case {
    let eur = |m| Money::new(m, Currency::EUR);
    Case {
        settings: GuardrailSettings::default(),
        ctx: Context {
            as_of: d("2026-03-15"),
            invoice: Invoice {
                id: "inv-1".into(),
                number: "A-1".into(),
                issued_on: d("2026-01-01"),
                due_on: d("2026-02-01"),
                amount: eur(10_000),
                open_balance: eur(10_000),
                payment_method: PaymentMethod::BankTransfer,
                failed_attempts: 0,
                last_failure: None,
                disputed: false,
                on_payment_plan: false,
                metadata: Default::default(),
            },
            customer: Customer {
                id: "cus-1".into(),
                tags: vec![],
                lifetime_value: eur(0),
                customer_since: d("2020-01-01"),
                on_time_payments_12m: 0,
                late_payments_12m: 0,
                locale: "fi".into(),
                time_zone: "Europe/Helsinki".into(),
                reachable_on: vec![Channel::Email, Channel::Sms],
                opted_out: vec![],
            },
            history: vec![],
            other_overdue: OtherOverdue::default(),
            params: Default::default(),
        },
        facts: InvoiceFacts::open(),
        counts: ContactCounts::default(),
        decision: Decision {
            segment: "standard".into(),
            actions: vec![],
            review_on: Some(d("2026-03-22")),
            reason: "policy says so".into(),
        },
    }
}

fn notify(level: u8, channel: Channel) -> Action {
    Action::Notify(Notice {
        level,
        channel,
        tone: Tone::Firm,
        template: "reminder".into(),
        vars: Default::default(),
    })
}

fn retry() -> Action {
    Action::RetryPayment(Retry {
        reason: "soft decline".into(),
    })
}

fn escalate(kind: EscalationKind) -> Action {
    Action::Escalate(Escalation {
        kind,
        reason: "no answer".into(),
    })
}

fn pause() -> Action {
    Action::Pause(Pause {
        until: d("2026-04-01"),
        reason: "holiday".into(),
    })
}

fn close() -> Action {
    Action::Close(Closure {
        write_off: false,
        reason: "done".into(),
    })
}

fn sent(level: u8, outcome: ActionOutcome) -> PastAction {
    PastAction {
        on: d("2026-03-01"),
        kind: ActionKind::Notify,
        level: Some(level),
        channel: Some(Channel::Email),
        tone: Some(Tone::Neutral),
        outcome,
    }
}

/// A short, comparable form of a kept action.
fn summary(action: &Action) -> String {
    match action {
        Action::Notify(n) => format!("notify {} {}", n.level, n.channel.as_str()),
        Action::RetryPayment(_) => "retry".into(),
        Action::Pause(_) => "pause".into(),
        Action::Escalate(e) => format!("escalate {:?}", e.kind).to_lowercase(),
        Action::Close(_) => "close".into(),
    }
}

struct Row {
    name: &'static str,
    setup: fn(&mut Case),
    /// Kept actions, by [`summary`].
    kept: &'static [&'static str],
    /// (rule, effect, action index) of each intervention, in order.
    interventions: &'static [(Rule, Effect, Option<usize>)],
    /// The guarded decision's review date.
    review_on: Option<&'static str>,
}

use Effect::{Dropped, Rerouted, Rescheduled, Waiting};
use EscalationKind::{AccountManager, Collections, Legal};

fn rows() -> Vec<Row> {
    vec![
        Row {
            name: "a clean notice passes untouched",
            setup: |c| c.decision.actions = vec![notify(1, Channel::Email)],
            kept: &["notify 1 email"],
            interventions: &[],
            review_on: Some("2026-03-22"),
        },
        Row {
            name: "paid invoice: notice dropped, decision waits on the policy's date",
            setup: |c| {
                c.facts.status = InvoiceStatus::Paid;
                c.decision.actions = vec![notify(1, Channel::Email)];
            },
            kept: &[],
            interventions: &[
                (Rule::InvoiceNotOpen, Dropped, Some(0)),
                (Rule::InvoiceNotOpen, Waiting, None),
            ],
            review_on: Some("2026-03-22"),
        },
        Row {
            name: "void invoice: payment retry dropped",
            setup: |c| {
                c.facts.status = InvoiceStatus::Void;
                c.decision.actions = vec![retry()];
            },
            kept: &[],
            interventions: &[
                (Rule::InvoiceNotOpen, Dropped, Some(0)),
                (Rule::InvoiceNotOpen, Waiting, None),
            ],
            review_on: Some("2026-03-22"),
        },
        Row {
            name: "written-off invoice with no review date: waits one day instead of ending",
            setup: |c| {
                c.facts.status = InvoiceStatus::WrittenOff;
                c.decision.actions = vec![escalate(Collections)];
                c.decision.review_on = None;
            },
            kept: &[],
            interventions: &[
                (Rule::InvoiceNotOpen, Dropped, Some(0)),
                (Rule::InvoiceNotOpen, Waiting, None),
            ],
            review_on: Some("2026-03-16"),
        },
        Row {
            name: "disputed invoice (facts): notice and retry dropped",
            setup: |c| {
                c.facts.disputed = true;
                c.decision.actions = vec![notify(2, Channel::Email), retry()];
            },
            kept: &[],
            interventions: &[
                (Rule::InvoiceDisputed, Dropped, Some(0)),
                (Rule::InvoiceDisputed, Dropped, Some(1)),
                (Rule::InvoiceDisputed, Waiting, None),
            ],
            review_on: Some("2026-03-22"),
        },
        Row {
            name: "disputed invoice (context flag only) is honoured too",
            setup: |c| {
                c.ctx.invoice.disputed = true;
                c.decision.actions = vec![notify(1, Channel::Email)];
            },
            kept: &[],
            interventions: &[
                (Rule::InvoiceDisputed, Dropped, Some(0)),
                (Rule::InvoiceDisputed, Waiting, None),
            ],
            review_on: Some("2026-03-22"),
        },
        Row {
            name: "a tenant that releases disputes (where allowed) may dun a disputed invoice",
            setup: |c| {
                c.settings.hold_while_disputed = false;
                c.facts.disputed = true;
                c.decision.actions = vec![notify(1, Channel::Email)];
            },
            kept: &["notify 1 email"],
            interventions: &[],
            review_on: Some("2026-03-22"),
        },
        Row {
            name: "releasing disputes leaves the payment plan rule on",
            setup: |c| {
                c.settings.hold_while_disputed = false;
                c.facts.disputed = true;
                c.ctx.invoice.on_payment_plan = true;
                c.decision.actions = vec![notify(1, Channel::Email)];
            },
            kept: &[],
            interventions: &[
                (Rule::PaymentPlan, Dropped, Some(0)),
                (Rule::PaymentPlan, Waiting, None),
            ],
            review_on: Some("2026-03-22"),
        },
        Row {
            name: "a tenant that releases payment plans may remind during one",
            setup: |c| {
                c.settings.hold_during_payment_plan = false;
                c.facts.plan_in_good_standing_until = Some(d("2026-04-30"));
                c.ctx.invoice.on_payment_plan = true;
                c.decision.actions = vec![notify(1, Channel::Email)];
            },
            kept: &["notify 1 email"],
            interventions: &[],
            review_on: Some("2026-03-22"),
        },
        Row {
            name: "releasing payment plans never releases a paid invoice",
            setup: |c| {
                c.settings.hold_during_payment_plan = false;
                c.settings.hold_while_disputed = false;
                c.facts.status = InvoiceStatus::Paid;
                c.decision.actions = vec![notify(1, Channel::Email)];
            },
            kept: &[],
            interventions: &[
                (Rule::InvoiceNotOpen, Dropped, Some(0)),
                (Rule::InvoiceNotOpen, Waiting, None),
            ],
            review_on: Some("2026-03-22"),
        },
        Row {
            name: "payment plan in good standing through the as-of date blocks",
            setup: |c| {
                c.facts.plan_in_good_standing_until = Some(d("2026-03-15"));
                c.decision.actions = vec![notify(1, Channel::Email)];
            },
            kept: &[],
            interventions: &[
                (Rule::PaymentPlan, Dropped, Some(0)),
                (Rule::PaymentPlan, Waiting, None),
            ],
            review_on: Some("2026-03-22"),
        },
        Row {
            name: "payment plan that ended yesterday no longer blocks",
            setup: |c| {
                c.facts.plan_in_good_standing_until = Some(d("2026-03-14"));
                c.decision.actions = vec![notify(1, Channel::Email)];
            },
            kept: &["notify 1 email"],
            interventions: &[],
            review_on: Some("2026-03-22"),
        },
        Row {
            name: "payment plan flag in the context blocks",
            setup: |c| {
                c.ctx.invoice.on_payment_plan = true;
                c.decision.actions = vec![retry()];
            },
            kept: &[],
            interventions: &[
                (Rule::PaymentPlan, Dropped, Some(0)),
                (Rule::PaymentPlan, Waiting, None),
            ],
            review_on: Some("2026-03-22"),
        },
        Row {
            name: "paid invoice: a pause is not dunning and stays, so no wait is forced",
            setup: |c| {
                c.facts.status = InvoiceStatus::Paid;
                c.decision.actions = vec![notify(1, Channel::Email), pause()];
            },
            kept: &["pause"],
            interventions: &[(Rule::InvoiceNotOpen, Dropped, Some(0))],
            review_on: Some("2026-03-22"),
        },
        Row {
            name: "paid invoice: closing the ladder stays, and so does its missing review date",
            setup: |c| {
                c.facts.status = InvoiceStatus::Paid;
                c.decision.actions = vec![close()];
                c.decision.review_on = None;
            },
            kept: &["close"],
            interventions: &[],
            review_on: None,
        },
        Row {
            name: "paid invoice: a policy that already waits is left alone",
            setup: |c| c.facts.status = InvoiceStatus::Paid,
            kept: &[],
            interventions: &[],
            review_on: Some("2026-03-22"),
        },
        Row {
            name: "paid wins over disputed in the log",
            setup: |c| {
                c.facts.status = InvoiceStatus::Paid;
                c.facts.disputed = true;
                c.decision.actions = vec![notify(1, Channel::Email)];
            },
            kept: &[],
            interventions: &[
                (Rule::InvoiceNotOpen, Dropped, Some(0)),
                (Rule::InvoiceNotOpen, Waiting, None),
            ],
            review_on: Some("2026-03-22"),
        },
        Row {
            name: "one contact for this invoice today already, no review date: tried the next day",
            setup: |c| {
                c.counts.invoice_today = 1;
                c.decision.actions = vec![notify(2, Channel::Email)];
                c.decision.review_on = None;
            },
            kept: &[],
            interventions: &[
                (Rule::InvoiceDailyCap, Dropped, Some(0)),
                (Rule::InvoiceDailyCap, Rescheduled, None),
            ],
            review_on: Some("2026-03-16"),
        },
        Row {
            name: "two notices in one decision: the second breaks the daily cap",
            setup: |c| {
                c.decision.actions = vec![notify(2, Channel::Email), notify(2, Channel::Sms)];
            },
            kept: &["notify 2 email"],
            interventions: &[(Rule::InvoiceDailyCap, Dropped, Some(1))],
            review_on: Some("2026-03-22"),
        },
        Row {
            name: "a daily cap of two lets both notices through",
            setup: |c| {
                c.settings.max_contacts_per_invoice_per_day = 2;
                c.decision.actions = vec![notify(2, Channel::Email), notify(2, Channel::Sms)];
            },
            kept: &["notify 2 email", "notify 2 sms"],
            interventions: &[],
            review_on: Some("2026-03-22"),
        },
        Row {
            name: "seven contacts with the customer this week already: notice dropped",
            setup: |c| {
                c.counts.customer_last_7_days = 7;
                c.decision.actions = vec![notify(1, Channel::Email)];
            },
            kept: &[],
            interventions: &[(Rule::CustomerWeeklyCap, Dropped, Some(0))],
            review_on: Some("2026-03-22"),
        },
        Row {
            name: "six contacts this week: one more is allowed",
            setup: |c| {
                c.counts.customer_last_7_days = 6;
                c.decision.actions = vec![notify(1, Channel::Email)];
            },
            kept: &["notify 1 email"],
            interventions: &[],
            review_on: Some("2026-03-22"),
        },
        Row {
            name: "weekly cap counts notices kept earlier in the same decision",
            setup: |c| {
                c.settings.max_contacts_per_invoice_per_day = 3;
                c.counts.customer_last_7_days = 6;
                c.decision.actions = vec![notify(1, Channel::Email), notify(1, Channel::Sms)];
            },
            kept: &["notify 1 email"],
            interventions: &[(Rule::CustomerWeeklyCap, Dropped, Some(1))],
            review_on: Some("2026-03-22"),
        },
        Row {
            name: "a tenant's lower weekly cap applies",
            setup: |c| {
                c.settings.max_contacts_per_customer_7_days = 3;
                c.counts.customer_last_7_days = 3;
                c.decision.actions = vec![notify(1, Channel::Email)];
            },
            kept: &[],
            interventions: &[(Rule::CustomerWeeklyCap, Dropped, Some(0))],
            review_on: Some("2026-03-22"),
        },
        Row {
            name: "a payment retry is not a contact and ignores the caps",
            setup: |c| {
                c.counts.invoice_today = 1;
                c.counts.customer_last_7_days = 7;
                c.decision.actions = vec![retry(), escalate(AccountManager)];
            },
            kept: &["retry", "escalate accountmanager"],
            interventions: &[],
            review_on: Some("2026-03-22"),
        },
        Row {
            name: "opted-out channel, drop mode: notice dropped",
            setup: |c| {
                c.ctx.customer.opted_out = vec![Channel::Email];
                c.decision.actions = vec![notify(1, Channel::Email)];
            },
            kept: &[],
            interventions: &[(Rule::OptedOutChannel, Dropped, Some(0))],
            review_on: Some("2026-03-22"),
        },
        Row {
            name: "opted-out channel, fall-back mode: moved to the first reachable channel",
            setup: |c| {
                c.settings.opted_out_channel = OptOutMode::FallBack;
                c.ctx.customer.opted_out = vec![Channel::Email];
                c.decision.actions = vec![notify(1, Channel::Email)];
            },
            kept: &["notify 1 sms"],
            interventions: &[(Rule::OptedOutChannel, Rerouted, Some(0))],
            review_on: Some("2026-03-22"),
        },
        Row {
            name: "opted-out channel, fall-back mode, nothing left to fall back to",
            setup: |c| {
                c.settings.opted_out_channel = OptOutMode::FallBack;
                c.ctx.customer.opted_out = vec![Channel::Email, Channel::Sms];
                c.decision.actions = vec![notify(1, Channel::Sms)];
            },
            kept: &[],
            interventions: &[(Rule::OptedOutChannel, Dropped, Some(0))],
            review_on: Some("2026-03-22"),
        },
        Row {
            name: "a rerouted notice still counts against the daily cap",
            setup: |c| {
                c.settings.opted_out_channel = OptOutMode::FallBack;
                c.ctx.customer.opted_out = vec![Channel::Email];
                c.counts.invoice_today = 1;
                c.decision.actions = vec![notify(1, Channel::Email)];
            },
            kept: &[],
            interventions: &[
                (Rule::OptedOutChannel, Rerouted, Some(0)),
                (Rule::InvoiceDailyCap, Dropped, Some(0)),
            ],
            review_on: Some("2026-03-22"),
        },
        Row {
            name: "a notice below the highest level sent is dropped",
            setup: |c| {
                c.ctx.history = vec![
                    sent(1, ActionOutcome::Delivered),
                    sent(3, ActionOutcome::Opened),
                ];
                c.decision.actions = vec![notify(2, Channel::Email)];
            },
            kept: &[],
            interventions: &[(Rule::LevelBackwards, Dropped, Some(0))],
            review_on: Some("2026-03-22"),
        },
        Row {
            name: "repeating the highest level is not going backwards",
            setup: |c| {
                c.ctx.history = vec![sent(3, ActionOutcome::Pending)];
                c.decision.actions = vec![notify(3, Channel::Email)];
            },
            kept: &["notify 3 email"],
            interventions: &[],
            review_on: Some("2026-03-22"),
        },
        Row {
            name: "level-may-decrease lets a lower level through",
            setup: |c| {
                c.settings.level_may_decrease = true;
                c.ctx.history = vec![sent(3, ActionOutcome::Delivered)];
                c.decision.actions = vec![notify(2, Channel::Email)];
            },
            kept: &["notify 2 email"],
            interventions: &[],
            review_on: Some("2026-03-22"),
        },
        Row {
            name: "blocked and failed notices in the history were never sent",
            setup: |c| {
                c.ctx.history = vec![
                    sent(1, ActionOutcome::Delivered),
                    sent(4, ActionOutcome::Blocked),
                    sent(3, ActionOutcome::Failed),
                ];
                c.decision.actions = vec![notify(2, Channel::Email)];
            },
            kept: &["notify 2 email"],
            interventions: &[],
            review_on: Some("2026-03-22"),
        },
        Row {
            name: "a lower level after a higher one in the same decision is dropped",
            setup: |c| {
                c.settings.max_contacts_per_invoice_per_day = 2;
                c.decision.actions = vec![notify(3, Channel::Email), notify(1, Channel::Sms)];
            },
            kept: &["notify 3 email"],
            interventions: &[(Rule::LevelBackwards, Dropped, Some(1))],
            review_on: Some("2026-03-22"),
        },
        Row {
            name: "collections before 30 days overdue is dropped, reviewed the day it is 30",
            setup: |c| {
                c.ctx.invoice.due_on = d("2026-02-14"); // 29 days
                c.decision.actions = vec![escalate(Collections)];
                c.decision.review_on = None;
            },
            kept: &[],
            interventions: &[
                (Rule::EscalationTooEarly, Dropped, Some(0)),
                (Rule::EscalationTooEarly, Rescheduled, None),
            ],
            review_on: Some("2026-03-16"),
        },
        Row {
            name: "collections at 42 days against a 60-day minimum, no review date: day 60",
            setup: |c| {
                c.settings.min_days_overdue_for_collections = 60;
                c.decision.actions = vec![escalate(Collections)];
                c.decision.review_on = None;
            },
            kept: &[],
            interventions: &[
                (Rule::EscalationTooEarly, Dropped, Some(0)),
                (Rule::EscalationTooEarly, Rescheduled, None),
            ],
            review_on: Some("2026-04-02"),
        },
        Row {
            name: "too-early collections kept to the policy's own review date",
            setup: |c| {
                c.settings.min_days_overdue_for_collections = 60;
                c.decision.actions = vec![escalate(Collections)];
            },
            kept: &[],
            interventions: &[(Rule::EscalationTooEarly, Dropped, Some(0))],
            review_on: Some("2026-03-22"),
        },
        Row {
            name: "two drops, no review date: the earlier date wins (cap tomorrow, not day 60)",
            setup: |c| {
                c.settings.min_days_overdue_for_collections = 60;
                c.counts.invoice_today = 1;
                c.decision.actions = vec![escalate(Collections), notify(2, Channel::Email)];
                c.decision.review_on = None;
            },
            kept: &[],
            interventions: &[
                (Rule::EscalationTooEarly, Dropped, Some(0)),
                (Rule::InvoiceDailyCap, Dropped, Some(1)),
                (Rule::InvoiceDailyCap, Rescheduled, None),
            ],
            review_on: Some("2026-03-16"),
        },
        Row {
            name: "weekly cap, no review date: tried the next day",
            setup: |c| {
                c.counts.customer_last_7_days = 7;
                c.decision.actions = vec![notify(1, Channel::Email)];
                c.decision.review_on = None;
            },
            kept: &[],
            interventions: &[
                (Rule::CustomerWeeklyCap, Dropped, Some(0)),
                (Rule::CustomerWeeklyCap, Rescheduled, None),
            ],
            review_on: Some("2026-03-16"),
        },
        Row {
            name: "opted-out channel, no review date: tried the next day",
            setup: |c| {
                c.ctx.customer.opted_out = vec![Channel::Email];
                c.decision.actions = vec![notify(1, Channel::Email)];
                c.decision.review_on = None;
            },
            kept: &[],
            interventions: &[
                (Rule::OptedOutChannel, Dropped, Some(0)),
                (Rule::OptedOutChannel, Rescheduled, None),
            ],
            review_on: Some("2026-03-16"),
        },
        Row {
            name: "level going backwards, no review date: tried the next day",
            setup: |c| {
                c.ctx.history = vec![sent(3, ActionOutcome::Delivered)];
                c.decision.actions = vec![notify(2, Channel::Email)];
                c.decision.review_on = None;
            },
            kept: &[],
            interventions: &[
                (Rule::LevelBackwards, Dropped, Some(0)),
                (Rule::LevelBackwards, Rescheduled, None),
            ],
            review_on: Some("2026-03-16"),
        },
        Row {
            name: "paid invoice, notice dropped beside a pause, no review date: the next day",
            setup: |c| {
                c.facts.status = InvoiceStatus::Paid;
                c.decision.actions = vec![notify(1, Channel::Email), pause()];
                c.decision.review_on = None;
            },
            kept: &["pause"],
            interventions: &[
                (Rule::InvoiceNotOpen, Dropped, Some(0)),
                (Rule::InvoiceNotOpen, Rescheduled, None),
            ],
            review_on: Some("2026-03-16"),
        },
        Row {
            name: "disputed invoice, retry dropped beside a pause, no review date: the next day",
            setup: |c| {
                c.facts.disputed = true;
                c.decision.actions = vec![pause(), retry()];
                c.decision.review_on = None;
            },
            kept: &["pause"],
            interventions: &[
                (Rule::InvoiceDisputed, Dropped, Some(1)),
                (Rule::InvoiceDisputed, Rescheduled, None),
            ],
            review_on: Some("2026-03-16"),
        },
        Row {
            name: "payment plan, notice dropped beside a pause, no review date: the next day",
            setup: |c| {
                c.ctx.invoice.on_payment_plan = true;
                c.decision.actions = vec![notify(1, Channel::Email), pause()];
                c.decision.review_on = None;
            },
            kept: &["pause"],
            interventions: &[
                (Rule::PaymentPlan, Dropped, Some(0)),
                (Rule::PaymentPlan, Rescheduled, None),
            ],
            review_on: Some("2026-03-16"),
        },
        Row {
            name: "the policy's own close ends the ladder even when a notice was dropped",
            setup: |c| {
                c.counts.invoice_today = 1;
                c.decision.actions = vec![notify(2, Channel::Email), close()];
                c.decision.review_on = None;
            },
            kept: &["close"],
            interventions: &[(Rule::InvoiceDailyCap, Dropped, Some(0))],
            review_on: None,
        },
        Row {
            name: "legal at exactly 30 days overdue is allowed",
            setup: |c| {
                c.ctx.invoice.due_on = d("2026-02-13"); // 30 days
                c.decision.actions = vec![escalate(Legal)];
            },
            kept: &["escalate legal"],
            interventions: &[],
            review_on: Some("2026-03-22"),
        },
        Row {
            name: "a tenant's 60-day minimum stops collections at 42 days, not the account manager",
            setup: |c| {
                c.settings.min_days_overdue_for_collections = 60;
                c.decision.actions = vec![escalate(AccountManager), escalate(Collections)];
            },
            kept: &["escalate accountmanager"],
            interventions: &[(Rule::EscalationTooEarly, Dropped, Some(1))],
            review_on: Some("2026-03-22"),
        },
        Row {
            name: "several rules in one decision, each recorded against its action",
            setup: |c| {
                c.ctx.customer.opted_out = vec![Channel::Sms];
                c.ctx.invoice.due_on = d("2026-03-01");
                c.decision.actions = vec![
                    notify(1, Channel::Sms),
                    notify(1, Channel::Email),
                    notify(1, Channel::Letter),
                    escalate(Collections),
                    pause(),
                ];
            },
            kept: &["notify 1 email", "pause"],
            interventions: &[
                (Rule::OptedOutChannel, Dropped, Some(0)),
                (Rule::InvoiceDailyCap, Dropped, Some(2)),
                (Rule::EscalationTooEarly, Dropped, Some(3)),
            ],
            review_on: Some("2026-03-22"),
        },
    ]
}

#[test]
fn guardrail_table() {
    let rows = rows();
    assert!(rows.len() >= 20);
    let mut failures = Vec::new();
    for row in &rows {
        let mut case = base();
        (row.setup)(&mut case);
        assert_eq!(
            case.settings.validate(&OperatorLimits {
                max_contacts_per_invoice_per_day: 3,
                may_release_disputed: true,
                ..OperatorLimits::default()
            }),
            Ok(()),
            "{}: settings must be valid",
            row.name
        );
        assert_eq!(case.decision.validate(&case.ctx), Ok(()), "{}", row.name);
        let policy_decision = case.decision.clone();
        let guarded = apply(
            &case.settings,
            &case.ctx,
            &case.facts,
            &case.counts,
            case.decision,
        );
        let kept: Vec<String> = guarded.decision.actions.iter().map(summary).collect();
        let interventions: Vec<_> = guarded
            .interventions
            .iter()
            .map(|i| (i.rule, i.effect, i.action_index))
            .collect();
        let review_on = row.review_on.map(d);
        let has_notice = kept.iter().any(|k| k.starts_with("notify"));
        // Each dropped action comes back as the policy asked for it (a rerouted one on its
        // own channel), in action order.
        let asked: Vec<&Action> = guarded
            .interventions
            .iter()
            .filter(|i| i.effect == Effect::Dropped)
            .filter_map(|i| policy_decision.actions.get(i.action_index?))
            .collect();
        let dropped: Vec<&Action> = guarded.dropped.iter().collect();
        let ok = kept == row.kept
            && interventions == row.interventions
            && guarded.decision.review_on == review_on
            && guarded.decision.segment == policy_decision.segment
            && guarded.decision.reason == policy_decision.reason
            && guarded.interventions.iter().all(|i| !i.detail.is_empty())
            && guarded.delivery_window.is_some() == has_notice
            && dropped == asked;
        if !ok {
            failures.push(format!(
                "{}:\n  kept {kept:?}, expected {:?}\n  interventions {interventions:?}, \
                 expected {:?}\n  review {:?}, expected {review_on:?}\n  dropped {dropped:?}, \
                 expected {asked:?}\n  details {:?}",
                row.name,
                row.kept,
                row.interventions,
                guarded.decision.review_on,
                guarded
                    .interventions
                    .iter()
                    .map(|i| &i.detail)
                    .collect::<Vec<_>>()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn delivery_window_carries_the_customers_zone_and_the_tenants_window() {
    let mut case = base();
    case.settings.contact_window = ContactWindow::hours(9, 17);
    case.decision.actions = vec![notify(1, Channel::Email)];
    let guarded = apply(
        &case.settings,
        &case.ctx,
        &case.facts,
        &case.counts,
        case.decision,
    );
    assert_eq!(
        guarded.delivery_window,
        Some(DeliveryWindow {
            time_zone: "Europe/Helsinki".into(),
            window: ContactWindow::hours(9, 17),
        })
    );
}

#[test]
fn details_say_what_happened_in_words() {
    let mut case = base();
    case.settings.opted_out_channel = OptOutMode::FallBack;
    case.ctx.customer.opted_out = vec![Channel::Email];
    case.facts.plan_in_good_standing_until = Some(d("2026-04-30"));
    case.decision.actions = vec![notify(2, Channel::Email)];
    case.decision.review_on = None;
    let guarded = apply(
        &case.settings,
        &case.ctx,
        &case.facts,
        &case.counts,
        case.decision,
    );
    let details: Vec<&str> = guarded
        .interventions
        .iter()
        .map(|i| i.detail.as_str())
        .collect();
    assert_eq!(
        details,
        [
            "level 2 notice by email not carried out: a payment plan is in good standing until \
             2026-04-30",
            "every action was blocked (a payment plan is in good standing until 2026-04-30); \
             waiting a day instead of ending the ladder",
        ]
    );
}

#[test]
fn a_rescheduled_ladder_says_why_and_when() {
    let mut case = base();
    case.ctx.invoice.due_on = d("2026-02-23"); // 20 days overdue
    case.ctx.invoice.open_balance = Money::new(38_900, Currency::EUR);
    case.decision.actions = vec![escalate(Collections)];
    case.decision.review_on = None;
    let guarded = apply(
        &case.settings,
        &case.ctx,
        &case.facts,
        &case.counts,
        case.decision,
    );
    assert_eq!(guarded.decision.review_on, Some(d("2026-03-25")));
    assert_eq!(
        guarded.interventions.last().map(|i| i.detail.as_str()),
        Some(
            "the policy gave no review date, but the escalation to collections was not \
             carried out with 389.00 EUR open; reviewing again on 2026-03-25 (when it is 30 \
             days overdue) instead of ending the ladder"
        )
    );
}

#[test]
fn settings_validation_table() {
    let limits = OperatorLimits::default();
    let s = GuardrailSettings::default;
    let rows: Vec<(&str, GuardrailSettings, Option<&str>)> = vec![
        ("defaults are within the default limits", s(), None),
        (
            "weekly cap above the operator's",
            GuardrailSettings {
                max_contacts_per_customer_7_days: 8,
                ..s()
            },
            Some("max-contacts-per-customer-7-days is 8; the operator allows 1 to 7"),
        ),
        (
            "weekly cap of zero",
            GuardrailSettings {
                max_contacts_per_customer_7_days: 0,
                ..s()
            },
            Some("max-contacts-per-customer-7-days is 0"),
        ),
        (
            "daily cap above the operator's",
            GuardrailSettings {
                max_contacts_per_invoice_per_day: 2,
                ..s()
            },
            Some("max-contacts-per-invoice-per-day is 2; the operator allows 1 to 1"),
        ),
        (
            "collections minimum below the operator's floor",
            GuardrailSettings {
                min_days_overdue_for_collections: 10,
                ..s()
            },
            Some("min-days-overdue-for-collections is 10"),
        ),
        (
            "a stricter collections minimum is fine",
            GuardrailSettings {
                min_days_overdue_for_collections: 90,
                ..s()
            },
            None,
        ),
        (
            "empty window",
            GuardrailSettings {
                contact_window: ContactWindow::hours(21, 8),
                ..s()
            },
            Some("is empty"),
        ),
        (
            "window wider than the operator's",
            GuardrailSettings {
                contact_window: ContactWindow::hours(7, 20),
                ..s()
            },
            Some("outside the operator's 08:00:00–21:00:00"),
        ),
        (
            "narrower window is fine",
            GuardrailSettings {
                contact_window: ContactWindow::hours(10, 18),
                ..s()
            },
            None,
        ),
    ];
    for (name, settings, expected) in rows {
        let got = settings.validate(&limits).map_err(|e| e.to_string());
        match expected {
            None => assert_eq!(got, Ok(()), "{name}"),
            Some(text) => {
                let err = got.expect_err(name);
                assert!(
                    err.contains(text),
                    "{name}: {err:?} should contain {text:?}"
                );
            }
        }
    }
    let strict = OperatorLimits {
        level_may_decrease: false,
        ..OperatorLimits::default()
    };
    let err = GuardrailSettings {
        level_may_decrease: true,
        ..s()
    }
    .validate(&strict)
    .expect_err("operator forbids it");
    assert_eq!(
        err.to_string(),
        "level-may-decrease is not allowed by the operator"
    );

    // Releasing the dispute hold needs the operator's leave (off by default); releasing the
    // payment-plan hold is allowed by default and can be forbidden.
    let release_disputes = GuardrailSettings {
        hold_while_disputed: false,
        ..s()
    };
    assert_eq!(
        release_disputes
            .validate(&OperatorLimits::default())
            .unwrap_err()
            .to_string(),
        "hold-while-disputed: false is not allowed by the operator"
    );
    let lenient = OperatorLimits {
        may_release_disputed: true,
        ..OperatorLimits::default()
    };
    assert_eq!(release_disputes.validate(&lenient), Ok(()));
    let release_plans = GuardrailSettings {
        hold_during_payment_plan: false,
        ..s()
    };
    assert_eq!(release_plans.validate(&OperatorLimits::default()), Ok(()));
    let no_plan_release = OperatorLimits {
        may_release_payment_plan: false,
        ..OperatorLimits::default()
    };
    assert_eq!(
        release_plans
            .validate(&no_plan_release)
            .unwrap_err()
            .to_string(),
        "hold-during-payment-plan: false is not allowed by the operator"
    );
}

#[test]
fn settings_json_is_kebab_case_with_hh_mm_times_and_defaults() {
    let json = serde_json::to_value(GuardrailSettings::default()).expect("serializes");
    assert_eq!(
        json,
        serde_json::json!({
            "max-contacts-per-invoice-per-day": 1,
            "max-contacts-per-customer-7-days": 7,
            "opted-out-channel": "drop",
            "min-days-overdue-for-collections": 30,
            "level-may-decrease": false,
            "contact-window": {"start": "08:00", "end": "21:00"},
            "hold-while-disputed": true,
            "hold-during-payment-plan": true,
        })
    );
    let empty: GuardrailSettings = serde_json::from_str("{}").expect("an empty object");
    assert_eq!(empty, GuardrailSettings::default());
    let partial: GuardrailSettings = serde_json::from_str(
        r#"{"opted-out-channel": "fall-back", "contact-window": {"start": "09:30", "end": "18:00:00"}}"#,
    )
    .expect("partial settings fill in defaults");
    assert_eq!(partial.opted_out_channel, OptOutMode::FallBack);
    assert_eq!(
        partial.contact_window.start,
        NaiveTime::from_hms_opt(9, 30, 0).unwrap()
    );
    assert_eq!(partial.max_contacts_per_customer_7_days, 7);

    let unknown = serde_json::from_str::<GuardrailSettings>(r#"{"max-contacts": 3}"#)
        .unwrap_err()
        .to_string();
    assert!(unknown.contains("max-contacts"), "{unknown}");
    let bad_time = serde_json::from_str::<ContactWindow>(r#"{"start": "8am", "end": "21:00"}"#)
        .unwrap_err()
        .to_string();
    assert!(
        bad_time.contains("\"8am\" is not a time of day"),
        "{bad_time}"
    );
    let limits: OperatorLimits =
        serde_json::from_str(r#"{"max-contacts-per-customer-7-days": 14}"#).expect("limits");
    assert_eq!(limits.max_contacts_per_customer_7_days, 14);
}

#[test]
fn rule_codes_are_stable_and_match_their_json() {
    let all = [
        (Rule::InvoiceNotOpen, "invoice-not-open"),
        (Rule::InvoiceDisputed, "invoice-disputed"),
        (Rule::PaymentPlan, "payment-plan"),
        (Rule::OptedOutChannel, "opted-out-channel"),
        (Rule::LevelBackwards, "level-backwards"),
        (Rule::InvoiceDailyCap, "invoice-daily-cap"),
        (Rule::CustomerWeeklyCap, "customer-7-day-cap"),
        (Rule::EscalationTooEarly, "escalation-too-early"),
    ];
    for (rule, code) in all {
        assert_eq!(rule.code(), code);
        assert_eq!(rule.to_string(), code);
        assert_eq!(serde_json::to_value(rule).expect("serializes"), code);
        assert_eq!(
            serde_json::from_value::<Rule>(code.into()).expect("parses"),
            rule
        );
    }
}

#[test]
fn interventions_serialize_for_the_decision_log() {
    let intervention = Intervention {
        rule: Rule::OptedOutChannel,
        effect: Effect::Rerouted,
        action_index: Some(0),
        detail: "moved".into(),
    };
    let json = serde_json::to_value(&intervention).expect("serializes");
    assert_eq!(
        json,
        serde_json::json!({
            "rule": "opted-out-channel", "effect": "rerouted", "action-index": 0, "detail": "moved"
        })
    );
    let back: Intervention = serde_json::from_value(json).expect("round trip");
    assert_eq!(back, intervention);
}

#[test]
fn invoice_status_names_match_their_json() {
    use InvoiceStatus::*;
    for (status, name) in [
        (Open, "open"),
        (Paid, "paid"),
        (Void, "void"),
        (WrittenOff, "written-off"),
    ] {
        assert_eq!(status.as_str(), name);
        assert_eq!(serde_json::to_value(status).expect("serializes"), name);
    }
}

#[test]
fn stored_settings_are_read_with_defaults_and_checked_against_the_limits() {
    let limits = OperatorLimits::default();
    let read = |json: serde_json::Value| GuardrailSettings::from_json(&json, &limits);

    assert_eq!(
        read(serde_json::json!({})),
        Ok(GuardrailSettings::default())
    );
    let lower = read(serde_json::json!({"max-contacts-per-customer-7-days": 3})).expect("valid");
    assert_eq!(lower.max_contacts_per_customer_7_days, 3);

    assert!(matches!(
        read(serde_json::json!({"max-contacts-per-customer-7-day": 3})),
        Err(GuardrailError::Malformed(m)) if m.contains("unknown field")
    ));
    assert!(matches!(
        read(serde_json::json!({"max-contacts-per-customer-7-days": "3"})),
        Err(GuardrailError::Malformed(_))
    ));
    assert!(matches!(
        read(serde_json::json!({"hold-while-disputed": false})),
        Err(GuardrailError::NotAllowed { .. })
    ));
}

#[test]
fn malformed_settings_name_the_key_and_the_value() {
    let read = |json: serde_json::Value| {
        GuardrailSettings::parse_json(&json)
            .expect_err("refused")
            .to_string()
    };
    let cases = [
        // serde alone would read an array by position.
        (serde_json::json!([1, 2]), "must be a JSON object"),
        (serde_json::json!("strict"), "not a string"),
        (
            serde_json::json!({"max-contacts-per-week": 7}),
            r#"unknown field "max-contacts-per-week""#,
        ),
        (
            serde_json::json!({"contact-window": {"start": "08:00", "end": "20:00", "tz": "x"}}),
            r#"unknown field "contact-window.tz""#,
        ),
        (
            serde_json::json!({"level-may-decrease": true, "max-contacts-per-customer-7-days": "3"}),
            r#"max-contacts-per-customer-7-days is "3": invalid type"#,
        ),
        (
            serde_json::json!({"opted-out-channel": "shout\u{1b}[2J"}),
            r#"opted-out-channel is "shout\u{1b}[2J": unknown variant"#,
        ),
        (
            serde_json::json!({"contact-window": {"start": "8 am", "end": "21:00"}}),
            r#"contact-window is {"end":"21:00","start":"8 am"}"#,
        ),
    ];
    for (json, expected) in cases {
        let message = read(json.clone());
        assert!(message.contains(expected), "{json}: {message}");
        assert!(!message.chars().any(char::is_control), "{message:?}");
    }
    let long_key = "k".repeat(10_000);
    let message = read(serde_json::json!({ long_key: 1 }));
    assert!(message.len() < 400, "bounded: {} bytes", message.len());
}

#[test]
fn the_widest_limits_refuse_only_what_no_operator_allows() {
    let widest = OperatorLimits::widest();
    let loose = GuardrailSettings {
        max_contacts_per_invoice_per_day: 50,
        max_contacts_per_customer_7_days: 500,
        min_days_overdue_for_collections: 0,
        level_may_decrease: true,
        contact_window: ContactWindow::hours(0, 23),
        hold_while_disputed: false,
        hold_during_payment_plan: false,
        ..GuardrailSettings::default()
    };
    assert_eq!(loose.validate(&widest), Ok(()));
    let no_contact = GuardrailSettings {
        max_contacts_per_customer_7_days: 0,
        ..GuardrailSettings::default()
    };
    assert!(matches!(
        no_contact.validate(&widest),
        Err(GuardrailError::OutOfRange { .. })
    ));
    let empty = GuardrailSettings {
        contact_window: ContactWindow::hours(21, 8),
        ..GuardrailSettings::default()
    };
    assert!(matches!(
        empty.validate(&widest),
        Err(GuardrailError::EmptyWindow { .. })
    ));
}
