//! The PostgreSQL backend, for shared deployments with several `dunlin serve` replicas.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::{Arc, LazyLock};

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::Row as _;

use chrono::{DateTime, Utc};
use dunlin_core::Date;

use crate::codec::{self, from_json};
use crate::error::{redact, QueryContext};
use crate::replay::{RecordedDecision, RecordedQuery};
use crate::sweep::page::{due_column, DueRow};
use crate::sweep::{batch, page, EncodedOutcome, InvoiceReceipt, Issuer, LedgerMark, Written};
use crate::{Contact, DuePage, DueQuery, Outcome, Result, StoreError, TenantId};

/// The sqlx database `sql.rs` is compiled for here.
type Driver = sqlx::Postgres;
/// The handle `sql.rs` implements [`crate::Db`] for here.
type This = PgDb;

/// The schema's migrations, embedded: run on open, compared by `Db::ready`.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");
const BACKEND: crate::Backend = crate::Backend::Postgres;
/// [`crate::Db::write_lanes`]: two batches of one sweep are written at once. One server
/// process inserting a batch used one core while the other stood partly idle (200,000
/// invoices: the write stage busy 96 % of the sweep, the machine 40 % idle).
const WRITE_LANES: usize = 2;

/// The aggregate that turns a query's rows into one JSON array of arrays, ordered by
/// `order_by`, in a column named `rows` (`[]` when there are none).
fn json_rows(fields: &str, order_by: &str) -> String {
    format!(
        "COALESCE(json_agg(json_build_array({fields}) ORDER BY {order_by})::text, '[]') AS rows"
    )
}

type Tx = sqlx::Transaction<'static, Driver>;

/// The page query without and with its cursor, as rows: one per invoice. Aggregated into one
/// JSON value per page instead, the server spent more on building the JSON than on the query
/// (a page of 4,000: 32 of 56 ms); decoding the rows falls to our process, which has cores to
/// spare while the server is the sweep's bottleneck.
static PAGE_SQL: LazyLock<[String; 2]> =
    LazyLock::new(|| [page::page_sql(false), page::page_sql(true)]);

/// One invoice of the page query, each field from the column of its name
/// ([`page::DUE_COLUMNS`]; the places are found when this is compiled).
fn due_row(r: &PgRow) -> Result<DueRow> {
    fn at<'r, T>(r: &'r PgRow, column: usize) -> Result<T>
    where
        T: sqlx::Decode<'r, Driver> + sqlx::Type<Driver>,
    {
        r.try_get(column).ctx("decode a due invoice")
    }
    // The flags are `CASE … THEN 1 ELSE 0 END`: an int4 here.
    let flag = |column| at::<i32>(r, column).map(i64::from);
    Ok(DueRow {
        id: at(r, const { due_column("id") })?,
        customer_id: at(r, const { due_column("customer_id") })?,
        number: at(r, const { due_column("number") })?,
        issued_on: at(r, const { due_column("issued_on") })?,
        due_on: at(r, const { due_column("due_on") })?,
        amount_minor: at(r, const { due_column("amount_minor") })?,
        currency: at(r, const { due_column("currency") })?,
        open_balance_minor: at(r, const { due_column("open_balance_minor") })?,
        payment_method: at(r, const { due_column("payment_method") })?,
        failed_attempts: at(r, const { due_column("failed_attempts") })?,
        last_failure_on: at(r, const { due_column("last_failure_on") })?,
        last_failure_code: at(r, const { due_column("last_failure_code") })?,
        last_failure_kind: at(r, const { due_column("last_failure_kind") })?,
        metadata: at(r, const { due_column("metadata") })?,
        tags: at(r, const { due_column("tags") })?,
        lifetime_value_minor: at(r, const { due_column("lifetime_value_minor") })?,
        lifetime_currency: at(r, const { due_column("lifetime_currency") })?,
        customer_since: at(r, const { due_column("customer_since") })?,
        on_time_12m: at(r, const { due_column("on_time_12m") })?,
        late_12m: at(r, const { due_column("late_12m") })?,
        locale: at(r, const { due_column("locale") })?,
        time_zone: at(r, const { due_column("time_zone") })?,
        reachable_on: at(r, const { due_column("reachable_on") })?,
        opted_out: at(r, const { due_column("opted_out") })?,
        level: at(r, const { due_column("level") })?,
        last_action_on: at(r, const { due_column("last_action_on") })?,
        next_review_on: at(r, const { due_column("next_review_on") })?,
        policy_version: at(r, const { due_column("policy_version") })?,
        paused_until: at(r, const { due_column("paused_until") })?,
        paused_why: at(r, const { due_column("paused_why") })?,
        ended: flag(const { due_column("ended") })?,
        disputed: flag(const { due_column("disputed") })?,
        on_plan: flag(const { due_column("on_plan") })?,
    })
}

/// A page's list of ids bound as one text array, as the second parameter (see
/// `due_for_review`).
const UNNEST_2: &str = "SELECT unnest($2::text[])";
/// [`UNNEST_2`] as the third parameter.
const UNNEST_3: &str = "SELECT unnest($3::text[])";

/// Decisions of a batch as one `INSERT … SELECT FROM UNNEST`: one array per column, so the
/// statement has 14 parameters whatever the batch size. A decision whose key is taken (by a
/// sweep before, or one committing beside this one) is not inserted; the keys that were come
/// back.
async fn insert_decisions(
    tx: &mut Tx,
    tenant: &TenantId,
    rows: &[&EncodedOutcome],
    chunks: &HashMap<usize, i64>,
    at: DateTime<Utc>,
) -> Result<HashSet<(String, Date)>> {
    if rows.is_empty() {
        return Ok(HashSet::new());
    }
    let col = |f: &dyn for<'e> Fn(&'e EncodedOutcome) -> Option<&'e str>| -> Vec<Option<&str>> {
        rows.iter().map(|e| f(e)).collect()
    };
    let invoice: Vec<&str> = rows
        .iter()
        .map(|e| e.outcome.context.invoice.id.as_str())
        .collect();
    let as_of: Vec<Date> = rows.iter().map(|e| e.outcome.context.as_of).collect();
    let version: Vec<Option<i64>> = rows
        .iter()
        .map(|e| e.outcome.policy.as_ref().map(|p| i64::from(p.version)))
        .collect();
    let sha = col(&|e| e.outcome.policy.as_ref().map(|p| p.sha256.as_str()));
    let chunk: Vec<Option<i64>> = rows
        .iter()
        .map(|e| chunks.get(&e.chunk_key()).copied())
        .collect();
    let line: Vec<i64> = rows.iter().map(|e| i64::from(e.line)).collect();
    let decision = col(&|e| e.decision.as_deref());
    let reason: Vec<&str> = rows.iter().map(|e| e.outcome.reason.as_str()).collect();
    let interventions: Vec<&str> = rows.iter().map(|e| e.interventions.as_str()).collect();
    let fuel: Vec<Option<i64>> = rows
        .iter()
        .map(|e| e.outcome.fuel_used.map(codec::to_i64))
        .collect();
    let duration: Vec<Option<i64>> = rows
        .iter()
        .map(|e| e.outcome.duration_us.map(codec::to_i64))
        .collect();
    let code = col(&|e| e.outcome.failure.as_ref().map(|f| f.code.as_str()));
    let message = col(&|e| e.outcome.failure.as_ref().map(|f| f.message.as_str()));
    sqlx::query(
        "INSERT INTO decisions (tenant_id, invoice_id, as_of, policy_version, policy_sha256, \
         context_chunk, context_line, decision, reason, interventions, fuel_used, duration_us, \
         failure_code, failure_message, created_at, context) \
         SELECT $1, * , $15, $16 FROM UNNEST($2::text[], $3::date[], $4::int8[], $5::text[], \
         $6::int8[], $7::int8[], $8::text[], $9::text[], $10::text[], $11::int8[], $12::int8[], \
         $13::text[], $14::text[]) \
         ON CONFLICT (tenant_id, invoice_id, as_of) DO NOTHING RETURNING invoice_id, as_of",
    )
    .bind(tenant.as_str())
    .bind(invoice)
    .bind(as_of)
    .bind(version)
    .bind(sha)
    .bind(chunk)
    .bind(line)
    .bind(decision)
    .bind(reason)
    .bind(interventions)
    .bind(fuel)
    .bind(duration)
    .bind(code)
    .bind(message)
    .bind(at)
    .bind(codec::IN_CHUNK)
    .fetch_all(&mut **tx)
    .await
    .ctx("record decisions")?
    .iter()
    .map(|row| Ok((sql::get(row, "invoice_id")?, sql::get(row, "as_of")?)))
    .collect()
}

/// The batch's chunks of contexts, each once, with ids taken from the sequence first so that
/// the decisions can name them (by [`EncodedOutcome::chunk_key`]).
async fn insert_chunks(
    tx: &mut Tx,
    tenant: &TenantId,
    rows: &[&EncodedOutcome],
) -> Result<HashMap<usize, i64>> {
    let mut seen = HashSet::new();
    let (keys, frames): (Vec<usize>, Vec<&[u8]>) = rows
        .iter()
        .filter(|e| seen.insert(e.chunk_key()))
        .map(|e| (e.chunk_key(), e.chunk.as_slice()))
        .unzip();
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT nextval(pg_get_serial_sequence('context_chunks', 'id')) \
         FROM generate_series(1, $1)",
    )
    .bind(codec::to_i64(keys.len() as u64))
    .fetch_all(&mut **tx)
    .await
    .ctx("record contexts")?;
    sqlx::query(
        "INSERT INTO context_chunks (id, tenant_id, frame) \
         SELECT id, $1, frame FROM UNNEST($2::int8[], $3::bytea[]) AS c (id, frame)",
    )
    .bind(tenant.as_str())
    .bind(&ids)
    .bind(frames)
    .execute(&mut **tx)
    .await
    .ctx("record contexts")?;
    Ok(keys.into_iter().zip(ids).collect())
}

/// Deletes the batch's chunks that no new decision names (all of theirs were recorded
/// before).
async fn delete_unnamed_chunks(
    tx: &mut Tx,
    tenant: &TenantId,
    chunks: &HashMap<usize, i64>,
    inserted: &[&EncodedOutcome],
) -> Result<()> {
    let unnamed = batch::unnamed_chunks(chunks, inserted);
    if !unnamed.is_empty() {
        sqlx::query("DELETE FROM context_chunks WHERE tenant_id = $1 AND id = ANY($2::int8[])")
            .bind(tenant.as_str())
            .bind(unnamed)
            .execute(&mut **tx)
            .await
            .ctx("record contexts")?;
    }
    Ok(())
}

/// Actions of a batch as one `INSERT … SELECT FROM UNNEST`.
async fn insert_actions(
    tx: &mut Tx,
    tenant: &TenantId,
    rows: &[batch::NewAction<'_>],
    at: DateTime<Utc>,
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let invoice: Vec<&str> = rows
        .iter()
        .map(|a| a.outcome.context.invoice.id.as_str())
        .collect();
    let as_of: Vec<Date> = rows.iter().map(|a| a.outcome.context.as_of).collect();
    let ordinal: Vec<i64> = rows.iter().map(|a| a.ordinal).collect();
    let customer: Vec<&str> = rows
        .iter()
        .map(|a| a.outcome.context.customer.id.as_str())
        .collect();
    let kind: Vec<String> = rows.iter().map(|a| a.kind()).collect();
    let channel: Vec<Option<&str>> = rows
        .iter()
        .map(|a| a.notice().map(|n| n.channel.as_str()))
        .collect();
    let level: Vec<Option<i64>> = rows
        .iter()
        .map(|a| a.notice().map(|n| i64::from(n.level)))
        .collect();
    let tone: Vec<Option<&str>> = rows
        .iter()
        .map(|a| a.notice().map(|n| n.tone.as_str()))
        .collect();
    let payload: Vec<&str> = rows.iter().map(|a| a.payload).collect();
    let status: Vec<&str> = rows.iter().map(|a| a.status.as_str()).collect();
    sqlx::query(
        "INSERT INTO actions (tenant_id, invoice_id, as_of, ordinal, customer_id, kind, channel, \
         level, tone, payload, status, attempts, created_at, updated_at) \
         SELECT $1, *, 0, $12, $12 FROM UNNEST($2::text[], $3::date[], $4::int8[], $5::text[], \
         $6::text[], $7::text[], $8::int8[], $9::text[], $10::text[], $11::text[])",
    )
    .bind(tenant.as_str())
    .bind(invoice)
    .bind(as_of)
    .bind(ordinal)
    .bind(customer)
    .bind(kind)
    .bind(channel)
    .bind(level)
    .bind(tone)
    .bind(payload)
    .bind(status)
    .bind(at)
    .execute(&mut **tx)
    .await
    .ctx("record actions")?;
    Ok(())
}

/// New ladder states of a batch as one upsert from `UNNEST`.
async fn upsert_states(
    tx: &mut Tx,
    tenant: &TenantId,
    rows: &[&Outcome],
    at: DateTime<Utc>,
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let invoice: Vec<&str> = rows.iter().map(|o| o.context.invoice.id.as_str()).collect();
    let level: Vec<i64> = rows.iter().map(|o| i64::from(o.state.level)).collect();
    let last: Vec<Option<Date>> = rows.iter().map(|o| o.state.last_action_on).collect();
    let next: Vec<Option<Date>> = rows.iter().map(|o| o.state.next_review_on).collect();
    let version: Vec<Option<i64>> = rows
        .iter()
        .map(|o| o.state.policy_version.map(i64::from))
        .collect();
    let paused: Vec<Option<Date>> = rows.iter().map(|o| o.state.paused_until).collect();
    let why: Vec<Option<&str>> = rows.iter().map(|o| o.state.paused_why.as_deref()).collect();
    let ended: Vec<bool> = rows.iter().map(|o| o.state.ended).collect();
    let statement = format!(
        "INSERT INTO dunning_state (tenant_id, invoice_id, level, last_action_on, \
         next_review_on, policy_version, paused_until, paused_why, ended, updated_at) \
         SELECT $1, *, $10 FROM UNNEST($2::text[], $3::int8[], $4::date[], $5::date[], \
         $6::int8[], $7::date[], $8::text[], $9::bool[]){}",
        batch::STATE_CONFLICT
    );
    sqlx::query(&statement)
        .bind(tenant.as_str())
        .bind(invoice)
        .bind(level)
        .bind(last)
        .bind(next)
        .bind(version)
        .bind(paused)
        .bind(why)
        .bind(ended)
        .bind(at)
        .execute(&mut **tx)
        .await
        .ctx("record dunning state")?;
    Ok(())
}

/// Reads a page of the decision log for replay, backtest and export: the decisions' own
/// columns, their contexts (each chunk read once) and, when asked for, the text of the
/// blocked actions of the decisions the guardrails changed. SQLite reads the same on its
/// own connections (`sqlite/recorded.rs`).
async fn recorded_decisions(
    db: &PgDb,
    tenant: &TenantId,
    query: &RecordedQuery,
) -> Result<Vec<RecordedDecision>> {
    let mut qb = sqlx::QueryBuilder::<Driver>::new(
        "SELECT id, invoice_id, as_of, policy_version, policy_sha256, context, context_chunk, \
         context_line, decision, interventions, failure_code FROM decisions WHERE tenant_id = ",
    );
    qb.push_bind(tenant.as_str());
    if let Some(id) = query.id {
        qb.push(" AND id = ").push_bind(id);
    }
    sql::push_as_of_window(&mut qb, query.from, query.to);
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
    let mut chunks = sql::review::context_chunks(&db.pool, tenant, &rows).await?;
    let mut records = Vec::with_capacity(rows.len());
    for row in &rows {
        records.push(RecordedDecision {
            id: sql::get(row, "id")?,
            invoice_id: sql::get(row, "invoice_id")?,
            as_of: sql::get(row, "as_of")?,
            policy: sql::review::policy_of(row)?,
            // Decompressed, not parsed: the reader parses (on its worker threads).
            context: chunks.recorded(
                &sql::get::<Vec<u8>>(row, "context")?,
                sql::get(row, "context_chunk")?,
                sql::get(row, "context_line")?,
            )?,
            decision: sql::get(row, "decision")?,
            interventions: from_json("interventions", &sql::get::<String>(row, "interventions")?)?,
            blocked: Vec::new(),
            failure_code: sql::get(row, "failure_code")?,
        });
    }
    let invoices = crate::replay::invoices_with_interventions(&records);
    if !query.blocked_actions || invoices.is_empty() {
        return Ok(records);
    }
    let mut qb = sqlx::QueryBuilder::<Driver>::new(
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
                sql::get(row, "invoice_id")?,
                sql::get(row, "as_of")?,
                sql::get(row, "payload")?,
            ))
        })
        .collect::<Result<Vec<(String, Date, String)>>>()?;
    crate::replay::attach_blocked(&mut records, blocked);
    Ok(records)
}

/// One page of invoices due for review: the page's rows, then one query each for the page's
/// history, its customers' overdue invoices and their recent contacts.
async fn due_for_review(db: &PgDb, tenant: &TenantId, query: &DueQuery) -> Result<DuePage> {
    let as_of = query.as_of;
    let limit = query.limit.clamp(1, DueQuery::MAX_LIMIT);
    let row = sqlx::query("SELECT params, lead_days FROM tenants WHERE id = $1")
        .bind(tenant.as_str())
        .fetch_optional(&db.pool)
        .await
        .ctx("read tenant")?
        .ok_or_else(|| StoreError::UnknownTenant(tenant.clone()))?;
    let (params, horizon) = page::page_tenant(
        &sql::get::<String>(&row, "params")?,
        sql::get(&row, "lead_days")?,
        as_of,
    )?;

    let mut page = sqlx::query(&PAGE_SQL[usize::from(query.after.is_some())])
        .bind(tenant.as_str())
        .bind(as_of)
        .bind(horizon)
        .bind(i64::from(limit));
    if let Some(after) = &query.after {
        page = page.bind(after.as_str());
    }
    let rows = page
        .fetch_all(&db.pool)
        .await
        .ctx("select invoices due for review")?;
    if rows.is_empty() {
        return Ok(DuePage {
            invoices: Vec::new(),
            next: None,
        });
    }
    let issuer = Arc::new(Issuer {
        store: db.id,
        tenant: tenant.clone(),
    });
    let due = rows
        .iter()
        .map(|r| {
            let mut due = due_row(r)?.into_due(as_of, &params)?;
            due.receipt = Some(InvoiceReceipt::new(&issuer, &due.context.invoice.id));
            Ok(due)
        })
        .collect::<Result<Vec<_>>>()?;
    let mut extras = page::PageExtras::default();

    // Each list of ids is one array, read back with `unnest`: PostgreSQL joins it to the
    // index. As `IN ($2, …, $2001)` a cached generic plan could scan the tenant's actions and
    // test each against all 2,000 values; with the statistics taken before a sweep (no
    // actions yet) it did, at 200 to 340 ms a page by the end of a sweep of 1M invoices.
    let invoices: Vec<&str> = due.iter().map(|d| d.context.invoice.id.as_str()).collect();
    let history = page::history_sql(&json_rows(page::HISTORY_FIELDS, "id"), UNNEST_2);
    let row = sqlx::query(&history)
        .bind(tenant.as_str())
        .bind(&invoices)
        .fetch_one(&db.pool)
        .await
        .ctx("read action history")?;
    let rows: Vec<page::HistoryRow> =
        from_json("action history", &sql::get::<String>(&row, "rows")?)?;
    for row in rows {
        let (invoice, past) = row.into_past()?;
        extras.history.entry(invoice).or_default().push(past);
    }

    let customers = page::page_customers(&due);
    let overdue = page::overdue_sql(UNNEST_3);
    let q = sqlx::query(&overdue)
        .bind(tenant.as_str())
        .bind(as_of)
        .bind(&customers);
    for row in q.fetch_all(&db.pool).await.ctx("sum overdue invoices")? {
        extras.overdue.insert(
            (sql::get(&row, "customer_id")?, sql::get(&row, "currency")?),
            (sql::get(&row, "n")?, sql::get(&row, "total")?),
        );
    }

    let contacts = page::contacts_sql(UNNEST_3);
    let q = sqlx::query(&contacts)
        .bind(tenant.as_str())
        .bind(query.contacts_since)
        .bind(&customers);
    for row in q.fetch_all(&db.pool).await.ctx("read recent contacts")? {
        extras
            .contacts
            .entry(sql::get(&row, "customer_id")?)
            .or_default()
            .push(Contact {
                invoice_id: sql::get(&row, "invoice_id")?,
                on: sql::get(&row, "as_of")?,
                channel: codec::parse_name("channel", &sql::get::<String>(&row, "channel")?)?,
            });
    }
    page::complete_page(due, extras, as_of, limit)
}

/// Fails with [`StoreError::UnknownInvoice`] for the first invoice of `rows` the tenant does
/// not have, looking up only those no receipt of this store vouches for (a sweep's outcomes
/// all carry one). The schema has no foreign keys from the sweep's tables to invoices (pg
/// migration 16): the per-row checks, each locking its invoice's row, were 40 % of a batch's
/// server time. Invoices are never deleted, so one that is there now stays.
async fn require_invoices(
    tx: &mut Tx,
    store: u64,
    tenant: &TenantId,
    rows: &[&EncodedOutcome],
) -> Result<()> {
    let unvouched = crate::sweep::unvouched(rows.iter().copied(), store, tenant);
    if unvouched.is_empty() {
        return Ok(());
    }
    let missing: Option<String> = sqlx::query_scalar(
        "SELECT b.id FROM UNNEST($2::text[]) WITH ORDINALITY AS b (id, n) \
         WHERE NOT EXISTS (SELECT 1 FROM invoices i WHERE i.tenant_id = $1 AND i.id = b.id) \
         ORDER BY b.n LIMIT 1",
    )
    .bind(tenant.as_str())
    .bind(unvouched)
    .fetch_optional(&mut **tx)
    .await
    .ctx("look up invoices")?;
    match missing {
        None => Ok(()),
        Some(invoice) => Err(StoreError::UnknownInvoice {
            tenant: tenant.clone(),
            what: "decision",
            id: invoice.clone(),
            invoice,
        }),
    }
}

/// The invoices among `rows` that a ledger write stamped after `seen` (see
/// [`LedgerMark`]), in one statement.
async fn stamped_after(
    tx: &mut Tx,
    tenant: &TenantId,
    rows: &[&EncodedOutcome],
    seen: i64,
) -> Result<HashSet<String>> {
    let invoices: Vec<&str> = rows
        .iter()
        .map(|e| e.outcome.context.invoice.id.as_str())
        .collect();
    sqlx::query_scalar(
        "SELECT s.invoice_id FROM ledger_stamps s JOIN UNNEST($2::text[]) AS b (id) \
         ON s.invoice_id = b.id WHERE s.tenant_id = $1 AND s.seq > $3",
    )
    .bind(tenant.as_str())
    .bind(invoices)
    .bind(seen)
    .fetch_all(&mut **tx)
    .await
    .ctx("look up changed invoices")
    .map(|ids| ids.into_iter().collect())
}

/// Records a batch in one transaction. The decisions go first, each inserted only if its
/// (invoice, as-of) is free; only those inserted then write their actions and states, so a
/// repeated or resumed sweep writes nothing twice. Batches of one tenant may run at once
/// ([`WRITE_LANES`]): PostgreSQL makes an insert wait for a concurrent transaction holding the
/// same key and skips it once that one commits. The batch is written in key order, so two
/// batches that share keys wait on each other in one order and cannot deadlock.
///
/// The tenant's ledger clock is read `FOR SHARE` first: a ledger write (which updates that
/// row first) committing meanwhile is waited for, and one starting meanwhile waits for this
/// batch. When
/// the ledger moved past `read_at`, the outcomes of the invoices it stamped since are
/// dropped. Batches share the lock, and everything else in them is locked after it, so the
/// one order holds.
async fn record_encoded(
    db: &PgDb,
    tenant: &TenantId,
    outcomes: Vec<EncodedOutcome>,
    read_at: Option<LedgerMark>,
) -> Result<Written> {
    // In key order, and one decision per (invoice, as-of): the sort is stable, so a batch
    // that repeats one keeps the first.
    fn key<'e>(e: &&'e EncodedOutcome) -> (&'e str, Date) {
        let ctx = &e.outcome.context;
        (ctx.invoice.id.as_str(), ctx.as_of)
    }
    let mut encoded: Vec<&EncodedOutcome> = outcomes.iter().collect();
    encoded.sort_by(|a, b| key(a).cmp(&key(b)));
    encoded.dedup_by(|b, a| key(a) == key(b));
    let at = codec::now();
    let mut tx = db.begin_write().await?;
    sql::require_tenant(&mut tx, tenant).await?;
    require_invoices(&mut tx, db.id, tenant, &encoded).await?;
    // No clock row: the tenant has had no ledger write, so it has no invoices either.
    let seq: i64 =
        sqlx::query_scalar("SELECT seq FROM ledger_clock WHERE tenant_id = $1 FOR SHARE")
            .bind(tenant.as_str())
            .fetch_optional(&mut *tx)
            .await
            .ctx("read the ledger's clock")?
            .unwrap_or(0);
    let stale = match read_at.and_then(|m| m.seq_of(tenant)) {
        Some(seen) if seen < seq => stamped_after(&mut tx, tenant, &encoded, seen).await?,
        _ => HashSet::new(),
    };
    let total = encoded.len();
    encoded.retain(|e| !stale.contains(&e.outcome.context.invoice.id));
    let dropped = total - encoded.len();

    // Decisions, then the actions of those inserted (named by the decision's key), then
    // their new states.
    let chunks = insert_chunks(&mut tx, tenant, &encoded).await?;
    let keys = insert_decisions(&mut tx, tenant, &encoded, &chunks, at).await?;
    let keys: HashSet<(&str, Date)> = keys.iter().map(|(i, d)| (i.as_str(), *d)).collect();
    let inserted: Vec<&EncodedOutcome> = encoded
        .into_iter()
        .filter(|e| {
            let ctx = &e.outcome.context;
            keys.contains(&(ctx.invoice.id.as_str(), ctx.as_of))
        })
        .collect();
    delete_unnamed_chunks(&mut tx, tenant, &chunks, &inserted).await?;
    insert_actions(&mut tx, tenant, &batch::new_actions(&inserted), at).await?;
    upsert_states(&mut tx, tenant, &batch::latest_states(&inserted), at).await?;
    let shadowed =
        crate::sweep::shadows_written(tenant, insert_shadows(&mut tx, tenant, &inserted, at).await);
    tx.commit().await.ctx("commit decisions")?;
    Ok(Written {
        shadowed,
        ..Written::of(&inserted, outcomes.len(), dropped)
    })
}

/// The shadow answers of a batch's new decisions as one `INSERT … SELECT FROM UNNEST`, each
/// joined to its decision by key, in a savepoint of the batch's transaction: if it fails,
/// none is written and the live rows commit all the same.
async fn insert_shadows(
    tx: &mut Tx,
    tenant: &TenantId,
    inserted: &[&EncodedOutcome],
    at: DateTime<Utc>,
) -> Result<usize> {
    let rows: Vec<(&EncodedOutcome, &crate::sweep::EncodedShadow)> = inserted
        .iter()
        .filter_map(|e| Some((*e, e.shadow.as_deref()?)))
        .collect();
    if rows.is_empty() {
        return Ok(0);
    }
    let invoice: Vec<&str> = rows
        .iter()
        .map(|(e, _)| e.outcome.context.invoice.id.as_str())
        .collect();
    let as_of: Vec<Date> = rows.iter().map(|(e, _)| e.outcome.context.as_of).collect();
    let version: Vec<i64> = rows.iter().map(|(_, s)| i64::from(s.version)).collect();
    let decision: Vec<Option<&str>> = rows.iter().map(|(_, s)| s.decision.as_deref()).collect();
    let reason: Vec<&str> = rows.iter().map(|(_, s)| s.reason.as_str()).collect();
    let interventions: Vec<&str> = rows.iter().map(|(_, s)| s.interventions.as_str()).collect();
    let blocked: Vec<&str> = rows.iter().map(|(_, s)| s.blocked.as_str()).collect();
    let fuel: Vec<Option<i64>> = rows
        .iter()
        .map(|(_, s)| s.fuel_used.map(codec::to_i64))
        .collect();
    let duration: Vec<Option<i64>> = rows
        .iter()
        .map(|(_, s)| s.duration_us.map(codec::to_i64))
        .collect();
    let code: Vec<Option<&str>> = rows
        .iter()
        .map(|(_, s)| s.failure.as_ref().map(|f| f.code.as_str()))
        .collect();
    let message: Vec<Option<&str>> = rows
        .iter()
        .map(|(_, s)| s.failure.as_ref().map(|f| f.message.as_str()))
        .collect();
    let as_live: Vec<bool> = rows.iter().map(|(_, s)| s.as_live).collect();
    // Dropped without a commit (on an error), the savepoint rolls back to where it began.
    let mut sp = sqlx::Connection::begin(&mut **tx)
        .await
        .ctx("record shadow decisions")?;
    let done = sqlx::query(
        "INSERT INTO shadow_decisions (tenant_id, invoice_id, as_of, policy_version, \
         decision_id, decision, reason, interventions, blocked, fuel_used, duration_us, \
         failure_code, failure_message, created_at, as_live) \
         SELECT $1, v.invoice_id, v.as_of, v.policy_version, d.id, v.decision, v.reason, \
         v.interventions, v.blocked, v.fuel_used, v.duration_us, v.failure_code, \
         v.failure_message, $13, v.as_live FROM UNNEST($2::text[], $3::date[], $4::int8[], \
         $5::text[], $6::text[], $7::text[], $8::text[], $9::int8[], $10::int8[], \
         $11::text[], $12::text[], $14::bool[]) AS v (invoice_id, as_of, policy_version, \
         decision, reason, interventions, blocked, fuel_used, duration_us, failure_code, \
         failure_message, as_live) \
         JOIN decisions d ON d.tenant_id = $1 AND d.invoice_id = v.invoice_id \
         AND d.as_of = v.as_of ON CONFLICT DO NOTHING",
    )
    .bind(tenant.as_str())
    .bind(invoice)
    .bind(as_of)
    .bind(version)
    .bind(decision)
    .bind(reason)
    .bind(interventions)
    .bind(blocked)
    .bind(fuel)
    .bind(duration)
    .bind(code)
    .bind(message)
    .bind(at)
    .bind(as_live)
    .execute(&mut *sp)
    .await
    .ctx("record shadow decisions")?;
    sp.commit().await.ctx("record shadow decisions")?;
    Ok(done.rows_affected() as usize)
}

/// Refreshes the planner's statistics after a bulk load, on every table of ours, the
/// decision log included even when it is empty: a table that was never analysed gets the
/// planner's default guesses, and with those the first sweeps after a load chose plans that
/// scanned the growing `decisions` table for every page (1M invoices: 217 s). `VACUUM` as
/// well: a freshly loaded table's rows are not yet marked visible to all, and the first sweep
/// then pays for that, beside autovacuum doing it (1M invoices right after a load: 98 and
/// 102 s a sweep; 87 s with this; 64 s on a load vacuumed long before).
const REFRESH_STATISTICS: &str = "VACUUM (ANALYZE) tenants, policy_versions, customers, \
     invoices, payments, disputes, payment_plans, dunning_state, decisions, actions";

// Deliberately compiled once per backend: see the top of sql.rs.
#[allow(clippy::duplicate_mod)]
#[path = "sql.rs"]
mod sql;

/// [`crate::Db`] on a PostgreSQL database.
#[derive(Clone, Debug)]
pub struct PgDb {
    pool: PgPool,
    /// This store's number on its [`InvoiceReceipt`]s.
    id: u64,
}

impl PgDb {
    /// Connects to and migrates the database at `url` (`postgres://user:pass@host/db`).
    pub async fn connect(url: &str) -> Result<Self> {
        let options = PgConnectOptions::from_str(url).map_err(|source| StoreError::Connect {
            url: redact(url),
            source,
        })?;
        Self::connect_with(options, url).await
    }

    /// Connects with ready-made options; `url` is only for error messages.
    pub async fn connect_with(options: PgConnectOptions, url: &str) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Connect {
                url: redact(url),
                source,
            })?;
        // sqlx takes an advisory lock while migrating, so replicas starting together are safe.
        MIGRATOR.run(&pool).await.map_err(StoreError::Migrate)?;
        Ok(PgDb {
            pool,
            id: Issuer::next_store(),
        })
    }

    /// The connection pool, for tools and benchmarks that need raw access.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Driver>> {
        self.pool.begin().await.ctx("begin")
    }

    /// PostgreSQL has no single writer: a sweep's writes need no turn.
    async fn sweep_write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        None
    }

    /// [`crate::Db::close`].
    async fn close_connections(&self) {
        self.pool.close().await;
    }
}
