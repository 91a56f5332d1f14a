//! Reading the decision log for replay and export: the decisions' own columns, their
//! contexts and the text of their blocked actions, a page at a time.

use dunlin_core::Date;
use sqlx::QueryBuilder;

use super::{get, review, Driver, This};
use crate::codec::from_json;
use crate::error::QueryContext;
use crate::replay::{RecordedDecision, RecordedQuery};
use crate::tenant::TenantId;
use crate::Result;

// PostgreSQL's read (`postgres::recorded_decisions`); SQLite reads the log on its own
// connections (`sqlite/recorded.rs`), so its copy of this module leaves it unused.
#[allow(dead_code)]
pub(crate) async fn recorded_decisions(
    db: &This,
    tenant: &TenantId,
    query: &RecordedQuery,
) -> Result<Vec<RecordedDecision>> {
    let mut qb = QueryBuilder::<Driver>::new(
        "SELECT id, invoice_id, as_of, policy_version, policy_sha256, context, context_chunk, \
         context_line, decision, interventions, failure_code FROM decisions WHERE tenant_id = ",
    );
    qb.push_bind(tenant.as_str());
    if let Some(id) = query.id {
        qb.push(" AND id = ").push_bind(id);
    }
    if let Some(from) = query.from {
        qb.push(" AND as_of >= ").push_bind(from);
    }
    if let Some(to) = query.to {
        qb.push(" AND as_of <= ").push_bind(to);
    }
    if let Some(after) = query.after_id {
        qb.push(" AND id > ").push_bind(after);
    }
    qb.push(" ORDER BY id LIMIT ")
        .push_bind(i64::from(query.limit.clamp(1, RecordedQuery::MAX_LIMIT)));
    let rows = qb
        .build()
        .fetch_all(&db.pool)
        .await
        .ctx("read recorded decisions")?;
    let mut chunks = review::context_chunks(&db.pool, tenant, &rows).await?;
    let mut records = Vec::with_capacity(rows.len());
    for row in &rows {
        records.push(RecordedDecision {
            id: get(row, "id")?,
            invoice_id: get(row, "invoice_id")?,
            as_of: get(row, "as_of")?,
            policy: review::policy_of(row)?,
            context: review::recorded_context_of(&mut chunks, row)?,
            decision: get(row, "decision")?,
            interventions: from_json("interventions", &get::<String>(row, "interventions")?)?,
            blocked: Vec::new(),
            failure_code: get(row, "failure_code")?,
        });
    }
    let invoices = crate::replay::invoices_with_interventions(&records);
    if invoices.is_empty() {
        return Ok(records);
    }
    let mut qb = QueryBuilder::<Driver>::new(
        "SELECT invoice_id, as_of, payload FROM actions WHERE tenant_id = ",
    );
    qb.push_bind(tenant.as_str())
        .push(" AND status = 'blocked' AND invoice_id IN (");
    let mut list = qb.separated(", ");
    for id in &invoices {
        list.push_bind(*id);
    }
    qb.push(") ORDER BY invoice_id, as_of, ordinal");
    let blocked = qb
        .build()
        .fetch_all(&db.pool)
        .await
        .ctx("read blocked actions")?
        .iter()
        .map(|row| {
            Ok((
                get(row, "invoice_id")?,
                get(row, "as_of")?,
                get(row, "payload")?,
            ))
        })
        .collect::<Result<Vec<(String, Date, String)>>>()?;
    crate::replay::attach_blocked(&mut records, blocked);
    Ok(records)
}
