//! Shadow and canary versions (`crate::trial`): the tenant's trial row, the shadow
//! decisions beside the live ones, promotion and abort, and the figures per version.

use std::collections::HashMap;

use dunlin_core::Decision;
use sqlx::QueryBuilder;

use super::tenant::{activate_in, require_policy_version};
use super::{get, require_tenant, Driver, Row, This, Tx};
use crate::codec::{from_json, json, narrow, now, to_i64};
use crate::error::QueryContext;
use crate::review::{DecisionQuery, DecisionRecord, FailureRecord};
use crate::tenant::{PolicyStatus, PolicyVersion, TenantId};
use crate::trial::{
    Canary, CanaryShare, PolicyTrials, Shadow, ShadowOutcome, ShadowPage, ShadowPair, ShadowQuery,
};
use crate::{Result, StoreError};

fn trials_from_row(row: &Row) -> Result<PolicyTrials> {
    let shadow = match get::<Option<i64>>(row, "shadow_version")? {
        Some(v) => Some(Shadow {
            version: narrow("shadow version", v)?,
            since: required(get(row, "shadow_since")?, "shadow since")?,
        }),
        None => None,
    };
    let canary = match get::<Option<i64>>(row, "canary_version")? {
        Some(v) => {
            let bp: i64 = required(get(row, "canary_share")?, "canary share")?;
            Some(Canary {
                version: narrow("canary version", v)?,
                share: CanaryShare::from_basis_points(narrow("canary share", bp)?).ok_or(
                    StoreError::Corrupt {
                        what: "canary share",
                        detail: format!("{bp} basis points"),
                    },
                )?,
                since: required(get(row, "canary_since")?, "canary since")?,
            })
        }
        None => None,
    };
    Ok(PolicyTrials { shadow, canary })
}

fn required<T>(v: Option<T>, what: &'static str) -> Result<T> {
    v.ok_or(StoreError::Corrupt {
        what,
        detail: "missing beside its version".into(),
    })
}

const TRIAL_COLUMNS: &str =
    "shadow_version, shadow_since, canary_version, canary_share, canary_since";

async fn trials_in<'e>(
    executor: impl sqlx::Executor<'e, Database = Driver>,
    tenant: &TenantId,
) -> Result<PolicyTrials> {
    let sql = format!("SELECT {TRIAL_COLUMNS} FROM policy_trials WHERE tenant_id = $1");
    match sqlx::query(&sql)
        .bind(tenant.as_str())
        .fetch_optional(executor)
        .await
        .ctx("read policy trials")?
    {
        Some(row) => trials_from_row(&row),
        None => Ok(PolicyTrials::default()),
    }
}

pub(super) async fn policy_trials(db: &This, tenant: &TenantId) -> Result<PolicyTrials> {
    trials_in(&db.pool, tenant).await
}

/// The tenant's version `version`, refused when it is the active one: a trial of the active
/// version compares it with itself.
async fn trial_version(
    tx: &mut Tx,
    tenant: &TenantId,
    version: u32,
    what: &'static str,
) -> Result<PolicyVersion> {
    let v = require_policy_version(tx, tenant, version).await?;
    if v.status == PolicyStatus::Active {
        return Err(StoreError::Invalid {
            what,
            id: version.to_string(),
            problem: "is the active version already".into(),
        });
    }
    Ok(v)
}

pub(super) async fn set_shadow(
    db: &This,
    tenant: &TenantId,
    version: Option<u32>,
) -> Result<PolicyTrials> {
    let mut tx = db.begin_write().await?;
    require_tenant(&mut tx, tenant).await?;
    match version {
        Some(version) => {
            trial_version(&mut tx, tenant, version, "shadow version").await?;
            // The same version again keeps its start, so a report's default range holds.
            sqlx::query(
                "INSERT INTO policy_trials (tenant_id, shadow_version, shadow_since) \
                 VALUES ($1, $2, $3) ON CONFLICT (tenant_id) DO UPDATE SET \
                 shadow_since = CASE WHEN policy_trials.shadow_version = excluded.shadow_version \
                 THEN policy_trials.shadow_since ELSE excluded.shadow_since END, \
                 shadow_version = excluded.shadow_version",
            )
            .bind(tenant.as_str())
            .bind(i64::from(version))
            .bind(now())
            .execute(&mut *tx)
            .await
            .ctx("set shadow version")?;
        }
        None => {
            sqlx::query(
                "UPDATE policy_trials SET shadow_version = NULL, shadow_since = NULL \
                 WHERE tenant_id = $1",
            )
            .bind(tenant.as_str())
            .execute(&mut *tx)
            .await
            .ctx("turn shadow off")?;
        }
    }
    let trials = trials_in(&mut *tx, tenant).await?;
    tx.commit().await.ctx("commit shadow setting")?;
    Ok(trials)
}

pub(super) async fn start_canary(
    db: &This,
    tenant: &TenantId,
    version: u32,
    share: CanaryShare,
) -> Result<PolicyTrials> {
    let mut tx = db.begin_write().await?;
    require_tenant(&mut tx, tenant).await?;
    trial_version(&mut tx, tenant, version, "canary version").await?;
    if let Some(running) = trials_in(&mut *tx, tenant).await?.canary {
        if running.version != version {
            return Err(StoreError::Invalid {
                what: "canary version",
                id: version.to_string(),
                problem: format!(
                    "version {} is the canary already: promote or abort it first",
                    running.version
                ),
            });
        }
    }
    // A running canary of the same version only changes its share (and keeps its start).
    sqlx::query(
        "INSERT INTO policy_trials (tenant_id, canary_version, canary_share, canary_since) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id) DO UPDATE SET \
         canary_since = COALESCE(policy_trials.canary_since, excluded.canary_since), \
         canary_version = excluded.canary_version, canary_share = excluded.canary_share",
    )
    .bind(tenant.as_str())
    .bind(i64::from(version))
    .bind(i64::from(share.basis_points()))
    .bind(now())
    .execute(&mut *tx)
    .await
    .ctx("start canary")?;
    let trials = trials_in(&mut *tx, tenant).await?;
    tx.commit().await.ctx("commit canary")?;
    Ok(trials)
}

/// The tenant's running canary, read in `tx`; refused when there is none.
async fn running_canary(tx: &mut Tx, tenant: &TenantId) -> Result<Canary> {
    trials_in(&mut **tx, tenant)
        .await?
        .canary
        .ok_or_else(|| StoreError::Invalid {
            what: "canary",
            id: tenant.as_str().to_owned(),
            problem: "the tenant runs no canary".into(),
        })
}

async fn clear_canary(tx: &mut Tx, tenant: &TenantId) -> Result<()> {
    sqlx::query(
        "UPDATE policy_trials SET canary_version = NULL, canary_share = NULL, \
         canary_since = NULL WHERE tenant_id = $1",
    )
    .bind(tenant.as_str())
    .execute(&mut **tx)
    .await
    .ctx("end canary")?;
    Ok(())
}

pub(super) async fn promote_canary(db: &This, tenant: &TenantId) -> Result<PolicyVersion> {
    let mut tx = db.begin_write().await?;
    let canary = running_canary(&mut tx, tenant).await?;
    let active = activate_in(&mut tx, tenant, canary.version).await?;
    clear_canary(&mut tx, tenant).await?;
    tx.commit().await.ctx("commit canary promotion")?;
    Ok(active)
}

pub(super) async fn abort_canary(db: &This, tenant: &TenantId) -> Result<u64> {
    let mut tx = db.begin_write().await?;
    let canary = running_canary(&mut tx, tenant).await?;
    // The ladders the canary started go back to the active version: an aborted canary is
    // one the tenant no longer trusts with its customers.
    let moved = sqlx::query(
        "UPDATE dunning_state SET policy_version = \
         (SELECT version FROM policy_versions WHERE tenant_id = $1 AND status = 'active') \
         WHERE tenant_id = $1 AND ended = $3 AND policy_version = $2 \
         AND EXISTS (SELECT 1 FROM policy_versions WHERE tenant_id = $1 AND status = 'active')",
    )
    .bind(tenant.as_str())
    .bind(i64::from(canary.version))
    .bind(false)
    .execute(&mut *tx)
    .await
    .ctx("move canary ladders back")?;
    clear_canary(&mut tx, tenant).await?;
    tx.commit().await.ctx("commit canary abort")?;
    Ok(moved.rows_affected())
}

/// Shadow rows per statement: 13 bound values each, well under SQLite's 32,766.
const SHADOW_ROWS_PER_INSERT: usize = 500;

pub(super) async fn record_shadow(
    db: &This,
    tenant: &TenantId,
    rows: &[ShadowOutcome],
) -> Result<usize> {
    if rows.is_empty() {
        return Ok(0);
    }
    let created = now();
    let mut tx = db.begin_write().await?;
    let mut written = 0;
    for part in rows.chunks(SHADOW_ROWS_PER_INSERT) {
        // Each row joins its live decision by (invoice, as-of): a shadow answer whose live
        // decision was not written (its invoice changed meanwhile) is not written either.
        let mut qb = QueryBuilder::<Driver>::new(
            "WITH v (invoice_id, as_of, policy_version, decision, reason, interventions, \
             blocked, fuel_used, duration_us, failure_code, failure_message) AS (",
        );
        qb.push_values(part, |mut b, r| {
            b.push_bind(r.invoice_id.as_str())
                .push_bind(r.as_of)
                .push_bind(i64::from(r.version))
                .push_bind(r.decision.as_ref().map(json))
                .push_bind(r.reason.as_str())
                .push_bind(json(&r.interventions))
                .push_bind(json(&r.blocked))
                .push_bind(r.fuel_used.map(to_i64))
                .push_bind(r.duration_us.map(to_i64))
                .push_bind(r.failure.as_ref().map(|f| f.code.as_str()))
                .push_bind(r.failure.as_ref().map(|f| f.message.as_str()));
        });
        qb.push(
            ") INSERT INTO shadow_decisions (tenant_id, invoice_id, as_of, policy_version, \
             decision_id, decision, reason, interventions, blocked, fuel_used, duration_us, \
             failure_code, failure_message, created_at) \
             SELECT d.tenant_id, v.invoice_id, v.as_of, v.policy_version, d.id, v.decision, \
             v.reason, v.interventions, v.blocked, v.fuel_used, v.duration_us, v.failure_code, \
             v.failure_message, ",
        )
        .push_bind(created)
        .push(" FROM v JOIN decisions d ON d.tenant_id = ")
        .push_bind(tenant.as_str())
        .push(
            " AND d.invoice_id = v.invoice_id AND d.as_of = v.as_of \
             WHERE true ON CONFLICT DO NOTHING",
        );
        let done = qb
            .build()
            .execute(&mut *tx)
            .await
            .ctx("record shadow decisions")?;
        written += done.rows_affected() as usize;
    }
    tx.commit().await.ctx("commit shadow decisions")?;
    Ok(written)
}

/// A shadow row as read, with the live decision it names: a row stored `as_live` takes its
/// guarded decision, reason and interventions from it.
fn shadow_from_row(row: &Row, live: &DecisionRecord) -> Result<ShadowOutcome> {
    let code: Option<String> = get(row, "failure_code")?;
    let (reason, decision, interventions) = if get::<bool>(row, "as_live")? {
        let decision = live.decision.clone().ok_or_else(|| StoreError::Corrupt {
            what: "shadow decision",
            detail: format!("stored as decision {}'s, which has none", live.id),
        })?;
        (
            decision.reason.clone(),
            Some(decision),
            live.interventions.clone(),
        )
    } else {
        let decision: Option<String> = get(row, "decision")?;
        (
            get(row, "reason")?,
            decision
                .map(|d| from_json::<Decision>("shadow decision", &d))
                .transpose()?,
            from_json("interventions", &get::<String>(row, "interventions")?)?,
        )
    };
    Ok(ShadowOutcome {
        invoice_id: get(row, "invoice_id")?,
        as_of: get(row, "as_of")?,
        version: narrow("shadow version", get::<i64>(row, "policy_version")?)?,
        decision,
        reason,
        interventions,
        blocked: from_json("blocked actions", &get::<String>(row, "blocked")?)?,
        fuel_used: get::<Option<i64>>(row, "fuel_used")?
            .map(|v| narrow("fuel used", v))
            .transpose()?,
        duration_us: get::<Option<i64>>(row, "duration_us")?
            .map(|v| narrow("duration", v))
            .transpose()?,
        failure: match code {
            Some(code) => Some(FailureRecord {
                code,
                message: get::<Option<String>>(row, "failure_message")?.unwrap_or_default(),
            }),
            None => None,
        },
    })
}

pub(super) async fn shadow_pairs(
    db: &This,
    tenant: &TenantId,
    query: &ShadowQuery,
) -> Result<ShadowPage> {
    let limit = query.limit.clamp(1, 10_000);
    let live = super::review::decisions(
        db,
        tenant,
        &DecisionQuery {
            from: query.from,
            to: query.to,
            after_id: query.after_id,
            limit,
            ..Default::default()
        },
    )
    .await?;
    let next = (live.len() == limit as usize)
        .then(|| live.last().map(|d| d.id))
        .flatten();
    if live.is_empty() {
        return Ok(ShadowPage {
            pairs: Vec::new(),
            next,
        });
    }
    let mut qb = QueryBuilder::<Driver>::new(
        "SELECT decision_id, invoice_id, as_of, policy_version, as_live, decision, reason, \
         interventions, blocked, fuel_used, duration_us, failure_code, failure_message \
         FROM shadow_decisions WHERE tenant_id = ",
    );
    qb.push_bind(tenant.as_str());
    if let Some(v) = query.version {
        qb.push(" AND policy_version = ").push_bind(i64::from(v));
    }
    qb.push(" AND decision_id IN (");
    let mut list = qb.separated(", ");
    for d in &live {
        list.push_bind(d.id);
    }
    qb.push(") ORDER BY decision_id, policy_version");
    let mut shadows: HashMap<i64, Vec<Row>> = HashMap::new();
    for row in qb
        .build()
        .fetch_all(&db.pool)
        .await
        .ctx("read shadow decisions")?
    {
        shadows
            .entry(get(&row, "decision_id")?)
            .or_default()
            .push(row);
    }
    let mut pairs = Vec::new();
    for live in live {
        for row in shadows.remove(&live.id).unwrap_or_default() {
            pairs.push(ShadowPair {
                shadow: shadow_from_row(&row, &live)?,
                live: live.clone(),
            });
        }
    }
    Ok(ShadowPage { pairs, next })
}
