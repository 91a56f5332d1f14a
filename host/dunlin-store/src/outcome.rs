//! What the tenant's own systems made of an action they executed (a payment retry, a letter,
//! a call, an escalation), as the tenant reports it. The report sets the action's status, so
//! the next decision's history shows it (`succeeded`, `declined`, `delivered`, `opened` for a
//! call that reached the customer, `failed`); a declined retry also counts as a failed
//! collection on the invoice (its failed attempts and last failure, which the context shows
//! with the decline code and kind). Settling the invoice after a successful retry is a
//! payment, recorded by the caller through the ledger.

use chrono::{DateTime, Utc};
use dunlin_core::{Action, Channel, Date, DeclineKind};
use serde::{Deserialize, Serialize};

use crate::review::ActionStatus;

/// The longest decline code or note kept.
pub const MAX_TEXT_BYTES: usize = 500;

/// What became of the action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reported {
    /// A payment retry collected the money.
    Succeeded,
    /// A payment retry was declined (with a code and a kind).
    Declined,
    /// A letter was posted, a message sent, an escalation handed over.
    Delivered,
    /// A call (or other notice) reached the customer.
    Reached,
    /// The tenant's systems could not execute it.
    Failed,
}

impl Reported {
    /// Its name in JSON and on the terminal.
    pub fn as_str(self) -> &'static str {
        match self {
            Reported::Succeeded => "succeeded",
            Reported::Declined => "declined",
            Reported::Delivered => "delivered",
            Reported::Reached => "reached",
            Reported::Failed => "failed",
        }
    }

    /// The action status it sets.
    pub fn status(self) -> ActionStatus {
        match self {
            Reported::Succeeded => ActionStatus::Succeeded,
            Reported::Declined => ActionStatus::Declined,
            Reported::Delivered => ActionStatus::Delivered,
            Reported::Reached => ActionStatus::Opened,
            Reported::Failed => ActionStatus::Failed,
        }
    }

    /// Whether a report of this kind fits the action: a retry succeeds or is declined; a
    /// notice on a channel the tenant delivers (not email, which the host sends and follows
    /// itself) and an escalation are delivered, reached or failed. `Err` says why not.
    pub fn fits(self, action: &Action) -> Result<(), String> {
        let fits = match action {
            Action::RetryPayment(_) => matches!(self, Reported::Succeeded | Reported::Declined),
            Action::Notify(n) if n.channel == Channel::Email => {
                return Err("the host delivers email itself and records what became of it".into())
            }
            Action::Notify(_) | Action::Escalate(_) => matches!(
                self,
                Reported::Delivered | Reported::Reached | Reported::Failed
            ),
            Action::Pause(_) | Action::Close(_) => {
                return Err(
                    "a pause or a closure is the host's own; there is nothing to report".into(),
                )
            }
        };
        if fits {
            Ok(())
        } else {
            Err(format!(
                "a {} action cannot be reported {}",
                crate::codec::name(&crate::review::action_kind(action)),
                crate::codec::name(&self)
            ))
        }
    }
}

/// A report of what became of an action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutcomeReport {
    /// What became of it.
    pub outcome: Reported,
    /// The day it happened.
    pub on: Date,
    /// The processor's decline code, for a declined retry (required then, refused else).
    pub code: Option<String>,
    /// Whether a retry may help, for a declined retry (required then, refused else).
    pub kind: Option<DeclineKind>,
    /// The tenant's note.
    pub note: Option<String>,
}

impl OutcomeReport {
    /// Checks the report's own fields (not the action): `Err` says what is wrong.
    pub fn check(&self) -> Result<(), String> {
        let declined = self.outcome == Reported::Declined;
        if declined != (self.code.is_some() && self.kind.is_some()) {
            return Err(if declined {
                "a declined retry needs its decline `code` and `kind` (soft or hard)".into()
            } else {
                "`code` and `kind` belong to a declined retry only".into()
            });
        }
        for (name, text) in [("code", &self.code), ("note", &self.note)] {
            if let Some(text) = text {
                if text.trim().is_empty() || text.len() > MAX_TEXT_BYTES {
                    return Err(format!("{name} must be 1 to {MAX_TEXT_BYTES} bytes"));
                }
            }
        }
        Ok(())
    }
}

/// What [`crate::Db::report_outcome`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReportResult {
    /// Recorded (or the same report again, which changes nothing).
    Recorded(ReportedAction),
    /// The tenant has no such action.
    NotFound,
    /// The report does not fit the action or where it stands: why.
    Refused(String),
}

/// An action with the outcome reported for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ReportedAction {
    /// Its id.
    pub id: i64,
    /// Its invoice.
    pub invoice_id: String,
    /// What it was.
    pub action: Action,
    /// Its status now.
    pub status: ActionStatus,
    /// What the tenant reported of it.
    #[serde(flatten)]
    pub reported: ReportedOutcome,
}

/// What the tenant reported of an action, as kept with it (the decision log shows it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ReportedOutcome {
    /// What became of it.
    pub outcome: Reported,
    /// The day it happened.
    pub on: Date,
    /// The decline code, for a declined retry.
    pub code: Option<String>,
    /// The decline kind, for a declined retry.
    pub kind: Option<DeclineKind>,
    /// The tenant's note.
    pub note: Option<String>,
    /// When the report came.
    pub reported_at: DateTime<Utc>,
}
