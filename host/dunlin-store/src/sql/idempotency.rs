//! The API's idempotency keys (see `crate::idempotency`).

use super::{get, require_tenant, This};
use crate::codec::{narrow, now};
use crate::error::QueryContext;
use crate::idempotency::{IdempotencyClaim, IdempotentRequest, MAX_KEY_BYTES};
use crate::tenant::TenantId;
use crate::{Result, StoreError};

fn check_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(StoreError::Invalid {
            what: "idempotency key",
            id: dunlin_core::text::truncate(key, 64).into_owned(),
            problem: format!("must be 1 to {MAX_KEY_BYTES} bytes"),
        });
    }
    Ok(())
}

pub(super) async fn claim(
    db: &This,
    tenant: &TenantId,
    request: &IdempotentRequest<'_>,
) -> Result<IdempotencyClaim> {
    check_key(request.key)?;
    let mut tx = db.begin_write().await?;
    require_tenant(&mut tx, tenant).await?;
    // Expired keys go first, so an expired key is free again and the table stays bounded.
    sqlx::query("DELETE FROM api_idempotency WHERE tenant_id = $1 AND expires_at <= $2")
        .bind(tenant.as_str())
        .bind(request.now)
        .execute(&mut *tx)
        .await
        .ctx("expire idempotency keys")?;
    let inserted = sqlx::query(
        "INSERT INTO api_idempotency (tenant_id, route, key, request_sha256, created_at, \
         expires_at) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (tenant_id, route, key) DO NOTHING",
    )
    .bind(tenant.as_str())
    .bind(request.route)
    .bind(request.key)
    .bind(request.request_sha256)
    .bind(now())
    .bind(request.now + request.ttl)
    .execute(&mut *tx)
    .await
    .ctx("claim an idempotency key")?
    .rows_affected();
    let claim = if inserted == 1 {
        IdempotencyClaim::Claimed
    } else {
        let row = sqlx::query(
            "SELECT request_sha256, status, body FROM api_idempotency \
             WHERE tenant_id = $1 AND route = $2 AND key = $3",
        )
        .bind(tenant.as_str())
        .bind(request.route)
        .bind(request.key)
        .fetch_one(&mut *tx)
        .await
        .ctx("read an idempotency key")?;
        let same_request = get::<String>(&row, "request_sha256")? == request.request_sha256;
        match (
            get::<Option<i32>>(&row, "status")?,
            get::<Option<String>>(&row, "body")?,
        ) {
            (Some(status), Some(body)) => IdempotencyClaim::Done {
                same_request,
                status: narrow("idempotent response status", i64::from(status))?,
                body,
            },
            _ => IdempotencyClaim::InProgress { same_request },
        }
    };
    tx.commit().await.ctx("commit an idempotency key")?;
    Ok(claim)
}

pub(super) async fn finish(
    db: &This,
    tenant: &TenantId,
    route: &str,
    key: &str,
    status: u16,
    body: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE api_idempotency SET status = $4, body = $5 \
         WHERE tenant_id = $1 AND route = $2 AND key = $3",
    )
    .bind(tenant.as_str())
    .bind(route)
    .bind(key)
    .bind(i32::from(status))
    .bind(body)
    .execute(&db.pool)
    .await
    .ctx("keep an idempotent response")?;
    Ok(())
}

pub(super) async fn release(db: &This, tenant: &TenantId, route: &str, key: &str) -> Result<()> {
    sqlx::query(
        "DELETE FROM api_idempotency WHERE tenant_id = $1 AND route = $2 AND key = $3 \
         AND status IS NULL",
    )
    .bind(tenant.as_str())
    .bind(route)
    .bind(key)
    .execute(&db.pool)
    .await
    .ctx("release an idempotency key")?;
    Ok(())
}
