//! The daemon loop: sleep until the next tick of any tenant, sweep the tenants whose tick is
//! due, repeat. Ticks missed while the daemon was down run once on start (the latest of
//! them), never once per missed tick. One tenant's failure never stops another's sweep, and
//! a store that fails (a restart, a cut connection, a lock) is waited for with backoff and
//! logged: only shutdown ends the loop.

use std::collections::HashMap;
use std::time::Duration;

use dunlin_core::guardrails::OperatorLimits;
use dunlin_core::text::Escaped;
use dunlin_core::Clock;
use dunlin_runtime::Runtime;
use dunlin_scheduler::{next_wakeup, Schedule};
use dunlin_store::{Db, SweepTrigger, TenantId};
use tokio_util::sync::CancellationToken;

use futures_util::stream::StreamExt;

use crate::recorded::causes;
use crate::{sweep_many, SweepError, SweepOptions};

/// The longest the daemon sleeps before looking at the tenant list again (new tenants,
/// changed schedules).
const RESCAN: Duration = Duration::from_secs(60);

/// How the daemon runs beside other replicas.
#[derive(Clone, Debug)]
pub struct Daemon {
    /// This process as a replica: named on its sweep runs, told what it sweeps.
    pub replica: Option<std::sync::Arc<crate::replica::Replica>>,
    /// The longest wait between passes (new tenants, changed schedules, a tick another
    /// replica left unmarked).
    pub rescan: Duration,
}

impl Default for Daemon {
    fn default() -> Self {
        Daemon {
            replica: None,
            rescan: RESCAN,
        }
    }
}

/// Runs until `shutdown` is cancelled; then finishes the policy calls under way, writes what
/// they decided and returns. Store failures are retried, never returned. Every tenant's
/// guardrail settings are checked against the operator's `limits`. The same token stops the
/// loop's waits and, handed to every sweep, its deciding workers.
pub async fn serve(
    db: &dyn Db,
    runtime: &Runtime,
    clock: &dyn Clock,
    limits: &OperatorLimits,
    shutdown: CancellationToken,
) -> Result<(), SweepError> {
    serve_as(db, runtime, clock, limits, shutdown, &Daemon::default()).await
}

/// [`serve`] as `daemon` says. Replicas share the work through the tenant's sweep lock: a
/// tick whose tenant another replica is sweeping is not marked here, and that replica marks
/// it when its sweep ends; if it dies first, its lock lapses (`dunlin_store::replica`) and a
/// later pass of any replica sweeps the tick.
pub async fn serve_as(
    db: &dyn Db,
    runtime: &Runtime,
    clock: &dyn Clock,
    limits: &OperatorLimits,
    shutdown: CancellationToken,
    daemon: &Daemon,
) -> Result<(), SweepError> {
    let mut backoff = Backoff::default();
    loop {
        if shutdown.is_cancelled() {
            return Ok(());
        }
        let mut schedules: Vec<(TenantId, Schedule)> = Vec::new();
        let mut due = Vec::new();
        // The store can be away for a while (a database restart, a cut connection, a
        // moment of `database is locked`): the daemon waits and tries again, and only a
        // shutdown ends it.
        let tenants = match db.tenants().await {
            Ok(tenants) => tenants,
            Err(e) => {
                let wait = backoff.next();
                tracing::error!(error = %Escaped(&causes(&e)), retry_in_ms = wait.as_millis() as u64, "listing tenants failed");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => continue,
                    _ = shutdown.cancelled() => return Ok(()),
                }
            }
        };
        for t in tenants {
            let schedule = match Schedule::parse(&t.settings.schedule, &t.settings.time_zone) {
                Ok(s) => s,
                Err(e) => {
                    // The schedule is the tenant's text: logged escaped.
                    let error = e.to_string();
                    tracing::error!(tenant_id = t.id.as_str(), error = %Escaped(&error), "bad schedule; tenant skipped");
                    continue;
                }
            };
            // A tenant that never ran starts from its creation, not from all of history.
            let last = t.last_tick_at.unwrap_or(t.created_at);
            if let Some(tick) = schedule.due_tick(Some(last), clock.now()) {
                let as_of = schedule.as_of_date(tick);
                let opts = SweepOptions {
                    stop: shutdown.clone(),
                    limits: limits.clone(),
                    record: Some(SweepTrigger::Schedule),
                    replica: daemon.replica.clone(),
                    ..SweepOptions::new(as_of)
                };
                due.push((t.id.clone(), tick, opts));
            }
            schedules.push((t.id, schedule));
        }
        // The due tenants' sweeps overlap at the seams (`sweep_many`); each tick is marked
        // as its sweep ends. Once shutdown is cancelled, no further sweep starts.
        let mut ticks: HashMap<TenantId, _> = due
            .iter()
            .map(|(id, tick, o)| (id.clone(), (*tick, o.as_of)))
            .collect();
        let jobs = due.into_iter().map(|(id, _, opts)| (id, opts));
        let mut swept = std::pin::pin!(sweep_many(db, runtime, jobs));
        // Whether the store failed during this pass: the next one comes after a backoff.
        let mut failed_pass = false;
        while let Some((tenant, result)) = swept.next().await {
            // Each result names its tenant, one of the jobs given (each tenant once).
            let Some((tick, as_of)) = ticks.remove(&tenant) else {
                tracing::error!(
                    tenant_id = tenant.as_str(),
                    "a sweep of a tenant not asked for"
                );
                continue;
            };
            match result {
                Ok(report) if !report.interrupted => {
                    // Unmarked, the tick is due again at the next pass; the sweep then
                    // finds its invoices decided and writes nothing twice.
                    if let Err(e) = db.mark_tick(&tenant, tick).await {
                        tracing::error!(tenant_id = tenant.as_str(), %as_of, error = %Escaped(&causes(&e)), "marking the tick failed");
                        failed_pass = true;
                    }
                }
                // Stopped by shutdown, not marked; the sweep beside it (if any) stops too,
                // and no other starts.
                Ok(_) => {}
                // Another sweep of the tenant (the API's, another replica's) is running: not
                // marked, so the tick runs at a later pass, once that sweep has ended.
                Err(SweepError::AlreadyRunning(_)) => {
                    // Usual beside other replicas, so not a warning.
                    tracing::info!(tenant_id = tenant.as_str(), %as_of, "a sweep of the tenant is running already; the tick waits for the next pass");
                }
                // Not marked: the tick is retried at the next pass.
                Err(e) => {
                    failed_pass |= matches!(e, SweepError::Store(_));
                    // A load error can quote names the tenant's component chose.
                    tracing::error!(tenant_id = tenant.as_str(), %as_of, error = %Escaped(&causes(&e)), "sweep failed");
                }
            }
        }
        if shutdown.is_cancelled() {
            return Ok(());
        }
        let now = clock.now();
        let next = if failed_pass {
            backoff.next()
        } else {
            backoff = Backoff::default();
            next_wakeup(schedules.iter().map(|(k, s)| (k, s)), now)
                .map(|(at, _)| (at - now).to_std().unwrap_or_default())
                .unwrap_or(daemon.rescan)
                .min(daemon.rescan)
        };
        tokio::select! {
            _ = tokio::time::sleep(next) => {}
            _ = shutdown.cancelled() => return Ok(()),
        }
    }
}

/// The waits between tries while the store fails: 1 s, doubling to 60 s, each with up to a
/// quarter more so that replicas do not retry in step.
#[derive(Default)]
struct Backoff {
    failures: u32,
}

impl Backoff {
    fn next(&mut self) -> Duration {
        let base = Duration::from_secs(1 << self.failures.min(6)).min(Duration::from_secs(60));
        self.failures = self.failures.saturating_add(1);
        // The clock's nanoseconds spread the retries well enough.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        base + base.mul_f64(f64::from(nanos % 1000) / 4000.0)
    }
}
