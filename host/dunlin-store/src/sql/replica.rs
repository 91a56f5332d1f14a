//! Replicas (`crate::replica`): registration, heartbeats, shutdown, and the leases each
//! holds. Replicas are the operator's, not a tenant's: these statements read and write the
//! `replicas` table across tenants, and the lease listing reads every tenant's running sweeps
//! and leased actions, for the operator's view only.

use chrono::{DateTime, Utc};
use dunlin_core::text::truncate;

use super::{get, Row, This};
use crate::codec::{narrow, now};
use crate::error::QueryContext;
use crate::replica::{
    stale_before, ActionLeases, Leases, Registered, ReplicaRow, SweepLease, MAX_DOING_BYTES,
};
use crate::tenant::TenantId;
use crate::{Result, StoreError};

const COLUMNS: &str = "id, started_at, heartbeat_at, stopped_at, doing";

fn replica_from_row(row: &Row) -> Result<ReplicaRow> {
    Ok(ReplicaRow {
        id: get(row, "id")?,
        started_at: get(row, "started_at")?,
        heartbeat_at: get(row, "heartbeat_at")?,
        stopped_at: get(row, "stopped_at")?,
        doing: get(row, "doing")?,
    })
}

fn tenant_of(row: &Row) -> Result<TenantId> {
    let id: String = get(row, "tenant_id")?;
    TenantId::new(&id).map_err(|_| StoreError::Corrupt {
        what: "tenant id",
        detail: format!("{id:?}"),
    })
}

pub(super) async fn register_replica(db: &This, id: &str, exclusive: bool) -> Result<Registered> {
    let mut tx = db.begin_write().await?;
    let at = now();
    if exclusive {
        let sql = format!(
            "SELECT {COLUMNS} FROM replicas WHERE stopped_at IS NULL AND heartbeat_at >= $1 \
             ORDER BY heartbeat_at DESC LIMIT 1"
        );
        let live = sqlx::query(&sql)
            .bind(stale_before(at))
            .fetch_optional(&mut *tx)
            .await
            .ctx("look for a live replica")?;
        if let Some(row) = live {
            let other = replica_from_row(&row)?;
            tx.commit().await.ctx("end the replica check")?;
            return Ok(Registered::Refused(other));
        }
    }
    let sql = format!(
        "INSERT INTO replicas (id, started_at, heartbeat_at, doing) VALUES ($1, $2, $2, 'idle') \
         RETURNING {COLUMNS}"
    );
    let row = sqlx::query(&sql)
        .bind(truncate(id, MAX_DOING_BYTES).as_ref())
        .bind(at)
        .fetch_one(&mut *tx)
        .await
        .ctx("register replica")?;
    let replica = replica_from_row(&row)?;
    tx.commit().await.ctx("commit replica")?;
    Ok(Registered::Yes(replica))
}

pub(super) async fn heartbeat_replica(db: &This, id: &str, doing: &str) -> Result<()> {
    sqlx::query("UPDATE replicas SET heartbeat_at = $2, doing = $3 WHERE id = $1")
        .bind(id)
        .bind(now())
        .bind(truncate(doing, MAX_DOING_BYTES).as_ref())
        .execute(&db.pool)
        .await
        .ctx("beat replica")?;
    Ok(())
}

pub(super) async fn stop_replica(db: &This, id: &str) -> Result<()> {
    let at = now();
    sqlx::query(
        "UPDATE replicas SET stopped_at = $2, heartbeat_at = $2, doing = 'stopped' WHERE id = $1",
    )
    .bind(id)
    .bind(at)
    .execute(&db.pool)
    .await
    .ctx("stop replica")?;
    Ok(())
}

pub(super) async fn replicas(db: &This, since: DateTime<Utc>) -> Result<Vec<ReplicaRow>> {
    let sql =
        format!("SELECT {COLUMNS} FROM replicas WHERE heartbeat_at >= $1 ORDER BY started_at, id");
    sqlx::query(&sql)
        .bind(since)
        .fetch_all(&db.pool)
        .await
        .ctx("list replicas")?
        .iter()
        .map(replica_from_row)
        .collect()
}

pub(super) async fn leases(db: &This) -> Result<Leases> {
    let at = now();
    let sweeps = sqlx::query(
        "SELECT tenant_id, id, as_of, replica, heartbeat_at FROM sweep_runs \
         WHERE status = 'running' ORDER BY tenant_id, id",
    )
    .fetch_all(&db.pool)
    .await
    .ctx("list running sweeps")?
    .iter()
    .map(|row| {
        Ok(SweepLease {
            tenant: tenant_of(row)?,
            run_id: get(row, "id")?,
            as_of: get(row, "as_of")?,
            replica: get(row, "replica")?,
            heartbeat_at: get(row, "heartbeat_at")?,
        })
    })
    .collect::<Result<Vec<_>>>()?;
    let actions = sqlx::query(
        "SELECT tenant_id, lease_owner, COUNT(*) AS n, MAX(lease_until) AS until FROM actions \
         WHERE lease_owner IS NOT NULL AND lease_until > $1 AND status = 'pending' \
         GROUP BY tenant_id, lease_owner ORDER BY tenant_id, lease_owner",
    )
    .bind(at)
    .fetch_all(&db.pool)
    .await
    .ctx("list leased actions")?
    .iter()
    .map(|row| {
        Ok(ActionLeases {
            tenant: tenant_of(row)?,
            owner: get(row, "lease_owner")?,
            actions: narrow("n", get::<i64>(row, "n")?)?,
            until: get(row, "until")?,
        })
    })
    .collect::<Result<Vec<_>>>()?;
    Ok(Leases { sweeps, actions })
}
