//! Ledger imports: customers, invoices, payments, disputes and payment plans, written in
//! batches that apply row by row in file order, all or nothing, and withdraw the pending
//! actions of an invoice they close or hold.

use dunlin_core::{Currency, Money};
use dunlin_store::testing::{date as d, eur, Fixture};
use dunlin_store::{
    ActionStatus, CustomerRecord, DecisionQuery, DisputeStatus, DueQuery, InvoiceStatus,
    NewDispute, NewInvoice, NewPayment, NewPaymentPlan, PlanKind, PlanStatus, StoreError,
};

use crate::data::{
    customer, due_ids, first_action_status, first_reminders, invoice, many_first_reminders,
    outcome, seed, seeded_page, tid, whole_log,
};

dunlin_store::conformance!(
    importing_twice_leaves_the_same_rows,
    large_import_batches_apply_in_order,
    a_payment_that_clears_an_invoice_stops_its_ladder,
    payments_of_one_batch_apply_in_file_order,
    a_batch_of_payments_larger_than_a_statement_clears_every_invoice,
    disputes_and_plans_of_one_batch_apply_in_file_order,
    an_invoice_imported_as_closed_withdraws_its_pending_actions,
    bad_input_is_rejected_and_nothing_is_half_written,
);

async fn importing_twice_leaves_the_same_rows(f: Fixture) {
    let acme = tid("acme");
    seed(&f, &acme).await;
    let extras = |db: &Fixture| {
        let acme = acme.clone();
        let db = db.db.clone();
        async move {
            db.upsert_payments(
                &acme,
                &[NewPayment {
                    id: "p1".into(),
                    invoice_id: "i1".into(),
                    amount: eur(4_000),
                    paid_on: d("2026-02-02"),
                }],
            )
            .await
            .unwrap();
            db.upsert_disputes(
                &acme,
                &[NewDispute {
                    id: "d1".into(),
                    invoice_id: "i2".into(),
                    opened_on: d("2026-02-06"),
                    reason: "wrong amount".into(),
                    status: DisputeStatus::Open,
                    resolved_on: None,
                }],
            )
            .await
            .unwrap();
            db.upsert_payment_plans(
                &acme,
                &[NewPaymentPlan {
                    id: "pp1".into(),
                    invoice_id: "i3".into(),
                    kind: PlanKind::Promise,
                    agreed_on: d("2026-02-01"),
                    expires_on: d("2026-04-15"),
                    status: PlanStatus::Active,
                }],
            )
            .await
            .unwrap();
        }
    };
    extras(&f).await;
    let snapshot = |f: &Fixture| {
        let db = f.db.clone();
        let acme = acme.clone();
        async move {
            let mut all = Vec::new();
            for id in ["i1", "i2", "i3"] {
                all.push(format!("{:?}", db.invoice(&acme, id).await.unwrap()));
            }
            for id in ["c1", "c2"] {
                all.push(format!("{:?}", db.customer(&acme, id).await.unwrap()));
            }
            all.push(format!(
                "{:?}",
                db.due_for_review(&acme, &DueQuery::new(d("2026-04-01")))
                    .await
                    .unwrap()
            ));
            all
        }
    };
    let first = snapshot(&f).await;
    // The whole import again: customers, invoices, payments, disputes, plans.
    f.db.upsert_customers(&acme, &[customer("c1"), customer("c2")])
        .await
        .unwrap();
    f.db.upsert_invoices(
        &acme,
        &[
            invoice("i1", "c1", "2026-01-31", 10_000),
            invoice("i2", "c1", "2026-02-05", 2_500),
            invoice("i3", "c2", "2026-03-31", 4_000),
        ],
    )
    .await
    .unwrap();
    extras(&f).await;
    assert_eq!(snapshot(&f).await, first);
    let i1 = f.db.invoice(&acme, "i1").await.unwrap().unwrap();
    assert_eq!(i1.open_balance, eur(6_000), "the payment counts once");
    assert!(f.db.invoice(&acme, "i2").await.unwrap().unwrap().disputed);

    // A changed row is updated in place.
    let mut changed = invoice("i1", "c1", "2026-02-15", 12_000);
    changed.number = "N-i1-b".into();
    f.db.upsert_invoices(&acme, &[changed]).await.unwrap();
    let i1 = f.db.invoice(&acme, "i1").await.unwrap().unwrap();
    assert_eq!((i1.number.as_str(), i1.due_on), ("N-i1-b", d("2026-02-15")));
    assert_eq!(i1.open_balance, eur(8_000), "new amount less the payment");
}

/// Imports are written many rows to a statement; a batch larger than one statement, with a
/// record repeated, and with and without explicit balances and statuses, still applies row
/// by row in order.
async fn large_import_batches_apply_in_order(f: Fixture) {
    let acme = tid("acme");
    seed(&f, &acme).await;
    let customers: Vec<CustomerRecord> = (0..2_500).map(|n| customer(&format!("k{n}"))).collect();
    assert_eq!(
        f.db.upsert_customers(&acme, &customers).await.unwrap(),
        2_500
    );
    let mut rows: Vec<NewInvoice> = (0..2_500)
        .map(|n| {
            invoice(
                &format!("b{n:04}"),
                &format!("k{n}"),
                "2026-01-31",
                1_000 + n,
            )
        })
        .collect();
    // b0001 appears again later in the batch: the later row wins.
    let mut again = invoice("b0001", "k7", "2026-01-31", 9_999);
    again.number = "second".into();
    rows.insert(1_500, again);
    // An explicit open balance and a status, in the middle of the batch.
    rows[10].open_balance_minor = Some(123);
    rows[11].status = Some(InvoiceStatus::Void);
    f.db.upsert_invoices(&acme, &rows).await.unwrap();

    let b1 = f.db.invoice(&acme, "b0001").await.unwrap().unwrap();
    assert_eq!(
        (b1.number.as_str(), b1.customer_id.as_str(), b1.amount),
        ("second", "k7", eur(9_999))
    );
    assert_eq!(b1.open_balance, eur(9_999));
    let b10 = f.db.invoice(&acme, "b0010").await.unwrap().unwrap();
    assert_eq!(b10.open_balance, eur(123));
    let b11 = f.db.invoice(&acme, "b0011").await.unwrap().unwrap();
    assert_eq!(b11.status, InvoiceStatus::Void);
    let last = f.db.invoice(&acme, "b2499").await.unwrap().unwrap();
    assert_eq!(last.amount, eur(3_499));
    assert_eq!(
        f.db.customer(&acme, "k2499")
            .await
            .unwrap()
            .unwrap()
            .profile
            .id,
        "k2499"
    );

    // Without a status the known invoice keeps its own; without a balance it owes its new
    // amount less its payments.
    f.db.upsert_payments(
        &acme,
        &[NewPayment {
            id: "pb12".into(),
            invoice_id: "b0012".into(),
            amount: eur(12),
            paid_on: d("2026-02-02"),
        }],
    )
    .await
    .unwrap();
    let mut again = vec![
        invoice("b0011", "k11", "2026-01-31", 1_011),
        invoice("b0012", "k12", "2026-01-31", 2_000),
    ];
    again[0].number = "kept void".into();
    f.db.upsert_invoices(&acme, &again).await.unwrap();
    let b11 = f.db.invoice(&acme, "b0011").await.unwrap().unwrap();
    assert_eq!(
        (b11.number.as_str(), b11.status),
        ("kept void", InvoiceStatus::Void)
    );
    let b12 = f.db.invoice(&acme, "b0012").await.unwrap().unwrap();
    assert_eq!(b12.open_balance, eur(1_988));

    // An unknown customer anywhere in a large batch names its row; nothing is written.
    let mut bad: Vec<NewInvoice> = (0..1_200)
        .map(|n| invoice(&format!("x{n:04}"), &format!("k{n}"), "2026-01-31", 500))
        .collect();
    bad[1_100].customer_id = "nobody".into();
    match f.db.upsert_invoices(&acme, &bad).await {
        Err(StoreError::UnknownCustomer { id, customer, .. }) => {
            assert_eq!((id.as_str(), customer.as_str()), ("x1100", "nobody"));
        }
        other => panic!("expected an unknown customer, got {other:?}"),
    }
    assert!(f.db.invoice(&acme, "x0000").await.unwrap().is_none());
}

async fn a_payment_that_clears_an_invoice_stops_its_ladder(f: Fixture) {
    let acme = tid("acme");
    let page = seeded_page(&f, &acme).await;
    let ctx = page.invoices[0].context.clone();
    assert_eq!(ctx.invoice.id, "i1");
    f.db.record_batch(&acme, &[outcome(&ctx, 1)]).await.unwrap();

    let pay = |id: &str, minor| NewPayment {
        id: id.into(),
        invoice_id: "i1".into(),
        amount: eur(minor),
        paid_on: d("2026-02-12"),
    };
    f.db.upsert_payments(&acme, &[pay("p1", 3_000)])
        .await
        .unwrap();
    let i1 = f.db.invoice(&acme, "i1").await.unwrap().unwrap();
    assert_eq!(
        (i1.status, i1.open_balance),
        (InvoiceStatus::Open, eur(7_000))
    );
    assert!(due_ids(&f, &acme, "2026-02-20")
        .await
        .contains(&"i1".to_owned()));

    f.db.upsert_payments(&acme, &[pay("p2", 7_000)])
        .await
        .unwrap();
    let i1 = f.db.invoice(&acme, "i1").await.unwrap().unwrap();
    assert_eq!((i1.status, i1.open_balance), (InvoiceStatus::Paid, eur(0)));
    assert!(!due_ids(&f, &acme, "2026-02-20")
        .await
        .contains(&"i1".to_owned()));
    // The reminder not yet delivered is withdrawn.
    let log =
        f.db.decisions(&acme, &DecisionQuery::invoice("i1"))
            .await
            .unwrap();
    assert_eq!(log[0].actions[0].status, ActionStatus::Cancelled);
    // … and no longer counts as a contact.
    assert!(f
        .db
        .recent_contacts(&acme, "c1", d("2026-02-01"))
        .await
        .unwrap()
        .is_empty());
}

/// Payments are written a run of rows at a time; what a batch does must still be what its
/// rows do one after another: two payments that together clear an invoice, a payment
/// recorded twice in one batch with a new amount, and a bad row that leaves nothing written.
async fn payments_of_one_batch_apply_in_file_order(f: Fixture) {
    let acme = tid("acme");
    let page = seeded_page(&f, &acme).await;
    f.db.record_batch(&acme, &first_reminders(&page))
        .await
        .unwrap();
    let pay = |id: &str, invoice: &str, minor| NewPayment {
        id: id.into(),
        invoice_id: invoice.into(),
        amount: eur(minor),
        paid_on: d("2026-02-12"),
    };
    let balance = |invoice: &'static str| {
        let db = f.db.clone();
        let acme = acme.clone();
        async move {
            let i = db.invoice(&acme, invoice).await.unwrap().unwrap();
            (i.status, i.open_balance)
        }
    };

    let mut batch = vec![
        pay("p1", "i1", 4_000),
        pay("p2", "i1", 6_000),
        pay("p3", "i2", 1_000),
    ];
    // A bad row (the 4th) leaves the whole batch unwritten, and names itself.
    let bad = [batch.clone(), vec![pay("p-x", "nope", 1)]].concat();
    let err = f.db.upsert_payments(&acme, &bad).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::UnknownInvoice { id, .. } if id == "p-x"),
        "{err:?}"
    );
    assert_eq!(balance("i1").await, (InvoiceStatus::Open, eur(10_000)));

    // p3 again, for its full amount: a second run of the batch sees the first.
    batch.extend([pay("p3", "i2", 2_500), pay("p4", "i3", 1_000)]);
    f.db.upsert_payments(&acme, &batch).await.unwrap();
    assert_eq!(balance("i1").await, (InvoiceStatus::Paid, eur(0)));
    assert_eq!(balance("i2").await, (InvoiceStatus::Paid, eur(0)));
    assert_eq!(balance("i3").await, (InvoiceStatus::Open, eur(3_000)));
    let log =
        f.db.decisions(&acme, &DecisionQuery::default())
            .await
            .unwrap();
    let statuses: Vec<ActionStatus> = log.iter().map(|r| r.actions[0].status).collect();
    assert_eq!(statuses, [ActionStatus::Cancelled, ActionStatus::Cancelled]);

    // The same file again changes nothing; a payment cannot move to another invoice.
    f.db.upsert_payments(&acme, &[pay("p4", "i3", 1_000)])
        .await
        .unwrap();
    assert_eq!(balance("i3").await, (InvoiceStatus::Open, eur(3_000)));
    let err =
        f.db.upsert_payments(&acme, &[pay("p5", "i3", 500), pay("p4", "i2", 1_000)])
            .await
            .unwrap_err();
    assert!(
        matches!(&err, StoreError::Invalid { id, problem, .. }
            if id == "p4" && problem.contains("cannot move")),
        "{err:?}"
    );
    assert_eq!(balance("i3").await, (InvoiceStatus::Open, eur(3_000)));
}

/// 2,500 payments in one call (three statements' worth), each clearing its invoice: every
/// invoice is paid, every pending reminder withdrawn, nothing is due any more.
async fn a_batch_of_payments_larger_than_a_statement_clears_every_invoice(f: Fixture) {
    let acme = tid("acme");
    let outcomes = many_first_reminders(&f, 2_500, &["c1", "c2"]).await;
    f.db.record_batch(&acme, &outcomes).await.unwrap();
    let payments: Vec<NewPayment> = outcomes
        .iter()
        .map(|o| NewPayment {
            id: format!("pay-{}", o.context.invoice.id),
            invoice_id: o.context.invoice.id.clone(),
            amount: eur(1_000),
            paid_on: d("2026-02-12"),
        })
        .collect();
    assert_eq!(f.db.upsert_payments(&acme, &payments).await.unwrap(), 2_500);
    for id in ["inv-0000", "inv-0999", "inv-1000", "inv-2499"] {
        let i = f.db.invoice(&acme, id).await.unwrap().unwrap();
        assert_eq!(
            (i.status, i.open_balance),
            (InvoiceStatus::Paid, eur(0)),
            "{id}"
        );
    }
    let log = whole_log(&f, &acme).await;
    assert_eq!(log.len(), 2_500);
    assert!(log
        .iter()
        .all(|r| r.actions[0].status == ActionStatus::Cancelled));
    assert!(due_ids(&f, &acme, "2026-03-10").await.is_empty());
}

/// Disputes and payment plans are written a run at a time too: a bad row leaves its batch
/// unwritten and names itself, a row repeated in one batch applies after the first, and an
/// open dispute or an active plan withdraws its invoice's pending reminder.
async fn disputes_and_plans_of_one_batch_apply_in_file_order(f: Fixture) {
    let acme = tid("acme");
    let page = seeded_page(&f, &acme).await;
    f.db.record_batch(&acme, &first_reminders(&page))
        .await
        .unwrap();
    let dispute = |id: &str, invoice: &str, status| NewDispute {
        id: id.into(),
        invoice_id: invoice.into(),
        opened_on: d("2026-02-11"),
        reason: "wrong amount".into(),
        status,
        resolved_on: (status == DisputeStatus::Resolved).then(|| d("2026-02-12")),
    };
    let plan = |id: &str, invoice: &str| NewPaymentPlan {
        id: id.into(),
        invoice_id: invoice.into(),
        kind: PlanKind::Plan,
        agreed_on: d("2026-02-11"),
        expires_on: d("2026-04-30"),
        status: PlanStatus::Active,
    };

    let err =
        f.db.upsert_disputes(
            &acme,
            &[
                dispute("d1", "i1", DisputeStatus::Open),
                dispute("d2", "nope", DisputeStatus::Open),
            ],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::UnknownInvoice { id, .. } if id == "d2"),
        "{err:?}"
    );
    assert_eq!(
        first_action_status(&f, &acme, "i1").await,
        ActionStatus::Pending
    );
    let err =
        f.db.upsert_payment_plans(&acme, &[plan("pp1", "i2"), plan("pp2", "nope")])
            .await
            .unwrap_err();
    assert!(
        matches!(&err, StoreError::UnknownInvoice { id, .. } if id == "pp2"),
        "{err:?}"
    );
    assert_eq!(
        first_action_status(&f, &acme, "i2").await,
        ActionStatus::Pending
    );

    // Opened, then resolved further down the same file.
    f.db.upsert_disputes(
        &acme,
        &[
            dispute("d1", "i1", DisputeStatus::Open),
            dispute("d1", "i1", DisputeStatus::Resolved),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        first_action_status(&f, &acme, "i1").await,
        ActionStatus::Cancelled
    );
    let i1 = f.db.invoice(&acme, "i1").await.unwrap().unwrap();
    assert!(!i1.disputed, "the later row (resolved) is the one kept");

    f.db.upsert_payment_plans(&acme, &[plan("pp1", "i2")])
        .await
        .unwrap();
    assert_eq!(
        first_action_status(&f, &acme, "i2").await,
        ActionStatus::Cancelled
    );
}

/// An invoice re-imported as paid, void or written off has its undelivered actions
/// withdrawn with it; one re-imported still open keeps them.
async fn an_invoice_imported_as_closed_withdraws_its_pending_actions(f: Fixture) {
    let acme = tid("acme");
    let page = seeded_page(&f, &acme).await;
    f.db.record_batch(&acme, &first_reminders(&page))
        .await
        .unwrap();
    let closed = |id: &str, due_on: &str, minor: i64, status: InvoiceStatus| NewInvoice {
        status: Some(status),
        ..invoice(id, "c1", due_on, minor)
    };
    f.db.upsert_invoices(
        &acme,
        &[
            closed("i1", "2026-01-31", 10_000, InvoiceStatus::Void),
            invoice("i2", "c1", "2026-02-05", 2_500),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        first_action_status(&f, &acme, "i1").await,
        ActionStatus::Cancelled
    );
    assert_eq!(
        first_action_status(&f, &acme, "i2").await,
        ActionStatus::Pending
    );
    f.db.upsert_invoices(
        &acme,
        &[closed("i2", "2026-02-05", 2_500, InvoiceStatus::WrittenOff)],
    )
    .await
    .unwrap();
    assert_eq!(
        first_action_status(&f, &acme, "i2").await,
        ActionStatus::Cancelled
    );
}

async fn bad_input_is_rejected_and_nothing_is_half_written(f: Fixture) {
    let acme = tid("acme");
    seed(&f, &acme).await;
    let expect_invalid = |r: Result<usize, StoreError>, needle: &str| {
        let err = r.expect_err("bad input must fail");
        let msg = err.to_string();
        assert!(msg.contains(needle), "{msg:?} should mention {needle:?}");
    };
    // Each batch has a good row first: it must not be written either.
    let good = invoice("new-1", "c1", "2026-02-01", 500);
    let mut negative = invoice("neg", "c1", "2026-02-01", 0);
    negative.amount = eur(-1);
    expect_invalid(
        f.db.upsert_invoices(&acme, &[good.clone(), negative]).await,
        "zero or more",
    );
    let mut huge = invoice("huge", "c1", "2026-02-01", 0);
    huge.amount = eur(i64::MAX);
    expect_invalid(
        f.db.upsert_invoices(&acme, &[good.clone(), huge]).await,
        "at most",
    );
    let mut odd = invoice("odd", "c1", "2026-02-01", 100);
    odd.amount = Money::new(100, Currency::new("XYZ").unwrap());
    expect_invalid(
        f.db.upsert_invoices(&acme, &[good.clone(), odd]).await,
        "unknown currency XYZ",
    );
    let mut ancient = invoice("old", "c1", "2026-02-01", 100);
    ancient.issued_on = d("0999-01-01");
    expect_invalid(
        f.db.upsert_invoices(&acme, &[good.clone(), ancient]).await,
        "outside the years",
    );
    let orphan = invoice("orphan", "c-unknown", "2026-02-01", 100);
    let err =
        f.db.upsert_invoices(&acme, &[good.clone(), orphan])
            .await
            .unwrap_err();
    assert!(
        matches!(&err, StoreError::UnknownCustomer { customer, .. } if customer == "c-unknown"),
        "{err:?}"
    );
    assert!(f.db.invoice(&acme, "new-1").await.unwrap().is_none());
    assert!(matches!(
        f.db.upsert_invoices(&tid("nobody"), &[good]).await,
        Err(StoreError::UnknownTenant(_))
    ));

    // Payments: a bad one rolls back the good one before it.
    let pay = |id: &str, invoice: &str, amount: Money| NewPayment {
        id: id.into(),
        invoice_id: invoice.into(),
        amount,
        paid_on: d("2026-02-10"),
    };
    let good_pay = pay("p-good", "i1", eur(10_000));
    let usd = Money::new(100, Currency::new("USD").unwrap());
    expect_invalid(
        f.db.upsert_payments(&acme, &[good_pay.clone(), pay("p-usd", "i2", usd)])
            .await,
        "invoice i2 is in EUR",
    );
    let err =
        f.db.upsert_payments(&acme, &[good_pay.clone(), pay("p-x", "nope", eur(1))])
            .await
            .unwrap_err();
    assert!(matches!(err, StoreError::UnknownInvoice { .. }), "{err:?}");
    expect_invalid(
        f.db.upsert_payments(&acme, &[good_pay, pay("p-0", "i1", eur(0))])
            .await,
        "positive",
    );
    let i1 = f.db.invoice(&acme, "i1").await.unwrap().unwrap();
    assert_eq!(
        (i1.status, i1.open_balance),
        (InvoiceStatus::Open, eur(10_000))
    );

    // A batch of outcomes naming an invoice the tenant does not have writes nothing.
    let page =
        f.db.due_for_review(&acme, &DueQuery::new(d("2026-02-10")))
            .await
            .unwrap();
    let good = outcome(&page.invoices[0].context, 1);
    let mut stray = outcome(&page.invoices[1].context, 1);
    stray.context.invoice.id = "not-there".into();
    assert!(f.db.record_batch(&acme, &[good, stray]).await.is_err());
    assert!(f
        .db
        .decisions(&acme, &DecisionQuery::default())
        .await
        .unwrap()
        .is_empty());
    assert!(f.db.dunning_state(&acme, "i1").await.unwrap().is_none());
}
