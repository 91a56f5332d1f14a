//! The shadow report: the live decisions against the shadow version's answers on the same
//! contexts, read a page at a time through [`Db::shadow_pairs`] and put through the one
//! comparison ([`crate::compare`]), so it measures what a backtest measures (segments,
//! actions, levels, channels, tones, escalations, failures, money by direction) for any range
//! of days since shadow was turned on.

use chrono::{DateTime, Utc};
use dunlin_core::Date;
use dunlin_store::trial::{ShadowOutcome, ShadowQuery};
use dunlin_store::{Db, StoreError, TenantId};
use serde::Serialize;

use crate::backtest::recorded;
use crate::compare::{Comparison, Outcome, Report};
use crate::Range;

/// Pairs read per page.
const PAGE: u32 = 2000;

/// The live decisions (baseline) against the shadow version's answers (candidate).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ShadowReport {
    /// The version in shadow now, if any; without one, every shadow answer in the range.
    pub version: Option<u32>,
    /// When it was turned on.
    pub since: Option<DateTime<Utc>>,
    /// The first as-of day covered (the shadow's start by default).
    pub from: Option<Date>,
    /// The last as-of day covered.
    pub to: Option<Date>,
    /// Baseline: what the live version decided; candidate: the shadow version's answer.
    pub comparison: Report,
}

/// The shadow version's answer as the comparison reads it.
fn answered(s: &ShadowOutcome) -> Outcome {
    Outcome {
        decision: s.decision.clone(),
        interventions: s.interventions.clone(),
        failure: s.failure.as_ref().map(|f| f.code.clone()),
        dropped: s.blocked.clone(),
    }
}

/// The report of `tenant`'s shadow over `range` (from the day shadow was turned on when the
/// range names no start), listing up to `listed` disagreements.
pub async fn shadow_report(
    db: &dyn Db,
    tenant: &TenantId,
    range: Range,
    listed: usize,
) -> Result<ShadowReport, StoreError> {
    let trials = db.policy_trials(tenant).await?;
    let shadow = trials.shadow.as_ref();
    let from = range.from.or(shadow.map(|s| s.since.date_naive()));
    let mut query = ShadowQuery {
        version: shadow.map(|s| s.version),
        from,
        to: range.to,
        after_id: None,
        limit: PAGE,
    };
    let mut comparison = Comparison::listing(listed);
    loop {
        let page = db.shadow_pairs(tenant, &query).await?;
        for pair in &page.pairs {
            comparison.add(
                Some(pair.live.id),
                &pair.live.context,
                &recorded(&pair.live),
                &answered(&pair.shadow),
            );
        }
        match page.next {
            Some(next) => query.after_id = Some(next),
            None => break,
        }
    }
    Ok(ShadowReport {
        version: query.version,
        since: shadow.map(|s| s.since),
        from,
        to: range.to,
        comparison: comparison.finish(),
    })
}
