//! The SQL behind [`Db`], written once and compiled once per backend.
//!
//! `sqlite.rs` and `postgres.rs` each include this file as their `sql` module, with
//! `super::Driver` naming their sqlx database and `super::This` their handle. Concrete types
//! keep sqlx's generic trait bounds out of sight, and the statements use only what both
//! databases understand: `$N` placeholders, `ON CONFLICT`, `RETURNING`, `CAST(… AS BIGINT)`,
//! dates and timestamps bound as chrono values. Every statement names `tenant_id`.
//!
//! The sweep's two hot calls, `due_for_review` and `record_encoded`, are each backend's own
//! (`super::due_for_review`, `super::record_encoded`: on SQLite over rusqlite, see
//! `sqlite/direct.rs`), built from the statements and rules kept here ([`DUE_SELECT`],
//! [`history_sql`], [`overdue_sql`], [`contacts_sql`], [`complete_page`], [`new_actions`],
//! [`latest_states`]).

use std::collections::{BTreeMap, HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Days, SubsecRound, Utc};
use dunlin_core::{
    Action, ActionKind, Channel, CollectionFailure, Context, Customer, Date, Decision, DeclineKind,
    Invoice, Money, OtherOverdue, PastAction, PaymentMethod, Tone,
};
use sha2::{Digest, Sha256};
use sqlx::{QueryBuilder, Row as _};

use super::{Driver, This, BACKEND};
use crate::codec::{self, from_json, json, narrow};
use crate::error::QueryContext;
use crate::ledger::{
    CustomerRecord, DisputeStatus, InvoiceRecord, InvoiceStatus, NewDispute, NewInvoice,
    NewPayment, NewPaymentPlan, PlanStatus,
};
use crate::review::{
    action_kind, ActionRecord, ActionStatus, Contact, DecisionQuery, DecisionRecord, DueInvoice,
    DuePage, DueQuery, DunningState, EncodedOutcome, FailureRecord, Outcome, PolicyRef,
    RecordSummary,
};
use crate::tenant::{
    FailureMode, PolicyBlob, PolicyStatus, PolicyVersion, Tenant, TenantId, TenantSettings,
};
use crate::{validate, Backend, Db, Result, StoreError};

type Row = <Driver as sqlx::Database>::Row;
type Tx = sqlx::Transaction<'static, Driver>;

/// Timestamps are kept to the microsecond, which is what PostgreSQL stores; a value read
/// back then equals the value written on both backends.
pub(super) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

pub(super) fn get<'r, T>(row: &'r Row, column: &str) -> Result<T>
where
    T: sqlx::Decode<'r, Driver> + sqlx::Type<Driver>,
{
    row.try_get(column).ctx("decode a row")
}

pub(super) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn is_fk_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_foreign_key_violation())
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

const TENANT_COLUMNS: &str = "id, name, time_zone, schedule, guardrails, failure_mode, params, \
                              lead_days, last_tick_at, created_at";

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

/// Fails with `UnknownTenant` unless the tenant exists; batch writes check this first so
/// that the error names the real problem.
pub(super) async fn require_tenant(tx: &mut Tx, tenant: &TenantId) -> Result<()> {
    let found = sqlx::query("SELECT 1 FROM tenants WHERE id = $1")
        .bind(tenant.as_str())
        .fetch_optional(&mut **tx)
        .await
        .ctx("look up tenant")?;
    match found {
        Some(_) => Ok(()),
        None => Err(StoreError::UnknownTenant(tenant.clone())),
    }
}

/// Rows per multi-row upsert of imported rows: 1,000 rows of at most 17 values stay well under
/// both databases' limits on bound parameters (SQLite 32,766, PostgreSQL 65,535).
const UPSERT_CHUNK: usize = 1000;

/// Splits imported rows, in order, into runs that one multi-row upsert can write: at most
/// [`UPSERT_CHUNK`] rows, no key twice (PostgreSQL cannot update one row twice in a statement,
/// and two rows about one record must apply in file order) and one `variant` throughout.
fn upsert_runs<T, V: PartialEq>(
    rows: &[T],
    key: impl Fn(&T) -> &str,
    variant: impl Fn(&T) -> V,
) -> Vec<&[T]> {
    let mut runs = Vec::new();
    let mut start = 0;
    let mut keys: HashSet<&str> = HashSet::new();
    for (i, row) in rows.iter().enumerate() {
        let full = i - start == UPSERT_CHUNK;
        let repeated = keys.contains(key(row));
        let other = i > start && variant(&rows[start]) != variant(row);
        if full || repeated || other {
            runs.push(&rows[start..i]);
            start = i;
            keys.clear();
        }
        keys.insert(key(row));
    }
    if start < rows.len() {
        runs.push(&rows[start..]);
    }
    runs
}

/// Appends ` IN ($n, …)` binding `ids`, for a `WHERE … IN` list.
fn push_in<'a>(qb: &mut QueryBuilder<'a, Driver>, ids: impl IntoIterator<Item = &'a str>) {
    qb.push(" IN (");
    let mut list = qb.separated(", ");
    for id in ids {
        list.push_bind(id);
    }
    qb.push(")");
}

/// Fails with [`StoreError::UnknownCustomer`] for the first invoice of `run` whose customer
/// the tenant does not have (checked up front: a multi-row insert's foreign-key error would
/// not say which row).
async fn require_customers(tx: &mut Tx, tenant: &TenantId, run: &[NewInvoice]) -> Result<()> {
    let wanted = distinct(run.iter().map(|i| i.customer_id.as_str()));
    let known = known_ids(tx, "SELECT id FROM customers", tenant, &wanted)
        .await
        .ctx("look up customers")?;
    match run.iter().find(|i| !known.contains(&i.customer_id)) {
        Some(i) => Err(StoreError::UnknownCustomer {
            tenant: tenant.clone(),
            what: "invoice",
            id: i.id.clone(),
            customer: i.customer_id.clone(),
        }),
        None => Ok(()),
    }
}

/// Fails with [`StoreError::UnknownInvoice`] for the first of `refs` (a `what` row's id and
/// the invoice it names) whose invoice the tenant does not have: checked up front, as a
/// multi-row insert's foreign-key error would not say which row.
async fn require_invoices<'r>(
    tx: &mut Tx,
    tenant: &TenantId,
    what: &'static str,
    refs: impl Iterator<Item = (&'r str, &'r str)> + Clone,
) -> Result<()> {
    let wanted = distinct(refs.clone().map(|(_, invoice)| invoice));
    let known = known_ids(tx, "SELECT id FROM invoices", tenant, &wanted)
        .await
        .ctx("look up invoices")?;
    match refs
        .into_iter()
        .find(|(_, invoice)| !known.contains(*invoice))
    {
        Some((id, invoice)) => Err(StoreError::UnknownInvoice {
            tenant: tenant.clone(),
            what,
            id: id.to_owned(),
            invoice: invoice.to_owned(),
        }),
        None => Ok(()),
    }
}

/// Withdraws the undelivered actions of `invoices` (paid, closed, disputed or put on a
/// plan), in one statement.
async fn cancel_pending_of<'a>(
    tx: &mut Tx,
    tenant: &TenantId,
    invoices: impl IntoIterator<Item = &'a str>,
    at: DateTime<Utc>,
) -> Result<()> {
    let invoices: Vec<&str> = invoices.into_iter().collect();
    if invoices.is_empty() {
        return Ok(());
    }
    let mut qb =
        QueryBuilder::<Driver>::new("UPDATE actions SET status = 'cancelled', updated_at = ");
    qb.push_bind(at)
        .push(" WHERE status = 'pending' AND tenant_id = ")
        .push_bind(tenant.as_str())
        .push(" AND invoice_id");
    push_in(&mut qb, invoices.iter().copied());
    qb.build()
        .execute(&mut **tx)
        .await
        .ctx("cancel pending actions")?;
    Ok(())
}

/// One run of payments (no id twice), in a handful of statements whatever its size: the
/// invoices and the payments recorded before are read first, every row is checked in order
/// (the first bad one is the error, and nothing of the run is written), then the payments are
/// upserted, each invoice's balance lowered by its net change, and the invoices this run paid
/// in full marked `paid` with their pending actions cancelled. Paid in full is judged on the
/// balance after the whole run.
async fn record_payments(
    tx: &mut Tx,
    tenant: &TenantId,
    run: &[NewPayment],
    at: DateTime<Utc>,
) -> Result<()> {
    let invoice_ids = distinct(run.iter().map(|p| p.invoice_id.as_str()));
    let currencies: HashMap<String, String> = select_by_ids(
        tx,
        "SELECT id, currency FROM invoices",
        tenant,
        &invoice_ids,
    )
    .await
    .ctx("look up invoices")?
    .iter()
    .map(|row| Ok((get(row, "id")?, get(row, "currency")?)))
    .collect::<Result<_>>()?;
    let payment_ids = distinct(run.iter().map(|p| p.id.as_str()));
    let before: HashMap<String, (String, i64)> = select_by_ids(
        tx,
        "SELECT id, invoice_id, amount_minor FROM payments",
        tenant,
        &payment_ids,
    )
    .await
    .ctx("look up payments")?
    .iter()
    .map(|row| {
        let recorded = (get(row, "invoice_id")?, get(row, "amount_minor")?);
        Ok((get(row, "id")?, recorded))
    })
    .collect::<Result<_>>()?;

    let mut change: BTreeMap<&str, i64> = BTreeMap::new();
    for p in run {
        let currency = currencies
            .get(&p.invoice_id)
            .ok_or_else(|| StoreError::UnknownInvoice {
                tenant: tenant.clone(),
                what: "payment",
                id: p.id.clone(),
                invoice: p.invoice_id.clone(),
            })?;
        let invalid = |problem: String| StoreError::Invalid {
            what: "payment",
            id: p.id.clone(),
            problem,
        };
        if currency != p.amount.currency.as_str() {
            return Err(invalid(format!(
                "paid in {} but invoice {} is in {currency}",
                p.amount.currency, p.invoice_id
            )));
        }
        let previous = match before.get(&p.id) {
            Some((invoice, _)) if *invoice != p.invoice_id => {
                return Err(invalid(format!(
                    "was recorded for invoice {invoice}; it cannot move to {}",
                    p.invoice_id
                )));
            }
            Some((_, amount)) => *amount,
            None => 0,
        };
        *change.entry(p.invoice_id.as_str()).or_default() += p.amount.minor - previous;
    }

    let mut qb = QueryBuilder::<Driver>::new(
        "INSERT INTO payments (tenant_id, id, invoice_id, amount_minor, currency, paid_on, \
         created_at) ",
    );
    qb.push_values(run, |mut b, p| {
        b.push_bind(tenant.as_str())
            .push_bind(p.id.as_str())
            .push_bind(p.invoice_id.as_str())
            .push_bind(p.amount.minor)
            .push_bind(p.amount.currency.as_str())
            .push_bind(p.paid_on)
            .push_bind(at);
    });
    qb.push(
        " ON CONFLICT (tenant_id, id) DO UPDATE SET amount_minor = excluded.amount_minor, \
         currency = excluded.currency, paid_on = excluded.paid_on",
    );
    qb.build().execute(&mut **tx).await.ctx("record payments")?;

    change.retain(|_, delta| *delta != 0);
    if change.is_empty() {
        return Ok(());
    }
    // A VALUES list names its columns column1, column2 on both databases.
    let mut qb = QueryBuilder::<Driver>::new(
        "UPDATE invoices SET open_balance_minor = open_balance_minor - d.column2, updated_at = ",
    );
    qb.push_bind(at).push(" FROM (");
    qb.push_values(&change, |mut b, (invoice, delta)| {
        b.push_bind(*invoice).push_bind(*delta);
    });
    qb.push(") AS d WHERE invoices.tenant_id = ")
        .push_bind(tenant.as_str())
        .push(" AND invoices.id = d.column1");
    qb.build().execute(&mut **tx).await.ctx("apply payments")?;

    let mut qb = QueryBuilder::<Driver>::new(
        "UPDATE invoices SET status = 'paid' WHERE status = 'open' AND open_balance_minor <= 0 \
         AND tenant_id = ",
    );
    qb.push_bind(tenant.as_str()).push(" AND id");
    push_in(&mut qb, change.keys().copied());
    qb.push(" RETURNING id");
    let cleared: Vec<String> = qb
        .build_query_scalar()
        .fetch_all(&mut **tx)
        .await
        .ctx("mark invoices paid")?;
    cancel_pending_of(tx, tenant, cleared.iter().map(String::as_str), at).await
}

/// `ids` once each, in order of first appearance.
fn distinct<'a>(ids: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = HashSet::new();
    ids.filter(|id| seen.insert(*id)).collect()
}

/// Which of `ids` the tenant has in the table `select` (`SELECT id FROM table`) reads.
async fn known_ids(
    tx: &mut Tx,
    select: &str,
    tenant: &TenantId,
    ids: &[&str],
) -> sqlx::Result<HashSet<String>> {
    select_by_ids(tx, select, tenant, ids)
        .await?
        .iter()
        .map(|row| row.try_get("id"))
        .collect()
}

/// `select` (`SELECT … FROM table`) of the tenant's rows whose `id` is one of `ids`.
async fn select_by_ids(
    tx: &mut Tx,
    select: &str,
    tenant: &TenantId,
    ids: &[&str],
) -> sqlx::Result<Vec<Row>> {
    let mut qb = QueryBuilder::<Driver>::new(select);
    qb.push(" WHERE tenant_id = ")
        .push_bind(tenant.as_str())
        .push(" AND id");
    push_in(&mut qb, ids.iter().copied());
    qb.build().fetch_all(&mut **tx).await
}

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

fn customer_from_row(row: &Row, id_column: &str) -> Result<Customer> {
    let currency: String = get(row, "lifetime_currency")?;
    Ok(Customer {
        id: get(row, id_column)?,
        tags: from_json("customer tags", &get::<String>(row, "tags")?)?,
        lifetime_value: Money::new(
            get(row, "lifetime_value_minor")?,
            codec::parse_name("currency", &currency)?,
        ),
        customer_since: get(row, "customer_since")?,
        on_time_payments_12m: narrow("on-time payments", get::<i64>(row, "on_time_12m")?)?,
        late_payments_12m: narrow("late payments", get::<i64>(row, "late_12m")?)?,
        locale: get(row, "locale")?,
        time_zone: get(row, "time_zone")?,
        reachable_on: from_json("reachable channels", &get::<String>(row, "reachable_on")?)?,
        opted_out: from_json("opted-out channels", &get::<String>(row, "opted_out")?)?,
    })
}

fn last_failure_from_row(row: &Row) -> Result<Option<CollectionFailure>> {
    let on: Option<Date> = get(row, "last_failure_on")?;
    let code: Option<String> = get(row, "last_failure_code")?;
    let kind: Option<String> = get(row, "last_failure_kind")?;
    Ok(match (on, code, kind) {
        (Some(on), Some(code), Some(kind)) => Some(CollectionFailure {
            on,
            code,
            kind: codec::parse_name::<DeclineKind>("decline kind", &kind)?,
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

/// How a recorded state replaces the one before.
pub(super) const STATE_CONFLICT: &str = " ON CONFLICT (tenant_id, invoice_id) DO UPDATE SET \
    level = excluded.level, last_action_on = excluded.last_action_on, \
    next_review_on = excluded.next_review_on, policy_version = excluded.policy_version, \
    paused_until = excluded.paused_until, paused_why = excluded.paused_why, \
    ended = excluded.ended, updated_at = excluded.updated_at";

/// One row for the outbox, ready to bind.
pub(super) struct NewAction<'a> {
    pub(super) ordinal: i64,
    pub(super) outcome: &'a Outcome,
    pub(super) action: &'a Action,
    pub(super) status: ActionStatus,
    pub(super) payload: &'a str,
}

impl NewAction<'_> {
    pub(super) fn notice(&self) -> Option<&dunlin_core::Notice> {
        match self.action {
            Action::Notify(n) => Some(n),
            _ => None,
        }
    }

    pub(super) fn kind(&self) -> String {
        codec::name(&action_kind(self.action))
    }
}

/// The ids of a batch's chunks of contexts (by [`EncodedOutcome::chunk_key`]) that no
/// decision of `recorded` names, because every decision of theirs was recorded before: the
/// batch deletes them again before it commits.
pub(super) fn unnamed_chunks(
    chunks: &HashMap<usize, i64>,
    recorded: &[&EncodedOutcome],
) -> Vec<i64> {
    let named: HashSet<usize> = recorded.iter().map(|e| e.chunk_key()).collect();
    chunks
        .iter()
        .filter(|(key, _)| !named.contains(key))
        .map(|(_, id)| *id)
        .collect()
}

/// The outbox rows of the outcomes a batch records, in order.
pub(super) fn new_actions<'a>(recorded: &[&'a EncodedOutcome]) -> Vec<NewAction<'a>> {
    recorded
        .iter()
        .flat_map(|e| {
            let o = &e.outcome;
            o.actions
                .iter()
                .zip(&e.payloads)
                .enumerate()
                .map(move |(i, (a, payload))| NewAction {
                    ordinal: i as i64,
                    outcome: o,
                    action: &a.action,
                    status: a.status,
                    payload,
                })
        })
        .collect()
}

/// The ladder states a batch leaves behind: with several days of one invoice in a batch, the
/// latest day's state wins.
pub(super) fn latest_states<'a>(recorded: &[&'a EncodedOutcome]) -> Vec<&'a Outcome> {
    let mut states: BTreeMap<&str, &Outcome> = BTreeMap::new();
    for e in recorded {
        let o = &e.outcome;
        let slot = states.entry(o.context.invoice.id.as_str()).or_insert(o);
        if o.context.as_of > slot.context.as_of {
            *slot = o;
        }
    }
    states.into_values().collect()
}

/// The page query of `due_for_review`, one row per invoice. `level` is NULL exactly when the
/// invoice has no dunning state yet (the column is NOT NULL in the table); the flags are
/// 0/1 on both backends. Its columns are [`DueRow`]'s fields, in order.
///
/// An invoice decided on `$2` already is left out by its state alone: every recorded decision
/// writes the invoice's state in the same transaction, with a next review after its day (or
/// an ended ladder). The query does not look at `decisions`: on PostgreSQL an anti-join
/// against that table, planned on the statistics of a still empty log, scanned all of the
/// tenant's decisions for every invoice (2 s a page at 1M invoices).
pub(super) const DUE_SELECT: &str = "\
SELECT i.id, i.customer_id, i.number, i.issued_on, i.due_on, i.amount_minor, i.currency,
       i.open_balance_minor, i.payment_method, i.failed_attempts, i.last_failure_on,
       i.last_failure_code, i.last_failure_kind, i.metadata,
       c.tags, c.lifetime_value_minor, c.lifetime_currency, c.customer_since, c.on_time_12m,
       c.late_12m, c.locale, c.time_zone, c.reachable_on, c.opted_out,
       s.level, s.last_action_on, s.next_review_on, s.policy_version, s.paused_until,
       s.paused_why, CASE WHEN s.ended THEN 1 ELSE 0 END AS ended,
       CASE WHEN EXISTS (SELECT 1 FROM disputes d
               WHERE d.tenant_id = i.tenant_id AND d.invoice_id = i.id AND d.status = 'open')
           THEN 1 ELSE 0 END AS disputed,
       CASE WHEN EXISTS (SELECT 1 FROM payment_plans p
               WHERE p.tenant_id = i.tenant_id AND p.invoice_id = i.id AND p.status = 'active'
                 AND p.expires_on >= $2)
           THEN 1 ELSE 0 END AS on_plan
FROM invoices i
JOIN customers c ON c.tenant_id = i.tenant_id AND c.id = i.customer_id
LEFT JOIN dunning_state s ON s.tenant_id = i.tenant_id AND s.invoice_id = i.id
WHERE i.tenant_id = $1 AND i.status = 'open' AND i.open_balance_minor > 0
  AND ((s.invoice_id IS NULL AND i.due_on <= $3)
       OR (NOT s.ended AND s.next_review_on <= $2
           AND (s.paused_until IS NULL OR s.paused_until <= $2)))";

/// One invoice of a page, as the page query returns it: SQLite reads it column by column,
/// PostgreSQL as one element of a JSON array (one value per page instead of one row per
/// invoice).
#[derive(serde::Deserialize)]
pub(super) struct DueRow {
    pub(super) id: String,
    pub(super) customer_id: String,
    pub(super) number: String,
    pub(super) issued_on: Date,
    pub(super) due_on: Date,
    pub(super) amount_minor: i64,
    pub(super) currency: String,
    pub(super) open_balance_minor: i64,
    pub(super) payment_method: String,
    pub(super) failed_attempts: i64,
    pub(super) last_failure_on: Option<Date>,
    pub(super) last_failure_code: Option<String>,
    pub(super) last_failure_kind: Option<String>,
    pub(super) metadata: String,
    pub(super) tags: String,
    pub(super) lifetime_value_minor: i64,
    pub(super) lifetime_currency: String,
    pub(super) customer_since: Date,
    pub(super) on_time_12m: i64,
    pub(super) late_12m: i64,
    pub(super) locale: String,
    pub(super) time_zone: String,
    pub(super) reachable_on: String,
    pub(super) opted_out: String,
    pub(super) level: Option<i64>,
    pub(super) last_action_on: Option<Date>,
    pub(super) next_review_on: Option<Date>,
    pub(super) policy_version: Option<i64>,
    pub(super) paused_until: Option<Date>,
    pub(super) paused_why: Option<String>,
    pub(super) ended: i64,
    pub(super) disputed: i64,
    pub(super) on_plan: i64,
}

impl DueRow {
    pub(super) fn into_due(
        self,
        as_of: Date,
        params: &BTreeMap<String, String>,
    ) -> Result<DueInvoice> {
        let currency = codec::parse_name("currency", &self.currency)?;
        let last_failure = match (
            self.last_failure_on,
            self.last_failure_code,
            self.last_failure_kind,
        ) {
            (Some(on), Some(code), Some(kind)) => Some(CollectionFailure {
                on,
                code,
                kind: codec::parse_name::<DeclineKind>("decline kind", &kind)?,
            }),
            _ => None,
        };
        let invoice = Invoice {
            id: self.id,
            number: self.number,
            issued_on: self.issued_on,
            due_on: self.due_on,
            amount: Money::new(self.amount_minor, currency),
            open_balance: Money::new(self.open_balance_minor, currency),
            payment_method: codec::parse_name::<PaymentMethod>(
                "payment method",
                &self.payment_method,
            )?,
            failed_attempts: narrow("failed attempts", self.failed_attempts)?,
            last_failure,
            disputed: self.disputed != 0,
            on_payment_plan: self.on_plan != 0,
            metadata: from_json("invoice metadata", &self.metadata)?,
        };
        let customer = Customer {
            id: self.customer_id,
            tags: from_json("customer tags", &self.tags)?,
            lifetime_value: Money::new(
                self.lifetime_value_minor,
                codec::parse_name("currency", &self.lifetime_currency)?,
            ),
            customer_since: self.customer_since,
            on_time_payments_12m: narrow("on-time payments", self.on_time_12m)?,
            late_payments_12m: narrow("late payments", self.late_12m)?,
            locale: self.locale,
            time_zone: self.time_zone,
            reachable_on: from_json("reachable channels", &self.reachable_on)?,
            opted_out: from_json("opted-out channels", &self.opted_out)?,
        };
        let state = match self.level {
            None => None,
            Some(level) => Some(DunningState {
                level: narrow("dunning level", level)?,
                last_action_on: self.last_action_on,
                next_review_on: self.next_review_on,
                policy_version: self
                    .policy_version
                    .map(|v| narrow("pinned policy version", v))
                    .transpose()?,
                paused_until: self.paused_until,
                paused_why: self.paused_why,
                ended: self.ended != 0,
            }),
        };
        Ok(DueInvoice {
            context: Box::new(Context {
                as_of,
                invoice,
                customer,
                history: Vec::new(),
                other_overdue: OtherOverdue::default(),
                params: params.clone(),
            }),
            state,
            contacts: Vec::new(),
            receipt: None,
        })
    }
}

/// One past action of an invoice, as the history query returns it (one JSON array per page).
#[derive(serde::Deserialize)]
pub(super) struct HistoryRow {
    pub(super) invoice_id: String,
    pub(super) as_of: Date,
    pub(super) kind: String,
    pub(super) level: Option<i64>,
    pub(super) channel: Option<String>,
    pub(super) tone: Option<String>,
    pub(super) status: String,
}

pub(super) const HISTORY_FIELDS: &str = "invoice_id, as_of, kind, level, channel, tone, status";

impl HistoryRow {
    /// The invoice this past action belongs to, and the action as a policy sees it.
    pub(super) fn into_past(self) -> Result<(String, PastAction)> {
        let status = ActionStatus::parse(&self.status)?;
        let past = PastAction {
            on: self.as_of,
            kind: codec::parse_name::<ActionKind>("action kind", &self.kind)?,
            level: self.level.map(|l| narrow("action level", l)).transpose()?,
            channel: self
                .channel
                .map(|c| codec::parse_name::<Channel>("channel", &c))
                .transpose()?,
            tone: self
                .tone
                .map(|t| codec::parse_name::<Tone>("tone", &t))
                .transpose()?,
            outcome: status.outcome(),
        };
        Ok((self.invoice_id, past))
    }
}

/// The page query: [`DUE_SELECT`] from the cursor on, in invoice order, at most `$4` rows.
pub(super) fn page_sql(after_cursor: bool) -> String {
    match after_cursor {
        true => format!("{DUE_SELECT}\n  AND i.id > $5\nORDER BY i.id\nLIMIT $4"),
        false => format!("{DUE_SELECT}\nORDER BY i.id\nLIMIT $4"),
    }
}

/// The tenant's row as a page needs it: its params (given to every context) and the day up
/// to which never-reviewed invoices count (its lead days widen the window).
pub(super) fn page_tenant(
    params: &str,
    lead_days: i64,
    as_of: Date,
) -> Result<(BTreeMap<String, String>, Date)> {
    let params: BTreeMap<String, String> = from_json("tenant params", params)?;
    let lead_days: u64 = narrow("tenant lead days", lead_days)?;
    let horizon = as_of
        .checked_add_days(Days::new(lead_days))
        .unwrap_or(as_of);
    Ok((params, horizon))
}

/// The page's history: its invoices' past actions, oldest first. `columns` is
/// [`HISTORY_FIELDS`] or an aggregate of them; `invoices` lists the page's invoices after
/// `$1` (the tenant), in the backend's way.
pub(super) fn history_sql(columns: &str, invoices: &str) -> String {
    format!("SELECT {columns} FROM actions WHERE tenant_id = $1 AND invoice_id IN ({invoices})")
}

/// The page's customers' open overdue invoices, counted and summed per currency; `$1` is
/// the tenant, `$2` the as-of day, `customers` lists the customers after them.
pub(super) fn overdue_sql(customers: &str) -> String {
    format!(
        "SELECT customer_id, currency, CAST(COUNT(*) AS BIGINT) AS n, \
         CAST(SUM(open_balance_minor) AS BIGINT) AS total FROM invoices WHERE tenant_id = $1 \
         AND status = 'open' AND open_balance_minor > 0 AND due_on < $2 \
         AND customer_id IN ({customers}) GROUP BY customer_id, currency"
    )
}

/// The page's customers' contacts (notices not blocked or cancelled) since `$2`, oldest
/// first; `$1` is the tenant, `customers` lists the customers after them.
pub(super) fn contacts_sql(customers: &str) -> String {
    format!(
        "SELECT customer_id, invoice_id, as_of, channel FROM actions WHERE tenant_id = $1 \
         AND kind = 'notify' AND status NOT IN ('blocked', 'cancelled') \
         AND channel IS NOT NULL AND as_of >= $2 AND customer_id IN ({customers}) ORDER BY id"
    )
}

/// What a page's side queries found, keyed for [`complete_page`].
#[derive(Default)]
pub(super) struct PageExtras {
    /// Past actions per invoice, oldest first.
    pub(super) history: HashMap<String, Vec<PastAction>>,
    /// (count, total) of open overdue invoices per (customer, currency).
    pub(super) overdue: HashMap<(String, String), (i64, i64)>,
    /// Recent contacts per customer, oldest first.
    pub(super) contacts: HashMap<String, Vec<Contact>>,
}

/// The distinct customers of a page, sorted.
pub(super) fn page_customers(due: &[DueInvoice]) -> Vec<&str> {
    let mut ids: Vec<&str> = due.iter().map(|d| d.context.customer.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Puts a page together: each context gets its invoice's history, its customer's other
/// overdue invoices and recent contacts; the cursor is the last invoice of a full page.
pub(super) fn complete_page(
    mut due: Vec<DueInvoice>,
    mut extras: PageExtras,
    as_of: Date,
    limit: u32,
) -> Result<DuePage> {
    for d in &mut due {
        let ctx = &mut d.context;
        ctx.history = extras.history.remove(&ctx.invoice.id).unwrap_or_default();
        let key = (
            ctx.customer.id.clone(),
            ctx.invoice.amount.currency.as_str().to_owned(),
        );
        let (mut count, mut total) = extras.overdue.get(&key).copied().unwrap_or((0, 0));
        // The group counts this invoice too when it is itself overdue.
        if ctx.invoice.due_on < as_of {
            count -= 1;
            total -= ctx.invoice.open_balance.minor;
        }
        ctx.other_overdue = OtherOverdue {
            count: narrow("overdue count", count.max(0))?,
            total_minor: total.max(0),
        };
        d.contacts = extras
            .contacts
            .get(&ctx.customer.id)
            .cloned()
            .unwrap_or_default();
    }
    let next = (due.len() == limit as usize).then(|| {
        due.last()
            .map(|d| d.context.invoice.id.clone())
            .unwrap_or_default()
    });
    Ok(DuePage {
        invoices: due,
        next,
    })
}

#[async_trait]
impl Db for This {
    fn backend(&self) -> Backend {
        BACKEND
    }

    async fn close(&self) {
        self.close_connections().await;
    }

    async fn refresh_statistics(&self) -> Result<()> {
        sqlx::query(super::REFRESH_STATISTICS)
            .execute(&self.pool)
            .await
            .ctx("refresh statistics")?;
        Ok(())
    }

    async fn create_tenant(&self, id: &TenantId, settings: &TenantSettings) -> Result<Tenant> {
        validate::tenant_settings(settings)?;
        let created_at = now();
        let result = sqlx::query(
            "INSERT INTO tenants (id, name, time_zone, schedule, guardrails, failure_mode, \
             params, lead_days, last_tick_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9)",
        )
        .bind(id.as_str())
        .bind(&settings.name)
        .bind(&settings.time_zone)
        .bind(&settings.schedule)
        .bind(json(&settings.guardrails))
        .bind(settings.failure_mode.as_str())
        .bind(json(&settings.params))
        .bind(i64::from(settings.lead_days))
        .bind(created_at)
        .execute(&self.pool)
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

    async fn tenant(&self, id: &TenantId) -> Result<Option<Tenant>> {
        let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants WHERE id = $1");
        sqlx::query(&sql)
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .ctx("read tenant")?
            .map(|row| tenant_from_row(&row))
            .transpose()
    }

    async fn tenants(&self) -> Result<Vec<Tenant>> {
        let sql = format!("SELECT {TENANT_COLUMNS} FROM tenants ORDER BY id");
        sqlx::query(&sql)
            .fetch_all(&self.pool)
            .await
            .ctx("list tenants")?
            .iter()
            .map(tenant_from_row)
            .collect()
    }

    async fn update_tenant(&self, id: &TenantId, settings: &TenantSettings) -> Result<Tenant> {
        validate::tenant_settings(settings)?;
        let done = sqlx::query(
            "UPDATE tenants SET name = $2, time_zone = $3, schedule = $4, guardrails = $5, \
             failure_mode = $6, params = $7, lead_days = $8 WHERE id = $1",
        )
        .bind(id.as_str())
        .bind(&settings.name)
        .bind(&settings.time_zone)
        .bind(&settings.schedule)
        .bind(json(&settings.guardrails))
        .bind(settings.failure_mode.as_str())
        .bind(json(&settings.params))
        .bind(i64::from(settings.lead_days))
        .execute(&self.pool)
        .await
        .ctx("update tenant")?;
        if done.rows_affected() == 0 {
            return Err(StoreError::UnknownTenant(id.clone()));
        }
        self.tenant(id)
            .await?
            .ok_or_else(|| StoreError::UnknownTenant(id.clone()))
    }

    async fn mark_tick(&self, id: &TenantId, at: DateTime<Utc>) -> Result<()> {
        let done = sqlx::query("UPDATE tenants SET last_tick_at = $2 WHERE id = $1")
            .bind(id.as_str())
            .bind(at.trunc_subsecs(6))
            .execute(&self.pool)
            .await
            .ctx("mark tick")?;
        if done.rows_affected() == 0 {
            return Err(StoreError::UnknownTenant(id.clone()));
        }
        Ok(())
    }

    async fn add_api_key(&self, tenant: &TenantId, key: &str, label: &str) -> Result<()> {
        let sha = hex::encode(Sha256::digest(key.as_bytes()));
        let result = sqlx::query(
            "INSERT INTO api_keys (key_sha256, tenant_id, label, created_at) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (key_sha256) DO NOTHING",
        )
        .bind(&sha)
        .bind(tenant.as_str())
        .bind(label)
        .bind(now())
        .execute(&self.pool)
        .await;
        let done = match result {
            Err(e) if is_fk_violation(&e) => return Err(StoreError::UnknownTenant(tenant.clone())),
            other => other.ctx("add api key")?,
        };
        if done.rows_affected() == 0 && self.tenant_for_api_key(key).await?.as_ref() != Some(tenant)
        {
            return Err(StoreError::Invalid {
                what: "api key",
                id: label.to_owned(),
                problem: "this key belongs to another tenant".to_owned(),
            });
        }
        Ok(())
    }

    async fn tenant_for_api_key(&self, key: &str) -> Result<Option<TenantId>> {
        let sha = hex::encode(Sha256::digest(key.as_bytes()));
        let row = sqlx::query("SELECT tenant_id FROM api_keys WHERE key_sha256 = $1")
            .bind(&sha)
            .fetch_optional(&self.pool)
            .await
            .ctx("look up api key")?;
        row.map(|row| {
            let id: String = get(&row, "tenant_id")?;
            TenantId::new(&id).map_err(|_| StoreError::Corrupt {
                what: "api key tenant",
                detail: format!("{id:?}"),
            })
        })
        .transpose()
    }

    async fn add_policy_version(&self, tenant: &TenantId, bytes: &[u8]) -> Result<PolicyVersion> {
        let sha = hex::encode(Sha256::digest(bytes));
        let mut tx = self.begin_write().await?;
        require_tenant(&mut tx, tenant).await?;
        let sql = format!(
            "SELECT {POLICY_COLUMNS} FROM policy_versions WHERE tenant_id = $1 AND sha256 = $2"
        );
        let existing = sqlx::query(&sql)
            .bind(tenant.as_str())
            .bind(&sha)
            .fetch_optional(&mut *tx)
            .await
            .ctx("look up policy version")?;
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

    async fn migrate_ladders(&self, tenant: &TenantId, version: u32) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let found =
            sqlx::query("SELECT 1 FROM policy_versions WHERE tenant_id = $1 AND version = $2")
                .bind(tenant.as_str())
                .bind(i64::from(version))
                .fetch_optional(&mut *tx)
                .await
                .ctx("look up policy version")?;
        if found.is_none() {
            return Err(StoreError::UnknownPolicyVersion {
                tenant: tenant.clone(),
                version,
            });
        }
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

    async fn activate_policy_version(
        &self,
        tenant: &TenantId,
        version: u32,
    ) -> Result<PolicyVersion> {
        let mut tx = self.begin_write().await?;
        let found =
            sqlx::query("SELECT 1 FROM policy_versions WHERE tenant_id = $1 AND version = $2")
                .bind(tenant.as_str())
                .bind(i64::from(version))
                .fetch_optional(&mut *tx)
                .await
                .ctx("look up policy version")?;
        if found.is_none() {
            return Err(StoreError::UnknownPolicyVersion {
                tenant: tenant.clone(),
                version,
            });
        }
        sqlx::query(
            "UPDATE policy_versions SET status = 'retired' \
             WHERE tenant_id = $1 AND status = 'active' AND version <> $2",
        )
        .bind(tenant.as_str())
        .bind(i64::from(version))
        .execute(&mut *tx)
        .await
        .ctx("retire policy version")?;
        sqlx::query(
            "UPDATE policy_versions SET status = 'active', activated_at = $3 \
             WHERE tenant_id = $1 AND version = $2 AND status <> 'active'",
        )
        .bind(tenant.as_str())
        .bind(i64::from(version))
        .bind(now())
        .execute(&mut *tx)
        .await
        .ctx("activate policy version")?;
        let sql = format!(
            "SELECT {POLICY_COLUMNS} FROM policy_versions WHERE tenant_id = $1 AND version = $2"
        );
        let row = sqlx::query(&sql)
            .bind(tenant.as_str())
            .bind(i64::from(version))
            .fetch_one(&mut *tx)
            .await
            .ctx("read policy version")?;
        tx.commit().await.ctx("commit activation")?;
        policy_from_row(&row)
    }

    async fn policy_versions(&self, tenant: &TenantId) -> Result<Vec<PolicyVersion>> {
        let sql = format!(
            "SELECT {POLICY_COLUMNS} FROM policy_versions WHERE tenant_id = $1 ORDER BY version"
        );
        sqlx::query(&sql)
            .bind(tenant.as_str())
            .fetch_all(&self.pool)
            .await
            .ctx("list policy versions")?
            .iter()
            .map(policy_from_row)
            .collect()
    }

    async fn active_policy(&self, tenant: &TenantId) -> Result<Option<PolicyBlob>> {
        let sql = format!(
            "SELECT {POLICY_COLUMNS}, bytes FROM policy_versions \
             WHERE tenant_id = $1 AND status = 'active'"
        );
        let row = sqlx::query(&sql)
            .bind(tenant.as_str())
            .fetch_optional(&self.pool)
            .await
            .ctx("read active policy")?;
        row.map(|row| {
            Ok(PolicyBlob {
                version: policy_from_row(&row)?,
                bytes: get(&row, "bytes")?,
            })
        })
        .transpose()
    }

    async fn policy_blob(&self, tenant: &TenantId, version: u32) -> Result<Option<PolicyBlob>> {
        let sql = format!(
            "SELECT {POLICY_COLUMNS}, bytes FROM policy_versions \
             WHERE tenant_id = $1 AND version = $2"
        );
        let row = sqlx::query(&sql)
            .bind(tenant.as_str())
            .bind(i64::from(version))
            .fetch_optional(&self.pool)
            .await
            .ctx("read policy version")?;
        row.map(|row| {
            Ok(PolicyBlob {
                version: policy_from_row(&row)?,
                bytes: get(&row, "bytes")?,
            })
        })
        .transpose()
    }

    async fn upsert_customers(&self, tenant: &TenantId, rows: &[CustomerRecord]) -> Result<usize> {
        rows.iter().try_for_each(validate::customer)?;
        let at = now();
        let mut tx = self.begin_write().await?;
        require_tenant(&mut tx, tenant).await?;
        for run in upsert_runs(rows, |c| c.profile.id.as_str(), |_| ()) {
            let mut qb = QueryBuilder::<Driver>::new(
                "INSERT INTO customers (tenant_id, id, tags, lifetime_value_minor, \
                 lifetime_currency, customer_since, on_time_12m, late_12m, locale, time_zone, \
                 reachable_on, opted_out, contact, updated_at) ",
            );
            qb.push_values(run, |mut b, c| {
                let p = &c.profile;
                b.push_bind(tenant.as_str())
                    .push_bind(p.id.as_str())
                    .push_bind(json(&p.tags))
                    .push_bind(p.lifetime_value.minor)
                    .push_bind(p.lifetime_value.currency.as_str())
                    .push_bind(p.customer_since)
                    .push_bind(i64::from(p.on_time_payments_12m))
                    .push_bind(i64::from(p.late_payments_12m))
                    .push_bind(p.locale.as_str())
                    .push_bind(p.time_zone.as_str())
                    .push_bind(json(&p.reachable_on))
                    .push_bind(json(&p.opted_out))
                    .push_bind(json(&c.contact))
                    .push_bind(at);
            });
            qb.push(
                " ON CONFLICT (tenant_id, id) DO UPDATE SET tags = excluded.tags, \
                 lifetime_value_minor = excluded.lifetime_value_minor, \
                 lifetime_currency = excluded.lifetime_currency, \
                 customer_since = excluded.customer_since, on_time_12m = excluded.on_time_12m, \
                 late_12m = excluded.late_12m, locale = excluded.locale, \
                 time_zone = excluded.time_zone, reachable_on = excluded.reachable_on, \
                 opted_out = excluded.opted_out, contact = excluded.contact, \
                 updated_at = excluded.updated_at",
            );
            qb.build().execute(&mut *tx).await.ctx("upsert customers")?;
        }
        tx.commit().await.ctx("commit customers")?;
        Ok(rows.len())
    }

    async fn upsert_invoices(&self, tenant: &TenantId, rows: &[NewInvoice]) -> Result<usize> {
        rows.iter().try_for_each(validate::invoice)?;
        let at = now();
        let mut tx = self.begin_write().await?;
        require_tenant(&mut tx, tenant).await?;
        // A run shares whether the open balance and the status are given, which decides how
        // a known invoice's columns are updated.
        let variant = |i: &NewInvoice| (i.open_balance_minor.is_some(), i.status.is_some());
        for run in upsert_runs(rows, |i| i.id.as_str(), variant) {
            require_customers(&mut tx, tenant, run).await?;
            let (balance_given, status_given) = variant(&run[0]);
            let mut qb = QueryBuilder::<Driver>::new(
                "INSERT INTO invoices (tenant_id, id, customer_id, number, issued_on, due_on, \
                 amount_minor, currency, open_balance_minor, payment_method, failed_attempts, \
                 last_failure_on, last_failure_code, last_failure_kind, status, metadata, \
                 updated_at) ",
            );
            qb.push_values(run, |mut b, i| {
                let failure = i.last_failure.as_ref();
                b.push_bind(tenant.as_str())
                    .push_bind(i.id.as_str())
                    .push_bind(i.customer_id.as_str())
                    .push_bind(i.number.as_str())
                    .push_bind(i.issued_on)
                    .push_bind(i.due_on)
                    .push_bind(i.amount.minor)
                    .push_bind(i.amount.currency.as_str())
                    // A new invoice without an explicit open balance owes its amount.
                    .push_bind(i.open_balance_minor.unwrap_or(i.amount.minor))
                    .push_bind(codec::name(&i.payment_method))
                    .push_bind(i64::from(i.failed_attempts))
                    .push_bind(failure.map(|f| f.on))
                    .push_bind(failure.map(|f| f.code.as_str()))
                    .push_bind(failure.map(|f| codec::name(&f.kind)))
                    .push_bind(i.status.unwrap_or(InvoiceStatus::Open).as_str())
                    .push_bind(json(&i.metadata))
                    .push_bind(at);
            });
            qb.push(
                " ON CONFLICT (tenant_id, id) DO UPDATE SET customer_id = excluded.customer_id, \
                 number = excluded.number, issued_on = excluded.issued_on, \
                 due_on = excluded.due_on, amount_minor = excluded.amount_minor, \
                 currency = excluded.currency, payment_method = excluded.payment_method, \
                 failed_attempts = excluded.failed_attempts, \
                 last_failure_on = excluded.last_failure_on, \
                 last_failure_code = excluded.last_failure_code, \
                 last_failure_kind = excluded.last_failure_kind, \
                 metadata = excluded.metadata, updated_at = excluded.updated_at, ",
            );
            // Without an explicit open balance, a known invoice owes its (new) amount less the
            // payments recorded for it; without a status it keeps its own.
            qb.push(if balance_given {
                "open_balance_minor = excluded.open_balance_minor, "
            } else {
                "open_balance_minor = excluded.amount_minor - COALESCE(\
                     (SELECT CAST(SUM(p.amount_minor) AS BIGINT) FROM payments p \
                      WHERE p.tenant_id = excluded.tenant_id AND p.invoice_id = excluded.id), 0), "
            });
            qb.push(if status_given {
                "status = excluded.status"
            } else {
                "status = invoices.status"
            });
            qb.build().execute(&mut *tx).await.ctx("upsert invoices")?;
            let closed = run.iter().filter(|i| {
                matches!(
                    i.status,
                    Some(InvoiceStatus::Paid | InvoiceStatus::Void | InvoiceStatus::WrittenOff)
                )
            });
            cancel_pending_of(&mut tx, tenant, closed.map(|i| i.id.as_str()), at).await?;
        }
        tx.commit().await.ctx("commit invoices")?;
        Ok(rows.len())
    }

    async fn upsert_payments(&self, tenant: &TenantId, rows: &[NewPayment]) -> Result<usize> {
        rows.iter().try_for_each(validate::payment)?;
        let at = now();
        let mut tx = self.begin_write().await?;
        require_tenant(&mut tx, tenant).await?;
        // Runs of at most UPSERT_CHUNK payments, no id twice, in file order: a payment
        // recorded again later in the batch sees the run before it.
        for run in upsert_runs(rows, |p| p.id.as_str(), |_| ()) {
            record_payments(&mut tx, tenant, run, at).await?;
        }
        tx.commit().await.ctx("commit payments")?;
        Ok(rows.len())
    }

    async fn upsert_disputes(&self, tenant: &TenantId, rows: &[NewDispute]) -> Result<usize> {
        rows.iter().try_for_each(validate::dispute)?;
        let at = now();
        let mut tx = self.begin_write().await?;
        require_tenant(&mut tx, tenant).await?;
        for run in upsert_runs(rows, |d| d.id.as_str(), |_| ()) {
            let refs = run.iter().map(|d| (d.id.as_str(), d.invoice_id.as_str()));
            require_invoices(&mut tx, tenant, "dispute", refs).await?;
            let mut qb = QueryBuilder::<Driver>::new(
                "INSERT INTO disputes (tenant_id, id, invoice_id, opened_on, reason, status, \
                 resolved_on, updated_at) ",
            );
            qb.push_values(run, |mut b, d| {
                b.push_bind(tenant.as_str())
                    .push_bind(d.id.as_str())
                    .push_bind(d.invoice_id.as_str())
                    .push_bind(d.opened_on)
                    .push_bind(d.reason.as_str())
                    .push_bind(d.status.as_str())
                    .push_bind(d.resolved_on)
                    .push_bind(at);
            });
            qb.push(
                " ON CONFLICT (tenant_id, id) DO UPDATE SET invoice_id = excluded.invoice_id, \
                 opened_on = excluded.opened_on, reason = excluded.reason, \
                 status = excluded.status, resolved_on = excluded.resolved_on, \
                 updated_at = excluded.updated_at",
            );
            qb.build().execute(&mut *tx).await.ctx("upsert disputes")?;
            let opened = run.iter().filter(|d| d.status == DisputeStatus::Open);
            cancel_pending_of(&mut tx, tenant, opened.map(|d| d.invoice_id.as_str()), at).await?;
        }
        tx.commit().await.ctx("commit disputes")?;
        Ok(rows.len())
    }

    async fn upsert_payment_plans(
        &self,
        tenant: &TenantId,
        rows: &[NewPaymentPlan],
    ) -> Result<usize> {
        rows.iter().try_for_each(validate::payment_plan)?;
        let at = now();
        let mut tx = self.begin_write().await?;
        require_tenant(&mut tx, tenant).await?;
        for run in upsert_runs(rows, |p| p.id.as_str(), |_| ()) {
            let refs = run.iter().map(|p| (p.id.as_str(), p.invoice_id.as_str()));
            require_invoices(&mut tx, tenant, "payment plan", refs).await?;
            let mut qb = QueryBuilder::<Driver>::new(
                "INSERT INTO payment_plans (tenant_id, id, invoice_id, kind, agreed_on, \
                 expires_on, status, updated_at) ",
            );
            qb.push_values(run, |mut b, p| {
                b.push_bind(tenant.as_str())
                    .push_bind(p.id.as_str())
                    .push_bind(p.invoice_id.as_str())
                    .push_bind(p.kind.as_str())
                    .push_bind(p.agreed_on)
                    .push_bind(p.expires_on)
                    .push_bind(p.status.as_str())
                    .push_bind(at);
            });
            qb.push(
                " ON CONFLICT (tenant_id, id) DO UPDATE SET invoice_id = excluded.invoice_id, \
                 kind = excluded.kind, agreed_on = excluded.agreed_on, \
                 expires_on = excluded.expires_on, status = excluded.status, \
                 updated_at = excluded.updated_at",
            );
            qb.build()
                .execute(&mut *tx)
                .await
                .ctx("upsert payment plans")?;
            let active = run.iter().filter(|p| p.status == PlanStatus::Active);
            cancel_pending_of(&mut tx, tenant, active.map(|p| p.invoice_id.as_str()), at).await?;
        }
        tx.commit().await.ctx("commit payment plans")?;
        Ok(rows.len())
    }

    async fn customer(&self, tenant: &TenantId, id: &str) -> Result<Option<CustomerRecord>> {
        let row = sqlx::query(
            "SELECT id, tags, lifetime_value_minor, lifetime_currency, customer_since, \
             on_time_12m, late_12m, locale, time_zone, reachable_on, opted_out, contact \
             FROM customers WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.as_str())
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .ctx("read customer")?;
        row.map(|row| {
            Ok(CustomerRecord {
                profile: customer_from_row(&row, "id")?,
                contact: from_json("customer contact", &get::<String>(&row, "contact")?)?,
            })
        })
        .transpose()
    }

    async fn invoice(&self, tenant: &TenantId, id: &str) -> Result<Option<InvoiceRecord>> {
        let row = sqlx::query(
            "SELECT i.id, i.customer_id, i.number, i.issued_on, i.due_on, i.amount_minor, \
             i.currency, i.open_balance_minor, i.payment_method, i.failed_attempts, \
             i.last_failure_on, i.last_failure_code, i.last_failure_kind, i.status, i.metadata, \
             EXISTS (SELECT 1 FROM disputes d WHERE d.tenant_id = i.tenant_id \
                     AND d.invoice_id = i.id AND d.status = 'open') AS disputed \
             FROM invoices i WHERE i.tenant_id = $1 AND i.id = $2",
        )
        .bind(tenant.as_str())
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .ctx("read invoice")?;
        row.map(|row| {
            let currency = codec::parse_name("currency", &get::<String>(&row, "currency")?)?;
            Ok(InvoiceRecord {
                id: get(&row, "id")?,
                customer_id: get(&row, "customer_id")?,
                number: get(&row, "number")?,
                issued_on: get(&row, "issued_on")?,
                due_on: get(&row, "due_on")?,
                amount: Money::new(get(&row, "amount_minor")?, currency),
                open_balance: Money::new(get(&row, "open_balance_minor")?, currency),
                payment_method: codec::parse_name(
                    "payment method",
                    &get::<String>(&row, "payment_method")?,
                )?,
                failed_attempts: narrow("failed attempts", get::<i64>(&row, "failed_attempts")?)?,
                last_failure: last_failure_from_row(&row)?,
                status: codec::parse_name("invoice status", &get::<String>(&row, "status")?)?,
                disputed: get(&row, "disputed")?,
                metadata: from_json("invoice metadata", &get::<String>(&row, "metadata")?)?,
            })
        })
        .transpose()
    }

    async fn dunning_state(
        &self,
        tenant: &TenantId,
        invoice: &str,
    ) -> Result<Option<DunningState>> {
        let row = sqlx::query(
            "SELECT level, last_action_on, next_review_on, policy_version, paused_until, \
             paused_why, ended FROM dunning_state WHERE tenant_id = $1 AND invoice_id = $2",
        )
        .bind(tenant.as_str())
        .bind(invoice)
        .fetch_optional(&self.pool)
        .await
        .ctx("read dunning state")?;
        match row {
            Some(row) => state_from_row(&row),
            None => Ok(None),
        }
    }

    async fn due_for_review(&self, tenant: &TenantId, query: &DueQuery) -> Result<DuePage> {
        // Each backend reads a page its fastest way; both share the queries and rules below.
        super::due_for_review(self, tenant, query).await
    }

    fn write_lanes(&self) -> usize {
        super::WRITE_LANES
    }

    async fn record_encoded(
        &self,
        tenant: &TenantId,
        outcomes: Vec<EncodedOutcome>,
    ) -> Result<RecordSummary> {
        // Each backend writes a batch its fastest way; both share the rules below.
        super::record_encoded(self, tenant, outcomes).await
    }

    async fn decisions(
        &self,
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
        if let Some(after) = query.after_id {
            qb.push(" AND id > ").push_bind(after);
        }
        qb.push(" ORDER BY id LIMIT ")
            .push_bind(i64::from(query.limit.clamp(1, 10_000)));
        let rows = qb
            .build()
            .fetch_all(&self.pool)
            .await
            .ctx("read decisions")?;
        // The chunks their contexts are in, each read once (a page of one sweep's decisions
        // shares a few), and only the tenant's own.
        let mut chunk_ids = rows
            .iter()
            .map(|row| get::<Option<i64>>(row, "context_chunk"))
            .filter_map(Result::transpose)
            .collect::<Result<Vec<i64>>>()?;
        chunk_ids.sort_unstable();
        chunk_ids.dedup();
        let mut chunks =
            codec::ChunkCache::new(context_frames(&self.pool, tenant, &chunk_ids).await?);
        let mut records = Vec::with_capacity(rows.len());
        for row in &rows {
            let version: Option<i64> = get(row, "policy_version")?;
            let sha: Option<String> = get(row, "policy_sha256")?;
            let code: Option<String> = get(row, "failure_code")?;
            let decision: Option<String> = get(row, "decision")?;
            records.push(DecisionRecord {
                id: get(row, "id")?,
                invoice_id: get(row, "invoice_id")?,
                as_of: get(row, "as_of")?,
                policy: match (version, sha) {
                    (Some(v), Some(sha256)) => Some(PolicyRef {
                        version: narrow("policy version", v)?,
                        sha256,
                    }),
                    _ => None,
                },
                context: chunks.context(
                    &get::<Vec<u8>>(row, "context")?,
                    get::<Option<i64>>(row, "context_chunk")?,
                    get::<Option<i64>>(row, "context_line")?,
                )?,
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
                            message: get::<Option<String>>(row, "failure_message")?
                                .unwrap_or_default(),
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
        let mut qb = QueryBuilder::<Driver>::new(
            "SELECT id, invoice_id, as_of, ordinal, payload, status, attempts FROM actions \
             WHERE tenant_id = ",
        );
        qb.push_bind(tenant.as_str()).push(" AND invoice_id IN (");
        let mut list = qb.separated(", ");
        for id in &invoices {
            list.push_bind(*id);
        }
        qb.push(") ORDER BY invoice_id, as_of, ordinal");
        let mut actions: HashMap<i64, Vec<ActionRecord>> = HashMap::new();
        for row in qb
            .build()
            .fetch_all(&self.pool)
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
            });
        }
        for r in &mut records {
            r.actions = actions.remove(&r.id).unwrap_or_default();
        }
        Ok(records)
    }

    async fn recent_contacts(
        &self,
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
        .fetch_all(&self.pool)
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
}
