//! Tenants, their API keys and their policy versions.

use chrono::{DateTime, SubsecRound, Utc};
use sha2::{Digest, Sha256};

use super::{get, require_tenant, Driver, Row, This};
use crate::api_key::{self, ApiKeyRow};
use crate::codec::{self, from_json, json, narrow, now};
use crate::error::QueryContext;
use crate::tenant::{
    FailureMode, PolicyBlob, PolicyStatus, PolicyVersion, Tenant, TenantId, TenantSettings,
};
use crate::{validate, Result, StoreError};

const TENANT_COLUMNS: &str = "id, name, time_zone, schedule, guardrails, failure_mode, params, \
                              lead_days, delivery, sandbox, last_tick_at, created_at";

fn tenant_from_row(row: &Row) -> Result<Tenant> {
    let id: String = get(row, "id")?;
    let failure_mode: String = get(row, "failure_mode")?;
    Ok(Tenant {
        id: TenantId::new(&id).map_err(|_| StoreError::Corrupt {
            what: "tenant id",
            detail: format!("{id:?}"),
        })?,
        settings: TenantSettings {
            name: get(row, "name")?,
            time_zone: get(row, "time_zone")?,
            schedule: get(row, "schedule")?,
            guardrails: from_json("tenant guardrails", &get::<String>(row, "guardrails")?)?,
            failure_mode: failure_mode.parse::<FailureMode>().map_err(|detail| {
                StoreError::Corrupt {
                    what: "tenant failure mode",
                    detail,
                }
            })?,
            params: from_json("tenant params", &get::<String>(row, "params")?)?,
            lead_days: narrow("tenant lead days", get::<i64>(row, "lead_days")?)?,
            delivery: from_json("tenant delivery settings", &get::<String>(row, "delivery")?)?,
            sandbox: from_json("tenant sandbox limits", &get::<String>(row, "sandbox")?)?,
        },
        last_tick_at: get(row, "last_tick_at")?,
        created_at: get(row, "created_at")?,
    })
}

const POLICY_COLUMNS: &str = "version, sha256, CAST(LENGTH(bytes) AS BIGINT) AS size, status, \
                              created_at, activated_at";

fn policy_from_row(row: &Row) -> Result<PolicyVersion> {
    Ok(PolicyVersion {
        version: narrow("policy version", get::<i64>(row, "version")?)?,
        sha256: get(row, "sha256")?,
        size: narrow("policy size", get::<i64>(row, "size")?)?,
        status: codec::parse_name("policy status", &get::<String>(row, "status")?)?,
        created_at: get(row, "created_at")?,
        activated_at: get(row, "activated_at")?,
    })
}

/// Which of a tenant's policy versions a lookup finds.
#[derive(Clone, Copy)]
pub(super) enum Which<'a> {
    /// The active one.
    Active,
    /// The one with this number.
    Version(u32),
    /// The one whose component has this sha256.
    Sha256(&'a str),
}

/// Whether a lookup reads the component's bytes too.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Bytes {
    With,
    Without,
}

/// The one lookup of a tenant's policy version, on the pool or inside a transaction: its
/// row, with [`POLICY_COLUMNS`] and, if asked, `bytes`.
async fn policy_row<'e>(
    executor: impl sqlx::Executor<'e, Database = Driver>,
    tenant: &TenantId,
    which: Which<'_>,
    bytes: Bytes,
    op: &'static str,
) -> Result<Option<Row>> {
    let condition = match which {
        Which::Active => "status = 'active'",
        Which::Version(_) => "version = $2",
        Which::Sha256(_) => "sha256 = $2",
    };
    let bytes_column = if bytes == Bytes::With { ", bytes" } else { "" };
    let sql = format!(
        "SELECT {POLICY_COLUMNS}{bytes_column} FROM policy_versions \
         WHERE tenant_id = $1 AND {condition}"
    );
    let query = sqlx::query(&sql).bind(tenant.as_str());
    let query = match which {
        Which::Active => query,
        Which::Version(version) => query.bind(i64::from(version)),
        Which::Sha256(sha) => query.bind(sha),
    };
    query.fetch_optional(executor).await.ctx(op)
}

/// The policy version `which` with its bytes.
pub(super) async fn policy_blob(
    db: &This,
    tenant: &TenantId,
    which: Which<'_>,
) -> Result<Option<PolicyBlob>> {
    let op = match which {
        Which::Active => "read active policy",
        _ => "read policy version",
    };
    policy_row(&db.pool, tenant, which, Bytes::With, op)
        .await?
        .map(|row| {
            Ok(PolicyBlob {
                version: policy_from_row(&row)?,
                bytes: get(&row, "bytes")?,
            })
        })
        .transpose()
}

/// The tenant's `version`; fails with `UnknownPolicyVersion` if it has none.
pub(super) async fn require_policy_version(
    tx: &mut super::Tx,
    tenant: &TenantId,
    version: u32,
) -> Result<PolicyVersion> {
    let which = Which::Version(version);
    match policy_row(
        &mut **tx,
        tenant,
        which,
        Bytes::Without,
        "look up policy version",
    )
    .await?
    {
        Some(row) => policy_from_row(&row),
        None => Err(StoreError::UnknownPolicyVersion {
            tenant: tenant.clone(),
            version,
        }),
    }
}

pub(super) fn is_fk_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_foreign_key_violation())
}

pub(super) fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

type Query<'q> = sqlx::query::Query<'q, Driver, <Driver as sqlx::Database>::Arguments<'q>>;

/// Binds the tenant's id and settings as `$1` to `$9`, the order in which both the insert and
/// the update name them.
fn bind_settings<'q>(
    query: Query<'q>,
    id: &'q TenantId,
    settings: &'q TenantSettings,
) -> Query<'q> {
    query
        .bind(id.as_str())
        .bind(&settings.name)
        .bind(&settings.time_zone)
        .bind(&settings.schedule)
        .bind(json(&settings.guardrails))
        .bind(settings.failure_mode.as_str())
        .bind(json(&settings.params))
        .bind(i64::from(settings.lead_days))
        .bind(json(&settings.delivery))
        .bind(json(&settings.sandbox))
}

pub(super) async fn create_tenant(
    db: &This,
    id: &TenantId,
    settings: &TenantSettings,
) -> Result<Tenant> {
    validate::tenant_settings(settings)?;
    let created_at = now();
    let insert = sqlx::query(
        "INSERT INTO tenants (id, name, time_zone, schedule, guardrails, failure_mode, \
         params, lead_days, delivery, sandbox, last_tick_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, $11)",
    );
    let result = bind_settings(insert, id, settings)
        .bind(created_at)
        .execute(&db.pool)
        .await;
    match result {
        Err(e) if is_unique_violation(&e) => Err(StoreError::TenantExists(id.clone())),
        other => other.ctx("create tenant").map(|_| Tenant {
            id: id.clone(),
            settings: settings.clone(),
            last_tick_at: None,
            created_at,
        }),
    }
}

pub(super) async fn tenant(db: &This, id: &TenantId) -> Result<Option<Tenant>> {
    let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1");
    sqlx::query(&sql)
        .bind(id.as_str())
        .fetch_optional(&db.pool)
        .await
        .ctx("read tenant")?
        .map(|row| tenant_from_row(&row))
        .transpose()
}

pub(super) async fn tenants(db: &This) -> Result<Vec<Tenant>> {
    let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants ORDER BY id");
    sqlx::query(&sql)
        .fetch_all(&db.pool)
        .await
        .ctx("list tenants")?
        .iter()
        .map(tenant_from_row)
        .collect()
}

pub(super) async fn update_tenant(
    db: &This,
    id: &TenantId,
    settings: &TenantSettings,
) -> Result<Tenant> {
    validate::tenant_settings(settings)?;
    let update = sqlx::query(
        "UPDATE tenants SET name = $2, time_zone = $3, schedule = $4, guardrails = $5, \
         failure_mode = $6, params = $7, lead_days = $8, delivery = $9, sandbox = $10 \
         WHERE id = $1",
    );
    let done = bind_settings(update, id, settings)
        .execute(&db.pool)
        .await
        .ctx("update tenant")?;
    if done.rows_affected() == 0 {
        return Err(StoreError::UnknownTenant(id.clone()));
    }
    tenant(db, id)
        .await?
        .ok_or_else(|| StoreError::UnknownTenant(id.clone()))
}

pub(super) async fn mark_tick(db: &This, id: &TenantId, at: DateTime<Utc>) -> Result<()> {
    // Never backwards: replicas finish their sweeps in any order, and a tick marked back
    // would be swept again (harmlessly, at the cost of a sweep).
    let done = sqlx::query(
        "UPDATE tenants SET last_tick_at = CASE WHEN last_tick_at IS NULL OR last_tick_at < $2 \
         THEN $2 ELSE last_tick_at END WHERE id = $1",
    )
    .bind(id.as_str())
    .bind(at.trunc_subsecs(6))
    .execute(&db.pool)
    .await
    .ctx("mark tick")?;
    if done.rows_affected() == 0 {
        return Err(StoreError::UnknownTenant(id.clone()));
    }
    Ok(())
}

/// The longest label a key may have: it is printed in lists.
const MAX_LABEL_CHARS: usize = 100;

/// How stale a key's `last_used_at` may get before a request writes it again: noting every
/// request would make every read a write.
const LAST_USED_RESOLUTION: chrono::TimeDelta = chrono::TimeDelta::minutes(1);

pub(super) async fn add_api_key(
    db: &This,
    tenant: &TenantId,
    key: &str,
    label: &str,
) -> Result<()> {
    if label.chars().count() > MAX_LABEL_CHARS || label.chars().any(dunlin_core::text::is_control) {
        return Err(StoreError::Invalid {
            what: "api key label",
            id: dunlin_core::text::truncate(label, MAX_LABEL_CHARS).into_owned(),
            problem: format!(
                "must be at most {MAX_LABEL_CHARS} characters, none of them control characters"
            ),
        });
    }
    let sha = api_key::digest(key);
    let result = sqlx::query(
        "INSERT INTO api_keys (key_sha256, tenant_id, label, created_at, id) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key_sha256) DO NOTHING",
    )
    .bind(&sha)
    .bind(tenant.as_str())
    .bind(label)
    .bind(now())
    .bind(api_key::id_of_digest(&sha))
    .execute(&db.pool)
    .await;
    let done = match result {
        Err(e) if is_fk_violation(&e) => return Err(StoreError::UnknownTenant(tenant.clone())),
        other => other.ctx("add api key")?,
    };
    if done.rows_affected() == 0 && owner_of_api_key(db, &sha).await?.as_ref() != Some(tenant) {
        return Err(StoreError::Invalid {
            what: "api key",
            id: label.to_owned(),
            problem: "this key belongs to another tenant".to_owned(),
        });
    }
    Ok(())
}

/// The tenant whose key has this hash, revoked or not.
async fn owner_of_api_key(db: &This, sha: &str) -> Result<Option<TenantId>> {
    let row = sqlx::query("SELECT tenant_id FROM api_keys WHERE key_sha256 = $1")
        .bind(sha)
        .fetch_optional(&db.pool)
        .await
        .ctx("look up api key")?;
    row.map(|row| key_tenant(&get::<String>(&row, "tenant_id")?))
        .transpose()
}

fn key_tenant(id: &str) -> Result<TenantId> {
    TenantId::new(id).map_err(|_| StoreError::Corrupt {
        what: "api key tenant",
        detail: format!("{id:?}"),
    })
}

pub(super) async fn tenant_for_api_key(db: &This, key: &str) -> Result<Option<TenantId>> {
    let sha = api_key::digest(key);
    let row = sqlx::query(
        "SELECT tenant_id, last_used_at, revoked_at FROM api_keys WHERE key_sha256 = $1",
    )
    .bind(&sha)
    .fetch_optional(&db.pool)
    .await
    .ctx("look up api key")?;
    let Some(row) = row else { return Ok(None) };
    if get::<Option<DateTime<Utc>>>(&row, "revoked_at")?.is_some() {
        return Ok(None);
    }
    let tenant = key_tenant(&get::<String>(&row, "tenant_id")?)?;
    let at = now();
    let last_used: Option<DateTime<Utc>> = get(&row, "last_used_at")?;
    if last_used.is_none_or(|last| at - last >= LAST_USED_RESOLUTION) {
        sqlx::query(
            "UPDATE api_keys SET last_used_at = $3 WHERE tenant_id = $1 AND key_sha256 = $2",
        )
        .bind(tenant.as_str())
        .bind(&sha)
        .bind(at)
        .execute(&db.pool)
        .await
        .ctx("note api key use")?;
    }
    Ok(Some(tenant))
}

pub(super) async fn api_keys(db: &This, tenant: &TenantId) -> Result<Vec<ApiKeyRow>> {
    let rows = sqlx::query(
        "SELECT id, label, created_at, last_used_at, revoked_at FROM api_keys \
         WHERE tenant_id = $1 ORDER BY created_at, id",
    )
    .bind(tenant.as_str())
    .fetch_all(&db.pool)
    .await
    .ctx("list api keys")?;
    rows.iter()
        .map(|row| {
            Ok(ApiKeyRow {
                id: get(row, "id")?,
                label: get(row, "label")?,
                created_at: get(row, "created_at")?,
                last_used_at: get(row, "last_used_at")?,
                revoked_at: get(row, "revoked_at")?,
            })
        })
        .collect()
}

pub(super) async fn revoke_api_key(db: &This, tenant: &TenantId, id: &str) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE api_keys SET revoked_at = $3 WHERE tenant_id = $1 AND id = $2 \
         AND revoked_at IS NULL",
    )
    .bind(tenant.as_str())
    .bind(id)
    .bind(now())
    .execute(&db.pool)
    .await
    .ctx("revoke api key")?;
    Ok(done.rows_affected() > 0)
}

/// Whether every migration of `migrator` is applied. Reads sqlx's own bookkeeping table,
/// which belongs to no tenant.
pub(super) async fn migrations_current(
    db: &This,
    migrator: &sqlx::migrate::Migrator,
) -> Result<bool> {
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(&db.pool)
            .await
            .ctx("read applied migrations")?;
    Ok(migrator
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .all(|m| applied.contains(&m.version)))
}

pub(super) async fn add_policy_version(
    db: &This,
    tenant: &TenantId,
    bytes: &[u8],
) -> Result<PolicyVersion> {
    let sha = hex::encode(Sha256::digest(bytes));
    let mut tx = db.begin_write().await?;
    require_tenant(&mut tx, tenant).await?;
    let which = Which::Sha256(&sha);
    let existing = policy_row(
        &mut *tx,
        tenant,
        which,
        Bytes::Without,
        "look up policy version",
    )
    .await?;
    if let Some(row) = existing {
        return policy_from_row(&row);
    }
    let last: i64 = sqlx::query_scalar(
        "SELECT CAST(COALESCE(MAX(version), 0) AS BIGINT) FROM policy_versions \
         WHERE tenant_id = $1",
    )
    .bind(tenant.as_str())
    .fetch_one(&mut *tx)
    .await
    .ctx("number policy version")?;
    let created_at = now();
    sqlx::query(
        "INSERT INTO policy_versions (tenant_id, version, sha256, bytes, status, created_at, \
         activated_at) VALUES ($1, $2, $3, $4, 'uploaded', $5, NULL)",
    )
    .bind(tenant.as_str())
    .bind(last + 1)
    .bind(&sha)
    .bind(bytes)
    .bind(created_at)
    .execute(&mut *tx)
    .await
    .ctx("store policy version")?;
    tx.commit().await.ctx("commit policy version")?;
    Ok(PolicyVersion {
        version: narrow("policy version", last + 1)?,
        sha256: sha,
        size: bytes.len() as u64,
        status: PolicyStatus::Uploaded,
        created_at,
        activated_at: None,
    })
}

pub(super) async fn migrate_ladders(db: &This, tenant: &TenantId, version: u32) -> Result<u64> {
    let mut tx = db.begin_write().await?;
    require_policy_version(&mut tx, tenant, version).await?;
    let done = sqlx::query(
        "UPDATE dunning_state SET policy_version = $2 \
         WHERE tenant_id = $1 AND ended = $3 AND policy_version IS DISTINCT FROM $2",
    )
    .bind(tenant.as_str())
    .bind(i64::from(version))
    .bind(false)
    .execute(&mut *tx)
    .await
    .ctx("migrate ladders")?;
    tx.commit().await.ctx("commit ladder migration")?;
    Ok(done.rows_affected())
}

pub(super) async fn activate_policy_version(
    db: &This,
    tenant: &TenantId,
    version: u32,
) -> Result<PolicyVersion> {
    let mut tx = db.begin_write().await?;
    let activated = activate_in(&mut tx, tenant, version).await?;
    tx.commit().await.ctx("commit activation")?;
    Ok(activated)
}

/// Makes `version` the tenant's active one within `tx`, retiring the active one; a canary's
/// promotion does it in its own transaction.
pub(super) async fn activate_in(
    tx: &mut super::Tx,
    tenant: &TenantId,
    version: u32,
) -> Result<PolicyVersion> {
    require_policy_version(tx, tenant, version).await?;
    sqlx::query(
        "UPDATE policy_versions SET status = 'retired' \
         WHERE tenant_id = $1 AND status = 'active' AND version <> $2",
    )
    .bind(tenant.as_str())
    .bind(i64::from(version))
    .execute(&mut **tx)
    .await
    .ctx("retire policy version")?;
    sqlx::query(
        "UPDATE policy_versions SET status = 'active', activated_at = $3 \
         WHERE tenant_id = $1 AND version = $2 AND status <> 'active'",
    )
    .bind(tenant.as_str())
    .bind(i64::from(version))
    .bind(now())
    .execute(&mut **tx)
    .await
    .ctx("activate policy version")?;
    let which = Which::Version(version);
    let row = policy_row(
        &mut **tx,
        tenant,
        which,
        Bytes::Without,
        "read policy version",
    )
    .await?
    .ok_or_else(|| StoreError::UnknownPolicyVersion {
        tenant: tenant.clone(),
        version,
    })?;
    policy_from_row(&row)
}

pub(super) async fn policy_versions(db: &This, tenant: &TenantId) -> Result<Vec<PolicyVersion>> {
    let sql = format!(
        "SELECT {POLICY_COLUMNS} FROM policy_versions WHERE tenant_id = $1 ORDER BY version"
    );
    sqlx::query(&sql)
        .bind(tenant.as_str())
        .fetch_all(&db.pool)
        .await
        .ctx("list policy versions")?
        .iter()
        .map(policy_from_row)
        .collect()
}

pub(super) async fn delete_policy_version(
    db: &This,
    tenant: &TenantId,
    version: u32,
) -> Result<()> {
    let mut tx = db.begin_write().await?;
    let stored = require_policy_version(&mut tx, tenant, version).await?;
    let in_use = |why| StoreError::PolicyVersionInUse {
        tenant: tenant.clone(),
        version,
        why,
    };
    if stored.status != PolicyStatus::Uploaded {
        return Err(in_use("is or was active"));
    }
    // A decision or a ladder naming it keeps it: the log must say what decided, and a
    // pinned ladder must find its version.
    for (sql, why, op) in [
        (
            "SELECT 1 FROM decisions WHERE tenant_id = $1 AND policy_version = $2 LIMIT 1",
            "is named by decisions",
            "look up decisions of policy version",
        ),
        (
            "SELECT 1 FROM dunning_state WHERE tenant_id = $1 AND policy_version = $2 LIMIT 1",
            "has ladders pinned to it",
            "look up ladders of policy version",
        ),
        (
            "SELECT 1 FROM policy_trials WHERE tenant_id = $1 \
             AND (shadow_version = $2 OR canary_version = $2)",
            "is in shadow or a canary",
            "look up trials of policy version",
        ),
        (
            "SELECT 1 FROM shadow_decisions WHERE tenant_id = $1 AND policy_version = $2 LIMIT 1",
            "is named by shadow decisions",
            "look up shadow decisions of policy version",
        ),
    ] {
        let found: Option<i32> = sqlx::query_scalar(sql)
            .bind(tenant.as_str())
            .bind(i64::from(version))
            .fetch_optional(&mut *tx)
            .await
            .ctx(op)?;
        if found.is_some() {
            return Err(in_use(why));
        }
    }
    sqlx::query(
        "DELETE FROM policy_versions WHERE tenant_id = $1 AND version = $2 AND status = 'uploaded'",
    )
    .bind(tenant.as_str())
    .bind(i64::from(version))
    .execute(&mut *tx)
    .await
    .ctx("delete policy version")?;
    tx.commit().await.ctx("commit policy deletion")?;
    Ok(())
}

pub(super) async fn open_ladders_by_version(
    db: &This,
    tenant: &TenantId,
) -> Result<std::collections::BTreeMap<u32, u64>> {
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT CAST(policy_version AS BIGINT), CAST(COUNT(*) AS BIGINT) FROM dunning_state \
         WHERE tenant_id = $1 AND ended = $2 AND policy_version IS NOT NULL \
         GROUP BY policy_version",
    )
    .bind(tenant.as_str())
    .bind(false)
    .fetch_all(&db.pool)
    .await
    .ctx("count ladders by policy version")?;
    rows.into_iter()
        .map(|(v, n)| Ok((narrow("policy version", v)?, narrow("ladder count", n)?)))
        .collect()
}
