//! The seeded history the backtest and shadow tests share, whose difference between two
//! versions is known in advance.

use dunlin_core::{Currency, Date, Money};
use dunlin_store::testing::{customer, date as d, invoice};
use dunlin_store::{Db, TenantId, TenantSettings};
use dunlin_sweep::{sweep, SweepOptions};
use dunlin_tests::{fixture, runtime};

/// Seeds `id` with fx-ladder active (version 1) and fx-ladder-early stored (version 2), four
/// invoices 30 days overdue on 2026-03-01 (two of `smb` customers, one in USD), and sweeps
/// every day from 2026-03-01 to 2026-03-13: each invoice is decided on 11 days, the last
/// (2026-03-11, 40 days overdue) sending it to collections. With `shadow`, fx-ladder-early is
/// in shadow through those sweeps.
pub async fn seeded(db: &dyn Db, id: &str, shadow: bool) -> TenantId {
    let t = ledger(db, id, shadow).await;
    sweep_days(db, &t, d("2026-03-01"), d("2026-03-13")).await;
    t
}

/// The tenant of [`seeded`] before any sweep: versions, customers and invoices.
// Each test binary that includes this module uses its own part of it.
#[allow(dead_code)]
pub async fn ledger(db: &dyn Db, id: &str, shadow: bool) -> TenantId {
    let t = TenantId::new(id).expect("a tenant id");
    db.create_tenant(&t, &TenantSettings::default())
        .await
        .expect("create tenant");
    let v1 = db
        .add_policy_version(&t, &fixture("fx-ladder"))
        .await
        .expect("upload");
    db.activate_policy_version(&t, v1.version)
        .await
        .expect("activate");
    let v2 = db
        .add_policy_version(&t, &fixture("fx-ladder-early"))
        .await
        .expect("upload");
    if shadow {
        db.set_shadow(&t, Some(v2.version)).await.expect("shadow");
    }
    db.upsert_customers(
        &t,
        &[
            customer("c-smb1").with_tags(&["smb"]),
            customer("c-smb2").with_tags(&["smb"]),
            customer("c-plain"),
            customer("c-ent").with_tags(&["enterprise"]),
        ],
    )
    .await
    .expect("customers");
    let due = d("2026-01-30");
    let mut usd = invoice("inv-2", "c-smb2", due, 25_000);
    usd.amount = Money::new(25_000, Currency::new("USD").expect("a code"));
    db.upsert_invoices(
        &t,
        &[
            invoice("inv-1", "c-smb1", due, 10_000),
            usd,
            invoice("inv-3", "c-plain", due, 5_000),
            invoice("inv-4", "c-ent", due, 7_000),
        ],
    )
    .await
    .expect("invoices");
    t
}

/// Sweeps `t` every day from `first` to `last`.
pub async fn sweep_days(db: &dyn Db, t: &TenantId, first: Date, last: Date) {
    let mut day = first;
    while day <= last {
        sweep(db, runtime(), t, &SweepOptions::new(day))
            .await
            .expect("sweep");
        day = day.succ_opt().expect("a next day");
    }
}
