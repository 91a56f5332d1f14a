//! The decision log as the host reads it back: decisions with their contexts and actions,
//! ladder states and a customer's recent contacts. Writing it is each backend's own
//! `record_encoded`.

use std::collections::HashMap;

use dunlin_core::{Context, Date, Decision};
use sqlx::QueryBuilder;

use super::outcome::{reported_from_row, OUTCOME_COLUMNS};
use super::{get, Driver, Row, This};
use crate::codec::{self, from_json, narrow};
use crate::error::QueryContext;
use crate::review::{
    ActionRecord, ActionStatus, Contact, DecisionOutcome, DecisionQuery, DecisionRecord,
    DunningState, FailureRecord, PolicyRef,
};
use crate::tenant::TenantId;
use crate::{Result, StoreError};

/// The frames of the tenant's chunks of contexts among `ids`, by id.
async fn context_frames(
    pool: &sqlx::Pool<Driver>,
    tenant: &TenantId,
    ids: &[i64],
) -> Result<HashMap<i64, Vec<u8>>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut qb =
        QueryBuilder::<Driver>::new("SELECT id, frame FROM context_chunks WHERE tenant_id = ");
    qb.push_bind(tenant.as_str()).push(" AND id IN (");
    let mut list = qb.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    qb.push(")");
    qb.build()
        .fetch_all(pool)
        .await
        .ctx("read decision contexts")?
        .iter()
        .map(|row| Ok((get(row, "id")?, get(row, "frame")?)))
        .collect()
}

/// The chunks the contexts of the decision `rows` are in, each read once (a page of one
/// sweep's decisions shares a few), and only the tenant's own.
pub(in super::super) async fn context_chunks(
    pool: &sqlx::Pool<Driver>,
    tenant: &TenantId,
    rows: &[Row],
) -> Result<codec::ChunkCache> {
    let mut chunk_ids = rows
        .iter()
        .map(|row| get::<Option<i64>>(row, "context_chunk"))
        .filter_map(Result::transpose)
        .collect::<Result<Vec<i64>>>()?;
    chunk_ids.sort_unstable();
    chunk_ids.dedup();
    Ok(codec::ChunkCache::new(
        context_frames(pool, tenant, &chunk_ids).await?,
    ))
}

/// A decision row's context, from its `context`, `context_chunk` and `context_line`.
pub(super) fn context_of(chunks: &mut codec::ChunkCache, row: &Row) -> Result<Context> {
    chunks.context(
        &get::<Vec<u8>>(row, "context")?,
        get::<Option<i64>>(row, "context_chunk")?,
        get::<Option<i64>>(row, "context_line")?,
    )
}

/// A decision row's policy version and sha256, when a policy ran.
pub(in super::super) fn policy_of(row: &Row) -> Result<Option<PolicyRef>> {
    let version: Option<i64> = get(row, "policy_version")?;
    let sha: Option<String> = get(row, "policy_sha256")?;
    Ok(match (version, sha) {
        (Some(v), Some(sha256)) => Some(PolicyRef {
            version: narrow("policy version", v)?,
            sha256,
        }),
        _ => None,
    })
}

fn state_from_row(row: &Row) -> Result<Option<DunningState>> {
    let Some(level) = get::<Option<i64>>(row, "level")? else {
        return Ok(None);
    };
    Ok(Some(DunningState {
        level: narrow("dunning level", level)?,
        last_action_on: get(row, "last_action_on")?,
        next_review_on: get(row, "next_review_on")?,
        policy_version: get::<Option<i64>>(row, "policy_version")?
            .map(|v| narrow("pinned policy version", v))
            .transpose()?,
        paused_until: get(row, "paused_until")?,
        paused_why: get(row, "paused_why")?,
        ended: get::<Option<bool>>(row, "ended")?.unwrap_or(false),
    }))
}

pub(super) async fn dunning_state(
    db: &This,
    tenant: &TenantId,
    invoice: &str,
) -> Result<Option<DunningState>> {
    let row = sqlx::query(
        "SELECT level, last_action_on, next_review_on, policy_version, paused_until, \
         paused_why, ended FROM dunning_state WHERE tenant_id = $1 AND invoice_id = $2",
    )
    .bind(tenant.as_str())
    .bind(invoice)
    .fetch_optional(&db.pool)
    .await
    .ctx("read dunning state")?;
    match row {
        Some(row) => state_from_row(&row),
        None => Ok(None),
    }
}

pub(super) async fn decisions(
    db: &This,
    tenant: &TenantId,
    query: &DecisionQuery,
) -> Result<Vec<DecisionRecord>> {
    let mut qb = QueryBuilder::<Driver>::new(
        "SELECT id, invoice_id, as_of, policy_version, policy_sha256, context, \
         context_chunk, context_line, decision, reason, interventions, fuel_used, \
         duration_us, failure_code, failure_message, created_at FROM decisions \
         WHERE tenant_id = ",
    );
    qb.push_bind(tenant.as_str());
    if let Some(invoice) = &query.invoice {
        qb.push(" AND invoice_id = ").push_bind(invoice.as_str());
    }
    if let Some(customer) = &query.customer {
        qb.push(" AND invoice_id IN (SELECT id FROM invoices WHERE tenant_id = ")
            .push_bind(tenant.as_str())
            .push(" AND customer_id = ")
            .push_bind(customer.as_str())
            .push(")");
    }
    super::push_as_of_window(&mut qb, query.from, query.to);
    match query.outcome {
        Some(DecisionOutcome::Decided) => {
            qb.push(" AND decision IS NOT NULL AND failure_code IS NULL");
        }
        Some(DecisionOutcome::Failed) => {
            qb.push(" AND failure_code IS NOT NULL");
        }
        Some(DecisionOutcome::NoPolicy) => {
            qb.push(" AND policy_version IS NULL AND failure_code IS NULL");
        }
        None => {}
    }
    if let Some(code) = &query.failure_code {
        qb.push(" AND failure_code = ").push_bind(code.as_str());
    }
    if let Some(after) = query.after_id {
        qb.push(" AND id > ").push_bind(after);
    }
    // By invoice or customer, the (tenant, invoice, as-of) key finds the few rows; ordering
    // by `+id` keeps SQLite's planner, which has no statistics, from walking the tenant's
    // whole log in id order through `decisions_by_tenant_and_id` instead.
    let by_key = query.invoice.is_some() || query.customer.is_some();
    qb.push(if by_key {
        " ORDER BY +id LIMIT "
    } else {
        " ORDER BY id LIMIT "
    })
    .push_bind(i64::from(query.limit.clamp(1, 10_000)));
    let rows = qb.build().fetch_all(&db.pool).await.ctx("read decisions")?;
    let mut chunks = context_chunks(&db.pool, tenant, &rows).await?;
    let mut records = Vec::with_capacity(rows.len());
    for row in &rows {
        let code: Option<String> = get(row, "failure_code")?;
        let decision: Option<String> = get(row, "decision")?;
        records.push(DecisionRecord {
            id: get(row, "id")?,
            invoice_id: get(row, "invoice_id")?,
            as_of: get(row, "as_of")?,
            policy: policy_of(row)?,
            context: context_of(&mut chunks, row)?,
            decision: decision
                .map(|d| from_json::<Decision>("decision", &d))
                .transpose()?,
            reason: get(row, "reason")?,
            interventions: from_json("interventions", &get::<String>(row, "interventions")?)?,
            actions: Vec::new(),
            fuel_used: get::<Option<i64>>(row, "fuel_used")?
                .map(|v| narrow("fuel used", v))
                .transpose()?,
            duration_us: get::<Option<i64>>(row, "duration_us")?
                .map(|v| narrow("duration", v))
                .transpose()?,
            failure: code
                .map(|code| {
                    Ok::<_, StoreError>(FailureRecord {
                        code,
                        message: get::<Option<String>>(row, "failure_message")?.unwrap_or_default(),
                    })
                })
                .transpose()?,
            created_at: get(row, "created_at")?,
        });
    }
    if records.is_empty() {
        return Ok(records);
    }
    // The actions of these decisions, found through the invoices' key prefix and matched
    // to their decision by (invoice, as-of).
    let ids: HashMap<(&str, Date), i64> = records
        .iter()
        .map(|r| ((r.invoice_id.as_str(), r.as_of), r.id))
        .collect();
    let mut invoices: Vec<&str> = records.iter().map(|r| r.invoice_id.as_str()).collect();
    invoices.sort_unstable();
    invoices.dedup();
    let mut qb = QueryBuilder::<Driver>::new(format!(
        "SELECT id, invoice_id, as_of, ordinal, payload, status, attempts, next_attempt_at, \
         last_error, note, {OUTCOME_COLUMNS} FROM actions WHERE tenant_id = "
    ));
    qb.push_bind(tenant.as_str()).push(" AND invoice_id IN (");
    let mut list = qb.separated(", ");
    for id in &invoices {
        list.push_bind(*id);
    }
    qb.push(") ORDER BY invoice_id, as_of, ordinal");
    let mut actions: HashMap<i64, Vec<ActionRecord>> = HashMap::new();
    for row in qb
        .build()
        .fetch_all(&db.pool)
        .await
        .ctx("read decision actions")?
    {
        let invoice: String = get(&row, "invoice_id")?;
        let Some(decision) = ids.get(&(invoice.as_str(), get(&row, "as_of")?)) else {
            continue; // another day's decision of the same invoice, not on this page
        };
        actions.entry(*decision).or_default().push(ActionRecord {
            id: get(&row, "id")?,
            ordinal: narrow("action ordinal", get::<i64>(&row, "ordinal")?)?,
            action: from_json("action", &get::<String>(&row, "payload")?)?,
            status: ActionStatus::parse(&get::<String>(&row, "status")?)?,
            attempts: narrow("action attempts", get::<i64>(&row, "attempts")?)?,
            next_attempt_at: get(&row, "next_attempt_at")?,
            last_error: get(&row, "last_error")?,
            note: get(&row, "note")?,
            reported: reported_from_row(&row)?,
        });
    }
    for r in &mut records {
        r.actions = actions.remove(&r.id).unwrap_or_default();
    }
    Ok(records)
}

pub(super) async fn recent_contacts(
    db: &This,
    tenant: &TenantId,
    customer: &str,
    since: Date,
) -> Result<Vec<Contact>> {
    let rows = sqlx::query(
        "SELECT invoice_id, as_of, channel FROM actions \
         WHERE tenant_id = $1 AND customer_id = $2 AND as_of >= $3 AND kind = 'notify' \
         AND status NOT IN ('blocked', 'cancelled') AND channel IS NOT NULL ORDER BY id",
    )
    .bind(tenant.as_str())
    .bind(customer)
    .bind(since)
    .fetch_all(&db.pool)
    .await
    .ctx("read recent contacts")?;
    rows.iter()
        .map(|row| {
            Ok(Contact {
                invoice_id: get(row, "invoice_id")?,
                on: get(row, "as_of")?,
                channel: codec::parse_name("channel", &get::<String>(row, "channel")?)?,
            })
        })
        .collect()
}
