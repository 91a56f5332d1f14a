//! The outbox as the delivery worker sees it: claims on pending actions (leases), what each
//! claimed action is delivered with, the results it writes back, and the log of attempts.
//!
//! A claim is a lease: the worker's name, an expiry and a token bumped on every claim. A
//! result is written only while its token is still the action's and the action is still
//! pending, so a worker whose lease ran out (killed, stalled) never overwrites what the next
//! claimant did; its attempts are logged all the same, since they happened.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use dunlin_core::guardrails::InvoiceStatus;
use dunlin_core::{Action, ActionKind, Channel, Date, Money};
use serde::Serialize;

use crate::review::ActionStatus;
use crate::StoreError;

/// What a worker asks for when it claims a tenant's due actions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// Who claims: written on the lease, shown by `deliveries`.
    pub worker: String,
    /// The worker's clock: actions whose next attempt is due by then, not leased by a live
    /// worker, are claimed.
    pub now: DateTime<Utc>,
    /// How long the lease holds; a worker that has not written its result by then loses it.
    pub lease: chrono::Duration,
    /// The most actions to claim (consolidation may add the same customer's other email
    /// notices of the same day beyond it).
    pub limit: u32,
    /// Also claim every due email notice of the same customer and day as a claimed one, so
    /// they can go out as one message.
    pub consolidate: bool,
}

/// A claim on one action: its id and the token the result must carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct Lease {
    /// The action's id.
    pub id: i64,
    /// The claim's token.
    pub token: i64,
}

/// A claimed action with everything delivering it needs, read in the claim.
#[derive(Clone, Debug, PartialEq)]
pub struct ClaimedAction {
    /// The claim.
    pub lease: Lease,
    /// The invoice's id.
    pub invoice_id: String,
    /// The customer's id.
    pub customer_id: String,
    /// The as-of day of the decision.
    pub as_of: Date,
    /// Its place in the decision's list.
    pub ordinal: u32,
    /// What to do.
    pub action: Action,
    /// Delivery attempts before this claim.
    pub attempts: u32,
    /// When the sweep recorded it: the event's timestamp on every attempt.
    pub created_at: DateTime<Utc>,
    /// The decision's reason.
    pub reason: String,
    /// The policy version that decided, if a policy did.
    pub policy_version: Option<u32>,
    /// The invoice as it stands now.
    pub invoice: InvoiceNow,
    /// The customer as it stands now.
    pub customer: CustomerNow,
    /// Targets (addresses, endpoint ids) that already took this action in an earlier
    /// attempt, so a retry does not send to them again.
    pub delivered_to: Vec<String>,
}

impl ClaimedAction {
    /// The key every attempt of this action carries (Message-ID, `webhook-id`): the
    /// tenant and the action's id, stable for the action's life.
    pub fn key(&self, tenant: &str) -> String {
        format!("dunlin-{tenant}-{}", self.lease.id)
    }
}

/// The invoice of a claimed action, read at claim time.
#[derive(Clone, Debug, PartialEq)]
pub struct InvoiceNow {
    /// The printed number.
    pub number: String,
    /// Date of issue.
    pub issued_on: Date,
    /// Due date.
    pub due_on: Date,
    /// The invoiced total.
    pub amount: Money,
    /// What is still owed.
    pub open_balance: Money,
    /// Where it stands.
    pub status: InvoiceStatus,
    /// An open dispute covers it.
    pub disputed: bool,
    /// A payment plan or promise to pay is active and not expired.
    pub on_payment_plan: bool,
}

/// The customer of a claimed action, read at claim time.
#[derive(Clone, Debug, PartialEq)]
pub struct CustomerNow {
    /// BCP 47 language tag.
    pub locale: String,
    /// IANA time zone.
    pub time_zone: String,
    /// Channels the customer opted out of.
    pub opted_out: Vec<Channel>,
    /// Addresses and names for delivery (`name`, `email`, `phone`, …).
    pub contact: BTreeMap<String, String>,
    /// When each notice delivered to the customer in the 7 days before the claim was
    /// delivered, oldest first: what the contact cap counts.
    pub recent_contacts: Vec<DateTime<Utc>>,
}

/// Which channel an attempt used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttemptChannel {
    /// An email, by SMTP or to a folder.
    Email,
    /// A signed webhook to one of the tenant's endpoints.
    Webhook,
}

impl AttemptChannel {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptChannel::Email => "email",
            AttemptChannel::Webhook => "webhook",
        }
    }
}

/// How one attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttemptOutcome {
    /// The server or receiver took it.
    Delivered,
    /// Worth another attempt later.
    Temporary,
    /// Another attempt would fail the same way.
    Permanent,
}

impl AttemptOutcome {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Delivered => "delivered",
            AttemptOutcome::Temporary => "temporary",
            AttemptOutcome::Permanent => "permanent",
        }
    }
}

/// One attempt to deliver an action to one target, for the deliveries log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Attempt {
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// From the start to the reply, in microseconds.
    pub latency_us: u64,
    /// Email or webhook.
    pub channel: AttemptChannel,
    /// The address, or the endpoint's id.
    pub target: String,
    /// The key the attempt carried (Message-ID's key, `webhook-id`).
    pub message_key: String,
    /// How it ended.
    pub outcome: AttemptOutcome,
    /// The SMTP reply or HTTP status, or the error.
    pub detail: String,
}

/// What becomes of a claimed action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// Every target took it.
    Delivered,
    /// An attempt failed for now: try again at `at`.
    Retry {
        /// When the next attempt is due.
        at: DateTime<Utc>,
        /// The last error.
        error: String,
    },
    /// The last allowed attempt failed.
    Dead {
        /// The last error.
        error: String,
    },
    /// A permanent failure: no attempt will succeed.
    Failed {
        /// Why.
        error: String,
    },
    /// Not now (outside the contact window, a frequency cap): no attempt was made.
    Wait {
        /// When it may go.
        until: DateTime<Utc>,
        /// Why it waits.
        note: String,
    },
    /// Withdrawn at send time: the invoice was paid, voided, disputed, put on a plan.
    Cancelled {
        /// Why.
        note: String,
    },
    /// Stopped at send time by the customer's opt-out.
    Blocked {
        /// Why.
        note: String,
    },
    /// Handed back unattempted (the worker is stopping).
    Release,
}

impl Next {
    /// The action's status after this result.
    pub fn status(&self) -> ActionStatus {
        match self {
            Next::Delivered => ActionStatus::Delivered,
            Next::Retry { .. } | Next::Wait { .. } | Next::Release => ActionStatus::Pending,
            Next::Dead { .. } => ActionStatus::Dead,
            Next::Failed { .. } => ActionStatus::Failed,
            Next::Cancelled { .. } => ActionStatus::Cancelled,
            Next::Blocked { .. } => ActionStatus::Blocked,
        }
    }
}

/// A worker's result for one claimed action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finished {
    /// The claim it answers.
    pub lease: Lease,
    /// Which attempt of the action this claim made: the claimed action's `attempts` + 1.
    pub attempt: u32,
    /// The attempts made under the claim, one per target (none for a wait or a withdrawal).
    pub attempts: Vec<Attempt>,
    /// What becomes of the action.
    pub next: Next,
}

/// What [`crate::Db::finish_actions`] wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FinishSummary {
    /// Results written.
    pub written: usize,
    /// Results not written: the lease had been lost (expired and claimed again, or the
    /// action withdrawn by a ledger write meanwhile). Their attempts are logged all the same.
    pub lost: usize,
}

/// How a tenant's outbox stands: what waits to be sent and what gave up, for `/metrics` and
/// the operator's health view.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Backlog {
    /// Actions pending (waiting for their first send or a retry).
    pub pending: u64,
    /// When the oldest pending action was recorded.
    pub oldest_pending_at: Option<DateTime<Utc>>,
    /// Actions dead after their last attempt (dead letters).
    pub dead: u64,
}

/// Which actions [`crate::Db::outbox`] lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxQuery {
    /// Only actions in this status.
    pub status: Option<ActionStatus>,
    /// Only this invoice's.
    pub invoice: Option<String>,
    /// Only actions with a larger id (for paging).
    pub after_id: Option<i64>,
    /// At most this many (1 to 10,000).
    pub limit: u32,
}

impl Default for OutboxQuery {
    fn default() -> Self {
        OutboxQuery {
            status: None,
            invoice: None,
            after_id: None,
            limit: 100,
        }
    }
}

/// Which actions to list: [`OutboxQuery`]'s filters and more, for the API's action list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionQuery {
    /// Only actions in this status.
    pub status: Option<ActionStatus>,
    /// Only this invoice's.
    pub invoice: Option<String>,
    /// Only this customer's.
    pub customer: Option<String>,
    /// Only actions of this kind.
    pub kind: Option<ActionKind>,
    /// Only actions decided for this as-of day or later.
    pub from: Option<Date>,
    /// Only actions decided for this as-of day or earlier.
    pub to: Option<Date>,
    /// Only actions with a larger id (for paging).
    pub after_id: Option<i64>,
    /// At most this many (1 to 10,000).
    pub limit: u32,
}

impl From<&OutboxQuery> for ActionQuery {
    fn from(q: &OutboxQuery) -> Self {
        ActionQuery {
            status: q.status,
            invoice: q.invoice.clone(),
            customer: None,
            kind: None,
            from: None,
            to: None,
            after_id: q.after_id,
            limit: q.limit,
        }
    }
}

/// An action in the outbox, as `deliveries` lists it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct OutboxEntry {
    /// Its id.
    pub id: i64,
    /// The invoice's id.
    pub invoice_id: String,
    /// The customer's id.
    pub customer_id: String,
    /// The as-of day of the decision.
    pub as_of: Date,
    /// What to do.
    pub action: Action,
    /// Where it stands.
    pub status: ActionStatus,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// When the next attempt is due, if pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The last delivery error.
    pub last_error: Option<String>,
    /// Why it waits or was withheld at send time.
    pub note: Option<String>,
    /// The worker holding it, while leased.
    pub lease_owner: Option<String>,
    /// Until when it is leased.
    pub lease_until: Option<DateTime<Utc>>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// An attempt as the deliveries log holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct AttemptRecord {
    /// The action it was for.
    pub action_id: i64,
    /// Which attempt of the action (1 for the first).
    pub attempt: u32,
    /// The worker that made it.
    pub worker: String,
    /// What happened.
    #[serde(flatten)]
    pub attempt_made: Attempt,
}

/// Which actions [`crate::Db::requeue_actions`] puts back in the queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requeue {
    /// One failed or dead action, unless the failure is one the tenant reported.
    One(i64),
    /// Every dead action of the tenant.
    Dead,
}

pub(crate) fn parse_attempt_channel(s: &str) -> Result<AttemptChannel, StoreError> {
    match s {
        "email" => Ok(AttemptChannel::Email),
        "webhook" => Ok(AttemptChannel::Webhook),
        other => Err(StoreError::Corrupt {
            what: "attempt channel",
            detail: format!("{other:?}"),
        }),
    }
}

pub(crate) fn parse_attempt_outcome(s: &str) -> Result<AttemptOutcome, StoreError> {
    match s {
        "delivered" => Ok(AttemptOutcome::Delivered),
        "temporary" => Ok(AttemptOutcome::Temporary),
        "permanent" => Ok(AttemptOutcome::Permanent),
        other => Err(StoreError::Corrupt {
            what: "attempt outcome",
            detail: format!("{other:?}"),
        }),
    }
}
