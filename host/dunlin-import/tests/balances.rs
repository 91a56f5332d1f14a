//! Payments against one invoice that add up beyond what a balance may hold: the row that
//! goes too far is a bad row with its line, the same on SQLite and PostgreSQL (the storage
//! conformance suite's harness, `DUNLIN_TEST_POSTGRES_URL`).

use dunlin_import::{import_reader, Format, Kind, Options};
use dunlin_store::testing::Fixture;
use dunlin_store::validate::MAX_AMOUNT_MINOR;
use dunlin_store::{InvoiceStatus, TenantId, TenantSettings};

dunlin_store::conformance!(
    a_payment_past_the_largest_balance_is_a_bad_row_and_the_invoice_stays_usable
);

async fn load(f: &Fixture, t: &TenantId, kind: Kind, text: &str) -> dunlin_import::ImportReport {
    import_reader(
        f.db.as_ref(),
        t,
        kind,
        Format::Csv,
        text.as_bytes(),
        &Options { batch_size: 1000 },
        &mut |_| {},
    )
    .await
    .expect("the import runs")
}

/// An invoice of the largest amount, paid three times that amount: the third payment would
/// take its balance below minus the largest amount (and, repeated, past what a 64-bit
/// balance holds: SQLite then kept the balance as a float and PostgreSQL failed the batch
/// without a line). It is refused with its line; the rows around it load, the balance stays
/// a whole number, and later imports naming the invoice still work.
async fn a_payment_past_the_largest_balance_is_a_bad_row_and_the_invoice_stays_usable(f: Fixture) {
    let t = TenantId::new("acme").expect("a tenant id");
    f.db.create_tenant(&t, &TenantSettings::default())
        .await
        .expect("tenant");
    let customers = load(
        &f,
        &t,
        Kind::Customers,
        "id,currency,customer-since\nc1,EUR,2024-01-01\n",
    )
    .await;
    assert!(customers.errors.is_empty(), "{customers:?}");
    let invoice = format!(
        "id,customer-id,issued-on,due-on,amount-minor,currency,payment-method\n\
         i1,c1,2026-01-01,2026-02-01,{MAX_AMOUNT_MINOR},EUR,card\n\
         i2,c1,2026-01-01,2026-02-01,500,EUR,card\n"
    );
    assert!(load(&f, &t, Kind::Invoices, &invoice)
        .await
        .errors
        .is_empty());

    let payments = format!(
        "id,invoice-id,amount-minor,currency,paid-on\n\
         p1,i1,{MAX_AMOUNT_MINOR},EUR,2026-02-10\n\
         p2,i1,{MAX_AMOUNT_MINOR},EUR,2026-02-11\n\
         p3,i1,{MAX_AMOUNT_MINOR},EUR,2026-02-12\n\
         p4,i2,200,EUR,2026-02-12\n\
         p5,i1,1,EUR,2026-02-13\n"
    );
    let report = load(&f, &t, Kind::Payments, &payments).await;
    let errors: Vec<(u64, &str)> = report
        .errors
        .iter()
        .map(|e| (e.line, e.message.as_str()))
        .collect();
    assert_eq!(errors.len(), 2, "{report:#?}");
    for (line, (at, message)) in [4, 6].into_iter().zip(&errors) {
        assert_eq!(*at, line, "{report:#?}");
        assert!(
            message.contains("brings invoice i1's open balance beyond"),
            "{message}"
        );
    }
    assert_eq!(report.loaded, 3, "{report:#?}");

    let i1 = f.db.invoice(&t, "i1").await.expect("read").expect("i1");
    assert_eq!(i1.open_balance.minor, -MAX_AMOUNT_MINOR);
    assert_eq!(i1.status, InvoiceStatus::Paid);
    let i2 = f.db.invoice(&t, "i2").await.expect("read").expect("i2");
    assert_eq!(i2.open_balance.minor, 300);

    // The invoice is imported again (its balance recomputed from its payments) and a payment
    // of it corrected to a smaller amount: both load.
    assert!(load(&f, &t, Kind::Invoices, &invoice)
        .await
        .errors
        .is_empty());
    let corrected = "id,invoice-id,amount-minor,currency,paid-on\np2,i1,5,EUR,2026-02-11\n";
    let report = load(&f, &t, Kind::Payments, corrected).await;
    assert!(report.errors.is_empty(), "{report:#?}");
    let i1 = f.db.invoice(&t, "i1").await.expect("read").expect("i1");
    assert_eq!(i1.open_balance.minor, -5);
}
