//! One tenant's sweep for one as-of date: select the invoices due for review (a page at a
//! time), decide in the sandbox (batch mode, in parallel across cores, one tenant only),
//! apply the guardrails, handle policy failures by the tenant's failure mode, and record
//! decision + actions + new dunning state in one transaction per page. The three stages run
//! as a pipeline: while page n is decided, page n+1 is selected and page n-1 written.
//!
//! Idempotent: the store keys decisions by (tenant, invoice, as-of), so re-running a sweep or
//! resuming a crashed one never writes a second decision or a second set of actions.
#![deny(missing_docs)]

mod daemon;
mod decide;
mod figures;
pub mod lifecycle;
mod many;
mod outcome;
pub mod recorded;
pub mod replica;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use dunlin_core::guardrails::{GuardrailSettings, OperatorLimits};
use dunlin_core::Date;
use dunlin_runtime::{CallLimits, LoadError, LoadedPolicy, Runtime};
use dunlin_store::sweep::LedgerMark;
use dunlin_store::trial::Canary;
use dunlin_store::{
    Db, DueInvoice, DueQuery, FailureMode, PolicyStatus, StoreError, SweepTrigger, Tenant, TenantId,
};
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

pub use daemon::{serve, serve_as, Daemon};
pub use many::sweep_many;
pub use outcome::safe_default;
/// The token that stops a sweep or the daemon (graceful shutdown); cancelled from any thread.
pub use tokio_util::sync::CancellationToken;

/// How to run a sweep.
#[derive(Clone, Debug)]
pub struct SweepOptions {
    /// The day under review.
    pub as_of: Date,
    /// Decide and guard, but write nothing.
    pub dry_run: bool,
    /// Invoices per page (one select, one write transaction). 4,000 by default: a sweep of
    /// 1M invoices took 2 to 3 % less time than with 2,000, on SQLite and on PostgreSQL
    /// (docs/benchmarks.md#page-size-and-ramp-up); a page in flight holds its contexts in memory.
    pub page_size: u32,
    /// Threads deciding in parallel.
    pub workers: usize,
    /// Start with small pages (a sixteenth of `page_size`, doubling up to it), so that the
    /// writer has a page to write sooner. [`sweep_many`] turns it off for a sweep that starts
    /// while the one before it is still deciding and writing: the writer is busy then.
    pub ramp_up: bool,
    /// Cancelled to stop (graceful shutdown): the workers take no further invoice, what
    /// they decided is written, and the rest of the sweep runs at the next start, since
    /// nothing of it was recorded. A stop waits for one policy call per worker, not a page.
    /// The daemon hands every sweep its own shutdown token.
    pub stop: CancellationToken,
    /// The operator's bounds; the tenant's guardrail settings are checked against them.
    pub limits: OperatorLimits,
    /// Record the sweep as a run started by this, holding the tenant's sweep lock while it
    /// runs ([`recorded`]): the daemon, the CLI and the API set it. `None` (the default)
    /// runs it unrecorded and unlocked, as tests and benchmarks do.
    pub record: Option<SweepTrigger>,
    /// The replica whose daemon runs the sweep: named on the recorded run, and told while
    /// the sweep runs (its heartbeat says so). `None` outside `serve`.
    pub replica: Option<std::sync::Arc<replica::Replica>>,
}

impl SweepOptions {
    /// A real sweep for `as_of` with one worker per core.
    pub fn new(as_of: Date) -> Self {
        SweepOptions {
            as_of,
            dry_run: false,
            page_size: 4000,
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            ramp_up: true,
            stop: CancellationToken::new(),
            limits: OperatorLimits::default(),
            record: None,
            replica: None,
        }
    }

    /// Whether `stop` is set: the sweep (or, in [`sweep_many`], the next one) should stop.
    pub(crate) fn stopping(&self) -> bool {
        self.stop.is_cancelled()
    }
}

/// What a sweep did, and where its time went.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SweepReport {
    /// Invoices reviewed.
    pub reviewed: usize,
    /// Decisions written (0 on a dry run).
    pub recorded: usize,
    /// Reviews skipped because that invoice already had a decision for this as-of date.
    pub skipped: usize,
    /// Reviews dropped because the invoice's ledger changed (a payment, dispute, plan or
    /// invoice update written) after its page was read: nothing of them was written, and
    /// the invoice is reviewed again by the next sweep.
    pub stale: usize,
    /// Reviews where the policy failed (whatever the failure mode then did).
    pub failures: usize,
    /// Actions put in the outbox by the decisions written (on a dry run: by every review).
    pub actions: usize,
    /// Actions the guardrails blocked, of the decisions written (on a dry run: of every
    /// review).
    pub blocked: usize,
    /// Answers of the shadow version recorded beside the decisions written (0 on a dry run
    /// or without a shadow version).
    pub shadowed: usize,
    /// Reviews where the shadow version failed; the live decision is unaffected.
    pub shadow_failures: usize,
    /// Time the select stage spent selecting pages and building contexts.
    pub select: Duration,
    /// Time the decide stage spent in the policy sandbox, the guardrails and encoding.
    pub decide: Duration,
    /// Time the write stage spent with at least one page being written (on PostgreSQL two
    /// pages may be written at once: [`Db::write_lanes`]). The three stages overlap (a page
    /// apart), so the three figures add up to more than the sweep's wall time.
    pub write: Duration,
    /// The sweep stopped early because `stop` was set.
    pub interrupted: bool,
}

/// Why a sweep could not run. Per-invoice policy failures are not errors: they are recorded.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The store failed (retry the sweep: it is idempotent).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The tenant does not exist.
    #[error("no tenant {0:?}")]
    UnknownTenant(String),
    /// The tenant has never activated a policy.
    #[error("tenant {0} has no active policy; upload one and activate it")]
    NoActivePolicy(String),
    /// A stored policy version no longer loads (e.g. its contract version was dropped).
    #[error("tenant {tenant}'s policy version {version} does not load: {source}")]
    Policy {
        /// The tenant.
        tenant: String,
        /// The version.
        version: u32,
        /// Why.
        #[source]
        source: LoadError,
    },
    /// The tenant's guardrail settings are invalid.
    #[error("tenant {tenant}'s guardrail settings are invalid: {message}")]
    Guardrails {
        /// The tenant.
        tenant: String,
        /// Why.
        message: String,
    },
    /// One of the tenant's sweeps is running already (its scheduled tick or the API's); this
    /// one did not start.
    #[error("a sweep of tenant {0} is running already")]
    AlreadyRunning(String),
    /// A worker thread died (a bug, not a policy failure).
    #[error("a sweep worker failed: {0}")]
    Worker(String),
}

/// A loaded policy version of the tenant under sweep.
#[derive(Clone)]
pub(crate) struct Version {
    pub(crate) policy: LoadedPolicy,
}

/// The policy versions a sweep may use: the active one, any version a ladder is pinned to,
/// the previously active one (for the `previous-version` failure mode), and the tenant's
/// shadow and canary versions.
#[derive(Clone)]
pub(crate) struct Versions {
    pub(crate) tenant: TenantId,
    pub(crate) active: u32,
    pub(crate) previous: Option<u32>,
    /// Asked beside the live version for every invoice; its answers are recorded apart.
    pub(crate) shadow: Option<u32>,
    /// Starts the new ladders of the customers in its arm.
    pub(crate) canary: Option<Canary>,
    pub(crate) loaded: BTreeMap<u32, Version>,
    /// What every version of the tenant runs under: its own sandbox limits, or the host's.
    pub(crate) limits: CallLimits,
}

impl Versions {
    /// The version a ladder of `customer` not yet pinned starts on: the canary's for a
    /// customer in its arm, the active one otherwise.
    pub(crate) fn start_for(&self, customer: &str) -> u32 {
        match &self.canary {
            Some(c) if c.takes(&self.tenant, customer) => c.version,
            _ => self.active,
        }
    }
}

/// Runs one sweep of `tenant` for `opts.as_of`.
pub async fn sweep(
    db: &dyn Db,
    runtime: &Runtime,
    tenant: &TenantId,
    opts: &SweepOptions,
) -> Result<SweepReport, SweepError> {
    sweep_signalling(db, runtime, tenant, opts, None).await
}

/// [`sweep`], dropping `selected` (if any) once the sweep has selected its last page (or
/// failed, or stopped selecting).
pub(crate) async fn sweep_signalling(
    db: &dyn Db,
    runtime: &Runtime,
    tenant: &TenantId,
    opts: &SweepOptions,
    selected: Option<oneshot::Sender<()>>,
) -> Result<SweepReport, SweepError> {
    let span = tracing::info_span!("sweep", tenant_id = tenant.as_str(), as_of = %opts.as_of);
    let swept = run_sweep(db, runtime, tenant, opts, selected).instrument(span);
    match opts.record {
        None => swept.await,
        Some(started_by) => {
            let run = recorded::claim(db, tenant, opts, started_by)
                .await?
                .ok_or_else(|| SweepError::AlreadyRunning(tenant.as_str().to_owned()))?;
            recorded::record(db, tenant, run.id, opts, swept).await
        }
    }
}

async fn run_sweep(
    db: &dyn Db,
    runtime: &Runtime,
    tenant: &TenantId,
    opts: &SweepOptions,
    selected_all: Option<oneshot::Sender<()>>,
) -> Result<SweepReport, SweepError> {
    let began = Instant::now();
    let t = db
        .tenant(tenant)
        .await?
        .ok_or_else(|| SweepError::UnknownTenant(tenant.as_str().to_owned()))?;
    let guardrails = guardrail_settings(&t, &opts.limits)?;

    // Three stages run at once, a page apart: select page n+1 while page n is decided and
    // page n-1 written. Each page is still written in one transaction of its own.
    let (to_decide, mut selected) = mpsc::channel::<(Vec<DueInvoice>, LedgerMark)>(1);
    let (to_write, mut decided) = mpsc::channel::<decide::PageDone>(1);

    let select = async {
        let mut busy = Duration::ZERO;
        let mut interrupted = false;
        let mut query = DueQuery::new(opts.as_of);
        let mut limits = page_limits(opts.page_size, opts.ramp_up);
        let mut first = true;
        loop {
            if !first && opts.stopping() {
                interrupted = true;
                break;
            }
            first = false;
            let started = Instant::now();
            query.limit = limits.next().unwrap_or(opts.page_size);
            // Where the ledger stood before the page was read: the store drops the outcome
            // of an invoice that a ledger write (a payment, a dispute) changed since.
            let read_at = db.ledger_mark(tenant).await?;
            let page = db.due_for_review(tenant, &query).await?;
            busy += started.elapsed();
            if page.invoices.is_empty() {
                break;
            }
            if to_decide.send((page.invoices, read_at)).await.is_err() {
                break; // the decide stage failed; its error is the one to report
            }
            match page.next {
                Some(next) => query = query.after(next),
                None => break,
            }
        }
        drop(to_decide);
        drop(selected_all);
        Ok::<_, SweepError>((busy, interrupted))
    };

    let decide = async {
        let mut busy = Duration::ZERO;
        let mut interrupted = false;
        let mut stage = decide::Stage {
            versions: versions(db, runtime, &t).await?,
            handles: Vec::new(),
            mode: t.settings.failure_mode,
            guardrails,
            tally: Default::default(),
            workers: opts.workers,
            stop: opts.stop.clone(),
        };
        let mut first = true;
        while let Some((invoices, read_at)) = selected.recv().await {
            // On a stop, pages selected but not yet decided are dropped: nothing of them
            // was recorded, so the next sweep picks them up.
            if !first && opts.stopping() {
                interrupted = true;
                break;
            }
            first = false;
            let started = Instant::now();
            // Load any version a ladder on this page is pinned to.
            for due in &invoices {
                if let Some(v) = due.state.as_ref().and_then(|s| s.policy_version) {
                    ensure_loaded(db, runtime, tenant, &mut stage.versions, v).await?;
                }
            }
            let (next, mut done) = decide::page(stage, invoices).await?;
            done.read_at = Some(read_at);
            stage = next;
            busy += started.elapsed();
            if to_write.send(done).await.is_err() {
                break; // the writer failed; its error is the one to report
            }
            // A stop during the page cut it short: what was decided is written, the rest is
            // left for the next sweep. The loop goes on receiving, so that the select stage
            // is never left waiting to hand over a page; the check above drops it.
            if opts.stopping() {
                interrupted = true;
            }
        }
        drop(to_write);
        Ok::<_, SweepError>((busy, interrupted))
    };

    // Pages are written as they come, up to `lanes` at once (PostgreSQL: two; SQLite, one
    // writer: one). Each page is one transaction, so their order does not matter: pages are
    // disjoint, and a page not written is picked up by the next sweep.
    let write = async {
        let mut report = SweepReport::default();
        let lanes = db.write_lanes().max(1);
        let mut writing = FuturesUnordered::new();
        let mut busy_since: Option<Instant> = None;
        let mut more = true;
        loop {
            tokio::select! {
                page = decided.recv(), if more && writing.len() < lanes => {
                    let Some(done) = page else {
                        more = false;
                        continue;
                    };
                    report.reviewed += done.reviewed;
                    report.failures += done.failures;
                    report.shadow_failures += done.shadow_failures;
                    done.figures.record(tenant);
                    if opts.dry_run {
                        report.blocked += done.blocked;
                        report.actions += done.actions;
                    } else {
                        busy_since.get_or_insert_with(Instant::now);
                        writing.push(db.record_encoded(tenant, done.outcomes, done.read_at));
                    }
                }
                Some(written) = writing.next(), if !writing.is_empty() => {
                    // What the store wrote, which another sweep of the tenant recording
                    // first or a ledger write meanwhile make less than what was decided.
                    let written = written?;
                    report.shadowed += written.shadowed;
                    report.recorded += written.recorded;
                    report.skipped += written.skipped;
                    report.stale += written.stale;
                    report.actions += written.actions;
                    report.blocked += written.blocked;
                    if writing.is_empty() {
                        report.write += busy_since.take().map_or(Duration::ZERO, |t| t.elapsed());
                    }
                    tracing::debug!(recorded = report.recorded, "page written");
                }
                else => break,
            }
        }
        Ok::<_, SweepError>(report)
    };

    let ((select, select_stopped), (decide, decide_stopped), mut report) =
        tokio::try_join!(select, decide, write)?;
    report.select = select;
    report.decide = decide;
    report.interrupted = select_stopped || decide_stopped;
    figures::record_sweep(tenant, &report, began.elapsed());
    if !opts.dry_run {
        tracing::info!(
            reviewed = report.reviewed,
            recorded = report.recorded,
            stale = report.stale,
            failures = report.failures,
            "sweep done"
        );
    }
    Ok(report)
}

/// The sizes of a sweep's pages: with `ramp_up`, small first, doubling up to `page_size`.
/// Until the first page is selected and decided the writer has nothing to do; with full
/// pages from the start that wait, once per tenant, was a fifth of a sweep of 1M invoices in
/// 100 tenants swept one after another. Without `ramp_up`, full pages from the start.
fn page_limits(page_size: u32, ramp_up: bool) -> impl Iterator<Item = u32> {
    let full = page_size.max(1);
    let first = if ramp_up { (full / 16).max(1) } else { full };
    std::iter::successors(Some(first), move |&n| Some(n.saturating_mul(2).min(full)))
}

fn guardrail_settings(
    t: &Tenant,
    limits: &OperatorLimits,
) -> Result<GuardrailSettings, SweepError> {
    GuardrailSettings::from_json(&t.settings.guardrails, limits).map_err(|e| {
        SweepError::Guardrails {
            tenant: t.id.as_str().to_owned(),
            message: e.to_string(),
        }
    })
}

async fn versions(db: &dyn Db, runtime: &Runtime, t: &Tenant) -> Result<Versions, SweepError> {
    let (tenant, mode) = (&t.id, t.settings.failure_mode);
    let listed = db.policy_versions(tenant).await?;
    let active = listed
        .iter()
        .find(|v| v.status == PolicyStatus::Active)
        .map(|v| v.version)
        .ok_or_else(|| SweepError::NoActivePolicy(tenant.as_str().to_owned()))?;
    // Only the `previous-version` failure mode asks the previous version; other tenants
    // neither load it nor call it for their failed invoices.
    let previous = match mode {
        FailureMode::PreviousVersion => dunlin_store::previously_active(&listed).map(|v| v.version),
        FailureMode::RetryNextTick | FailureMode::SafeDefault => None,
    };
    // One read per sweep, none per page. A trial of the active version (activated by hand
    // since) compares the version with itself: it is left out.
    let trials = db.policy_trials(tenant).await?;
    let mut versions = Versions {
        tenant: tenant.clone(),
        active,
        previous,
        shadow: trials.shadow.map(|s| s.version).filter(|&v| v != active),
        canary: trials.canary.filter(|c| c.version != active),
        loaded: BTreeMap::new(),
        limits: runtime.limits().for_tenant(&t.settings.sandbox),
    };
    let trial_versions = versions
        .shadow
        .into_iter()
        .chain(versions.canary.as_ref().map(|c| c.version));
    for v in [Some(active), previous]
        .into_iter()
        .flatten()
        .chain(trial_versions.collect::<Vec<_>>())
    {
        ensure_loaded(db, runtime, tenant, &mut versions, v).await?;
    }
    Ok(versions)
}

async fn ensure_loaded(
    db: &dyn Db,
    runtime: &Runtime,
    tenant: &TenantId,
    versions: &mut Versions,
    version: u32,
) -> Result<(), SweepError> {
    if versions.loaded.contains_key(&version) {
        return Ok(());
    }
    let blob = db
        .policy_blob(tenant, version)
        .await?
        .ok_or_else(|| SweepError::Policy {
            tenant: tenant.as_str().to_owned(),
            version,
            source: LoadError::Compile("the stored version is missing".into()),
        })?;
    let policy = runtime
        .load_with(&blob.bytes, versions.limits)
        .map_err(|source| SweepError::Policy {
            tenant: tenant.as_str().to_owned(),
            version,
            source,
        })?;
    versions.loaded.insert(version, Version { policy });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::page_limits;

    #[test]
    fn ramping_up_pages_start_small_and_double_up_to_the_page_size() {
        let first: Vec<u32> = page_limits(2000, true).take(7).collect();
        assert_eq!(first, [125, 250, 500, 1000, 2000, 2000, 2000]);
        assert_eq!(
            page_limits(10, true).take(5).collect::<Vec<_>>(),
            [1, 2, 4, 8, 10]
        );
        assert_eq!(page_limits(0, true).take(2).collect::<Vec<_>>(), [1, 1]);
    }

    #[test]
    fn without_ramping_up_every_page_is_full() {
        assert_eq!(
            page_limits(2000, false).take(3).collect::<Vec<_>>(),
            [2000, 2000, 2000]
        );
        assert_eq!(page_limits(0, false).take(2).collect::<Vec<_>>(), [1, 1]);
    }
}
