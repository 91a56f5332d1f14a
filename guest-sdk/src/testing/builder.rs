//! [`ContextBuilder`]: a [`Context`] for a test, stating only what the test is about.

use std::fmt::Display;

use crate::{
    ActionKind, ActionOutcome, Channel, CollectionFailure, Context, Customer, Date, DeclineKind,
    Invoice, Money, OtherOverdue, PastAction, PaymentMethod, Tone,
};

/// Something a test may give where a date is wanted: a [`Date`] or `"YYYY-MM-DD"` text.
///
/// Text that is not a date panics with the offending value: in a test that is the failure
/// you want.
pub trait IntoDate {
    /// The date.
    fn into_date(self) -> Date;
}

impl IntoDate for Date {
    fn into_date(self) -> Date {
        self
    }
}

impl IntoDate for &str {
    fn into_date(self) -> Date {
        match Date::parse(self) {
            Ok(date) => date,
            Err(err) => panic!("bad date in test: {err}"),
        }
    }
}

impl IntoDate for String {
    fn into_date(self) -> Date {
        self.as_str().into_date()
    }
}

/// The date `text` (`"YYYY-MM-DD"`); panics if it is not one.
pub fn date(text: &str) -> Date {
    text.into_date()
}

/// A past notice of `level` on `on`: by e-mail, friendly, delivered. Adjust it with
/// [`PastAction::with_outcome`], [`PastAction::with_channel`] and [`PastAction::with_tone`].
pub fn notified(on: impl IntoDate, level: u8) -> PastAction {
    PastAction {
        on: on.into_date(),
        kind: ActionKind::Notify,
        level: Some(level),
        channel: Some(Channel::Email),
        tone: Some(Tone::Friendly),
        outcome: ActionOutcome::Delivered,
    }
}

/// A past payment retry on `on` that was declined.
pub fn retried(on: impl IntoDate) -> PastAction {
    past(on, ActionKind::RetryPayment, ActionOutcome::Declined)
}

/// A past escalation on `on`, delivered.
pub fn escalated(on: impl IntoDate) -> PastAction {
    past(on, ActionKind::Escalate, ActionOutcome::Delivered)
}

/// A past pause on `on`, delivered.
pub fn paused(on: impl IntoDate) -> PastAction {
    past(on, ActionKind::Pause, ActionOutcome::Delivered)
}

/// A past closure on `on`, delivered.
pub fn closed(on: impl IntoDate) -> PastAction {
    past(on, ActionKind::Close, ActionOutcome::Delivered)
}

fn past(on: impl IntoDate, kind: ActionKind, outcome: ActionOutcome) -> PastAction {
    PastAction {
        on: on.into_date(),
        kind,
        level: None,
        channel: None,
        tone: None,
        outcome,
    }
}

impl PastAction {
    /// The same action with another outcome.
    pub fn with_outcome(mut self, outcome: ActionOutcome) -> PastAction {
        self.outcome = outcome;
        self
    }

    /// The same notice on another channel.
    pub fn with_channel(mut self, channel: Channel) -> PastAction {
        self.channel = Some(channel);
        self
    }

    /// The same notice in another tone.
    pub fn with_tone(mut self, tone: Tone) -> PastAction {
        self.tone = Some(tone);
        self
    }
}

/// Builds a [`Context`] for a test. Start it with [`context()`](super::context).
///
/// Defaults: as of 2026-02-10; invoice `inv-1` (number `INV-0001`) of 120.00 EUR, all of it
/// open, issued 30 days before it fell due on 2026-01-31 (so 10 days overdue), paid by bank
/// transfer, no failed collection, not disputed, no payment plan; customer `cust-1` since
/// 2025-01-01, lifetime value 0, no tags, no payments in the last 12 months, locale `en`,
/// time zone `UTC`, reachable by e-mail only; no history, no other overdue invoices, no
/// parameters.
///
/// Relative settings are resolved in [`build`](Self::build), so their order does not matter:
/// [`days_overdue`](Self::days_overdue) counts back from the final as-of date, the open
/// balance follows the amount unless set, a decline happens on the due date unless
/// [`failed_on`](Self::failed_on) says otherwise, and every amount takes the invoice's
/// currency.
#[derive(Clone, Debug)]
pub struct ContextBuilder {
    as_of: Date,
    due: Due,
    issued: Option<Date>,
    invoice_id: String,
    number: String,
    amount_minor: i64,
    currency: String,
    open_minor: Option<i64>,
    payment_method: PaymentMethod,
    failed_attempts: u32,
    decline: Option<(String, DeclineKind)>,
    failed_on: Option<Date>,
    disputed: bool,
    on_payment_plan: bool,
    metadata: Vec<(String, String)>,
    customer_id: String,
    tags: Vec<String>,
    lifetime_minor: i64,
    customer_since: Date,
    on_time_12m: u32,
    late_12m: u32,
    locale: String,
    time_zone: String,
    reachable_on: Vec<Channel>,
    opted_out: Vec<Channel>,
    history: Vec<PastAction>,
    other_count: u32,
    other_minor: i64,
    params: Vec<(String, String)>,
}

#[derive(Clone, Copy, Debug)]
enum Due {
    On(Date),
    DaysBeforeAsOf(i64),
}

impl Default for ContextBuilder {
    fn default() -> Self {
        ContextBuilder {
            as_of: date("2026-02-10"),
            due: Due::On(date("2026-01-31")),
            issued: None,
            invoice_id: "inv-1".into(),
            number: "INV-0001".into(),
            amount_minor: 12_000,
            currency: "EUR".into(),
            open_minor: None,
            payment_method: PaymentMethod::BankTransfer,
            failed_attempts: 0,
            decline: None,
            failed_on: None,
            disputed: false,
            on_payment_plan: false,
            metadata: Vec::new(),
            customer_id: "cust-1".into(),
            tags: Vec::new(),
            lifetime_minor: 0,
            customer_since: date("2025-01-01"),
            on_time_12m: 0,
            late_12m: 0,
            locale: "en".into(),
            time_zone: "UTC".into(),
            reachable_on: vec![Channel::Email],
            opted_out: Vec::new(),
            history: Vec::new(),
            other_count: 0,
            other_minor: 0,
            params: Vec::new(),
        }
    }
}

impl ContextBuilder {
    /// The day the decision is made for.
    pub fn as_of(mut self, on: impl IntoDate) -> Self {
        self.as_of = on.into_date();
        self
    }

    /// The due date.
    pub fn due(mut self, on: impl IntoDate) -> Self {
        self.due = Due::On(on.into_date());
        self
    }

    /// Fell due `days` days before the as-of date (negative: falls due in `-days` days).
    pub fn days_overdue(mut self, days: i64) -> Self {
        self.due = Due::DaysBeforeAsOf(days);
        self
    }

    /// The date of issue (default: 30 days before the due date).
    pub fn issued(mut self, on: impl IntoDate) -> Self {
        self.issued = Some(on.into_date());
        self
    }

    /// The tenant's invoice id and printed number.
    pub fn invoice(mut self, id: &str, number: &str) -> Self {
        self.invoice_id = id.into();
        self.number = number.into();
        self
    }

    /// The invoiced total in minor units and its currency; the open balance follows unless
    /// set with [`open_balance`](Self::open_balance).
    pub fn amount(mut self, minor: i64, currency: &str) -> Self {
        self.amount_minor = minor;
        self.currency = currency.into();
        self
    }

    /// What is still owed, in minor units of the invoice's currency.
    pub fn open_balance(mut self, minor: i64) -> Self {
        self.open_minor = Some(minor);
        self
    }

    /// How the invoice is paid.
    pub fn payment_method(mut self, method: PaymentMethod) -> Self {
        self.payment_method = method;
        self
    }

    /// Paid by card on file.
    pub fn card(self) -> Self {
        self.payment_method(PaymentMethod::Card)
    }

    /// Paid by direct debit.
    pub fn direct_debit(self) -> Self {
        self.payment_method(PaymentMethod::DirectDebit)
    }

    /// Paid by bank transfer.
    pub fn bank_transfer(self) -> Self {
        self.payment_method(PaymentMethod::BankTransfer)
    }

    /// The last collection failed with a soft decline `code` (at least one failed attempt).
    pub fn soft_decline(self, code: &str) -> Self {
        self.decline(code, DeclineKind::Soft)
    }

    /// The last collection failed with a hard decline `code` (at least one failed attempt).
    pub fn hard_decline(self, code: &str) -> Self {
        self.decline(code, DeclineKind::Hard)
    }

    fn decline(mut self, code: &str, kind: DeclineKind) -> Self {
        self.decline = Some((code.into(), kind));
        self.failed_attempts = self.failed_attempts.max(1);
        self
    }

    /// When the last collection failed (default: the due date).
    pub fn failed_on(mut self, on: impl IntoDate) -> Self {
        self.failed_on = Some(on.into_date());
        self
    }

    /// How many automatic collection attempts have failed.
    pub fn failed_attempts(mut self, count: u32) -> Self {
        self.failed_attempts = count;
        self
    }

    /// The customer disputes the invoice.
    pub fn disputed(mut self) -> Self {
        self.disputed = true;
        self
    }

    /// The invoice is on a payment plan.
    pub fn on_payment_plan(mut self) -> Self {
        self.on_payment_plan = true;
        self
    }

    /// Sets an invoice metadata entry.
    pub fn metadata(mut self, key: &str, value: impl Display) -> Self {
        set(&mut self.metadata, key, value);
        self
    }

    /// The tenant's customer id.
    pub fn customer(mut self, id: &str) -> Self {
        self.customer_id = id.into();
        self
    }

    /// Adds a customer tag.
    pub fn tag(mut self, tag: &str) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// Everything the customer paid so far, in minor units of the invoice's currency.
    pub fn lifetime_value(mut self, minor: i64) -> Self {
        self.lifetime_minor = minor;
        self
    }

    /// When the customer relationship began.
    pub fn customer_since(mut self, on: impl IntoDate) -> Self {
        self.customer_since = on.into_date();
        self
    }

    /// Invoices paid on time and late in the last 12 months.
    pub fn payments_12m(mut self, on_time: u32, late: u32) -> Self {
        self.on_time_12m = on_time;
        self.late_12m = late;
        self
    }

    /// The customer's locale (BCP 47).
    pub fn locale(mut self, locale: &str) -> Self {
        self.locale = locale.into();
        self
    }

    /// The customer's time zone (IANA).
    pub fn time_zone(mut self, zone: &str) -> Self {
        self.time_zone = zone.into();
        self
    }

    /// The channels the customer can be reached on, replacing the default (e-mail).
    pub fn reachable(mut self, channels: &[Channel]) -> Self {
        self.reachable_on = channels.to_vec();
        self
    }

    /// The customer opted out of `channel`.
    pub fn opted_out(mut self, channel: Channel) -> Self {
        self.opted_out.push(channel);
        self
    }

    /// Appends past actions, oldest first.
    pub fn history(mut self, actions: impl IntoIterator<Item = PastAction>) -> Self {
        self.history.extend(actions);
        self
    }

    /// Appends one past action.
    pub fn past(mut self, action: PastAction) -> Self {
        self.history.push(action);
        self
    }

    /// The customer's other overdue invoices: how many and their total in minor units.
    pub fn other_overdue(mut self, count: u32, total_minor: i64) -> Self {
        self.other_count = count;
        self.other_minor = total_minor;
        self
    }

    /// Sets a tenant parameter.
    pub fn param(mut self, key: &str, value: impl Display) -> Self {
        set(&mut self.params, key, value);
        self
    }

    /// The context.
    pub fn build(self) -> Context {
        let due_on = match self.due {
            Due::On(date) => date,
            Due::DaysBeforeAsOf(days) => self.as_of.add_days(-days),
        };
        let money = |minor| Money::new(minor, self.currency.clone());
        Context {
            as_of: self.as_of,
            invoice: Invoice {
                id: self.invoice_id,
                number: self.number,
                issued_on: self.issued.unwrap_or_else(|| due_on.add_days(-30)),
                due_on,
                amount: money(self.amount_minor),
                open_balance: money(self.open_minor.unwrap_or(self.amount_minor)),
                payment_method: self.payment_method,
                failed_attempts: self.failed_attempts,
                last_failure: self.decline.map(|(code, kind)| CollectionFailure {
                    on: self.failed_on.unwrap_or(due_on),
                    code,
                    kind,
                }),
                disputed: self.disputed,
                on_payment_plan: self.on_payment_plan,
                metadata: self.metadata,
            },
            customer: Customer {
                id: self.customer_id,
                tags: self.tags,
                lifetime_value: money(self.lifetime_minor),
                customer_since: self.customer_since,
                on_time_payments_12m: self.on_time_12m,
                late_payments_12m: self.late_12m,
                locale: self.locale,
                time_zone: self.time_zone,
                reachable_on: self.reachable_on,
                opted_out: self.opted_out,
            },
            history: self.history,
            other_overdue: OtherOverdue {
                count: self.other_count,
                total: money(self.other_minor),
            },
            params: self.params,
        }
    }
}

fn set(pairs: &mut Vec<(String, String)>, key: &str, value: impl Display) {
    let value = value.to_string();
    match pairs.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = value,
        None => pairs.push((key.into(), value)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::context;
    use super::*;

    #[test]
    fn defaults_describe_a_plain_overdue_invoice() {
        let ctx = context().build();
        assert_eq!(ctx.days_overdue(), 10);
        assert_eq!(ctx.invoice.open_balance, Money::new(12_000, "EUR"));
        assert_eq!(ctx.invoice.issued_on, date("2026-01-01"));
        assert!(ctx.can_reach(Channel::Email) && !ctx.can_reach(Channel::Sms));
        assert_eq!(ctx.on_hold(), None);
        assert!(ctx.history.is_empty() && ctx.params.is_empty());
    }

    #[test]
    fn relative_settings_resolve_at_build_whatever_the_order() {
        let ctx = context()
            .days_overdue(5)
            .soft_decline("insufficient_funds")
            .open_balance(4000)
            .amount(9000, "USD")
            .as_of("2026-03-10")
            .lifetime_value(100_000)
            .param("grace-days", 3)
            .param("grace-days", 4)
            .build();
        assert_eq!(ctx.invoice.due_on, date("2026-03-05"));
        assert_eq!(ctx.invoice.amount, Money::new(9000, "USD"));
        assert_eq!(ctx.invoice.open_balance, Money::new(4000, "USD"));
        assert_eq!(ctx.customer.lifetime_value.currency, "USD");
        let failure = ctx.invoice.last_failure.as_ref().unwrap();
        assert_eq!(
            (failure.on, failure.kind),
            (date("2026-03-05"), DeclineKind::Soft)
        );
        assert_eq!(ctx.invoice.failed_attempts, 1);
        assert_eq!(ctx.param("grace-days"), Some("4"));
    }

    #[test]
    #[should_panic(expected = "\"2026-02-30\" is not a calendar date")]
    fn bad_test_dates_panic_with_the_value() {
        date("2026-02-30");
    }
}
