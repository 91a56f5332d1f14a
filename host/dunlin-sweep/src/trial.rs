//! What a tenant's shadow and canary versions did, for the CLI and the API alike.
//!
//! [`shadow_report`] compares the live decisions with the shadow version's answers on the
//! same contexts: agreement overall and per segment, level and action kind, the shadow
//! version's failures, and the disagreements with both reasons. It is the minimal form of
//! that comparison; the full one (money-weighted, per channel and tone) is the policy lab's
//! (`dunlin-lab`), fed by the same [`dunlin_store::Db::shadow_pairs`]. [`canary_report`]
//! sets the canary's arm beside the active version's, from the decision log.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use dunlin_core::{Action, Date, Decision};
use dunlin_store::trial::{ShadowPair, ShadowQuery, VersionFigures};
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

/// At most this many disagreements are listed in a report; the counts cover all of them.
pub const DISAGREEMENTS_LISTED: usize = 200;

/// The live decisions against the shadow version's answers over a range of days.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ShadowReport {
    /// The version in shadow now, if any.
    pub version: Option<u32>,
    /// When it was turned on.
    pub since: Option<DateTime<Utc>>,
    /// The first as-of day covered (the shadow's start by default).
    pub from: Option<Date>,
    /// The last as-of day covered.
    pub to: Option<Date>,
    /// Overall.
    pub overall: Agreement,
    /// By the live decision's segment.
    pub by_segment: BTreeMap<String, Agreement>,
    /// By the highest notice level of the live decision (`0`: no notice).
    pub by_level: BTreeMap<String, Agreement>,
    /// By the kind of the live decision's first action (`none`: it asked for nothing).
    pub by_action: BTreeMap<String, Agreement>,
    /// The shadow version's failures by code.
    pub shadow_failures: BTreeMap<String, u64>,
    /// The first [`DISAGREEMENTS_LISTED`] disagreements, oldest first.
    pub disagreements: Vec<Disagreement>,
}

/// How often two versions agreed. They agree on an invoice when the actions let through
/// (kind, level, channel, tone, template) and the next review day are the same; an answer
/// that failed agrees with nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Agreement {
    /// Invoices compared.
    pub compared: u64,
    /// Of them, where both agreed.
    pub agreed: u64,
    /// `agreed / compared` (1 when nothing was compared).
    pub rate: f64,
}

impl Agreement {
    fn add(&mut self, agreed: bool) {
        self.compared += 1;
        self.agreed += u64::from(agreed);
        self.rate = self.agreed as f64 / self.compared as f64;
    }
}

/// One invoice on one day where the versions disagreed.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Disagreement {
    /// The live decision's id.
    pub decision_id: i64,
    /// The invoice.
    pub invoice_id: String,
    /// The customer.
    pub customer_id: String,
    /// The day.
    pub as_of: Date,
    /// What the live version had done, in short (`notify L2 firm email reminder-2`, `none`).
    pub live: String,
    /// What the shadow version would have done, in short, or `failed (code)`.
    pub shadow: String,
    /// The live decision's reason.
    pub live_reason: String,
    /// The shadow version's reason.
    pub shadow_reason: String,
}

/// What a decision did, in short: its actions in order, or `none`.
fn treatment(decision: Option<&Decision>) -> String {
    let Some(d) = decision else {
        return "no decision".into();
    };
    if d.actions.is_empty() {
        return "none".into();
    }
    d.actions
        .iter()
        .map(|a| match a {
            Action::Notify(n) => format!("{a} {}", n.template),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The kind of an action as the outbox names it.
fn kind_name(a: &Action) -> &'static str {
    match a {
        Action::Notify(_) => "notify",
        Action::RetryPayment(_) => "retry-payment",
        Action::Pause(_) => "pause",
        Action::Escalate(_) => "escalate",
        Action::Close(_) => "close",
    }
}

fn same(live: Option<&Decision>, shadow: Option<&Decision>) -> bool {
    match (live, shadow) {
        (Some(l), Some(s)) => l.actions == s.actions && l.review_on == s.review_on,
        _ => false,
    }
}

/// Adds one pair to the report.
fn tally(report: &mut ShadowReport, pair: &ShadowPair) {
    let live = pair.live.decision.as_ref();
    let shadow = pair.shadow.decision.as_ref();
    let agreed = same(live, shadow);
    report.overall.add(agreed);
    let segment = live.map_or("none", |d| d.segment.as_str()).to_owned();
    report.by_segment.entry(segment).or_default().add(agreed);
    let level = live
        .into_iter()
        .flat_map(|d| &d.actions)
        .filter_map(|a| match a {
            Action::Notify(n) => Some(n.level),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    report
        .by_level
        .entry(level.to_string())
        .or_default()
        .add(agreed);
    let kind = live
        .and_then(|d| d.actions.first())
        .map_or("none", kind_name)
        .to_owned();
    report.by_action.entry(kind).or_default().add(agreed);
    if let Some(f) = &pair.shadow.failure {
        *report.shadow_failures.entry(f.code.clone()).or_default() += 1;
    }
    if !agreed && report.disagreements.len() < DISAGREEMENTS_LISTED {
        report.disagreements.push(Disagreement {
            decision_id: pair.live.id,
            invoice_id: pair.live.invoice_id.clone(),
            customer_id: pair.live.context.customer.id.clone(),
            as_of: pair.live.as_of,
            live: treatment(live),
            shadow: match &pair.shadow.failure {
                Some(f) => format!("failed ({})", f.code),
                None => treatment(shadow),
            },
            live_reason: pair.live.reason.clone(),
            shadow_reason: pair.shadow.reason.clone(),
        });
    }
}

/// Compares the tenant's live decisions with its shadow version's answers over `range`
/// (from the day the shadow was turned on, by default): every shadow version's answers
/// when none is in shadow now, the current one's otherwise.
pub async fn shadow_report(
    db: &dyn Db,
    tenant: &TenantId,
    range: Range,
) -> Result<ShadowReport, StoreError> {
    let trials = db.policy_trials(tenant).await?;
    let mut report = ShadowReport {
        version: trials.shadow.as_ref().map(|s| s.version),
        since: trials.shadow.as_ref().map(|s| s.since),
        from: range
            .from
            .or(trials.shadow.as_ref().map(|s| s.since.date_naive())),
        to: range.to,
        ..Default::default()
    };
    let mut query = ShadowQuery {
        version: report.version,
        from: report.from,
        to: report.to,
        after_id: None,
        limit: 2000,
    };
    loop {
        let page = db.shadow_pairs(tenant, &query).await?;
        for pair in &page.pairs {
            tally(&mut report, pair);
        }
        match page.next {
            Some(next) => query.after_id = Some(next),
            None => break,
        }
    }
    Ok(report)
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
