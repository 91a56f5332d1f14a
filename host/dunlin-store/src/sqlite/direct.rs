//! The sweep's hot path on SQLite: its own rusqlite connections to the same file.
//!
//! sqlx's SQLite driver runs every statement on a worker thread and copies every bound value
//! on the way there, which at one decision, its actions and a state per invoice cost more
//! than SQLite's own work. Here a batch runs on one blocking thread, as single-row statements
//! prepared once per connection, the way SQLite is fastest. The schema and its migrations
//! stay sqlx's; these connections open the file only after it is migrated.

use std::collections::hash_map::{Entry, HashMap};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, TransactionBehavior};

use dunlin_core::iso_date::iso;
use dunlin_core::Date;

use super::checkpoint::{autocheckpoint_pages, Checkpointer, WRITER_AUTOCHECKPOINT_BYTES};
use crate::codec;
use crate::error::QueryContext;
use crate::sweep::page::{due_column, DueRow};
use crate::sweep::{batch, page, EncodedOutcome, EncodedShadow, InvoiceReceipt, Issuer, Written};
use crate::{Contact, DueInvoice, DuePage, DueQuery, Result, StoreError, TenantId};

/// Connections kept open between calls; more are opened when calls overlap.
const KEEP_IDLE: usize = 4;

/// How much of the database file the sweep's connections read through a memory map instead
/// of `pread` into SQLite's page cache: all of it up to SQLite's own limit (2 GB unless it is
/// compiled otherwise; a larger value is lowered to that). Pages still in the WAL are read as
/// before, and writes go through the WAL as before. A page read from the map costs no system
/// call and no copy into the page cache: a sweep of 1M invoices took 2 to 3 % less time
/// (docs/benchmarks.md#memory-mapped-reads). SQLite's own caveat: a disk error while reading
/// the map is a signal that ends the process, not an error result; the sweep is idempotent,
/// so the next start redoes what the crash cut short.
const MMAP_SIZE: i64 = 2 << 30;

/// A small pool of rusqlite connections to one database file, and its checkpoint thread.
#[derive(Debug)]
pub(super) struct Direct {
    /// This store's number in the process, on its [`InvoiceReceipt`]s.
    id: u64,
    path: PathBuf,
    idle: Mutex<Idle>,
    checkpointer: Checkpointer,
    /// Held by each batch this store writes: SQLite has one writer at a time, and two of this
    /// process's batches (two tenants' sweeps overlapping) would otherwise meet in SQLite's
    /// busy handler, which sleeps for milliseconds before it tries again.
    writing: tokio::sync::Mutex<()>,
}

/// The connections not in use; none are kept once the handle is closed.
#[derive(Debug, Default)]
struct Idle {
    connections: Vec<Connection>,
    closed: bool,
}

impl Direct {
    pub(super) fn new(path: PathBuf) -> Self {
        Direct {
            id: Issuer::next_store(),
            checkpointer: Checkpointer::start(path.clone(), open),
            path,
            idle: Mutex::new(Idle::default()),
            writing: tokio::sync::Mutex::new(()),
        }
    }

    /// Closes the idle connections (one in use closes when its call ends) and stops the
    /// checkpoint thread: the handle to join it, the first time.
    pub(super) fn close(&self) -> Option<JoinHandle<()>> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        idle.closed = true;
        idle.connections.clear();
        drop(idle);
        self.checkpointer.close()
    }

    /// This store's number on its receipts.
    pub(super) fn id(&self) -> u64 {
        self.id
    }

    /// Waits for this store's other batches to be written; the batch is written while the
    /// guard is held.
    pub(super) async fn writing(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.writing.lock().await
    }

    /// Hands the pages a batch committed to the checkpoint thread.
    pub(super) fn committed(&self) {
        self.checkpointer.nudge();
    }

    /// Runs `f` on a connection on a blocking thread, so the async side never waits on
    /// SQLite. A panic in `f` is resumed here, as if `f` had run inline.
    pub(super) async fn run<T, F>(self: &Arc<Self>, op: &'static str, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let this = Arc::clone(self);
        let joined = tokio::task::spawn_blocking(move || {
            let idle = this
                .idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .connections
                .pop();
            let mut conn = match idle {
                Some(conn) => conn,
                None => open(&this.path).ctx("open a connection")?,
            };
            let out = f(&mut conn);
            // A failed call rolled its transaction back when it dropped it: the connection
            // is clean either way.
            let mut idle = this.idle.lock().unwrap_or_else(PoisonError::into_inner);
            if !idle.closed && idle.connections.len() < KEEP_IDLE {
                idle.connections.push(conn);
            }
            out
        })
        .await;
        match joined {
            Ok(out) => out,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(StoreError::Cancelled { op }),
        }
    }
}

/// A connection set up as the sqlx pool's are: the same busy timeout and NORMAL sync (the
/// file is in WAL mode already), but checkpointing only when the WAL reaches
/// [`WRITER_AUTOCHECKPOINT_BYTES`] in the file's pages (the checkpoint thread copies it before
/// that), reading the file through a memory map ([`MMAP_SIZE`]), and without enforcing
/// foreign keys: [`record`] keeps to them by construction and
/// checks the one that depends on its input, its invoices, for the whole batch at once.
pub(super) fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(super::BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", false)?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    let page_size: u64 = conn.pragma_query_value(None, "page_size", |r| r.get(0))?;
    let pages = autocheckpoint_pages(WRITER_AUTOCHECKPOINT_BYTES, page_size);
    conn.pragma_update(None, "wal_autocheckpoint", pages)?;
    conn.pragma_update(None, "mmap_size", MMAP_SIZE)?;
    Ok(conn)
}

/// A date column read with `iso_date::parse` (chrono's `FromStr`, with a short path for
/// `YYYY-MM-DD`): rusqlite's own conversion parses every date against a `strftime` pattern
/// (1,170 instructions a date in a page read; 84 ns against 46 ns for `FromStr` in a
/// micro-benchmark).
pub(super) struct Day(pub(super) Date);

impl rusqlite::types::FromSql for Day {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        value.as_str().and_then(|s| {
            dunlin_core::iso_date::parse(s)
                .map(Day)
                .map_err(|e| rusqlite::types::FromSqlError::Other(Box::new(e)))
        })
    }
}

/// One invoice of the page query, each field from the column of its name
/// ([`page::DUE_COLUMNS`]; the places are found when this is compiled).
fn due_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DueRow> {
    Ok(DueRow {
        id: r.get(const { due_column("id") })?,
        customer_id: r.get(const { due_column("customer_id") })?,
        number: r.get(const { due_column("number") })?,
        issued_on: r.get::<_, Day>(const { due_column("issued_on") })?.0,
        due_on: r.get::<_, Day>(const { due_column("due_on") })?.0,
        amount_minor: r.get(const { due_column("amount_minor") })?,
        currency: r.get(const { due_column("currency") })?,
        open_balance_minor: r.get(const { due_column("open_balance_minor") })?,
        payment_method: r.get(const { due_column("payment_method") })?,
        failed_attempts: r.get(const { due_column("failed_attempts") })?,
        last_failure_on: r
            .get::<_, Option<Day>>(const { due_column("last_failure_on") })?
            .map(|d| d.0),
        last_failure_code: r.get(const { due_column("last_failure_code") })?,
        last_failure_kind: r.get(const { due_column("last_failure_kind") })?,
        metadata: r.get(const { due_column("metadata") })?,
        tags: r.get(const { due_column("tags") })?,
        lifetime_value_minor: r.get(const { due_column("lifetime_value_minor") })?,
        lifetime_currency: r.get(const { due_column("lifetime_currency") })?,
        customer_since: r.get::<_, Day>(const { due_column("customer_since") })?.0,
        on_time_12m: r.get(const { due_column("on_time_12m") })?,
        late_12m: r.get(const { due_column("late_12m") })?,
        locale: r.get(const { due_column("locale") })?,
        time_zone: r.get(const { due_column("time_zone") })?,
        reachable_on: r.get(const { due_column("reachable_on") })?,
        opted_out: r.get(const { due_column("opted_out") })?,
        level: r.get(const { due_column("level") })?,
        last_action_on: r
            .get::<_, Option<Day>>(const { due_column("last_action_on") })?
            .map(|d| d.0),
        next_review_on: r
            .get::<_, Option<Day>>(const { due_column("next_review_on") })?
            .map(|d| d.0),
        policy_version: r.get(const { due_column("policy_version") })?,
        paused_until: r
            .get::<_, Option<Day>>(const { due_column("paused_until") })?
            .map(|d| d.0),
        paused_why: r.get(const { due_column("paused_why") })?,
        ended: r.get(const { due_column("ended") })?,
        disputed: r.get(const { due_column("disputed") })?,
        on_plan: r.get(const { due_column("on_plan") })?,
    })
}

/// A page's list of ids, bound as one JSON array and read back with `json_each`, so each
/// statement keeps one text whatever the page holds and is prepared once per connection.
const JSON_LIST_2: &str = "SELECT value FROM json_each($2)";
/// [`JSON_LIST_2`] as the third parameter.
const JSON_LIST_3: &str = "SELECT value FROM json_each($3)";

/// One page of invoices due for review, in one read transaction (one snapshot): the page,
/// then its history, its customers' overdue invoices and their recent contacts.
pub(super) fn due_page(
    conn: &mut Connection,
    store: u64,
    tenant: &TenantId,
    query: &DueQuery,
) -> Result<DuePage> {
    let as_of = query.as_of;
    let limit = query.limit.clamp(1, DueQuery::MAX_LIMIT);
    let tx = conn.transaction().ctx("begin")?;
    let (mut due, extras) = read_page(&tx, tenant, query, limit)?;
    let issuer = Arc::new(Issuer {
        store,
        tenant: tenant.clone(),
    });
    for d in &mut due {
        d.receipt = Some(InvoiceReceipt::new(&issuer, &d.context.invoice.id));
    }
    tx.commit().ctx("end the read")?;
    page::complete_page(due, extras, as_of, limit)
}

/// The queries of [`due_page`], inside its transaction.
fn read_page(
    tx: &rusqlite::Transaction<'_>,
    tenant: &TenantId,
    query: &DueQuery,
    limit: u32,
) -> Result<(Vec<DueInvoice>, page::PageExtras)> {
    let as_of = query.as_of;
    let tenant_id = tenant.as_str();
    let (params, lead_days): (String, i64) = tx
        .prepare_cached("SELECT params, lead_days FROM tenants WHERE id = $1")
        .and_then(|mut s| s.query_row([tenant_id], |r| Ok((r.get(0)?, r.get(1)?))))
        .map_err(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => StoreError::UnknownTenant(tenant.clone()),
            e => StoreError::Sqlite {
                op: "read tenant",
                source: e,
            },
        })?;
    let (params, horizon) = page::page_tenant(&params, lead_days, as_of)?;

    let mut page = tx
        .prepare_cached(&page::page_sql(query.after.is_some()))
        .ctx("select invoices due for review")?;
    let limit_param = i64::from(limit);
    let mut bound: Vec<(&str, &dyn rusqlite::ToSql)> = vec![
        ("$1", &tenant_id),
        ("$2", &as_of),
        ("$3", &horizon),
        ("$4", &limit_param),
    ];
    if let Some(after) = &query.after {
        bound.push(("$5", after));
    }
    // Each row becomes its invoice at once: no list of rows in between.
    let mut due: Vec<DueInvoice> = Vec::with_capacity(limit as usize);
    let mut rows = page
        .query(bound.as_slice())
        .ctx("select invoices due for review")?;
    while let Some(row) = rows.next().ctx("select invoices due for review")? {
        let row = due_row(row).ctx("select invoices due for review")?;
        due.push(row.into_due(as_of, &params)?);
    }
    drop(rows);
    let mut extras = page::PageExtras::default();
    if due.is_empty() {
        return Ok((due, extras));
    }

    let invoices = codec::json(
        &due.iter()
            .map(|d| d.context.invoice.id.as_str())
            .collect::<Vec<_>>(),
    );
    let history = format!(
        "{} ORDER BY id",
        page::history_sql(page::HISTORY_FIELDS, JSON_LIST_2)
    );
    let mut stmt = tx.prepare_cached(&history).ctx("read action history")?;
    let rows = stmt
        .query_map(
            &[
                ("$1", &tenant_id as &dyn rusqlite::ToSql),
                ("$2", &invoices),
            ],
            |r| {
                Ok(page::HistoryRow {
                    invoice_id: r.get(0)?,
                    as_of: r.get::<_, Day>(1)?.0,
                    kind: r.get(2)?,
                    level: r.get(3)?,
                    channel: r.get(4)?,
                    tone: r.get(5)?,
                    status: r.get(6)?,
                })
            },
        )
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .ctx("read action history")?;
    for row in rows {
        let (invoice, past) = row.into_past()?;
        extras.history.entry(invoice).or_default().push(past);
    }

    let customers = codec::json(&page::page_customers(&due));
    let by_customer: [(&str, &dyn rusqlite::ToSql); 3] =
        [("$1", &tenant_id), ("$2", &as_of), ("$3", &customers)];
    let mut stmt = tx
        .prepare_cached(&page::overdue_sql(JSON_LIST_3))
        .ctx("sum overdue invoices")?;
    let rows = stmt
        .query_map(&by_customer, |r| {
            Ok(((r.get(0)?, r.get(1)?), (r.get(2)?, r.get(3)?)))
        })
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .ctx("sum overdue invoices")?;
    extras.overdue.extend(rows);

    let since: [(&str, &dyn rusqlite::ToSql); 3] = [
        ("$1", &tenant_id),
        ("$2", &query.contacts_since),
        ("$3", &customers),
    ];
    let mut stmt = tx
        .prepare_cached(&page::contacts_sql(JSON_LIST_3))
        .ctx("read recent contacts")?;
    let rows = stmt
        .query_map(&since, |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get(1)?,
                r.get::<_, Day>(2)?.0,
                r.get::<_, String>(3)?,
            ))
        })
        .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
        .ctx("read recent contacts")?;
    for (customer, invoice_id, on, channel) in rows {
        extras.contacts.entry(customer).or_default().push(Contact {
            invoice_id,
            on,
            channel: codec::parse_name("channel", &channel)?,
        });
    }
    Ok((due, extras))
}

const INSERT_DECISION: &str = "INSERT INTO decisions (tenant_id, invoice_id, as_of, \
    policy_version, policy_sha256, context, context_chunk, context_line, decision, reason, \
    interventions, fuel_used, duration_us, failure_code, failure_message, created_at) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16) \
    ON CONFLICT (tenant_id, invoice_id, as_of) DO NOTHING";

const INSERT_SHADOW: &str = "INSERT INTO shadow_decisions (tenant_id, invoice_id, as_of, \
    policy_version, decision_id, decision, reason, interventions, blocked, fuel_used, \
    duration_us, failure_code, failure_message, created_at, as_live) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) \
    ON CONFLICT DO NOTHING";

const INSERT_CHUNK: &str = "INSERT INTO context_chunks (tenant_id, frame) VALUES (?1, ?2)";

const INSERT_ACTION: &str = "INSERT INTO actions (tenant_id, invoice_id, as_of, ordinal, \
    customer_id, kind, channel, level, tone, payload, status, attempts, created_at, \
    updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 0, ?12, ?12)";

/// Timestamps as sqlx writes them (RFC 3339 with `T` and an offset), so rows written here
/// and there read back alike.
fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

/// The first of a batch's invoices (a JSON list) that the tenant does not have.
const MISSING_INVOICE: &str = "SELECT j.value FROM json_each(?2) AS j WHERE NOT EXISTS \
    (SELECT 1 FROM invoices WHERE tenant_id = ?1 AND id = j.value) LIMIT 1";

/// The invoices of `outcomes` that a ledger write stamped after `seen` (see [`crate::LedgerMark`]),
/// in one statement.
fn stamped_after(
    tx: &rusqlite::Transaction<'_>,
    tenant: &TenantId,
    outcomes: &[EncodedOutcome],
    seen: i64,
) -> Result<HashSet<String>> {
    let invoices: Vec<&str> = outcomes
        .iter()
        .map(|e| e.outcome.context.invoice.id.as_str())
        .collect();
    tx.prepare_cached(
        "SELECT s.invoice_id FROM json_each(?2) AS j JOIN ledger_stamps s \
         ON s.tenant_id = ?1 AND s.invoice_id = j.value WHERE s.seq > ?3",
    )
    .and_then(|mut s| {
        s.query_map(
            params![tenant.as_str(), codec::json(&invoices), seen],
            |r| r.get(0),
        )?
        .collect()
    })
    .ctx("look up changed invoices")
}

/// Records a batch in one transaction. Each decision is inserted first: one that exists
/// already (a repeated or resumed sweep, or a day repeated within the batch) inserts nothing,
/// and its outcome then writes no actions and no state either. Each chunk of contexts is
/// inserted before its first decision; a chunk none of whose decisions was new is deleted
/// again before the commit.
///
/// The connection does not enforce foreign keys (see [`open`]); the schema's hold all the
/// same. The tenant and the batch's invoices are checked first, in two statements (a decision
/// names its invoice, a chunk its tenant): every invoice but those whose outcome carries this
/// store's [`InvoiceReceipt`] for it, as a sweep's do (5.7 k instructions per invoice
/// otherwise). An action or a state is written only for a decision inserted just before it.
/// Per-row checks by SQLite cost a fifth of the writer's instructions (callgrind, 20,000
/// invoices: 1,274 M against 1,022 M without), most of it opening a cursor on the parent for
/// every row.
///
/// With `seen`, the ledger sequence number of the outcomes' page, the outcomes of invoices
/// a ledger write stamped after it are dropped (a receipt vouches that the invoice exists,
/// not that it is unchanged). SQLite's single writer orders this batch and every ledger
/// write: either the write came first and its stamps are read here, or this batch came
/// first and the write's `cancel_pending_of` withdraws what it left pending.
pub(super) fn record(
    conn: &mut Connection,
    store: u64,
    tenant: &TenantId,
    outcomes: &[EncodedOutcome],
    seen: Option<i64>,
    at: DateTime<Utc>,
) -> Result<Written> {
    let at = timestamp(at);
    let mut tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .ctx("begin")?;
    // The IMMEDIATE transaction is the lock (SQLite has one writer at a time); this only
    // checks the tenant. Not `UPDATE tenants SET id = id`: with foreign keys on, that makes
    // SQLite visit every row of the tenant in every table referencing tenants, and for
    // `context_chunks`, whose tenant column has no index, scan the whole table per batch
    // (1M invoices: 21 s instead of 17 s; docs/benchmarks.md#sqlite-fast-path).
    let known = tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM tenants WHERE id = ?1)")
        .and_then(|mut s| s.query_row([tenant.as_str()], |r| r.get::<_, bool>(0)))
        .ctx("look up tenant")?;
    if !known {
        return Err(StoreError::UnknownTenant(tenant.clone()));
    }
    let unvouched = crate::sweep::unvouched(outcomes, store, tenant);
    let missing: Option<String> = if unvouched.is_empty() {
        None
    } else {
        tx.prepare_cached(MISSING_INVOICE)
            .and_then(|mut s| {
                let ids = codec::json(&unvouched);
                s.query_row(params![tenant.as_str(), ids], |r| r.get(0))
                    .optional()
            })
            .ctx("look up invoices")?
    };
    if let Some(invoice) = missing {
        return Err(StoreError::UnknownInvoice {
            tenant: tenant.clone(),
            what: "decision",
            id: invoice.clone(),
            invoice,
        });
    }

    let stale = match seen {
        Some(seen) => {
            // No clock row: the tenant has had no ledger write, so it has no invoices either.
            let seq: Option<i64> = tx
                .prepare_cached("SELECT seq FROM ledger_clock WHERE tenant_id = ?1")
                .and_then(|mut s| s.query_row([tenant.as_str()], |r| r.get(0)).optional())
                .ctx("read the ledger's clock")?;
            match seq {
                Some(seq) if seen < seq => stamped_after(&tx, tenant, outcomes, seen)?,
                _ => HashSet::new(),
            }
        }
        None => HashSet::new(),
    };
    let dropped = outcomes
        .iter()
        .filter(|e| stale.contains(&e.outcome.context.invoice.id))
        .count();
    let mut recorded: Vec<&EncodedOutcome> = Vec::with_capacity(outcomes.len());
    // The shadow answers of the decisions inserted, with those decisions' ids.
    let mut shadows: Vec<(i64, &EncodedOutcome, &EncodedShadow)> = Vec::new();
    {
        let mut decision = tx.prepare_cached(INSERT_DECISION).ctx("record decisions")?;
        let mut action = tx.prepare_cached(INSERT_ACTION).ctx("record actions")?;
        let mut chunk = tx.prepare_cached(INSERT_CHUNK).ctx("record contexts")?;
        // The chunks inserted so far, by `chunk_key`, with their ids.
        let mut chunks: HashMap<usize, i64> = HashMap::new();
        for e in outcomes
            .iter()
            .filter(|e| !stale.contains(&e.outcome.context.invoice.id))
        {
            let o = &e.outcome;
            let ctx = &o.context;
            let as_of = iso(ctx.as_of);
            let chunk_id = match chunks.entry(e.chunk_key()) {
                Entry::Occupied(known) => *known.get(),
                Entry::Vacant(new) => {
                    chunk
                        .execute(params![tenant.as_str(), e.chunk.as_slice()])
                        .ctx("record contexts")?;
                    *new.insert(tx.last_insert_rowid())
                }
            };
            let inserted = decision
                .execute(params![
                    tenant.as_str(),
                    ctx.invoice.id,
                    &*as_of,
                    o.policy.as_ref().map(|p| p.version),
                    o.policy.as_ref().map(|p| p.sha256.as_str()),
                    codec::IN_CHUNK,
                    chunk_id,
                    e.line,
                    e.decision,
                    o.reason,
                    e.interventions,
                    o.fuel_used.map(codec::to_i64),
                    o.duration_us.map(codec::to_i64),
                    o.failure.as_ref().map(|f| f.code.as_str()),
                    o.failure.as_ref().map(|f| f.message.as_str()),
                    at,
                ])
                .ctx("record decisions")?;
            if inserted == 0 {
                continue;
            }
            if let Some(shadow) = e.shadow.as_deref() {
                shadows.push((tx.last_insert_rowid(), e, shadow));
            }
            recorded.push(e);
        }
        for id in batch::unnamed_chunks(&chunks, &recorded) {
            tx.prepare_cached("DELETE FROM context_chunks WHERE tenant_id = ?1 AND id = ?2")
                .and_then(|mut s| s.execute(params![tenant.as_str(), id]))
                .ctx("record contexts")?;
        }
        for a in batch::new_actions(&recorded) {
            let ctx = &a.outcome.context;
            let notice = a.notice();
            action
                .execute(params![
                    tenant.as_str(),
                    ctx.invoice.id,
                    &*iso(ctx.as_of),
                    a.ordinal,
                    ctx.customer.id,
                    a.kind(),
                    notice.map(|n| n.channel.as_str()),
                    notice.map(|n| n.level),
                    notice.map(|n| n.tone.as_str()),
                    a.payload,
                    a.status.as_str(),
                    at,
                ])
                .ctx("record actions")?;
        }
        let upsert = format!(
            "INSERT INTO dunning_state (tenant_id, invoice_id, level, last_action_on, \
             next_review_on, policy_version, paused_until, paused_why, ended, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10){}",
            batch::STATE_CONFLICT
        );
        let mut state = tx.prepare_cached(&upsert).ctx("record dunning state")?;
        for o in batch::latest_states(&recorded) {
            let s = &o.state;
            state
                .execute(params![
                    tenant.as_str(),
                    o.context.invoice.id,
                    s.level,
                    s.last_action_on.map(iso).as_deref(),
                    s.next_review_on.map(iso).as_deref(),
                    s.policy_version,
                    s.paused_until.map(iso).as_deref(),
                    s.paused_why,
                    s.ended,
                    at,
                ])
                .ctx("record dunning state")?;
        }
    }
    let shadowed = if shadows.is_empty() {
        0
    } else {
        crate::sweep::shadows_written(tenant, record_shadows(&mut tx, tenant, &shadows, &at))
    };
    tx.commit().ctx("commit decisions")?;
    Ok(Written {
        shadowed,
        ..Written::of(&recorded, outcomes.len(), dropped)
    })
}

/// Writes the shadow answers of a batch's new decisions (each with its decision's id) in a
/// savepoint of the batch's transaction: if any fails, none is written and the live rows
/// commit all the same, since nothing of the shadow version may hold them up or undo them.
fn record_shadows(
    tx: &mut rusqlite::Transaction<'_>,
    tenant: &TenantId,
    shadows: &[(i64, &EncodedOutcome, &EncodedShadow)],
    at: &str,
) -> Result<usize> {
    // Dropped without a commit (on an error), the savepoint rolls back to where it began.
    let sp = tx.savepoint().ctx("record shadow decisions")?;
    let mut written = 0;
    {
        let mut insert = sp
            .prepare_cached(INSERT_SHADOW)
            .ctx("record shadow decisions")?;
        for (decision_id, e, s) in shadows {
            let ctx = &e.outcome.context;
            written += insert
                .execute(params![
                    tenant.as_str(),
                    ctx.invoice.id,
                    &*iso(ctx.as_of),
                    s.version,
                    decision_id,
                    s.decision,
                    s.reason,
                    s.interventions,
                    s.blocked,
                    s.fuel_used.map(codec::to_i64),
                    s.duration_us.map(codec::to_i64),
                    s.failure.as_ref().map(|f| f.code.as_str()),
                    s.failure.as_ref().map(|f| f.message.as_str()),
                    at,
                    s.as_live,
                ])
                .ctx("record shadow decisions")?;
        }
    }
    sp.commit().ctx("record shadow decisions")?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::page::{distinct_due_row, DUE_COLUMNS};

    /// SQLite's mapping: each field of a due row from the column of its own name, wherever
    /// the column list puts that column.
    #[test]
    fn a_due_row_reads_each_field_from_the_column_of_its_name() {
        let expected = distinct_due_row();
        let by_name = serde_json::to_value(&expected).expect("serialise");
        let columns: Vec<String> = DUE_COLUMNS
            .iter()
            .map(|(name, _)| match &by_name[name] {
                serde_json::Value::String(s) => format!("'{s}' AS {name}"),
                serde_json::Value::Number(n) => format!("{n} AS {name}"),
                other => panic!("{name} holds {other}; the sample fills every field"),
            })
            .collect();
        let conn = Connection::open_in_memory().expect("open");
        let read = conn
            .query_row(&format!("SELECT {}", columns.join(", ")), [], due_row)
            .expect("read the row");
        assert_eq!(read, expected);
    }
}
