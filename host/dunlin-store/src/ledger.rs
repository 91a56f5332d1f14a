//! What tenants push in: customers, invoices, payments, disputes and payment plans, each keyed
//! by the tenant's own id so that importing the same rows twice changes nothing.

use std::collections::{BTreeMap, HashSet};

use dunlin_core::{CollectionFailure, Customer, Date, Money, PaymentMethod};
use serde::{Deserialize, Serialize};

/// A customer: the profile a policy sees, plus the addresses delivery needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct CustomerRecord {
    /// The profile, keyed by the tenant's own customer id.
    pub profile: Customer,
    /// Addresses and names for delivery (`email`, `phone`, `name`, …).
    #[serde(default)]
    pub contact: BTreeMap<String, String>,
}

/// Where an invoice stands (the guardrails' type: one definition for the host). Only `open`
/// invoices are dunned.
pub use dunlin_core::guardrails::InvoiceStatus;

/// An invoice as imported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct NewInvoice {
    /// The tenant's own id.
    pub id: String,
    /// The tenant's id of the customer who owes it; the customer must exist.
    pub customer_id: String,
    /// The printed number.
    pub number: String,
    /// Date of issue.
    pub issued_on: Date,
    /// Due date.
    pub due_on: Date,
    /// The invoiced total; not negative.
    pub amount: Money,
    /// What is still owed, in minor units of the invoice's currency. `None`: the amount less
    /// the payments recorded for it.
    #[serde(default)]
    pub open_balance_minor: Option<i64>,
    /// How it is meant to be paid.
    pub payment_method: PaymentMethod,
    /// Failed automatic collection attempts so far.
    #[serde(default)]
    pub failed_attempts: u32,
    /// The last failed automatic collection attempt.
    #[serde(default)]
    pub last_failure: Option<CollectionFailure>,
    /// `None`: open for a new invoice, unchanged for a known one.
    #[serde(default)]
    pub status: Option<InvoiceStatus>,
    /// The tenant's own key/value data.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// A stored invoice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct InvoiceRecord {
    /// The tenant's own id.
    pub id: String,
    /// The customer's id.
    pub customer_id: String,
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
    /// How it is meant to be paid.
    pub payment_method: PaymentMethod,
    /// Failed automatic collection attempts so far.
    pub failed_attempts: u32,
    /// The last failed automatic collection attempt.
    pub last_failure: Option<CollectionFailure>,
    /// Where it stands.
    pub status: InvoiceStatus,
    /// Whether an open dispute covers it.
    pub disputed: bool,
    /// The tenant's own key/value data.
    pub metadata: BTreeMap<String, String>,
}

/// A payment towards one invoice, in the invoice's currency. A payment that brings the open
/// balance to zero marks the invoice paid, which ends its ladder and cancels pending actions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct NewPayment {
    /// The tenant's own id.
    pub id: String,
    /// The invoice it pays.
    pub invoice_id: String,
    /// How much; positive.
    pub amount: Money,
    /// When.
    pub paid_on: Date,
}

/// Whether a dispute still stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DisputeStatus {
    /// The customer contests the invoice: no dunning.
    Open,
    /// Settled.
    Resolved,
}

impl DisputeStatus {
    /// The stored name.
    pub fn as_str(&self) -> &'static str {
        match self {
            DisputeStatus::Open => "open",
            DisputeStatus::Resolved => "resolved",
        }
    }
}

/// A dispute about one invoice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct NewDispute {
    /// The tenant's own id.
    pub id: String,
    /// The invoice disputed.
    pub invoice_id: String,
    /// When it was opened.
    pub opened_on: Date,
    /// Why, in the customer's or the tenant's words.
    #[serde(default)]
    pub reason: String,
    /// Whether it still stands.
    pub status: DisputeStatus,
    /// When it was resolved.
    #[serde(default)]
    pub resolved_on: Option<Date>,
}

/// A payment plan or a promise to pay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlanKind {
    /// Instalments agreed with the customer.
    Plan,
    /// The customer promised to pay by a date.
    Promise,
}

impl PlanKind {
    /// The stored name.
    pub fn as_str(&self) -> &'static str {
        match self {
            PlanKind::Plan => "plan",
            PlanKind::Promise => "promise",
        }
    }
}

/// Where a plan or promise stands. Only `active` ones that have not expired hold dunning off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PlanStatus {
    /// In good standing.
    Active,
    /// Fulfilled.
    Kept,
    /// Not kept.
    Broken,
    /// Called off.
    Cancelled,
}

impl PlanStatus {
    /// The stored name.
    pub fn as_str(&self) -> &'static str {
        match self {
            PlanStatus::Active => "active",
            PlanStatus::Kept => "kept",
            PlanStatus::Broken => "broken",
            PlanStatus::Cancelled => "cancelled",
        }
    }
}

/// A payment plan or promise to pay for one invoice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct NewPaymentPlan {
    /// The tenant's own id.
    pub id: String,
    /// The invoice it covers.
    pub invoice_id: String,
    /// Plan or promise.
    pub kind: PlanKind,
    /// When it was agreed.
    pub agreed_on: Date,
    /// The last day it holds dunning off.
    pub expires_on: Date,
    /// Where it stands.
    pub status: PlanStatus,
}

/// Rows per multi-row upsert of imported rows: 1,000 rows of at most 17 values stay well under
/// both databases' limits on bound parameters (SQLite 32,766, PostgreSQL 65,535).
pub(crate) const UPSERT_CHUNK: usize = 1000;

/// Splits imported rows, in order, into runs that one multi-row upsert can write: at most
/// [`UPSERT_CHUNK`] rows, no key twice (PostgreSQL cannot update one row twice in a statement,
/// and two rows about one record must apply in file order) and one `variant` throughout.
pub(crate) fn upsert_runs<T, V: PartialEq>(
    rows: &[T],
    key: impl Fn(&T) -> &str,
    variant: impl Fn(&T) -> V,
) -> Vec<&[T]> {
    let mut runs = Vec::new();
    let mut start = 0;
    let mut keys: HashSet<&str> = HashSet::new();
    for (i, row) in rows.iter().enumerate() {
        let full = i - start == UPSERT_CHUNK;
        let repeated = keys.contains(key(row));
        let other = i > start && variant(&rows[start]) != variant(row);
        if full || repeated || other {
            runs.push(&rows[start..i]);
            start = i;
            keys.clear();
        }
        keys.insert(key(row));
    }
    if start < rows.len() {
        runs.push(&rows[start..]);
    }
    runs
}

/// `ids` once each, in order of first appearance.
pub(crate) fn distinct<'a>(ids: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = HashSet::new();
    ids.filter(|id| seen.insert(*id)).collect()
}
