//! The invariants the sweep's fast path rests on, held by the schema on both backends:
//! invoices are never deleted, so an invoice a page handed out a receipt for is still there
//! when its outcome is recorded, by a writer that does not look it up again.

use dunlin_store::testing::{customer, date, invoice, Fixture};
use dunlin_store::{Backend, DueQuery, DunningState, Outcome, TenantId, TenantSettings};
use sqlx::Connection;

/// Deletes the invoice by raw SQL beside the store: on SQLite as the sweep's own connections
/// are set up (foreign keys not enforced), on PostgreSQL as any client.
async fn delete_invoice(f: &Fixture, tenant: &TenantId, invoice: &str) -> Result<u64, String> {
    let statement = "DELETE FROM invoices WHERE tenant_id = $1 AND id = $2";
    if f.db.backend() == Backend::Sqlite {
        let path = f.url.trim_start_matches("sqlite://");
        let conn = rusqlite::Connection::open(path).map_err(|e| e.to_string())?;
        conn.pragma_update(None, "foreign_keys", false)
            .map_err(|e| e.to_string())?;
        let deleted = conn.execute(statement, [tenant.as_str(), invoice]);
        deleted.map(|n| n as u64).map_err(|e| e.to_string())
    } else {
        let mut conn = sqlx::PgConnection::connect(&f.url).await.expect("connect");
        let deleted = sqlx::query(statement)
            .bind(tenant.as_str())
            .bind(invoice)
            .execute(&mut conn)
            .await;
        deleted
            .map(|done| done.rows_affected())
            .map_err(|e| e.to_string())
    }
}

async fn an_invoice_cannot_be_deleted_while_its_receipt_is_trusted(f: Fixture) {
    let tenant = TenantId::new("acme").unwrap();
    f.db.create_tenant(&tenant, &TenantSettings::default())
        .await
        .unwrap();
    f.db.upsert_customers(&tenant, &[customer("c1")])
        .await
        .unwrap();
    let invoice = invoice("i1", "c1", date("2026-01-31"), 10_000);
    f.db.upsert_invoices(&tenant, &[invoice]).await.unwrap();

    let as_of = "2026-02-10".parse().unwrap();
    let page =
        f.db.due_for_review(&tenant, &DueQuery::new(as_of))
            .await
            .unwrap();
    let due = page.invoices.into_iter().next().expect("i1 is due");
    assert!(due.receipt.is_some(), "a page hands out receipts");

    let refused = delete_invoice(&f, &tenant, "i1").await;
    let message = refused.expect_err("the invoice was deleted");
    assert!(
        message.contains("invoices are never deleted"),
        "refused for another reason: {message}"
    );

    let outcome = Outcome {
        context: due.context,
        policy: None,
        decision: None,
        reason: "no active policy".into(),
        interventions: vec![],
        actions: vec![],
        fuel_used: None,
        duration_us: None,
        failure: None,
        state: DunningState {
            next_review_on: Some(as_of),
            ..DunningState::default()
        },
        receipt: due.receipt,
    };
    let summary = f.db.record_batch(&tenant, &[outcome]).await.unwrap();
    assert_eq!(summary.recorded, 1);
    assert!(f.db.invoice(&tenant, "i1").await.unwrap().is_some());
    if f.db.backend() == Backend::Sqlite {
        let dangling =
            dunlin_store::testing::scalar(&f, "SELECT COUNT(*) FROM pragma_foreign_key_check")
                .await;
        assert_eq!(dangling, Some(0));
    }
    // PostgreSQL's schema has no foreign keys from the sweep's tables to invoices (pg
    // migration 16): the writer keeps to them, and nothing here names a missing invoice.
    for table in ["decisions", "dunning_state"] {
        let dangling = dunlin_store::testing::scalar(
            &f,
            &format!(
                "SELECT COUNT(*) FROM {table} t WHERE NOT EXISTS (SELECT 1 FROM invoices i \
                 WHERE i.tenant_id = t.tenant_id AND i.id = t.invoice_id)"
            ),
        )
        .await;
        assert_eq!(dangling, Some(0), "{table}");
    }
}

dunlin_store::conformance!(an_invoice_cannot_be_deleted_while_its_receipt_is_trusted);
