//! Backtest: a stored policy version asked about every context the tenant's decision log
//! recorded in a window, its answers guarded as the sweep would guard them, and compared
//! with what was decided then ([`crate::compare`]). Nothing is written.

use dunlin_core::guardrails::{GuardrailSettings, OperatorLimits};
use dunlin_core::Date;
use dunlin_runtime::{LoadError, Runtime};
use dunlin_store::{
    Db, DecisionRecord, RecordedDecision, RecordedQuery, StoreError, Tenant, TenantId,
};
use serde::{Deserialize, Serialize};

use crate::candidate::{answer, Rules, Workers};
use crate::compare::{Comparison, Outcome, Report};

/// Recorded decisions read (and decided) per page: a page's contexts are in memory at once.
const PAGE: u32 = 2000;

/// What to backtest.
#[derive(Clone, Debug)]
pub struct BacktestOptions {
    /// The candidate: one of the tenant's stored policy versions.
    pub version: u32,
    /// Recorded decisions of this as-of day or later.
    pub from: Option<Date>,
    /// Recorded decisions of this as-of day or earlier.
    pub to: Option<Date>,
    /// Threads deciding in parallel.
    pub workers: usize,
    /// The operator's bounds, against which the tenant's guardrails are checked.
    pub limits: OperatorLimits,
    /// Disagreeing decisions listed in the report (all are counted).
    pub listed: usize,
    /// Stop after this many recorded decisions (the oldest first); `None`: all of them.
    pub max_decisions: Option<u64>,
}

impl BacktestOptions {
    /// Every recorded decision, one worker per core, the default limits.
    pub fn new(version: u32) -> Self {
        BacktestOptions {
            version,
            from: None,
            to: None,
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            limits: OperatorLimits::default(),
            listed: crate::compare::DEFAULT_LISTED,
            max_decisions: None,
        }
    }
}

/// A backtest's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct BacktestReport {
    /// The tenant.
    pub tenant: String,
    /// The candidate version.
    pub version: u32,
    /// Its component's sha256.
    pub sha256: String,
    /// The window asked for.
    pub from: Option<Date>,
    /// The window asked for.
    pub to: Option<Date>,
    /// The backtest stopped at `max_decisions` with more recorded decisions left.
    pub truncated: bool,
    /// Baseline: what was recorded; candidate: the version.
    pub comparison: Report,
}

/// Why a backtest could not run. A policy failure on a context is not one: it is counted.
#[derive(Debug, thiserror::Error)]
pub enum BacktestError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The tenant does not exist.
    #[error("no tenant {0:?}")]
    UnknownTenant(String),
    /// The tenant has no such policy version (another tenant's versions are not its own).
    #[error("tenant {tenant} has no policy version {version}")]
    UnknownVersion {
        /// The tenant.
        tenant: String,
        /// The version asked for.
        version: u32,
    },
    /// The version's component does not load.
    #[error("policy version {version} does not load: {source}")]
    Policy {
        /// The version.
        version: u32,
        /// Why.
        #[source]
        source: LoadError,
    },
    /// The tenant's guardrail settings are invalid.
    #[error("the tenant's guardrail settings are invalid: {0}")]
    Guardrails(String),
    /// The window ends before it starts.
    #[error("the window ends ({to}) before it starts ({from})")]
    Window {
        /// Its start.
        from: Date,
        /// Its end.
        to: Date,
    },
    /// The tenant has no active version to compare a forward look with.
    #[error("tenant {0} has no active policy version to compare with")]
    NoActiveVersion(String),
    /// A forward look's window is empty or too long.
    #[error("a forward look plays 1 to {max} days, not {days}")]
    Days {
        /// The days asked for.
        days: u32,
        /// The most allowed.
        max: u32,
    },
    /// More open invoices than a forward look holds in memory.
    #[error("the tenant has more than {0} invoices due within the window; shorten it")]
    TooManyInvoices(usize),
    /// A blocking worker task failed (a bug, not a policy failure).
    #[error("a backtest worker failed: {0}")]
    Worker(String),
}

/// The outcome the decision log recorded: the guarded decision (or none) and the failure.
pub fn recorded(r: &DecisionRecord) -> Outcome {
    Outcome {
        decision: r.decision.clone(),
        interventions: r.interventions.clone(),
        failure: r.failure.as_ref().map(|f| f.code.clone()),
        dropped: r
            .actions
            .iter()
            .filter(|a| a.status == dunlin_store::ActionStatus::Blocked)
            .map(|a| a.action.clone())
            .collect(),
    }
}

/// The tenant, and the rules its versions answer under: its guardrails (checked against the
/// operator's `limits`) and failure mode.
pub(crate) async fn tenant_rules(
    db: &dyn Db,
    tenant: &TenantId,
    limits: &OperatorLimits,
) -> Result<(Tenant, Rules), BacktestError> {
    let t = db
        .tenant(tenant)
        .await?
        .ok_or_else(|| BacktestError::UnknownTenant(tenant.as_str().to_owned()))?;
    let rules = Rules {
        guardrails: GuardrailSettings::from_json(&t.settings.guardrails, limits)
            .map_err(|e| BacktestError::Guardrails(e.to_string()))?,
        failure_mode: t.settings.failure_mode,
    };
    Ok((t, rules))
}

/// The outcome the decision log recorded, from the text the host wrote for it.
fn recorded_outcome(r: &RecordedDecision) -> Result<Outcome, StoreError> {
    let decision = r
        .decision
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map_err(|e| StoreError::Corrupt {
            what: "decision",
            detail: e.to_string(),
        })?;
    Ok(Outcome {
        decision,
        interventions: r.interventions.clone(),
        failure: r.failure_code.clone(),
        // The log as written does not carry the blocked actions; a comparison does not
        // compare them.
        dropped: Vec::new(),
    })
}

/// The next page of recorded decisions after `query.after_id` (moved past it), at most
/// `max - done` of them; `None` when there are none left (or the cap is reached), else the
/// page and whether it was full (so more may follow).
async fn next_page(
    db: &dyn Db,
    tenant: &TenantId,
    query: &mut RecordedQuery,
    max: Option<u64>,
    done: u64,
) -> Result<Option<(Vec<RecordedDecision>, bool)>, StoreError> {
    let left = max.map_or(u64::MAX, |max| max - done.min(max));
    if left == 0 {
        return Ok(None);
    }
    query.limit = u32::try_from(left).unwrap_or(PAGE).min(PAGE);
    let page = db.recorded_decisions(tenant, query).await?;
    let Some(last) = page.last() else {
        return Ok(None);
    };
    query.after_id = Some(last.id);
    let full = page.len() == query.limit as usize;
    Ok(Some((page, full)))
}

/// Backtests `opts.version` of `tenant` over its recorded decisions in the window, page by
/// page in the log's order. `progress` is called after each page with the decisions done so
/// far.
pub async fn backtest(
    db: &dyn Db,
    runtime: &Runtime,
    tenant: &TenantId,
    opts: &BacktestOptions,
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<BacktestReport, BacktestError> {
    if let (Some(from), Some(to)) = (opts.from, opts.to) {
        if to < from {
            return Err(BacktestError::Window { from, to });
        }
    }
    let (t, rules) = tenant_rules(db, tenant, &opts.limits).await?;
    let blob = db.policy_blob(tenant, opts.version).await?.ok_or_else(|| {
        BacktestError::UnknownVersion {
            tenant: tenant.as_str().to_owned(),
            version: opts.version,
        }
    })?;
    let policy = runtime
        // Under the tenant's own sandbox limits, as the sweep runs its versions.
        .load_with(
            &blob.bytes,
            runtime.limits().for_tenant(&t.settings.sandbox),
        )
        .map_err(|source| BacktestError::Policy {
            version: opts.version,
            source,
        })?;
    let sha256 = policy.info().sha256.clone();

    let mut query = RecordedQuery {
        // The comparison does not compare the actions the guardrails blocked.
        blocked_actions: false,
        ..RecordedQuery::window(opts.from, opts.to)
    };
    let mut state = (
        Workers::new(&policy, opts.workers),
        Comparison::listing(opts.listed),
    );
    let mut done = 0u64;
    let mut truncated = false;
    let mut page = next_page(db, tenant, &mut query, opts.max_decisions, done).await?;
    while let Some((records, full)) = page {
        done += records.len() as u64;
        let rules = rules.clone();
        let deciding = tokio::task::spawn_blocking(move || {
            let (mut workers, mut comparison) = state;
            // Each context is parsed on the worker that decides it, not on the task reading
            // the pages (docs/benchmarks.md#backtest).
            let answers = workers.map(&records, |policy, r| {
                let ctx = r.context.parse()?;
                let candidate = answer(policy, &ctx, &rules);
                Ok::<_, StoreError>((ctx, recorded_outcome(r)?, candidate))
            });
            for (r, answer) in records.iter().zip(answers) {
                let (ctx, baseline, candidate) = answer?;
                comparison.add(Some(r.id), &ctx, &baseline, &candidate);
            }
            Ok::<_, StoreError>((workers, comparison))
        });
        // The next page is read while this one is decided.
        page = if full {
            next_page(db, tenant, &mut query, opts.max_decisions, done).await?
        } else {
            None
        };
        state = deciding
            .await
            .map_err(|e| BacktestError::Worker(e.to_string()))??;
        progress(done);
        if page.is_none() && full && opts.max_decisions.is_some_and(|max| done >= max) {
            // One more decision tells whether the cap cut anything off.
            query.limit = 1;
            truncated = !db.recorded_decisions(tenant, &query).await?.is_empty();
        }
    }
    Ok(BacktestReport {
        tenant: tenant.as_str().to_owned(),
        version: opts.version,
        sha256,
        from: opts.from,
        to: opts.to,
        truncated,
        comparison: state.1.finish(),
    })
}
