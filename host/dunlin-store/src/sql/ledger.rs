//! Imported rows: upserts keyed by the tenant's own ids, in runs of up to
//! [`crate::ledger::UPSERT_CHUNK`] rows per statement, and the reads of one customer or invoice.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use dunlin_core::{Channel, CollectionFailure, Customer, Date, DeclineKind, Money};
use sqlx::{QueryBuilder, Row as _};

use super::{get, require_tenant, Driver, Row, This, Tx};
use crate::codec::{self, from_json, json, narrow, now};
use crate::error::QueryContext;
use crate::ledger::{
    distinct, upsert_runs, CustomerRecord, DisputeStatus, InvoiceRecord, InvoiceStatus, NewDispute,
    NewInvoice, NewPayment, NewPaymentPlan, PlanStatus,
};
use crate::sweep::LedgerMark;
use crate::tenant::TenantId;
use crate::{validate, Result, StoreError};

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
/// plan), in one statement, with `note` saying why (`explain` shows it). An action a
/// delivery worker holds is withdrawn too: the worker's result then finds it no longer
/// pending and is not written.
async fn cancel_pending_of<'a>(
    tx: &mut Tx,
    tenant: &TenantId,
    invoices: impl IntoIterator<Item = &'a str>,
    at: DateTime<Utc>,
    note: &str,
) -> Result<()> {
    let invoices: Vec<&str> = invoices.into_iter().collect();
    if invoices.is_empty() {
        return Ok(());
    }
    let mut qb =
        QueryBuilder::<Driver>::new("UPDATE actions SET status = 'cancelled', updated_at = ");
    qb.push_bind(at)
        .push(", lease_owner = NULL, lease_until = NULL, note = ")
        .push_bind(note)
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

/// Starts a ledger write: fails with `UnknownTenant` unless the tenant exists, then takes the
/// tenant's next ledger sequence number, which the write stamps on every invoice it touches
/// ([`stamp_invoices`]). It comes first in the transaction: on PostgreSQL it locks the
/// tenant's clock row until the commit, so a sweep's recording (which reads that row
/// `FOR SHARE`) either commits before anything of the write, whose `cancel_pending_of` then
/// sees its actions, or starts after the write commits and sees its stamps.
pub(super) async fn ledger_write(tx: &mut Tx, tenant: &TenantId) -> Result<i64> {
    require_tenant(tx, tenant).await?;
    sqlx::query_scalar(
        "INSERT INTO ledger_clock (tenant_id, seq) VALUES ($1, 1) \
         ON CONFLICT (tenant_id) DO UPDATE SET seq = ledger_clock.seq + 1 RETURNING seq",
    )
    .bind(tenant.as_str())
    .fetch_one(&mut **tx)
    .await
    .ctx("advance the ledger")
}

/// Stamps `invoices` with the ledger write's sequence number `seq`: a sweep's outcome for
/// one of them, decided on a page read before `seq`, is then stale.
pub(super) async fn stamp_invoices<'a>(
    tx: &mut Tx,
    tenant: &TenantId,
    seq: i64,
    invoices: impl Iterator<Item = &'a str>,
) -> Result<()> {
    let invoices = distinct(invoices);
    if invoices.is_empty() {
        return Ok(());
    }
    let mut qb =
        QueryBuilder::<Driver>::new("INSERT INTO ledger_stamps (tenant_id, invoice_id, seq) ");
    qb.push_values(invoices, |mut b, invoice| {
        b.push_bind(tenant.as_str())
            .push_bind(invoice)
            .push_bind(seq);
    });
    qb.push(" ON CONFLICT (tenant_id, invoice_id) DO UPDATE SET seq = excluded.seq");
    qb.build().execute(&mut **tx).await.ctx("stamp invoices")?;
    Ok(())
}

/// One run of payments (no id twice), in a handful of statements whatever its size: the
/// invoices and the payments recorded before are read first, every row is checked in order
/// (the first bad one is the error, and nothing of the run is written), then the payments are
/// upserted, each invoice's balance lowered by its net change, and the invoices this run paid
/// in full marked `paid` with their pending actions cancelled. Paid in full is judged on the
/// balance after the whole run. A payment that would take its invoice's balance beyond
/// [`validate::MAX_AMOUNT_MINOR`] either way is a bad row like any other, checked in Rust on
/// both backends: in SQL, SQLite would turn an overflowing balance into a float and
/// PostgreSQL fail the statement without saying which row.
async fn record_payments(
    tx: &mut Tx,
    tenant: &TenantId,
    run: &[NewPayment],
    at: DateTime<Utc>,
) -> Result<()> {
    let invoice_ids = distinct(run.iter().map(|p| p.invoice_id.as_str()));
    let invoices: HashMap<String, (String, i64)> = select_by_ids(
        tx,
        "SELECT id, currency, open_balance_minor FROM invoices",
        tenant,
        &invoice_ids,
    )
    .await
    .ctx("look up invoices")?
    .iter()
    .map(|row| {
        let invoice = (get(row, "currency")?, get(row, "open_balance_minor")?);
        Ok((get(row, "id")?, invoice))
    })
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
        let (currency, balance) =
            invoices
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
        let delta = change.entry(p.invoice_id.as_str()).or_default();
        *delta += p.amount.minor - previous;
        let limit = validate::MAX_AMOUNT_MINOR;
        if !balance
            .checked_sub(*delta)
            .is_some_and(|after| (-limit..=limit).contains(&after))
        {
            return Err(invalid(format!(
                "brings invoice {}'s open balance beyond {limit} minor units either way",
                p.invoice_id
            )));
        }
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
    let note = "the invoice was paid in full after the decision";
    cancel_pending_of(tx, tenant, cleared.iter().map(String::as_str), at, note).await
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

pub(super) async fn upsert_customers(
    db: &This,
    tenant: &TenantId,
    rows: &[CustomerRecord],
) -> Result<usize> {
    rows.iter().try_for_each(validate::customer)?;
    let at = now();
    let mut tx = db.begin_write().await?;
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
        keep_unsubscribes(&mut tx, tenant, run).await?;
    }
    tx.commit().await.ctx("commit customers")?;
    Ok(rows.len())
}

pub(super) async fn upsert_invoices(
    db: &This,
    tenant: &TenantId,
    rows: &[NewInvoice],
) -> Result<usize> {
    rows.iter().try_for_each(validate::invoice)?;
    let at = now();
    let mut tx = db.begin_write().await?;
    let seq = ledger_write(&mut tx, tenant).await?;
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
        let note = "the invoice was closed (paid, void or written off) after the decision";
        cancel_pending_of(&mut tx, tenant, closed.map(|i| i.id.as_str()), at, note).await?;
        stamp_invoices(&mut tx, tenant, seq, run.iter().map(|i| i.id.as_str())).await?;
    }
    tx.commit().await.ctx("commit invoices")?;
    Ok(rows.len())
}

pub(super) async fn upsert_payments(
    db: &This,
    tenant: &TenantId,
    rows: &[NewPayment],
) -> Result<usize> {
    rows.iter().try_for_each(validate::payment)?;
    let at = now();
    let mut tx = db.begin_write().await?;
    let seq = ledger_write(&mut tx, tenant).await?;
    // Runs of at most UPSERT_CHUNK payments, no id twice, in file order: a payment
    // recorded again later in the batch sees the run before it.
    for run in upsert_runs(rows, |p| p.id.as_str(), |_| ()) {
        record_payments(&mut tx, tenant, run, at).await?;
        let named = run.iter().map(|p| p.invoice_id.as_str());
        stamp_invoices(&mut tx, tenant, seq, named).await?;
    }
    tx.commit().await.ctx("commit payments")?;
    Ok(rows.len())
}

pub(super) async fn upsert_disputes(
    db: &This,
    tenant: &TenantId,
    rows: &[NewDispute],
) -> Result<usize> {
    rows.iter().try_for_each(validate::dispute)?;
    let at = now();
    let mut tx = db.begin_write().await?;
    let seq = ledger_write(&mut tx, tenant).await?;
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
        let note = "a dispute was opened on the invoice after the decision";
        cancel_pending_of(
            &mut tx,
            tenant,
            opened.map(|d| d.invoice_id.as_str()),
            at,
            note,
        )
        .await?;
        let named = run.iter().map(|d| d.invoice_id.as_str());
        stamp_invoices(&mut tx, tenant, seq, named).await?;
    }
    tx.commit().await.ctx("commit disputes")?;
    Ok(rows.len())
}

pub(super) async fn upsert_payment_plans(
    db: &This,
    tenant: &TenantId,
    rows: &[NewPaymentPlan],
) -> Result<usize> {
    rows.iter().try_for_each(validate::payment_plan)?;
    let at = now();
    let mut tx = db.begin_write().await?;
    let seq = ledger_write(&mut tx, tenant).await?;
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
        let note = "a payment plan or promise to pay was agreed after the decision";
        cancel_pending_of(
            &mut tx,
            tenant,
            active.map(|p| p.invoice_id.as_str()),
            at,
            note,
        )
        .await?;
        let named = run.iter().map(|p| p.invoice_id.as_str());
        stamp_invoices(&mut tx, tenant, seq, named).await?;
    }
    tx.commit().await.ctx("commit payment plans")?;
    Ok(rows.len())
}

/// Puts back into `opted_out` the channels the customers of `run` unsubscribed from by an
/// email's link: that is the customer's own choice (RFC 8058), which the tenant's upsert,
/// written from its billing system's view of the customer, does not undo.
async fn keep_unsubscribes(tx: &mut Tx, tenant: &TenantId, run: &[CustomerRecord]) -> Result<()> {
    let ids: Vec<&str> = run.iter().map(|c| c.profile.id.as_str()).collect();
    let rows = select_by_ids(
        tx,
        "SELECT id, opted_out, unsubscribed FROM customers",
        tenant,
        &ids,
    )
    .await
    .ctx("read unsubscribed channels")?;
    for row in rows {
        let unsubscribed: Vec<Channel> = from_json(
            "unsubscribed channels",
            &get::<String>(&row, "unsubscribed")?,
        )?;
        let mut opted_out: Vec<Channel> =
            from_json("opted-out channels", &get::<String>(&row, "opted_out")?)?;
        let missing: Vec<Channel> = unsubscribed
            .into_iter()
            .filter(|c| !opted_out.contains(c))
            .collect();
        if missing.is_empty() {
            continue;
        }
        opted_out.extend(missing);
        sqlx::query("UPDATE customers SET opted_out = $3 WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.as_str())
            .bind(get::<String>(&row, "id")?)
            .bind(json(&opted_out))
            .execute(&mut **tx)
            .await
            .ctx("keep unsubscribed channels")?;
    }
    Ok(())
}

pub(super) async fn customer(
    db: &This,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<CustomerRecord>> {
    let row = sqlx::query(
        "SELECT id, tags, lifetime_value_minor, lifetime_currency, customer_since, \
         on_time_12m, late_12m, locale, time_zone, reachable_on, opted_out, contact \
         FROM customers WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant.as_str())
    .bind(id)
    .fetch_optional(&db.pool)
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

pub(super) async fn opt_out(
    db: &This,
    tenant: &TenantId,
    customer: &str,
    channel: Channel,
) -> Result<bool> {
    // Compare and set: on PostgreSQL another write to the row (an opt-out from another
    // channel's link, an import) may land between the read and the update; the update then
    // matches nothing and the read is done again, so neither change undoes the other. Each
    // round that fails does so because another write succeeded.
    loop {
        let mut tx = db.begin_write().await?;
        let current: Option<(String, String)> = sqlx::query_as(
            "SELECT opted_out, unsubscribed FROM customers WHERE tenant_id = $1 AND id = $2",
        )
        .bind(tenant.as_str())
        .bind(customer)
        .fetch_optional(&mut *tx)
        .await
        .ctx("read opted-out channels")?;
        let Some((opted_out, unsubscribed)) = current else {
            return Ok(false);
        };
        let add = |text: &str, what: &'static str| -> Result<Vec<Channel>> {
            let mut channels: Vec<Channel> = from_json(what, text)?;
            if !channels.contains(&channel) {
                channels.push(channel);
            }
            Ok(channels)
        };
        let new_opted_out = json(&add(&opted_out, "opted-out channels")?);
        let new_unsubscribed = json(&add(&unsubscribed, "unsubscribed channels")?);
        if new_opted_out == opted_out && new_unsubscribed == unsubscribed {
            return Ok(true);
        }
        let updated = sqlx::query(
            "UPDATE customers SET opted_out = $3, unsubscribed = $4, updated_at = $5 \
             WHERE tenant_id = $1 AND id = $2 AND opted_out = $6 AND unsubscribed = $7",
        )
        .bind(tenant.as_str())
        .bind(customer)
        .bind(&new_opted_out)
        .bind(&new_unsubscribed)
        .bind(now())
        .bind(&opted_out)
        .bind(&unsubscribed)
        .execute(&mut *tx)
        .await
        .ctx("record an opt-out")?;
        if updated.rows_affected() == 1 {
            tx.commit().await.ctx("commit an opt-out")?;
            return Ok(true);
        }
    }
}

/// The columns [`invoice_from_row`] reads, from `invoices i`.
const INVOICE_COLUMNS: &str = "i.id, i.customer_id, i.number, i.issued_on, i.due_on, \
     i.amount_minor, i.currency, i.open_balance_minor, i.payment_method, i.failed_attempts, \
     i.last_failure_on, i.last_failure_code, i.last_failure_kind, i.status, i.metadata, \
     EXISTS (SELECT 1 FROM disputes d WHERE d.tenant_id = i.tenant_id \
             AND d.invoice_id = i.id AND d.status = 'open') AS disputed";

fn invoice_from_row(row: &Row) -> Result<InvoiceRecord> {
    let currency = codec::parse_name("currency", &get::<String>(row, "currency")?)?;
    Ok(InvoiceRecord {
        id: get(row, "id")?,
        customer_id: get(row, "customer_id")?,
        number: get(row, "number")?,
        issued_on: get(row, "issued_on")?,
        due_on: get(row, "due_on")?,
        amount: Money::new(get(row, "amount_minor")?, currency),
        open_balance: Money::new(get(row, "open_balance_minor")?, currency),
        payment_method: codec::parse_name(
            "payment method",
            &get::<String>(row, "payment_method")?,
        )?,
        failed_attempts: narrow("failed attempts", get::<i64>(row, "failed_attempts")?)?,
        last_failure: last_failure_from_row(row)?,
        status: codec::parse_name("invoice status", &get::<String>(row, "status")?)?,
        disputed: get(row, "disputed")?,
        metadata: from_json("invoice metadata", &get::<String>(row, "metadata")?)?,
    })
}

pub(super) async fn invoice(
    db: &This,
    tenant: &TenantId,
    id: &str,
) -> Result<Option<InvoiceRecord>> {
    let row = sqlx::query(&format!(
        "SELECT {INVOICE_COLUMNS} FROM invoices i WHERE i.tenant_id = $1 AND i.id = $2"
    ))
    .bind(tenant.as_str())
    .bind(id)
    .fetch_optional(&db.pool)
    .await
    .ctx("read invoice")?;
    row.as_ref().map(invoice_from_row).transpose()
}

pub(super) async fn open_invoices(
    db: &This,
    tenant: &TenantId,
    customer: &str,
) -> Result<Vec<InvoiceRecord>> {
    sqlx::query(&format!(
        "SELECT {INVOICE_COLUMNS} FROM invoices i WHERE i.tenant_id = $1 \
         AND i.customer_id = $2 AND i.status = 'open' ORDER BY i.due_on, i.id"
    ))
    .bind(tenant.as_str())
    .bind(customer)
    .fetch_all(&db.pool)
    .await
    .ctx("read a customer's open invoices")?
    .iter()
    .map(invoice_from_row)
    .collect()
}

/// Where `tenant`'s ledger stands ([`LedgerMark`]).
pub(super) async fn ledger_mark(db: &This, tenant: &TenantId) -> Result<LedgerMark> {
    // A tenant without a clock row has had no ledger write yet.
    let seq: Option<i64> = sqlx::query_scalar(
        "SELECT CAST(COALESCE(c.seq, 0) AS BIGINT) FROM tenants t \
         LEFT JOIN ledger_clock c ON c.tenant_id = t.id WHERE t.id = $1",
    )
    .bind(tenant.as_str())
    .fetch_optional(&db.pool)
    .await
    .ctx("read the ledger's clock")?;
    seq.map(|seq| LedgerMark::new(tenant, seq))
        .ok_or_else(|| StoreError::UnknownTenant(tenant.clone()))
}
