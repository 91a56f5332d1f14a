//! What a tenant's canary did, for the CLI and the API alike: [`canary_report`] sets the
//! canary's arm beside the active version's, from the decision log. The shadow report is the
//! policy lab's (`dunlin-lab`), which compares [`dunlin_store::Db::shadow_pairs`] as a
//! backtest compares.

use chrono::{DateTime, Utc};
use dunlin_core::Date;
use dunlin_store::trial::VersionFigures;
use dunlin_store::{Db, PolicyStatus, StoreError, TenantId};
use serde::Serialize;

/// Which days a report covers; an open end is unbounded, except that a report's start
/// defaults to the day its trial started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Range {
    /// The first as-of day.
    pub from: Option<Date>,
    /// The last as-of day.
    pub to: Option<Date>,
}

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
    /// Each version that decided in the range, with its arm.
    pub arms: Vec<Arm>,
}

/// One version's decisions in a canary report.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Arm {
    /// `canary`, `active`, or `other` (a ladder pinned to an older version).
    pub arm: &'static str,
    /// The version's figures.
    #[serde(flatten)]
    pub figures: VersionFigures,
    /// Escalations to collections among its actions.
    pub escalations: u64,
    /// Its failures per decision.
    pub failure_rate: f64,
}

/// The tenant's decisions over `range` per version, the canary's and the active one's
/// first.
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
    let mut arms: Vec<Arm> = db
        .version_figures(tenant, from, range.to)
        .await?
        .into_iter()
        .map(|figures| Arm {
            arm: if Some(figures.version) == canary.map(|c| c.version) {
                "canary"
            } else if Some(figures.version) == active {
                "active"
            } else {
                "other"
            },
            escalations: figures.actions.get("escalate").copied().unwrap_or(0),
            failure_rate: if figures.decisions == 0 {
                0.0
            } else {
                figures.failures as f64 / figures.decisions as f64
            },
            figures,
        })
        .collect();
    arms.sort_by_key(|a| (a.arm != "canary", a.arm != "active", a.figures.version));
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
