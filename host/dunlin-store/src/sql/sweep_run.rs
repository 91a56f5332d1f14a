//! Sweep runs: the record of every sweep, and the tenant's sweep lock (one `running` row per
//! tenant, held by a partial unique index).

use chrono::{DateTime, Utc};
use dunlin_core::text::truncate;

use super::tenant::is_unique_violation;
use super::{get, require_tenant, Row, This};
use crate::codec::{self, narrow, now, to_i64};
use crate::error::QueryContext;
use crate::sweep_run::{NewSweepRun, SweepFigures, SweepRun, SweepStatus, MAX_ERROR_BYTES};
use crate::tenant::TenantId;
use crate::Result;

const COLUMNS: &str = "id, as_of, dry_run, started_by, status, started_at, finished_at, \
                       reviewed, recorded, skipped, stale, failures, actions, blocked, error, \
                       replica";

fn count(row: &Row, column: &'static str) -> Result<u64> {
    narrow(column, get::<i64>(row, column)?)
}

fn run_from_row(row: &Row) -> Result<SweepRun> {
    Ok(SweepRun {
        id: get(row, "id")?,
        as_of: get(row, "as_of")?,
        dry_run: get(row, "dry_run")?,
        started_by: codec::parse_name("sweep trigger", &get::<String>(row, "started_by")?)?,
        status: codec::parse_name("sweep status", &get::<String>(row, "status")?)?,
        started_at: get(row, "started_at")?,
        finished_at: get(row, "finished_at")?,
        figures: SweepFigures {
            reviewed: count(row, "reviewed")?,
            recorded: count(row, "recorded")?,
            skipped: count(row, "skipped")?,
            stale: count(row, "stale")?,
            failures: count(row, "failures")?,
            actions: count(row, "actions")?,
            blocked: count(row, "blocked")?,
        },
        error: get(row, "error")?,
        replica: get(row, "replica")?,
    })
}

pub(super) async fn start_sweep_run(
    db: &This,
    tenant: &TenantId,
    run: &NewSweepRun,
    stale_before: DateTime<Utc>,
    replica: Option<&str>,
) -> Result<Option<SweepRun>> {
    let mut tx = db.begin_write().await?;
    require_tenant(&mut tx, tenant).await?;
    // A running row whose process stopped beating holds the lock no longer; nor does one
    // whose replica is dead or stopped, which is known sooner (`crate::replica`).
    sqlx::query(
        "UPDATE sweep_runs SET status = 'abandoned' \
         WHERE tenant_id = $1 AND status = 'running' AND (heartbeat_at < $2 \
         OR replica IN (SELECT id FROM replicas \
         WHERE stopped_at IS NOT NULL OR heartbeat_at < $3))",
    )
    .bind(tenant.as_str())
    .bind(stale_before)
    .bind(crate::replica::stale_before(now()))
    .execute(&mut *tx)
    .await
    .ctx("abandon stale sweep run")?;
    let started_at = now();
    let sql = format!(
        "INSERT INTO sweep_runs (tenant_id, as_of, dry_run, started_by, status, started_at, \
         heartbeat_at, replica) VALUES ($1, $2, $3, $4, 'running', $5, $5, $6) \
         RETURNING {COLUMNS}"
    );
    let inserted = sqlx::query(&sql)
        .bind(tenant.as_str())
        .bind(run.as_of)
        .bind(run.dry_run)
        .bind(run.started_by.as_str())
        .bind(started_at)
        .bind(replica)
        .fetch_one(&mut *tx)
        .await;
    match inserted {
        Ok(row) => {
            let run = run_from_row(&row)?;
            tx.commit().await.ctx("commit sweep run")?;
            Ok(Some(run))
        }
        // Another sweep of the tenant holds the lock.
        Err(e) if is_unique_violation(&e) => Ok(None),
        Err(e) => Err(e).ctx("start sweep run"),
    }
}

pub(super) async fn heartbeat_sweep_run(db: &This, tenant: &TenantId, id: i64) -> Result<()> {
    sqlx::query(
        "UPDATE sweep_runs SET heartbeat_at = $3 \
         WHERE tenant_id = $1 AND id = $2 AND status = 'running'",
    )
    .bind(tenant.as_str())
    .bind(id)
    .bind(now())
    .execute(&db.pool)
    .await
    .ctx("beat sweep run")?;
    Ok(())
}

pub(super) async fn finish_sweep_run(
    db: &This,
    tenant: &TenantId,
    id: i64,
    status: SweepStatus,
    figures: &SweepFigures,
    error: Option<&str>,
) -> Result<()> {
    let at = now();
    sqlx::query(
        "UPDATE sweep_runs SET status = $3, finished_at = $4, heartbeat_at = $4, \
         reviewed = $5, recorded = $6, skipped = $7, stale = $8, failures = $9, actions = $10, \
         blocked = $11, error = $12 WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant.as_str())
    .bind(id)
    .bind(status.as_str())
    .bind(at)
    .bind(to_i64(figures.reviewed))
    .bind(to_i64(figures.recorded))
    .bind(to_i64(figures.skipped))
    .bind(to_i64(figures.stale))
    .bind(to_i64(figures.failures))
    .bind(to_i64(figures.actions))
    .bind(to_i64(figures.blocked))
    .bind(error.map(|e| truncate(e, MAX_ERROR_BYTES).into_owned()))
    .execute(&db.pool)
    .await
    .ctx("finish sweep run")?;
    Ok(())
}

pub(super) async fn sweep_runs(
    db: &This,
    tenant: &TenantId,
    before: Option<i64>,
    limit: u32,
) -> Result<Vec<SweepRun>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM sweep_runs WHERE tenant_id = $1 AND id < $2 \
         ORDER BY id DESC LIMIT $3"
    );
    sqlx::query(&sql)
        .bind(tenant.as_str())
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&db.pool)
        .await
        .ctx("list sweep runs")?
        .iter()
        .map(run_from_row)
        .collect()
}

pub(super) async fn sweep_run(db: &This, tenant: &TenantId, id: i64) -> Result<Option<SweepRun>> {
    let sql = format!("SELECT {COLUMNS} FROM sweep_runs WHERE tenant_id = $1 AND id = $2");
    sqlx::query(&sql)
        .bind(tenant.as_str())
        .bind(id)
        .fetch_optional(&db.pool)
        .await
        .ctx("read sweep run")?
        .as_ref()
        .map(run_from_row)
        .transpose()
}
