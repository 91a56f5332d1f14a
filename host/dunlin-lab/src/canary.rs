//! The canary report: the tenant's decisions over a range of days, arm by arm (the canary
//! version, the active one, and any older version a ladder is still pinned to), each arm
//! counted with the comparison's own measures ([`Side`]: actions by kind, notices by level,
//! channel and tone, escalations, suspensions, write-offs, guardrail interventions, failures by
//! code, notices per customer). The arms decide about different customers, so they are set
//! side by side rather than compared decision by decision as shadow's answers are.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use dunlin_core::{Action, Date};
use dunlin_store::{Db, DecisionQuery, PolicyStatus, StoreError, TenantId};
use serde::Serialize;

use crate::backtest::recorded;
use crate::compare::Side;
use crate::Range;

/// Decisions read per page.
const PAGE: u32 = 2000;

/// The canary's arm beside the active version's over a range of days.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct CanaryReport {
    /// The canary version, while one runs.
    pub canary: Option<u32>,
    /// Its share of customers (`10%`).
    pub share: Option<String>,
    /// When it started.
    pub since: Option<DateTime<Utc>>,
    /// The active version.
    pub active: Option<u32>,
    /// The first as-of day covered (the canary's start by default).
    pub from: Option<Date>,
    /// The last as-of day covered.
    pub to: Option<Date>,
    /// Each version that decided in the range, with its arm: the canary first, then the
    /// active version, then older ones.
    pub arms: Vec<Arm>,
}

/// One version's decisions in a canary report.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Arm {
    /// `canary`, `active`, or `other` (a ladder pinned to an older version).
    pub arm: &'static str,
    /// The version.
    pub version: u32,
    /// Decisions it made (a failure answered by the host's safe default included).
    pub decisions: u64,
    /// Distinct invoices it decided about.
    pub invoices: u64,
    /// Distinct customers it decided about.
    pub customers: u64,
    /// Decisions in which it failed, per decision.
    pub failure_rate: f64,
    /// Actions the guardrails blocked.
    pub blocked: u64,
    /// What it did, counted as a backtest or shadow report counts a side.
    #[serde(flatten)]
    pub side: Side,
}

/// What an arm keeps until the report is finished.
#[derive(Default)]
struct Tally {
    arm: Arm,
    failed: u64,
    invoices: HashSet<String>,
    /// Notices per customer.
    customers: HashMap<String, u32>,
}

/// The report of `tenant`'s decisions over `range` (from the day the canary started when the
/// range names no start), arm by arm.
pub async fn canary_report(
    db: &dyn Db,
    tenant: &TenantId,
    range: Range,
) -> Result<CanaryReport, StoreError> {
    let trials = db.policy_trials(tenant).await?;
    let active = db
        .policy_versions(tenant)
        .await?
        .into_iter()
        .find(|v| v.status == PolicyStatus::Active)
        .map(|v| v.version);
    let canary = trials.canary.as_ref();
    let from = range.from.or(canary.map(|c| c.since.date_naive()));
    let mut query = DecisionQuery {
        from,
        to: range.to,
        limit: PAGE,
        ..DecisionQuery::default()
    };
    let mut tallies: BTreeMap<u32, Tally> = BTreeMap::new();
    loop {
        let page = db.decisions(tenant, &query).await?;
        for r in &page {
            // A decision without a policy version is the host's, not an arm's.
            let Some(policy) = &r.policy else { continue };
            let t = tallies.entry(policy.version).or_default();
            let outcome = recorded(r);
            t.arm.side.add(&outcome);
            t.arm.decisions += 1;
            t.failed += u64::from(outcome.failure.is_some());
            t.arm.blocked += r
                .actions
                .iter()
                .filter(|a| a.status == dunlin_store::ActionStatus::Blocked)
                .count() as u64;
            t.invoices.insert(r.invoice_id.clone());
            let notices = outcome.decision.as_ref().map_or(0, |d| {
                d.actions
                    .iter()
                    .filter(|a| matches!(a, Action::Notify(_)))
                    .count() as u32
            });
            *t.customers
                .entry(r.context.customer.id.clone())
                .or_default() += notices;
        }
        match page.last() {
            Some(last) if page.len() == PAGE as usize => query.after_id = Some(last.id),
            _ => break,
        }
    }
    let mut arms: Vec<Arm> = tallies
        .into_iter()
        .map(|(version, t)| {
            let mut arm = t.arm;
            arm.version = version;
            arm.arm = if Some(version) == canary.map(|c| c.version) {
                "canary"
            } else if Some(version) == active {
                "active"
            } else {
                "other"
            };
            arm.invoices = t.invoices.len() as u64;
            arm.customers = t.customers.len() as u64;
            arm.failure_rate = if arm.decisions == 0 {
                0.0
            } else {
                t.failed as f64 / arm.decisions as f64
            };
            for notices in t.customers.into_values() {
                *arm.side.notices_per_customer.entry(notices).or_default() += 1;
            }
            arm
        })
        .collect();
    arms.sort_by_key(|a| (a.arm != "canary", a.arm != "active", a.version));
    Ok(CanaryReport {
        canary: canary.map(|c| c.version),
        share: canary.map(|c| c.share.to_string()),
        since: canary.map(|c| c.since),
        active,
        from,
        to: range.to,
        arms,
    })
}
