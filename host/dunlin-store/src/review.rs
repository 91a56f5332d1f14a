//! Reviews: what is due for review, what a review produced, and the decision log.

use chrono::{DateTime, Days, Utc};
use dunlin_core::guardrails::Intervention;
use dunlin_core::{Action, ActionKind, ActionOutcome, Channel, Context, Date, Decision};
use serde::{Deserialize, Serialize};

use crate::sweep::InvoiceReceipt;
use crate::StoreError;

/// Where an invoice's ladder stands.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct DunningState {
    /// The highest notice level sent so far (0: none).
    pub level: u8,
    /// The as-of day of the last decision that produced actions.
    pub last_action_on: Option<Date>,
    /// The next day the invoice is due for review; `None` with `ended`.
    pub next_review_on: Option<Date>,
    /// The policy version the ladder is pinned to.
    pub policy_version: Option<u32>,
    /// No review before this day.
    pub paused_until: Option<Date>,
    /// Why it is paused.
    pub paused_why: Option<String>,
    /// The ladder is over: the invoice is not reviewed again.
    pub ended: bool,
}

/// Which invoices to fetch for review: one page of a tenant's sweep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DueQuery {
    /// The day under review.
    pub as_of: Date,
    /// Only invoices whose id sorts after this one (the previous page's `next`).
    pub after: Option<String>,
    /// At most this many invoices (clamped to 1..=[`DueQuery::MAX_LIMIT`]).
    pub limit: u32,
    /// Customer contacts on or after this day come with each invoice, for the frequency caps.
    pub contacts_since: Date,
}

impl DueQuery {
    /// The most invoices one page may hold, on either backend.
    pub const MAX_LIMIT: u32 = 5000;

    /// The first page for `as_of`: 1000 invoices, contacts of the last 7 days (as-of included).
    pub fn new(as_of: Date) -> Self {
        DueQuery {
            as_of,
            after: None,
            limit: 1000,
            contacts_since: as_of.checked_sub_days(Days::new(6)).unwrap_or(as_of),
        }
    }

    /// The same query, for the page after `invoice_id`.
    pub fn after(&self, invoice_id: impl Into<String>) -> Self {
        DueQuery {
            after: Some(invoice_id.into()),
            ..self.clone()
        }
    }
}

/// One page of invoices due for review.
#[derive(Clone, Debug, PartialEq)]
pub struct DuePage {
    /// The invoices, ordered by id.
    pub invoices: Vec<DueInvoice>,
    /// Pass to [`DueQuery::after`] for the next page; `None` on the last page.
    pub next: Option<String>,
}

/// An invoice due for review, with everything the sweep needs to decide and guard.
#[derive(Clone, Debug, PartialEq)]
pub struct DueInvoice {
    /// The complete context for the policy: invoice, customer, this invoice's history, the
    /// customer's other overdue invoices, the tenant's params and the as-of day. Boxed: the
    /// sweep moves each invoice from stage to stage, and a pointer moves cheaper than the
    /// 400 bytes of the context itself.
    pub context: Box<Context>,
    /// The current ladder state; `None` before the first decision.
    pub state: Option<DunningState>,
    /// The customer's contacts (notices not blocked or cancelled) since the query's
    /// `contacts_since`, across all their invoices.
    pub contacts: Vec<Contact>,
    /// The store's receipt for the invoice, where the store issues them (SQLite): hand it
    /// on in the invoice's [`Outcome`].
    pub receipt: Option<InvoiceReceipt>,
}

/// One contact attempt with a customer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Contact {
    /// About which invoice.
    pub invoice_id: String,
    /// The as-of day of the decision that made it.
    pub on: Date,
    /// On which channel.
    pub channel: Channel,
}

/// Where an action in the outbox stands. Its history form is [`ActionOutcome`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionStatus {
    /// Waiting for delivery.
    Pending,
    /// Delivered.
    Delivered,
    /// Delivery failed for good: a permanent failure (a 5xx reply, an address that does
    /// not parse, a receiver's 4xx).
    Failed,
    /// Every allowed delivery attempt failed for now; `deliveries retry` requeues it.
    Dead,
    /// The customer opened it.
    Opened,
    /// A retry that collected the money.
    Succeeded,
    /// A retry that was declined.
    Declined,
    /// Stopped by the guardrails; never delivered.
    Blocked,
    /// Withdrawn before delivery because the invoice was paid, voided or disputed.
    Cancelled,
}

impl ActionStatus {
    /// The stored name.
    pub fn as_str(&self) -> &'static str {
        match self {
            ActionStatus::Pending => "pending",
            ActionStatus::Delivered => "delivered",
            ActionStatus::Failed => "failed",
            ActionStatus::Dead => "dead",
            ActionStatus::Opened => "opened",
            ActionStatus::Succeeded => "succeeded",
            ActionStatus::Declined => "declined",
            ActionStatus::Blocked => "blocked",
            ActionStatus::Cancelled => "cancelled",
        }
    }

    pub(crate) fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "pending" => ActionStatus::Pending,
            "delivered" => ActionStatus::Delivered,
            "failed" => ActionStatus::Failed,
            "dead" => ActionStatus::Dead,
            "opened" => ActionStatus::Opened,
            "succeeded" => ActionStatus::Succeeded,
            "declined" => ActionStatus::Declined,
            "blocked" => ActionStatus::Blocked,
            "cancelled" => ActionStatus::Cancelled,
            other => {
                return Err(StoreError::Corrupt {
                    what: "action status",
                    detail: format!("{other:?}"),
                })
            }
        })
    }

    /// How a policy sees it in the history: a cancelled action reads as blocked, a dead one
    /// as failed.
    pub fn outcome(&self) -> ActionOutcome {
        match self {
            ActionStatus::Pending => ActionOutcome::Pending,
            ActionStatus::Delivered => ActionOutcome::Delivered,
            ActionStatus::Failed | ActionStatus::Dead => ActionOutcome::Failed,
            ActionStatus::Opened => ActionOutcome::Opened,
            ActionStatus::Succeeded => ActionOutcome::Succeeded,
            ActionStatus::Declined => ActionOutcome::Declined,
            ActionStatus::Blocked | ActionStatus::Cancelled => ActionOutcome::Blocked,
        }
    }
}

/// The kind of an action, as the history names it.
pub fn action_kind(action: &Action) -> ActionKind {
    match action {
        Action::Notify(_) => ActionKind::Notify,
        Action::RetryPayment(_) => ActionKind::RetryPayment,
        Action::Pause(_) => ActionKind::Pause,
        Action::Escalate(_) => ActionKind::Escalate,
        Action::Close(_) => ActionKind::Close,
    }
}

/// The policy version that decided.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct PolicyRef {
    /// Its number.
    pub version: u32,
    /// Hex sha256 of its component.
    pub sha256: String,
}

/// A policy failure, as the log keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct FailureRecord {
    /// The stable code (`PolicyFailure::code`), e.g. `out-of-fuel`.
    pub code: String,
    /// The message.
    pub message: String,
}

/// An action to put in the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedAction {
    /// What to do.
    pub action: Action,
    /// `Pending` to deliver; `Blocked` when a guardrail stopped it (kept for the history).
    pub status: ActionStatus,
}

/// Everything one review of one invoice produced, written by [`crate::Db::record_batch`].
/// The invoice and the as-of day are the context's.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// The context the policy was given, stored compressed so the decision can be replayed
    /// (boxed, as in [`DueInvoice`]).
    pub context: Box<Context>,
    /// The version that decided; `None` when no policy ran (e.g. no active version).
    pub policy: Option<PolicyRef>,
    /// The policy's decision; `None` when it failed.
    pub decision: Option<Decision>,
    /// Why, for the log: the decision's reason, or what was done about a failure.
    pub reason: String,
    /// What the guardrails changed, in action order.
    pub interventions: Vec<Intervention>,
    /// The actions for the outbox, in order.
    pub actions: Vec<PlannedAction>,
    /// Fuel the policy used.
    pub fuel_used: Option<u64>,
    /// How long the policy took, in microseconds.
    pub duration_us: Option<u64>,
    /// The policy failure, if any.
    pub failure: Option<FailureRecord>,
    /// The invoice's ladder state after this review.
    pub state: DunningState,
    /// The store's receipt for the invoice, from its [`DueInvoice`], if it had one.
    pub receipt: Option<InvoiceReceipt>,
}

/// What [`crate::Db::record_batch`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecordSummary {
    /// Decisions written.
    pub recorded: usize,
    /// Outcomes not written: a decision for that invoice and day exists already, or the
    /// invoice's ledger changed after its page was read ([`crate::sweep::Written::stale`]).
    pub skipped: usize,
}

/// Which decisions to read from the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecisionQuery {
    /// Only this invoice's.
    pub invoice: Option<String>,
    /// Only decisions about this customer's invoices.
    pub customer: Option<String>,
    /// Only decisions for this as-of day or later.
    pub from: Option<Date>,
    /// Only decisions for this as-of day or earlier.
    pub to: Option<Date>,
    /// Only decisions with a larger id (for paging).
    pub after_id: Option<i64>,
    /// At most this many (clamped to 1..=10000), oldest first.
    pub limit: u32,
    /// Only decisions that ended this way.
    pub outcome: Option<DecisionOutcome>,
    /// Only decisions whose policy failed with this code (e.g. `out-of-fuel`).
    pub failure_code: Option<String>,
}

impl Default for DecisionQuery {
    fn default() -> Self {
        DecisionQuery {
            invoice: None,
            customer: None,
            from: None,
            to: None,
            after_id: None,
            limit: 1000,
            outcome: None,
            failure_code: None,
        }
    }
}

/// How a review ended, for filtering the decision log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DecisionOutcome {
    /// The policy decided, without a failure.
    Decided,
    /// The policy failed (whatever the tenant's failure mode then did).
    Failed,
    /// No policy ran (the tenant had no active version).
    NoPolicy,
}

impl DecisionQuery {
    /// The ladder of one invoice.
    pub fn invoice(id: impl Into<String>) -> Self {
        DecisionQuery {
            invoice: Some(id.into()),
            ..Default::default()
        }
    }
}

/// One entry of the decision log.
#[derive(Clone, Debug, PartialEq)]
pub struct DecisionRecord {
    /// Its id (increasing).
    pub id: i64,
    /// The invoice.
    pub invoice_id: String,
    /// The day decided for.
    pub as_of: Date,
    /// The policy version that decided.
    pub policy: Option<PolicyRef>,
    /// The exact context the policy was given.
    pub context: Context,
    /// The decision, if the policy produced one.
    pub decision: Option<Decision>,
    /// Why.
    pub reason: String,
    /// What the guardrails changed, in action order.
    pub interventions: Vec<Intervention>,
    /// The actions it put in the outbox.
    pub actions: Vec<ActionRecord>,
    /// Fuel the policy used.
    pub fuel_used: Option<u64>,
    /// How long the policy took, in microseconds.
    pub duration_us: Option<u64>,
    /// The policy failure, if any.
    pub failure: Option<FailureRecord>,
    /// When it was written.
    pub created_at: DateTime<Utc>,
}

/// An action in the outbox.
#[derive(Clone, Debug, PartialEq)]
pub struct ActionRecord {
    /// Its id.
    pub id: i64,
    /// Its place in the decision's list.
    pub ordinal: u32,
    /// What to do.
    pub action: Action,
    /// Where it stands.
    pub status: ActionStatus,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// When the next delivery attempt is due, while pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The last delivery error.
    pub last_error: Option<String>,
    /// Why it waits or was withheld at send time (outside the contact window, the invoice
    /// paid after the decision, an opt-out).
    pub note: Option<String>,
    /// What the tenant reported its own systems made of it.
    pub reported: Option<crate::outcome::ReportedOutcome>,
}
