//! Imports that land while a sweep of the same tenant runs: the sweep decides on what it read,
//! and recording must not let a decision made before a payment, a dispute, a void or a
//! write-off leave a pending action behind. On SQLite and PostgreSQL, with the storage
//! conformance suite's harness (`DUNLIN_TEST_POSTGRES_URL`).

use dunlin_core::{Channel, Currency, Money};
use dunlin_runtime::{Runtime, RuntimeConfig};
use dunlin_store::testing::{customer, date as day, invoice, Fixture};
use dunlin_store::{
    CustomerRecord, Db, DisputeStatus, InvoiceStatus, NewDispute, NewInvoice, NewPayment, TenantId,
    TenantSettings,
};
use dunlin_sweep::{sweep, SweepOptions};
use dunlin_tests::fixture;

dunlin_store::conformance!(
    imports_racing_sweeps_leave_no_pending_action_on_an_invoice_no_longer_dunnable,
    a_sweep_whose_decisions_another_recorded_first_reports_only_what_it_recorded,
);

const AMOUNT: i64 = 12_000;

/// An overdue invoice of 120.00 EUR for a customer of its own (no contact cap in the way);
/// `status` as given.
fn owed(id: &str, status: Option<InvoiceStatus>) -> NewInvoice {
    let mut owed = invoice(id, &format!("c-{id}"), day("2026-02-01"), AMOUNT);
    owed.number = id.to_uppercase();
    owed.status = status;
    owed
}

/// A tenant whose active policy (`fx-good`) sends a reminder for every invoice it reviews,
/// with overdue `invoices`, each for a customer of its own.
async fn tenant_owed(db: &dyn Db, invoices: &[String]) -> TenantId {
    let t = TenantId::new("acme").expect("a tenant id");
    db.create_tenant(&t, &TenantSettings::default())
        .await
        .expect("tenant");
    let v = db
        .add_policy_version(&t, &fixture("fx-good"))
        .await
        .expect("upload");
    db.activate_policy_version(&t, v.version)
        .await
        .expect("activate");
    add_owed(db, &t, invoices).await;
    t
}

async fn add_owed(db: &dyn Db, t: &TenantId, invoices: &[String]) {
    let customers: Vec<CustomerRecord> = invoices
        .iter()
        .map(|id| {
            customer(&format!("c-{id}"))
                .with_lifetime_value(0)
                .with_customer_since(day("2024-01-01"))
                .with_payments_12m(0, 0)
                .with_time_zone("UTC")
                .with_reachable_on(&[Channel::Email])
        })
        .collect();
    db.upsert_customers(t, &customers).await.expect("customers");
    let rows: Vec<NewInvoice> = invoices.iter().map(|id| owed(id, None)).collect();
    db.upsert_invoices(t, &rows).await.expect("invoices");
}

/// What the import does to an invoice, by its number in the round.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Change {
    PaidInFull,
    Disputed,
    Voided,
    WrittenOff,
    PaidInPart,
    Untouched,
}

fn change(n: usize) -> Change {
    [
        Change::PaidInFull,
        Change::Disputed,
        Change::Voided,
        Change::WrittenOff,
        Change::PaidInPart,
        Change::Untouched,
    ][n % 6]
}

/// Imports `changes` a few invoices per transaction, the way a running import reaches the
/// store: payments, disputes and invoice statuses each in their own batches.
async fn import(db: &dyn Db, t: &TenantId, changes: &[(String, Change)]) {
    for chunk in changes.chunks(6) {
        let of = |wanted: &'static [Change]| {
            chunk
                .iter()
                .filter(move |(_, c)| wanted.contains(c))
                .map(|(id, c)| (id.as_str(), *c))
        };
        let payments: Vec<NewPayment> = of(&[Change::PaidInFull, Change::PaidInPart])
            .map(|(id, c)| NewPayment {
                id: format!("p-{id}"),
                invoice_id: id.into(),
                amount: Money::new(
                    if c == Change::PaidInFull {
                        AMOUNT
                    } else {
                        AMOUNT / 2
                    },
                    Currency::EUR,
                ),
                paid_on: day("2026-02-20"),
            })
            .collect();
        let disputes: Vec<NewDispute> = of(&[Change::Disputed])
            .map(|(id, _)| NewDispute {
                id: format!("d-{id}"),
                invoice_id: id.into(),
                opened_on: day("2026-02-20"),
                reason: "not delivered".into(),
                status: DisputeStatus::Open,
                resolved_on: None,
            })
            .collect();
        let closed: Vec<NewInvoice> = of(&[Change::Voided, Change::WrittenOff])
            .map(|(id, c)| {
                let status = match c {
                    Change::Voided => InvoiceStatus::Void,
                    _ => InvoiceStatus::WrittenOff,
                };
                owed(id, Some(status))
            })
            .collect();
        db.upsert_payments(t, &payments).await.expect("payments");
        db.upsert_disputes(t, &disputes).await.expect("disputes");
        db.upsert_invoices(t, &closed).await.expect("voids");
        tokio::task::yield_now().await;
    }
}

/// Counts with SQL what the store's API does not count.
async fn count(f: &Fixture, sql: &str) -> i64 {
    dunlin_store::testing::scalar(f, sql)
        .await
        .expect("a count")
}

/// Pending actions (the outbox's undelivered reminders) on invoices that are paid, void,
/// written off, without a balance or disputed.
const PENDING_ON_UNDUNNABLE: &str = "SELECT COUNT(*) FROM actions a \
    JOIN invoices i ON i.tenant_id = a.tenant_id AND i.id = a.invoice_id \
    WHERE a.tenant_id = 'acme' AND a.status = 'pending' \
    AND (i.status <> 'open' OR i.open_balance_minor <= 0 OR EXISTS (SELECT 1 FROM disputes d \
         WHERE d.tenant_id = i.tenant_id AND d.invoice_id = i.id AND d.status = 'open'))";

/// A round of new overdue invoices per day, swept while an import pays, disputes, voids and
/// writes off most of them. Whatever the interleaving, no pending action stays on an invoice
/// that is no longer dunnable; the sweep's report counts what it wrote; and an invoice whose
/// decision was dropped is reviewed again by the next sweep of the day.
async fn imports_racing_sweeps_leave_no_pending_action_on_an_invoice_no_longer_dunnable(
    f: Fixture,
) {
    const ROUNDS: usize = 8;
    const PER_ROUND: usize = 240;
    let runtime = Runtime::new(RuntimeConfig::default()).expect("runtime");
    let db = f.db.as_ref();
    let t = tenant_owed(db, &[]).await;
    let mut stale = 0;
    for round in 0..ROUNDS {
        let as_of = day("2026-03-01") + chrono::Days::new(round as u64);
        let ids: Vec<String> = (0..PER_ROUND).map(|n| format!("r{round}-{n:04}")).collect();
        add_owed(db, &t, &ids).await;
        // In an order of its own (a stride through the round), so that the import meets
        // invoices the sweep has selected, is deciding and has written.
        let changes: Vec<(String, Change)> = (0..PER_ROUND)
            .map(|k| (k * 97 + round * 13) % PER_ROUND)
            .map(|n| (ids[n].clone(), change(n)))
            .collect();
        let opts = SweepOptions {
            page_size: 16,
            workers: 2,
            ..SweepOptions::new(as_of)
        };
        let (report, ()) = tokio::join!(sweep(db, &runtime, &t, &opts), import(db, &t, &changes));
        let report = report.expect("the sweep runs");
        stale += report.stale;
        assert_eq!(
            count(&f, PENDING_ON_UNDUNNABLE).await,
            0,
            "round {round}: pending actions on invoices no longer dunnable ({report:?})"
        );
        let decided = format!(
            "SELECT COUNT(*) FROM decisions WHERE tenant_id = 'acme' AND as_of = '{as_of}'"
        );
        let sent = format!(
            "SELECT COUNT(*) FROM actions WHERE tenant_id = 'acme' AND as_of = '{as_of}' \
             AND status <> 'blocked'"
        );
        assert_eq!(
            (report.recorded as i64, report.actions as i64),
            (count(&f, &decided).await, count(&f, &sent).await),
            "round {round}: the report counts what was written ({report:?})"
        );

        // Reviewed again: every invoice still owed has its decision of the day after a
        // second sweep, and the second sweep leaves nothing pending on the others either.
        let again = sweep(db, &runtime, &t, &opts).await.expect("sweep again");
        assert!(
            again.reviewed <= report.stale && again.stale == 0,
            "round {round}: only what the first sweep dropped is due again: {report:?} {again:?}"
        );
        let undecided = format!(
            "SELECT COUNT(*) FROM invoices i WHERE i.tenant_id = 'acme' AND i.status = 'open' \
             AND i.open_balance_minor > 0 AND NOT EXISTS (SELECT 1 FROM disputes d \
                 WHERE d.tenant_id = i.tenant_id AND d.invoice_id = i.id AND d.status = 'open') \
             AND NOT EXISTS (SELECT 1 FROM dunning_state s WHERE s.tenant_id = i.tenant_id \
                 AND s.invoice_id = i.id AND s.next_review_on > '{as_of}')"
        );
        assert_eq!(count(&f, &undecided).await, 0, "round {round}");
        assert_eq!(count(&f, PENDING_ON_UNDUNNABLE).await, 0, "round {round}");
    }
    eprintln!("{stale} decisions dropped as stale in {ROUNDS} rounds");
}

/// Another process recorded this sweep's decisions while it was deciding (here: their
/// ladder states removed, so the invoices are selected again as if read before that
/// process wrote): the sweep writes nothing, and says so.
async fn a_sweep_whose_decisions_another_recorded_first_reports_only_what_it_recorded(f: Fixture) {
    let runtime = Runtime::new(RuntimeConfig::default()).expect("runtime");
    let db = f.db.as_ref();
    let t = tenant_owed(db, &["i1".into(), "i2".into()]).await;
    let opts = SweepOptions::new(day("2026-02-10"));
    let first = sweep(db, &runtime, &t, &opts).await.expect("sweep");
    assert_eq!((first.recorded, first.actions), (2, 2), "{first:?}");

    dunlin_store::testing::scalar(&f, "DELETE FROM dunning_state WHERE tenant_id = 'acme'").await;
    let second = sweep(db, &runtime, &t, &opts).await.expect("sweep again");
    assert_eq!(
        (second.reviewed, second.recorded, second.skipped),
        (2, 0, 2),
        "{second:?}"
    );
    assert_eq!(
        (second.actions, second.blocked),
        (0, 0),
        "nothing was put in the outbox: {second:?}"
    );
}
