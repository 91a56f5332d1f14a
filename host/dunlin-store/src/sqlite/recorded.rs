//! Reading the decision log for replay, backtest and export on the sweep's own rusqlite
//! connections ([`super::direct`]): the same three reads as PostgreSQL's (the page of
//! decisions, the chunks of their contexts, the blocked actions of the decisions the
//! guardrails changed, when asked for), in one read transaction, as statements prepared
//! once per connection. Through sqlx each row's columns are copied on its worker thread
//! and handed across, and that thread and the copies cost more CPU than SQLite's own work
//! (docs/benchmarks.md#backtest).

use std::collections::HashMap;

use rusqlite::types::ValueRef;
use rusqlite::Connection;

use super::direct::Day;
use crate::codec::{self, narrow, ChunkCache};
use crate::error::QueryContext;
use crate::replay::{attach_blocked, invoices_with_interventions, RecordedDecision, RecordedQuery};
use crate::review::PolicyRef;
use crate::{Result, TenantId};

/// A decision row as read, before its context is found in its chunk.
struct Row {
    id: i64,
    invoice_id: String,
    as_of: dunlin_core::Date,
    policy_version: Option<i64>,
    policy_sha256: Option<String>,
    /// The `context` column: the context's own frame, or the mark that it is in a chunk.
    context: Vec<u8>,
    context_chunk: Option<i64>,
    context_line: Option<i64>,
    decision: Option<String>,
    interventions: String,
    failure_code: Option<String>,
}

/// The page's statement for the filters `query` sets: one text per combination, so each is
/// prepared once per connection and keeps the `(tenant_id, id)` index usable.
fn page_sql(query: &RecordedQuery) -> String {
    let mut sql = String::from(
        "SELECT id, invoice_id, as_of, policy_version, policy_sha256, context, context_chunk, \
         context_line, decision, interventions, failure_code FROM decisions \
         WHERE tenant_id = :tenant",
    );
    if query.id.is_some() {
        sql.push_str(" AND id = :id");
    }
    if query.from.is_some() {
        sql.push_str(" AND as_of >= :from");
    }
    if query.to.is_some() {
        sql.push_str(" AND as_of <= :to");
    }
    if query.after_id.is_some() {
        sql.push_str(" AND id > :after");
    }
    sql.push_str(" ORDER BY id LIMIT :limit");
    sql
}

/// A page of the tenant's decision log, as `Db::recorded_decisions` describes it.
pub(super) fn recorded_decisions(
    conn: &mut Connection,
    tenant: &TenantId,
    query: &RecordedQuery,
) -> Result<Vec<RecordedDecision>> {
    let tx = conn.transaction().ctx("begin")?;
    let rows = page(&tx, tenant, query)?;
    let mut chunk_ids: Vec<i64> = rows.iter().filter_map(|r| r.context_chunk).collect();
    chunk_ids.sort_unstable();
    chunk_ids.dedup();
    let mut chunks = ChunkCache::new(frames(&tx, tenant, &chunk_ids)?);
    let mut records = Vec::with_capacity(rows.len());
    for row in rows {
        let policy = match (row.policy_version, row.policy_sha256) {
            (Some(v), Some(sha256)) => Some(PolicyRef {
                version: narrow("policy version", v)?,
                sha256,
            }),
            _ => None,
        };
        records.push(RecordedDecision {
            id: row.id,
            context: chunks.recorded(&row.context, row.context_chunk, row.context_line)?,
            invoice_id: row.invoice_id,
            as_of: row.as_of,
            policy,
            decision: row.decision,
            interventions: codec::from_json("interventions", &row.interventions)?,
            blocked: Vec::new(),
            failure_code: row.failure_code,
        });
    }
    if query.blocked_actions {
        let blocked = blocked(&tx, tenant, &records)?;
        attach_blocked(&mut records, blocked);
    }
    tx.commit().ctx("end the read")?;
    Ok(records)
}

/// The page's decision rows, oldest first.
fn page(
    tx: &rusqlite::Transaction<'_>,
    tenant: &TenantId,
    query: &RecordedQuery,
) -> Result<Vec<Row>> {
    let limit = i64::from(query.limit.clamp(1, RecordedQuery::MAX_LIMIT));
    let tenant_id = tenant.as_str();
    let mut params: Vec<(&str, &dyn rusqlite::ToSql)> =
        vec![(":tenant", &tenant_id), (":limit", &limit)];
    if let Some(id) = &query.id {
        params.push((":id", id));
    }
    if let Some(from) = &query.from {
        params.push((":from", from));
    }
    if let Some(to) = &query.to {
        params.push((":to", to));
    }
    if let Some(after) = &query.after_id {
        params.push((":after", after));
    }
    let mut stmt = tx
        .prepare_cached(&page_sql(query))
        .ctx("read recorded decisions")?;
    stmt.query_map(&*params, |r| {
        Ok(Row {
            id: r.get(0)?,
            invoice_id: r.get(1)?,
            as_of: r.get::<_, Day>(2)?.0,
            policy_version: r.get(3)?,
            policy_sha256: r.get(4)?,
            context: match r.get_ref(5)? {
                ValueRef::Blob(b) => b.to_vec(),
                other => {
                    return Err(rusqlite::Error::InvalidColumnType(
                        5,
                        "context".into(),
                        other.data_type(),
                    ))
                }
            },
            context_chunk: r.get(6)?,
            context_line: r.get(7)?,
            decision: r.get(8)?,
            interventions: r.get(9)?,
            failure_code: r.get(10)?,
        })
    })
    .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
    .ctx("read recorded decisions")
}

/// The tenant's chunks of contexts among the ids of `$2`, a JSON list.
const FRAMES: &str = "SELECT id, frame FROM context_chunks WHERE tenant_id = $1 \
     AND id IN (SELECT value FROM json_each($2))";

/// The tenant's blocked actions of the invoices of `$2`, a JSON list, in outbox order.
const BLOCKED: &str = "SELECT invoice_id, as_of, payload FROM actions WHERE tenant_id = $1 \
     AND status = 'blocked' AND invoice_id IN (SELECT value FROM json_each($2)) \
     ORDER BY invoice_id, as_of, ordinal";

/// The frames of the tenant's chunks of contexts among `ids`, by id.
fn frames(
    tx: &rusqlite::Transaction<'_>,
    tenant: &TenantId,
    ids: &[i64],
) -> Result<HashMap<i64, Vec<u8>>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    by_list(
        tx,
        FRAMES,
        tenant,
        &codec::json(ids),
        "read decision contexts",
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// The blocked actions of the page's decisions the guardrails changed, in outbox order.
fn blocked(
    tx: &rusqlite::Transaction<'_>,
    tenant: &TenantId,
    records: &[RecordedDecision],
) -> Result<Vec<(String, dunlin_core::Date, String)>> {
    let invoices = invoices_with_interventions(records);
    if invoices.is_empty() {
        return Ok(Vec::new());
    }
    by_list(
        tx,
        BLOCKED,
        tenant,
        &codec::json(&invoices),
        "read blocked actions",
        |r| Ok((r.get(0)?, r.get::<_, Day>(1)?.0, r.get(2)?)),
    )
}

/// The rows of `sql`, a statement over the tenant (`$1`) and a JSON list (`$2`), each read
/// by `row`; `op` names the read in an error.
fn by_list<T, C: FromIterator<T>>(
    tx: &rusqlite::Transaction<'_>,
    sql: &str,
    tenant: &TenantId,
    list: &str,
    op: &'static str,
    row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<C> {
    let mut stmt = tx.prepare_cached(sql).ctx(op)?;
    stmt.query_map(
        &[
            ("$1", &tenant.as_str() as &dyn rusqlite::ToSql),
            ("$2", &list),
        ],
        row,
    )
    .and_then(|rows| rows.collect::<rusqlite::Result<C>>())
    .ctx(op)
}
