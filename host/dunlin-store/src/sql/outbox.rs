//! The outbox's claims, results, listings and requeues (see `crate::outbox`).
//!
//! A claim is one write transaction: lease up to `limit` due actions in id order, then (when
//! consolidating) the same customers' other due email notices of the same day, then read
//! what delivering them needs. On PostgreSQL the picking `SELECT` takes its rows
//! `FOR UPDATE SKIP LOCKED`, so replicas claiming at once each get other rows instead of
//! waiting on each other; on SQLite `BEGIN IMMEDIATE` makes claims take turns.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use dunlin_core::{Date, Money};
use sqlx::QueryBuilder;

use super::{get, Driver, Row, This, Tx, BACKEND};
use crate::codec::{self, from_json, narrow};
use crate::error::QueryContext;
use crate::outbox::{
    parse_attempt_channel, parse_attempt_outcome, ActionQuery, Attempt, AttemptRecord, Backlog,
    Claim, ClaimedAction, CustomerNow, FinishSummary, Finished, InvoiceNow, Lease, Next,
    OutboxEntry, Requeue,
};
use crate::review::ActionStatus;
use crate::tenant::TenantId;
use crate::{Backend, Result};

/// How far back a claimed action's customer's contacts are read: the span of the
/// guardrails' contact cap.
const CONTACT_SPAN: chrono::Duration = chrono::Duration::days(7);

/// The row lock the picking query takes: PostgreSQL skips rows another claim is taking;
/// SQLite has no row locks and needs none (one writer at a time).
fn skip_locked(table: &str) -> String {
    match BACKEND {
        Backend::Postgres => format!(" FOR UPDATE OF {table} SKIP LOCKED"),
        Backend::Sqlite => String::new(),
    }
}

/// ` AND` the conditions of an action a claim may take at `now`: pending, due, not leased
/// by a live worker. A lease whose owner is a dead or stopped replica (`crate::replica`) is
/// free before its expiry: a killed replica's actions wait seconds, not the whole lease.
fn push_claimable(qb: &mut QueryBuilder<'_, Driver>, now: DateTime<Utc>) {
    qb.push(" AND status = 'pending' AND (next_attempt_at IS NULL OR next_attempt_at <= ")
        .push_bind(now)
        .push(") AND (lease_until IS NULL OR lease_until <= ")
        .push_bind(now)
        .push(" OR lease_owner IN (SELECT id FROM replicas WHERE stopped_at IS NOT NULL OR heartbeat_at < ")
        .push_bind(crate::replica::stale_before(now))
        .push("))");
}

pub(super) async fn claim(
    db: &This,
    tenant: &TenantId,
    claim: &Claim,
) -> Result<Vec<ClaimedAction>> {
    let until = claim.now + claim.lease;
    let mut tx = db.begin_write().await?;
    // The pick is a materialised CTE, run once: as an `IN (…)` subquery PostgreSQL may run
    // it again while rechecking rows and lease more than `limit`.
    let mut qb = QueryBuilder::<Driver>::new(
        "WITH picked AS MATERIALIZED (SELECT id FROM actions WHERE tenant_id = ",
    );
    qb.push_bind(tenant.as_str());
    push_claimable(&mut qb, claim.now);
    qb.push(" ORDER BY id LIMIT ")
        .push_bind(i64::from(claim.limit))
        .push(skip_locked("actions"));
    push_lease(&mut qb, tenant, claim, until);
    qb.push(" AND id IN (SELECT id FROM picked) RETURNING id, customer_id, as_of, kind, channel");
    let rows = qb
        .build()
        .fetch_all(&mut *tx)
        .await
        .ctx("claim due actions")?;
    if rows.is_empty() {
        tx.commit().await.ctx("commit an empty claim")?;
        return Ok(Vec::new());
    }
    let mut ids = Vec::with_capacity(rows.len());
    // The (customer, day) of each claimed email notice.
    let mut days: Vec<(String, Date)> = Vec::new();
    for row in &rows {
        ids.push(get::<i64>(row, "id")?);
        let email = get::<String>(row, "kind")? == "notify"
            && get::<Option<String>>(row, "channel")?.as_deref() == Some("email");
        if email {
            days.push((get(row, "customer_id")?, get(row, "as_of")?));
        }
    }
    if claim.consolidate && !days.is_empty() {
        days.sort_unstable();
        days.dedup();
        // The same customers' other email notices of the same days, found through the
        // customer index from the claimed pairs: a join of the tenant's pending actions to
        // the claimed ones had SQLite scan the whole queue on every claim. The claimed ones
        // are leased into the future by now, so the claimable condition leaves them out.
        for slice in days.chunks(400) {
            let mut qb = QueryBuilder::<Driver>::new(
                "WITH picked AS MATERIALIZED (SELECT id FROM actions WHERE kind = 'notify' \
                 AND channel = 'email' AND status = 'pending' AND tenant_id = ",
            );
            // The customers alone as well: SQLite takes the customer index for a plain
            // `IN` list, not for the row values, which only narrow the days.
            qb.push_bind(tenant.as_str()).push(" AND customer_id IN (");
            let mut customers = qb.separated(", ");
            let mut last = None;
            for (customer, _) in slice {
                if last != Some(customer) {
                    customers.push_bind(customer.as_str());
                    last = Some(customer);
                }
            }
            qb.push(") AND (customer_id, as_of) IN (VALUES ");
            let mut pairs = qb.separated(", ");
            for (customer, as_of) in slice {
                pairs
                    .push("(")
                    .push_bind_unseparated(customer.as_str())
                    .push_unseparated(", ")
                    .push_bind_unseparated(*as_of)
                    .push_unseparated(")");
            }
            qb.push(")").push(skip_locked("actions"));
            push_lease(&mut qb, tenant, claim, until);
            push_claimable(&mut qb, claim.now);
            qb.push(" AND id IN (SELECT id FROM picked) RETURNING id");
            let more: Vec<i64> = qb
                .build_query_scalar()
                .fetch_all(&mut *tx)
                .await
                .ctx("claim the same customers' email notices")?;
            ids.extend(more);
        }
    }
    let claimed = read_claimed(&mut tx, tenant, &ids, claim.now).await?;
    tx.commit().await.ctx("commit a claim")?;
    Ok(claimed)
}

/// `) UPDATE` that leases the rows a `picked` CTE chose to `claim`'s worker until `until`,
/// up to its `WHERE tenant_id = …`.
fn push_lease<'a>(
    qb: &mut QueryBuilder<'a, Driver>,
    tenant: &'a TenantId,
    claim: &'a Claim,
    until: DateTime<Utc>,
) {
    qb.push(") UPDATE actions SET lease_owner = ")
        .push_bind(&claim.worker)
        .push(", lease_until = ")
        .push_bind(until)
        .push(", lease_token = lease_token + 1 WHERE tenant_id = ")
        .push_bind(tenant.as_str());
}

/// ` IN ($n, …)` over `ids`.
fn push_ids(qb: &mut QueryBuilder<'_, Driver>, ids: &[i64]) {
    qb.push(" IN (");
    let mut list = qb.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    qb.push(")");
}

/// The claimed actions with their decision, invoice and customer as they stand now, in id
/// order.
async fn read_claimed(
    tx: &mut Tx,
    tenant: &TenantId,
    ids: &[i64],
    now: DateTime<Utc>,
) -> Result<Vec<ClaimedAction>> {
    let mut qb = QueryBuilder::<Driver>::new(
        "SELECT a.id, a.lease_token, a.invoice_id, a.customer_id, a.as_of, a.ordinal, \
         a.payload, a.attempts, a.created_at, d.reason, d.policy_version, \
         i.number, i.issued_on, i.due_on, i.amount_minor, i.currency, i.open_balance_minor, \
         i.status AS invoice_status, \
         EXISTS (SELECT 1 FROM disputes x WHERE x.tenant_id = a.tenant_id \
                 AND x.invoice_id = a.invoice_id AND x.status = 'open') AS disputed, \
         EXISTS (SELECT 1 FROM payment_plans p WHERE p.tenant_id = a.tenant_id \
                 AND p.invoice_id = a.invoice_id AND p.status = 'active' \
                 AND p.expires_on >= ",
    );
    qb.push_bind(now.date_naive()).push(
        ") AS on_plan, c.locale, c.time_zone, c.opted_out, c.contact \
         FROM actions a \
         JOIN decisions d ON d.tenant_id = a.tenant_id AND d.invoice_id = a.invoice_id \
              AND d.as_of = a.as_of \
         JOIN invoices i ON i.tenant_id = a.tenant_id AND i.id = a.invoice_id \
         JOIN customers c ON c.tenant_id = a.tenant_id AND c.id = a.customer_id \
         WHERE a.tenant_id = ",
    );
    qb.push_bind(tenant.as_str()).push(" AND a.id");
    push_ids(&mut qb, ids);
    qb.push(" ORDER BY a.id");
    let rows = qb
        .build()
        .fetch_all(&mut **tx)
        .await
        .ctx("read claimed actions")?;
    let retried: Vec<i64> = rows
        .iter()
        .filter(|row| get::<i64>(row, "attempts").is_ok_and(|n| n > 0))
        .map(|row| get(row, "id"))
        .collect::<Result<_>>()?;
    let mut delivered_to = delivered_targets(tx, tenant, &retried).await?;
    let mut customers: Vec<String> = rows
        .iter()
        .map(|row| get(row, "customer_id"))
        .collect::<Result<_>>()?;
    customers.sort_unstable();
    customers.dedup();
    let contacts = recent_contacts(tx, tenant, &customers, now).await?;
    rows.iter()
        .map(|row| claimed_from_row(row, &mut delivered_to, &contacts))
        .collect()
}

/// When each of `customers` was last contacted: the notices delivered to them in the
/// seven days before `now`, by the time each was delivered.
async fn recent_contacts(
    tx: &mut Tx,
    tenant: &TenantId,
    customers: &[String],
    now: DateTime<Utc>,
) -> Result<HashMap<String, Vec<DateTime<Utc>>>> {
    let mut qb = QueryBuilder::<Driver>::new(
        "SELECT customer_id, updated_at FROM actions WHERE kind = 'notify' \
         AND status IN ('delivered', 'opened') AND updated_at >= ",
    );
    qb.push_bind(now - CONTACT_SPAN)
        .push(" AND tenant_id = ")
        .push_bind(tenant.as_str())
        .push(" AND customer_id IN (");
    let mut list = qb.separated(", ");
    for customer in customers {
        list.push_bind(customer.as_str());
    }
    qb.push(") ORDER BY updated_at");
    let mut contacts: HashMap<String, Vec<DateTime<Utc>>> = HashMap::new();
    for row in qb
        .build()
        .fetch_all(&mut **tx)
        .await
        .ctx("read customers' recent contacts")?
    {
        contacts
            .entry(get(&row, "customer_id")?)
            .or_default()
            .push(get(&row, "updated_at")?);
    }
    Ok(contacts)
}

fn claimed_from_row(
    row: &Row,
    delivered_to: &mut HashMap<i64, Vec<String>>,
    contacts: &HashMap<String, Vec<DateTime<Utc>>>,
) -> Result<ClaimedAction> {
    let id: i64 = get(row, "id")?;
    let customer_id: String = get(row, "customer_id")?;
    let recent_contacts = contacts.get(&customer_id).cloned().unwrap_or_default();
    let currency = codec::parse_name("currency", &get::<String>(row, "currency")?)?;
    Ok(ClaimedAction {
        lease: Lease {
            id,
            token: get(row, "lease_token")?,
        },
        invoice_id: get(row, "invoice_id")?,
        customer_id,
        as_of: get(row, "as_of")?,
        ordinal: narrow("action ordinal", get::<i64>(row, "ordinal")?)?,
        action: from_json("action", &get::<String>(row, "payload")?)?,
        attempts: narrow("action attempts", get::<i64>(row, "attempts")?)?,
        created_at: get(row, "created_at")?,
        reason: get(row, "reason")?,
        policy_version: get::<Option<i64>>(row, "policy_version")?
            .map(|v| narrow("policy version", v))
            .transpose()?,
        invoice: InvoiceNow {
            number: get(row, "number")?,
            issued_on: get(row, "issued_on")?,
            due_on: get(row, "due_on")?,
            amount: Money::new(get(row, "amount_minor")?, currency),
            open_balance: Money::new(get(row, "open_balance_minor")?, currency),
            status: codec::parse_name("invoice status", &get::<String>(row, "invoice_status")?)?,
            disputed: get(row, "disputed")?,
            on_payment_plan: get(row, "on_plan")?,
        },
        customer: CustomerNow {
            locale: get(row, "locale")?,
            time_zone: get(row, "time_zone")?,
            opted_out: from_json("opted-out channels", &get::<String>(row, "opted_out")?)?,
            contact: from_json("customer contact", &get::<String>(row, "contact")?)?,
            recent_contacts,
        },
        delivered_to: delivered_to.remove(&id).unwrap_or_default(),
    })
}

/// The targets each of `ids` was delivered to in earlier attempts.
async fn delivered_targets(
    tx: &mut Tx,
    tenant: &TenantId,
    ids: &[i64],
) -> Result<HashMap<i64, Vec<String>>> {
    let mut targets: HashMap<i64, Vec<String>> = HashMap::new();
    if ids.is_empty() {
        return Ok(targets);
    }
    let mut qb = QueryBuilder::<Driver>::new(
        "SELECT action_id, target FROM deliveries WHERE outcome = 'delivered' AND tenant_id = ",
    );
    qb.push_bind(tenant.as_str()).push(" AND action_id");
    push_ids(&mut qb, ids);
    for row in qb
        .build()
        .fetch_all(&mut **tx)
        .await
        .ctx("read earlier deliveries")?
    {
        targets
            .entry(get(&row, "action_id")?)
            .or_default()
            .push(get(&row, "target")?);
    }
    Ok(targets)
}

pub(super) async fn finish(
    db: &This,
    tenant: &TenantId,
    worker: &str,
    now: DateTime<Utc>,
    results: &[Finished],
) -> Result<FinishSummary> {
    let mut summary = FinishSummary::default();
    if results.is_empty() {
        return Ok(summary);
    }
    let mut tx = db.begin_write().await?;
    for result in results {
        let (next_at, error, note) = match &result.next {
            Next::Retry { at, error } => (Some(*at), Some(error.as_str()), None),
            Next::Dead { error } | Next::Failed { error } => (None, Some(error.as_str()), None),
            Next::Wait { until, note } => (Some(*until), None, Some(note.as_str())),
            Next::Cancelled { note } | Next::Blocked { note } => (None, None, Some(note.as_str())),
            Next::Delivered | Next::Release => (None, None, None),
        };
        let updated = sqlx::query(
            "UPDATE actions SET status = $1, attempts = attempts + $2, next_attempt_at = $3, \
             last_error = COALESCE($4, last_error), note = $5, lease_owner = NULL, \
             lease_until = NULL, updated_at = $6 \
             WHERE tenant_id = $7 AND id = $8 AND lease_token = $9 AND status = 'pending'",
        )
        .bind(result.next.status().as_str())
        .bind(i64::from(!result.attempts.is_empty()))
        .bind(next_at)
        .bind(error)
        .bind(note)
        .bind(now)
        .bind(tenant.as_str())
        .bind(result.lease.id)
        .bind(result.lease.token)
        .execute(&mut *tx)
        .await
        .ctx("write a delivery result")?
        .rows_affected();
        if updated == 1 {
            summary.written += 1;
        } else {
            summary.lost += 1;
        }
    }
    // Only the tenant's own actions' attempts are logged: a result naming another tenant's
    // action writes nothing at all.
    let ids: Vec<i64> = results.iter().map(|r| r.lease.id).collect();
    let mut qb = QueryBuilder::<Driver>::new("SELECT id FROM actions WHERE tenant_id = ");
    qb.push_bind(tenant.as_str()).push(" AND id");
    push_ids(&mut qb, &ids);
    let own: HashSet<i64> = qb
        .build_query_scalar()
        .fetch_all(&mut *tx)
        .await
        .ctx("check the results' actions")?
        .into_iter()
        .collect();
    let attempts: Vec<(&Finished, &Attempt)> = results
        .iter()
        .filter(|r| own.contains(&r.lease.id))
        .flat_map(|r| r.attempts.iter().map(move |a| (r, a)))
        .collect();
    // A multi-row insert, in slices that keep within SQLite's bound-parameter limit.
    for slice in attempts.chunks(500) {
        let mut qb = QueryBuilder::<Driver>::new(
            "INSERT INTO deliveries (tenant_id, action_id, attempt, worker, started_at, \
             latency_us, channel, target, message_key, outcome, detail) ",
        );
        qb.push_values(slice, |mut row, (result, attempt)| {
            row.push_bind(tenant.as_str())
                .push_bind(result.lease.id)
                .push_bind(i64::from(result.attempt))
                .push_bind(worker)
                .push_bind(attempt.started_at)
                .push_bind(codec::to_i64(attempt.latency_us))
                .push_bind(attempt.channel.as_str())
                .push_bind(attempt.target.as_str())
                .push_bind(attempt.message_key.as_str())
                .push_bind(attempt.outcome.as_str())
                .push_bind(attempt.detail.as_str());
        });
        qb.build()
            .execute(&mut *tx)
            .await
            .ctx("log delivery attempts")?;
    }
    tx.commit().await.ctx("commit delivery results")?;
    Ok(summary)
}

/// Two counts on the tenant's actions: the pending ones through the partial queue index
/// (`actions_queue`), the dead ones apart, so that neither reads the delivered history.
pub(super) async fn backlog(db: &This, tenant: &TenantId) -> Result<Backlog> {
    let row = sqlx::query(
        "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM actions \
         WHERE tenant_id = $1 AND status = 'pending'",
    )
    .bind(tenant.as_str())
    .fetch_one(&db.pool)
    .await
    .ctx("count pending actions")?;
    let pending = narrow("pending actions", get::<i64>(&row, "n")?)?;
    let oldest_pending_at = get(&row, "oldest")?;
    let dead: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM actions WHERE tenant_id = $1 AND status = 'dead'")
            .bind(tenant.as_str())
            .fetch_one(&db.pool)
            .await
            .ctx("count dead actions")?;
    Ok(Backlog {
        pending,
        oldest_pending_at,
        dead: narrow("dead actions", dead)?,
    })
}

pub(super) async fn actions(
    db: &This,
    tenant: &TenantId,
    query: &ActionQuery,
) -> Result<Vec<OutboxEntry>> {
    let mut qb = QueryBuilder::<Driver>::new(
        "SELECT id, invoice_id, customer_id, as_of, payload, status, attempts, \
         next_attempt_at, last_error, note, lease_owner, lease_until, updated_at \
         FROM actions WHERE tenant_id = ",
    );
    qb.push_bind(tenant.as_str());
    if let Some(status) = query.status {
        qb.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some(invoice) = &query.invoice {
        qb.push(" AND invoice_id = ").push_bind(invoice.as_str());
    }
    if let Some(customer) = &query.customer {
        qb.push(" AND customer_id = ").push_bind(customer.as_str());
    }
    if let Some(kind) = query.kind {
        qb.push(" AND kind = ").push_bind(codec::name(&kind));
    }
    super::push_as_of_window(&mut qb, query.from, query.to);
    if let Some(after) = query.after_id {
        qb.push(" AND id > ").push_bind(after);
    }
    qb.push(" ORDER BY id LIMIT ")
        .push_bind(i64::from(query.limit.clamp(1, 10_000)));
    qb.build()
        .fetch_all(&db.pool)
        .await
        .ctx("read the outbox")?
        .iter()
        .map(|row| {
            Ok(OutboxEntry {
                id: get(row, "id")?,
                invoice_id: get(row, "invoice_id")?,
                customer_id: get(row, "customer_id")?,
                as_of: get(row, "as_of")?,
                action: from_json("action", &get::<String>(row, "payload")?)?,
                status: ActionStatus::parse(&get::<String>(row, "status")?)?,
                attempts: narrow("action attempts", get::<i64>(row, "attempts")?)?,
                next_attempt_at: get(row, "next_attempt_at")?,
                last_error: get(row, "last_error")?,
                note: get(row, "note")?,
                lease_owner: get(row, "lease_owner")?,
                lease_until: get(row, "lease_until")?,
                updated_at: get(row, "updated_at")?,
            })
        })
        .collect()
}

pub(super) async fn attempts(
    db: &This,
    tenant: &TenantId,
    actions: &[i64],
) -> Result<Vec<AttemptRecord>> {
    if actions.is_empty() {
        return Ok(Vec::new());
    }
    let mut qb = QueryBuilder::<Driver>::new(
        "SELECT action_id, attempt, worker, started_at, latency_us, channel, target, \
         message_key, outcome, detail FROM deliveries WHERE tenant_id = ",
    );
    qb.push_bind(tenant.as_str()).push(" AND action_id");
    push_ids(&mut qb, actions);
    qb.push(" ORDER BY id");
    qb.build()
        .fetch_all(&db.pool)
        .await
        .ctx("read delivery attempts")?
        .iter()
        .map(|row| {
            Ok(AttemptRecord {
                action_id: get(row, "action_id")?,
                attempt: narrow("attempt", get::<i64>(row, "attempt")?)?,
                worker: get(row, "worker")?,
                attempt_made: Attempt {
                    started_at: get(row, "started_at")?,
                    latency_us: narrow("latency", get::<i64>(row, "latency_us")?)?,
                    channel: parse_attempt_channel(&get::<String>(row, "channel")?)?,
                    target: get(row, "target")?,
                    message_key: get(row, "message_key")?,
                    outcome: parse_attempt_outcome(&get::<String>(row, "outcome")?)?,
                    detail: get(row, "detail")?,
                },
            })
        })
        .collect()
}

pub(super) async fn requeue(db: &This, tenant: &TenantId, which: &Requeue) -> Result<u64> {
    let mut qb = QueryBuilder::<Driver>::new(
        "UPDATE actions SET status = 'pending', attempts = 0, next_attempt_at = NULL, \
         lease_owner = NULL, lease_until = NULL, note = 'requeued by hand', updated_at = ",
    );
    qb.push_bind(Utc::now())
        .push(" WHERE tenant_id = ")
        .push_bind(tenant.as_str());
    match which {
        // A failure the tenant reported (`outcome`) is its own systems' (a letter not
        // posted), not a delivery of the host's: sending the action again would not redo it.
        Requeue::One(id) => {
            qb.push(" AND status IN ('failed', 'dead') AND outcome IS NULL AND id = ")
                .push_bind(*id);
        }
        Requeue::Dead => {
            qb.push(" AND status = 'dead'");
        }
    }
    Ok(qb
        .build()
        .execute(&db.pool)
        .await
        .ctx("requeue actions")?
        .rows_affected())
}
