//! What a policy is given: the [`Context`] for one invoice under review.
//!
//! These types mirror the `decider` interface of the WIT contract one to one; the runtime
//! converts them into each supported contract version. Their JSON form (kebab-case fields,
//! ISO dates) is what `dunlin policy run` and cases files use.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Date, Money};

/// Everything a policy may use to decide about one invoice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Context {
    /// The day the decision is made for, in the tenant's time zone.
    #[serde(
        serialize_with = "crate::iso_date::serialize",
        deserialize_with = "crate::iso_date::deserialize"
    )]
    pub as_of: Date,
    /// The invoice under review.
    pub invoice: Invoice,
    /// The customer who owes it.
    pub customer: Customer,
    /// This invoice's past dunning actions, oldest first.
    #[serde(default)]
    pub history: Vec<PastAction>,
    /// The customer's other open overdue invoices.
    #[serde(default)]
    pub other_overdue: OtherOverdue,
    /// The tenant's policy parameters.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
}

impl Context {
    /// Days from the due date to `as_of`; negative before the due date.
    pub fn days_overdue(&self) -> i64 {
        (self.as_of - self.invoice.due_on).num_days()
    }
}

/// How the invoice is meant to be paid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PaymentMethod {
    /// A card on file, charged automatically.
    Card,
    /// A direct debit mandate, collected automatically.
    DirectDebit,
    /// The customer pays by bank transfer.
    BankTransfer,
    /// Anything else.
    Other,
}

/// Whether a failed automatic collection may succeed if retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeclineKind {
    /// Temporary: a retry may succeed.
    Soft,
    /// Permanent: ask for a new payment method.
    Hard,
}

impl DeclineKind {
    /// Its name in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            DeclineKind::Soft => "soft",
            DeclineKind::Hard => "hard",
        }
    }
}

/// The last failed automatic collection attempt of an invoice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct CollectionFailure {
    /// When it failed.
    #[serde(
        serialize_with = "crate::iso_date::serialize",
        deserialize_with = "crate::iso_date::deserialize"
    )]
    pub on: Date,
    /// The processor's decline code.
    pub code: String,
    /// Whether retrying may help.
    pub kind: DeclineKind,
}

/// The invoice under review.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Invoice {
    /// The tenant's own id.
    pub id: String,
    /// The printed invoice number.
    pub number: String,
    /// Date of issue.
    #[serde(
        serialize_with = "crate::iso_date::serialize",
        deserialize_with = "crate::iso_date::deserialize"
    )]
    pub issued_on: Date,
    /// Due date.
    #[serde(
        serialize_with = "crate::iso_date::serialize",
        deserialize_with = "crate::iso_date::deserialize"
    )]
    pub due_on: Date,
    /// The invoiced total.
    pub amount: Money,
    /// What is still owed.
    pub open_balance: Money,
    /// How it is meant to be paid.
    pub payment_method: PaymentMethod,
    /// Failed automatic collection attempts so far.
    #[serde(default)]
    pub failed_attempts: u32,
    /// The last failed automatic collection attempt.
    #[serde(default)]
    pub last_failure: Option<CollectionFailure>,
    /// The customer disputes the invoice.
    #[serde(default)]
    pub disputed: bool,
    /// Covered by a payment plan or promise to pay in good standing.
    #[serde(default)]
    pub on_payment_plan: bool,
    /// The tenant's own key/value data.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// A way of reaching a customer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Channel {
    /// E-mail.
    Email,
    /// Text message.
    Sms,
    /// Paper letter.
    Letter,
    /// A phone call by a person.
    Phone,
    /// A message inside the tenant's product.
    InApp,
}

impl Channel {
    /// The contract's name, e.g. `in-app`.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Sms => "sms",
            Channel::Letter => "letter",
            Channel::Phone => "phone",
            Channel::InApp => "in-app",
        }
    }
}

/// The tone of a notice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tone {
    /// A gentle nudge.
    Friendly,
    /// Matter-of-fact.
    Neutral,
    /// Clear about consequences.
    Firm,
    /// The last notice before escalation.
    Final,
}

impl Tone {
    /// The contract's name, e.g. `firm`.
    pub fn as_str(self) -> &'static str {
        match self {
            Tone::Friendly => "friendly",
            Tone::Neutral => "neutral",
            Tone::Firm => "firm",
            Tone::Final => "final",
        }
    }
}

/// The customer who owes the invoice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Customer {
    /// The tenant's own id.
    pub id: String,
    /// Labels the tenant attached.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Everything paid so far.
    pub lifetime_value: Money,
    /// When the relationship began.
    #[serde(
        serialize_with = "crate::iso_date::serialize",
        deserialize_with = "crate::iso_date::deserialize"
    )]
    pub customer_since: Date,
    /// Invoices paid on time in the last 12 months.
    #[serde(default, rename = "on-time-payments-12m")]
    pub on_time_payments_12m: u32,
    /// Invoices paid late in the last 12 months.
    #[serde(default, rename = "late-payments-12m")]
    pub late_payments_12m: u32,
    /// BCP 47 language tag.
    #[serde(default = "default_locale")]
    pub locale: String,
    /// IANA time zone.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// Channels the customer can be reached on.
    #[serde(default = "default_channels")]
    pub reachable_on: Vec<Channel>,
    /// Channels the customer opted out of.
    #[serde(default)]
    pub opted_out: Vec<Channel>,
}

fn default_locale() -> String {
    "en".to_owned()
}

fn default_time_zone() -> String {
    "UTC".to_owned()
}

fn default_channels() -> Vec<Channel> {
    vec![Channel::Email]
}

/// What became of a past action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionOutcome {
    /// Not delivered yet.
    Pending,
    /// Delivered.
    Delivered,
    /// Delivery failed for good.
    Failed,
    /// The customer opened it.
    Opened,
    /// A retry that collected the money.
    Succeeded,
    /// A retry that was declined.
    Declined,
    /// Stopped by the host's guardrails.
    Blocked,
}

/// The kind of a past action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionKind {
    /// A notice.
    Notify,
    /// A collection retry.
    RetryPayment,
    /// A pause.
    Pause,
    /// An escalation.
    Escalate,
    /// A closure.
    Close,
}

/// One action already taken on this invoice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct PastAction {
    /// The as-of date of the decision that produced it.
    #[serde(
        serialize_with = "crate::iso_date::serialize",
        deserialize_with = "crate::iso_date::deserialize"
    )]
    pub on: Date,
    /// What kind of action.
    pub kind: ActionKind,
    /// Notice level, for notices.
    #[serde(default)]
    pub level: Option<u8>,
    /// Channel, for notices.
    #[serde(default)]
    pub channel: Option<Channel>,
    /// Tone, for notices.
    #[serde(default)]
    pub tone: Option<Tone>,
    /// What became of it.
    pub outcome: ActionOutcome,
}

/// The customer's other open overdue invoices; the total is in the invoice's currency.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct OtherOverdue {
    /// How many.
    pub count: u32,
    /// Their open balance in minor units of the invoice's currency.
    pub total_minor: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_context_json_fills_defaults() {
        let ctx: Context = serde_json::from_str(
            r#"{
              "as-of": "2026-02-10",
              "invoice": {"id": "i1", "number": "A-1", "issued-on": "2026-01-01",
                          "due-on": "2026-01-31", "amount": {"minor": 1000, "currency": "EUR"},
                          "open-balance": {"minor": 1000, "currency": "EUR"},
                          "payment-method": "bank-transfer"},
              "customer": {"id": "c1", "lifetime-value": {"minor": 0, "currency": "EUR"},
                           "customer-since": "2025-05-01"}
            }"#,
        )
        .unwrap();
        assert_eq!(ctx.days_overdue(), 10);
        assert_eq!(ctx.customer.reachable_on, vec![Channel::Email]);
        assert!(ctx.history.is_empty());
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let err = serde_json::from_str::<OtherOverdue>(r#"{"count": 1, "totl-minor": 5}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("totl-minor"), "{err}");
    }
}
