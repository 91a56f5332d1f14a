//! Tenant isolation: nothing one tenant reads or writes reaches another's rows.

use dunlin_store::testing::{date as d, eur, Fixture};
use dunlin_store::{DecisionQuery, DueQuery, NewPayment, Outcome, StoreError};

use crate::data::{customer, first_reminders, invoice, seed, settings, tid};

dunlin_store::conformance!(tenant_b_never_sees_tenant_a,);

async fn tenant_b_never_sees_tenant_a(f: Fixture) {
    let (a, b) = (tid("tenant-a"), tid("tenant-b"));
    seed(&f, &a).await;
    f.db.create_tenant(&b, &settings()).await.unwrap();
    f.db.add_api_key(&a, "key-a", "a").await.unwrap();
    f.db.add_policy_version(&a, b"policy of a").await.unwrap();
    f.db.activate_policy_version(&a, 1).await.unwrap();
    let page =
        f.db.due_for_review(&a, &DueQuery::new(d("2026-02-10")))
            .await
            .unwrap();
    let outcomes: Vec<Outcome> = first_reminders(&page);
    f.db.record_batch(&a, &outcomes).await.unwrap();

    // Every read, with B's id and A's row ids, finds nothing.
    assert!(f.db.policy_versions(&b).await.unwrap().is_empty());
    assert!(f.db.active_policy(&b).await.unwrap().is_none());
    assert!(f.db.policy_blob(&b, 1).await.unwrap().is_none());
    assert!(matches!(
        f.db.activate_policy_version(&b, 1).await,
        Err(StoreError::UnknownPolicyVersion { .. })
    ));
    assert!(f.db.customer(&b, "c1").await.unwrap().is_none());
    assert!(f.db.invoice(&b, "i1").await.unwrap().is_none());
    assert!(f.db.dunning_state(&b, "i1").await.unwrap().is_none());
    assert!(f
        .db
        .due_for_review(&b, &DueQuery::new(d("2026-12-31")))
        .await
        .unwrap()
        .invoices
        .is_empty());
    assert!(f
        .db
        .decisions(&b, &DecisionQuery::default())
        .await
        .unwrap()
        .is_empty());
    assert!(f
        .db
        .decisions(&b, &DecisionQuery::invoice("i1"))
        .await
        .unwrap()
        .is_empty());
    assert!(f
        .db
        .recent_contacts(&b, "c1", d("2020-01-01"))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        f.db.tenant_for_api_key("key-a").await.unwrap(),
        Some(a.clone())
    );

    // B writing with A's ids cannot touch A's rows.
    let err =
        f.db.upsert_payments(
            &b,
            &[NewPayment {
                id: "p1".into(),
                invoice_id: "i1".into(),
                amount: eur(10_000),
                paid_on: d("2026-02-10"),
            }],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::UnknownInvoice { .. }), "{err:?}");
    assert!(f.db.record_batch(&b, &outcomes).await.is_err());
    assert!(matches!(
        f.db.upsert_invoices(&b, &[invoice("i1", "c1", "2026-01-31", 1)])
            .await,
        Err(StoreError::UnknownCustomer { .. })
    ));

    // B may use the same ids for its own rows, independently of A.
    f.db.upsert_customers(&b, &[customer("c1")]).await.unwrap();
    f.db.upsert_invoices(&b, &[invoice("i1", "c1", "2026-01-31", 77)])
        .await
        .unwrap();
    let b_page =
        f.db.due_for_review(&b, &DueQuery::new(d("2026-02-10")))
            .await
            .unwrap();
    assert_eq!(b_page.invoices.len(), 1);
    let ctx = &b_page.invoices[0].context;
    assert_eq!(ctx.invoice.amount, eur(77));
    assert!(ctx.history.is_empty(), "A's history stays A's");
    assert_eq!(
        ctx.other_overdue.count, 0,
        "A's invoices are not B's customer's"
    );
    assert!(b_page.invoices[0].contacts.is_empty());
    assert_eq!(
        f.db.invoice(&a, "i1").await.unwrap().unwrap().amount,
        eur(10_000)
    );
    assert_eq!(
        f.db.decisions(&a, &DecisionQuery::default())
            .await
            .unwrap()
            .len(),
        2
    );
}
