//! Questions a policy asks about its [`Context`]: how late is the invoice, what has been done
//! already, what did the tenant configure, how can the customer be reached.

use std::fmt::Display;
use std::ops::RangeInclusive;
use std::str::FromStr;

use crate::{ActionKind, ActionOutcome, Channel, Context, Money, PastAction, PolicyError};

impl Context {
    /// Days from the due date to `as_of`: 0 on the due date, negative before it.
    pub fn days_overdue(&self) -> i64 {
        self.invoice.due_on.days_until(self.as_of)
    }

    /// Whether the due date has passed.
    pub fn is_overdue(&self) -> bool {
        self.days_overdue() > 0
    }

    /// Why dunning must wait whatever the ladder says, if it must: the invoice is disputed or
    /// covered by a payment plan. The host guards this too; a policy should still wait and
    /// say why.
    pub fn on_hold(&self) -> Option<&'static str> {
        if self.invoice.disputed {
            Some("the invoice is disputed; dunning waits until the dispute is resolved")
        } else if self.invoice.on_payment_plan {
            Some("the invoice is covered by a payment plan in good standing")
        } else {
            None
        }
    }

    /// The tenant parameter `key`, as given (untrimmed), if set.
    pub fn param(&self, key: &str) -> Option<&str> {
        lookup(&self.params, key)
    }

    /// The tenant parameter `key` parsed as `T`, or `default` when it is unset or blank.
    ///
    /// A value that does not parse is a [`PolicyError::BadParam`] naming the key, the value
    /// and the expected type, e.g. `grace-days: "two weeks" is not a valid i64 (invalid digit
    /// found in string)`.
    pub fn param_or<T>(&self, key: &str, default: T) -> Result<T, PolicyError>
    where
        T: FromStr,
        T::Err: Display,
    {
        match self.param(key).map(str::trim) {
            None | Some("") => Ok(default),
            Some(value) => parse_param(key, value),
        }
    }

    /// Like [`param_or`](Self::param_or), and the value (given or default) must lie in
    /// `range`; outside it is a [`PolicyError::BadParam`] stating the allowed range.
    pub fn param_within<T>(
        &self,
        key: &str,
        default: T,
        range: RangeInclusive<T>,
    ) -> Result<T, PolicyError>
    where
        T: FromStr + PartialOrd + Display,
        T::Err: Display,
    {
        let value = self.param_or(key, default)?;
        if range.contains(&value) {
            Ok(value)
        } else {
            Err(PolicyError::bad_param(
                key,
                format_args!(
                    "{value} is outside the allowed range {} to {}",
                    range.start(),
                    range.end()
                ),
            ))
        }
    }

    /// The tenant parameter `key` parsed as `T`; unset or blank is a
    /// [`PolicyError::BadParam`] saying it is required.
    pub fn require_param<T>(&self, key: &str) -> Result<T, PolicyError>
    where
        T: FromStr,
        T::Err: Display,
    {
        match self.param(key).map(str::trim) {
            None | Some("") => Err(PolicyError::bad_param(key, "is required but not set")),
            Some(value) => parse_param(key, value),
        }
    }

    /// The invoice's metadata value for `key`, if the tenant set one.
    pub fn metadata(&self, key: &str) -> Option<&str> {
        lookup(&self.invoice.metadata, key)
    }

    /// Whether the customer carries `tag`, ignoring ASCII case.
    pub fn has_tag(&self, tag: &str) -> bool {
        self.customer
            .tags
            .iter()
            .any(|t| t.eq_ignore_ascii_case(tag))
    }

    /// Whether a notice on `channel` can reach the customer: they are reachable on it and
    /// have not opted out of it.
    pub fn can_reach(&self, channel: Channel) -> bool {
        self.customer.reachable_on.contains(&channel) && !self.customer.opted_out.contains(&channel)
    }

    /// The first channel of `preferred` that [`can_reach`](Self::can_reach) the customer.
    pub fn first_reachable(&self, preferred: &[Channel]) -> Option<Channel> {
        preferred.iter().copied().find(|c| self.can_reach(*c))
    }

    /// Days the customer has been a customer on `as_of`.
    pub fn tenure_days(&self) -> i64 {
        self.customer.customer_since.days_until(self.as_of)
    }

    /// This invoice's open balance plus the customer's other overdue invoices (the host gives
    /// those in this invoice's currency). Saturates rather than overflowing.
    pub fn total_overdue(&self) -> Money {
        Money::new(
            self.invoice
                .open_balance
                .minor
                .saturating_add(self.other_overdue.total.minor),
            self.invoice.open_balance.currency.clone(),
        )
    }

    /// Past notices that went out (see [`PastAction::went_out`]), oldest first.
    pub fn notices(&self) -> impl DoubleEndedIterator<Item = &PastAction> + '_ {
        self.done(ActionKind::Notify)
    }

    /// How many notices went out for this invoice.
    pub fn notices_sent(&self) -> usize {
        self.notices().count()
    }

    /// The most recent notice that went out.
    pub fn last_notice(&self) -> Option<&PastAction> {
        self.notices().next_back()
    }

    /// The most recent notice of `level` that went out.
    pub fn notice_at_level(&self, level: u8) -> Option<&PastAction> {
        self.notices().rev().find(|a| a.level == Some(level))
    }

    /// The highest level of any notice that went out; 0 when none did.
    pub fn highest_level(&self) -> u8 {
        self.notices().filter_map(|a| a.level).max().unwrap_or(0)
    }

    /// How many payment retries this ladder asked for, not counting ones the host blocked.
    pub fn retries_so_far(&self) -> u32 {
        let count = self.done(ActionKind::RetryPayment).count();
        u32::try_from(count).unwrap_or(u32::MAX)
    }

    /// The most recent payment retry that went out.
    pub fn last_retry(&self) -> Option<&PastAction> {
        self.last_done(ActionKind::RetryPayment)
    }

    /// Past actions of `kind` that went out, oldest first.
    pub fn done(&self, kind: ActionKind) -> impl DoubleEndedIterator<Item = &PastAction> + '_ {
        self.history
            .iter()
            .filter(move |a| a.kind == kind && a.went_out())
    }

    /// The most recent action of `kind` that went out.
    pub fn last_done(&self, kind: ActionKind) -> Option<&PastAction> {
        self.done(kind).next_back()
    }
}

impl PastAction {
    /// Whether the action actually happened: everything except actions the host's guardrails
    /// blocked and deliveries that failed for good. A declined retry did happen.
    pub fn went_out(&self) -> bool {
        !matches!(self.outcome, ActionOutcome::Blocked | ActionOutcome::Failed)
    }

    /// Days from this action to `as_of` (0 if it happened that day).
    pub fn days_before(&self, as_of: crate::Date) -> i64 {
        self.on.days_until(as_of)
    }
}

fn lookup<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn parse_param<T>(key: &str, value: &str) -> Result<T, PolicyError>
where
    T: FromStr,
    T::Err: Display,
{
    value.parse().map_err(|err| {
        let full = std::any::type_name::<T>();
        let short = full.rsplit("::").next().unwrap_or(full);
        PolicyError::bad_param(
            key,
            format_args!("{value:?} is not a valid {short} ({err})"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Customer, Date, DeclineKind, Invoice, OtherOverdue, PaymentMethod, Tone};

    fn d(text: &str) -> Date {
        text.parse().unwrap()
    }

    fn ctx() -> Context {
        Context {
            as_of: d("2026-02-10"),
            invoice: Invoice {
                id: "i".into(),
                number: "1".into(),
                issued_on: d("2026-01-01"),
                due_on: d("2026-01-31"),
                amount: Money::new(10_000, "EUR"),
                open_balance: Money::new(8000, "EUR"),
                payment_method: PaymentMethod::Card,
                failed_attempts: 1,
                last_failure: Some(crate::CollectionFailure {
                    on: d("2026-01-31"),
                    code: "insufficient_funds".into(),
                    kind: DeclineKind::Soft,
                }),
                disputed: false,
                on_payment_plan: false,
                metadata: vec![("po".into(), "PO-7".into())],
            },
            customer: Customer {
                id: "c".into(),
                tags: vec!["VIP".into()],
                lifetime_value: Money::new(0, "EUR"),
                customer_since: d("2025-02-10"),
                on_time_payments_12m: 0,
                late_payments_12m: 0,
                locale: "en".into(),
                time_zone: "UTC".into(),
                reachable_on: vec![Channel::Email, Channel::Sms],
                opted_out: vec![Channel::Sms],
            },
            history: vec![],
            other_overdue: OtherOverdue {
                count: 2,
                total: Money::new(5000, "EUR"),
            },
            params: vec![
                ("grace-days".into(), " 14 ".into()),
                ("bad".into(), "two weeks".into()),
                ("blank".into(), "".into()),
                ("channel".into(), "letter".into()),
            ],
        }
    }

    fn past(on: &str, kind: ActionKind, level: Option<u8>, outcome: ActionOutcome) -> PastAction {
        PastAction {
            on: d(on),
            kind,
            level,
            channel: level.map(|_| Channel::Email),
            tone: level.map(|_| Tone::Friendly),
            outcome,
        }
    }

    #[test]
    fn counts_days_overdue_from_the_due_date() {
        let mut ctx = ctx();
        assert_eq!(ctx.days_overdue(), 10);
        assert!(ctx.is_overdue());
        ctx.as_of = d("2026-01-29");
        assert_eq!(ctx.days_overdue(), -2);
        assert!(!ctx.is_overdue());
        assert_eq!(ctx.tenure_days(), 353);
    }

    #[test]
    fn params_parse_with_defaults_and_clear_errors() {
        let ctx = ctx();
        assert_eq!(ctx.param("grace-days"), Some(" 14 "));
        assert_eq!(ctx.param_or("grace-days", 7), Ok(14));
        assert_eq!(ctx.param_or("missing", 7), Ok(7));
        assert_eq!(ctx.param_or("blank", 7), Ok(7));
        assert_eq!(ctx.param_or("channel", Channel::Email), Ok(Channel::Letter));
        let err = ctx.param_or::<i64>("bad", 7).unwrap_err();
        assert_eq!(
            err,
            PolicyError::BadParam(
                "bad: \"two weeks\" is not a valid i64 (invalid digit found in string)".into()
            )
        );
        let err = ctx.param_within("grace-days", 7u32, 0..=10).unwrap_err();
        assert_eq!(
            err.detail(),
            "grace-days: 14 is outside the allowed range 0 to 10"
        );
        assert_eq!(ctx.param_within("missing", 7u32, 0..=10), Ok(7));
        let err = ctx.require_param::<u32>("missing").unwrap_err();
        assert_eq!(err.detail(), "missing: is required but not set");
    }

    #[test]
    fn reachability_excludes_opted_out_channels() {
        let ctx = ctx();
        assert!(ctx.can_reach(Channel::Email));
        assert!(!ctx.can_reach(Channel::Sms));
        assert!(!ctx.can_reach(Channel::Letter));
        assert_eq!(
            ctx.first_reachable(&[Channel::Sms, Channel::Letter, Channel::Email]),
            Some(Channel::Email)
        );
        assert_eq!(ctx.first_reachable(&[Channel::Sms]), None);
    }

    #[test]
    fn history_questions_ignore_blocked_and_failed_actions() {
        let mut ctx = ctx();
        assert_eq!(ctx.highest_level(), 0);
        assert_eq!(ctx.last_notice(), None);
        ctx.history = vec![
            past(
                "2026-02-01",
                ActionKind::Notify,
                Some(1),
                ActionOutcome::Opened,
            ),
            past(
                "2026-02-03",
                ActionKind::RetryPayment,
                None,
                ActionOutcome::Declined,
            ),
            past(
                "2026-02-05",
                ActionKind::RetryPayment,
                None,
                ActionOutcome::Blocked,
            ),
            past(
                "2026-02-07",
                ActionKind::Notify,
                Some(2),
                ActionOutcome::Delivered,
            ),
            past(
                "2026-02-08",
                ActionKind::Notify,
                Some(3),
                ActionOutcome::Failed,
            ),
        ];
        assert_eq!(ctx.notices_sent(), 2);
        assert_eq!(ctx.highest_level(), 2);
        assert_eq!(ctx.last_notice().map(|a| a.on), Some(d("2026-02-07")));
        assert_eq!(ctx.notice_at_level(1).map(|a| a.on), Some(d("2026-02-01")));
        assert_eq!(ctx.notice_at_level(3), None);
        assert_eq!(ctx.retries_so_far(), 1);
        assert_eq!(ctx.last_retry().map(|a| a.days_before(ctx.as_of)), Some(7));
    }

    #[test]
    fn answers_questions_about_customer_and_invoice() {
        let mut ctx = ctx();
        assert!(ctx.has_tag("vip"));
        assert!(!ctx.has_tag("enterprise"));
        assert_eq!(ctx.metadata("po"), Some("PO-7"));
        assert_eq!(ctx.total_overdue(), Money::new(13_000, "EUR"));
        assert_eq!(ctx.on_hold(), None);
        ctx.invoice.on_payment_plan = true;
        assert!(ctx.on_hold().unwrap().contains("payment plan"));
        ctx.invoice.disputed = true;
        assert!(ctx.on_hold().unwrap().contains("disputed"));
    }
}
