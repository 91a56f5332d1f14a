//! Sweeps with a record: each writes a sweep run (when, as-of, who started it, its figures).
//! The daemon's and the API's also hold the tenant's sweep lock while they run, so that the
//! daemon's tick and the API never sweep one tenant twice at once, in one process or across
//! replicas. `dunlin sweep` by hand is recorded but takes no lock: an operator who killed a
//! sweep runs it again at once (sweeps are idempotent, so one beside another writes nothing
//! twice). A running sweep beats every [`HEARTBEAT`]; one whose beat is older than
//! [`STALE_AFTER`] (its process died) holds the tenant no longer.

use std::future::Future;
use std::time::Duration;

use dunlin_core::text::Escaped;
use dunlin_runtime::Runtime;
use dunlin_store::{
    Db, NewSweepRun, StoreError, SweepFigures, SweepRun, SweepStatus, SweepTrigger, TenantId,
};

use crate::{SweepError, SweepOptions, SweepReport};

/// How often a running sweep notes that it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(20);
/// How long after its last beat a running sweep is taken for dead.
pub const STALE_AFTER: Duration = Duration::from_secs(120);

/// Records the run starting and, unless `started_by` is the CLI, takes the tenant's sweep
/// lock; `None` if the lock is held. Hand the run to [`run_claimed`].
pub async fn claim(
    db: &dyn Db,
    tenant: &TenantId,
    opts: &SweepOptions,
    started_by: SweepTrigger,
) -> Result<Option<SweepRun>, StoreError> {
    let stale_before = chrono::Utc::now()
        - chrono::Duration::from_std(STALE_AFTER).expect("two minutes fit a chrono duration");
    let run = NewSweepRun {
        as_of: opts.as_of,
        dry_run: opts.dry_run,
        started_by,
    };
    let replica = opts.replica.as_ref().map(|r| r.id());
    db.start_sweep_run_as(tenant, &run, stale_before, replica)
        .await
}

/// Runs the sweep of a claimed run (`opts.record` is ignored: the run is claimed), beating
/// while it runs, and records how it ended (its figures, or why it failed), which releases
/// the tenant.
pub async fn run_claimed(
    db: &dyn Db,
    runtime: &Runtime,
    tenant: &TenantId,
    run: &SweepRun,
    opts: &SweepOptions,
) -> Result<SweepReport, SweepError> {
    let opts = SweepOptions {
        record: None,
        ..opts.clone()
    };
    record(
        db,
        tenant,
        run.id,
        &opts,
        crate::sweep(db, runtime, tenant, &opts),
    )
    .await
}

/// `sweep` under the claimed run `id`: beats while it runs (and shows in the heartbeat of
/// `opts.replica`, if any), then records how it ended.
pub(crate) async fn record(
    db: &dyn Db,
    tenant: &TenantId,
    id: i64,
    opts: &SweepOptions,
    sweep: impl Future<Output = Result<SweepReport, SweepError>>,
) -> Result<SweepReport, SweepError> {
    let _shown = opts
        .replica
        .as_deref()
        .map(|r| r.sweeping(tenant, opts.as_of));
    let swept = beating(db, tenant, id, sweep).await;
    finish(db, tenant, id, &swept).await;
    swept
}

/// `sweep` to its end, noting every [`HEARTBEAT`] that the run `id` is alive. A beat that
/// fails is logged: the sweep goes on, and at worst its lock is taken for stale.
async fn beating<T>(db: &dyn Db, tenant: &TenantId, id: i64, sweep: impl Future<Output = T>) -> T {
    let mut sweep = std::pin::pin!(sweep);
    let mut beat = tokio::time::interval(HEARTBEAT);
    beat.tick().await;
    loop {
        tokio::select! {
            done = &mut sweep => return done,
            _ = beat.tick() => {
                if let Err(e) = db.heartbeat_sweep_run(tenant, id).await {
                    tracing::warn!(tenant_id = tenant.as_str(), run_id = id, error = %Escaped(&causes(&e)), "sweep heartbeat failed");
                }
            }
        }
    }
}

/// Records how the run `id` ended. A failure to record is logged, not returned: the sweep's
/// own result matters more, and the lock lapses after [`STALE_AFTER`].
async fn finish(db: &dyn Db, tenant: &TenantId, id: i64, swept: &Result<SweepReport, SweepError>) {
    let (status, figures, error) = match swept {
        Ok(report) => (
            if report.interrupted {
                SweepStatus::Interrupted
            } else {
                SweepStatus::Done
            },
            figures(report),
            None,
        ),
        Err(e) => (
            SweepStatus::Failed,
            SweepFigures::default(),
            Some(causes(e)),
        ),
    };
    if let Err(e) = db
        .finish_sweep_run(tenant, id, status, &figures, error.as_deref())
        .await
    {
        tracing::error!(tenant_id = tenant.as_str(), run_id = id, error = %Escaped(&causes(&e)), "recording the end of a sweep failed");
    }
}

fn figures(r: &SweepReport) -> SweepFigures {
    let n = |v: usize| v as u64;
    SweepFigures {
        reviewed: n(r.reviewed),
        recorded: n(r.recorded),
        skipped: n(r.skipped),
        stale: n(r.stale),
        failures: n(r.failures),
        actions: n(r.actions),
        blocked: n(r.blocked),
    }
}

/// An error with its causes, `outer: inner: …`.
pub(crate) fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
