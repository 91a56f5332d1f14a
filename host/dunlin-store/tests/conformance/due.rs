//! Due pages: which invoices are due for review on a date, the context each is decided
//! with, and paging through them with a cursor.

use dunlin_core::{ActionOutcome, Channel};
use dunlin_store::testing::{date as d, eur, Fixture};
use dunlin_store::{
    DisputeStatus, DueQuery, NewDispute, NewInvoice, NewPaymentPlan, Outcome, PlanKind, PlanStatus,
};

use crate::data::{customer, due_ids, first_reminders, invoice, outcome, seed, settings, tid};

dunlin_store::conformance!(
    due_for_review_builds_complete_contexts,
    due_for_review_pages_with_a_cursor,
);

async fn due_for_review_builds_complete_contexts(f: Fixture) {
    let acme = tid("acme");
    seed(&f, &acme).await;
    // i3 is not due yet; with lead days covering it, it is.
    assert_eq!(due_ids(&f, &acme, "2026-02-10").await, ["i1", "i2"]);
    let mut s = settings();
    s.lead_days = 60;
    f.db.update_tenant(&acme, &s).await.unwrap();
    assert_eq!(due_ids(&f, &acme, "2026-02-10").await, ["i1", "i2", "i3"]);
    s.lead_days = 0;
    f.db.update_tenant(&acme, &s).await.unwrap();

    let page =
        f.db.due_for_review(&acme, &DueQuery::new(d("2026-02-10")))
            .await
            .unwrap();
    assert_eq!(page.next, None);
    let first = &page.invoices[0];
    assert!(first.state.is_none());
    let ctx = &first.context;
    assert_eq!(ctx.as_of, d("2026-02-10"));
    assert_eq!(ctx.params, settings().params);
    assert_eq!(ctx.customer, customer("c1").profile);
    assert_eq!(ctx.invoice.amount, eur(10_000));
    assert_eq!(ctx.invoice.metadata["po"], "77");
    // c1's other overdue invoice is i2.
    assert_eq!(
        (ctx.other_overdue.count, ctx.other_overdue.total_minor),
        (1, 2_500)
    );

    // Record a reminder for both; they are not due again until their review date.
    let outcomes: Vec<Outcome> = first_reminders(&page);
    f.db.record_batch(&acme, &outcomes).await.unwrap();
    assert!(due_ids(&f, &acme, "2026-02-16").await.is_empty());
    let again =
        f.db.due_for_review(&acme, &DueQuery::new(d("2026-02-17")))
            .await
            .unwrap();
    let i1 = &again.invoices[0];
    assert_eq!(i1.state.as_ref().unwrap().level, 1);
    assert_eq!(i1.context.history.len(), 1);
    let past = &i1.context.history[0];
    assert_eq!(
        (past.on, past.level, past.channel, past.outcome),
        (
            d("2026-02-10"),
            Some(1),
            Some(Channel::Email),
            ActionOutcome::Pending
        )
    );
    // Contacts: both reminders to c1, inside the 7-day window ending on 2026-02-16.
    let q = DueQuery::new(d("2026-02-16"));
    assert_eq!(q.contacts_since, d("2026-02-10"));
    assert_eq!(
        i1.contacts.len(),
        0,
        "2026-02-10 is outside the window of 2026-02-17"
    );
    let contacts =
        f.db.recent_contacts(&acme, "c1", d("2026-02-10"))
            .await
            .unwrap();
    assert_eq!(contacts.len(), 2);

    // A dispute and a promise to pay show up as flags; a pause keeps the invoice out.
    f.db.upsert_disputes(
        &acme,
        &[NewDispute {
            id: "d1".into(),
            invoice_id: "i1".into(),
            opened_on: d("2026-02-15"),
            reason: String::new(),
            status: DisputeStatus::Open,
            resolved_on: None,
        }],
    )
    .await
    .unwrap();
    f.db.upsert_payment_plans(
        &acme,
        &[NewPaymentPlan {
            id: "pp".into(),
            invoice_id: "i2".into(),
            kind: PlanKind::Plan,
            agreed_on: d("2026-02-15"),
            expires_on: d("2026-02-28"),
            status: PlanStatus::Active,
        }],
    )
    .await
    .unwrap();
    let page =
        f.db.due_for_review(&acme, &DueQuery::new(d("2026-02-17")))
            .await
            .unwrap();
    let flags: Vec<(bool, bool)> = page
        .invoices
        .iter()
        .map(|i| {
            (
                i.context.invoice.disputed,
                i.context.invoice.on_payment_plan,
            )
        })
        .collect();
    assert_eq!(flags, [(true, false), (false, true)]);
    // After expiry the plan no longer holds.
    let page =
        f.db.due_for_review(&acme, &DueQuery::new(d("2026-03-01")))
            .await
            .unwrap();
    assert!(!page.invoices[1].context.invoice.on_payment_plan);

    // Pause i1 until March 10th and end i2's ladder.
    let ctx1 = page.invoices[0].context.clone();
    let ctx2 = page.invoices[1].context.clone();
    let mut paused = outcome(&ctx1, 1);
    paused.state.paused_until = Some(d("2026-03-10"));
    paused.state.paused_why = Some("customer on holiday".into());
    paused.state.next_review_on = Some(d("2026-03-02"));
    let mut ended = outcome(&ctx2, 2);
    ended.state.ended = true;
    ended.state.next_review_on = None;
    f.db.record_batch(&acme, &[paused, ended]).await.unwrap();
    assert!(due_ids(&f, &acme, "2026-03-09").await.is_empty());
    assert_eq!(due_ids(&f, &acme, "2026-03-10").await, ["i1"]);
    let state = f.db.dunning_state(&acme, "i1").await.unwrap().unwrap();
    assert_eq!(state.paused_why.as_deref(), Some("customer on holiday"));
}

async fn due_for_review_pages_with_a_cursor(f: Fixture) {
    let acme = tid("acme");
    f.db.create_tenant(&acme, &settings()).await.unwrap();
    f.db.upsert_customers(&acme, &[customer("c1")])
        .await
        .unwrap();
    let invoices: Vec<NewInvoice> = (0..25)
        .map(|n| invoice(&format!("inv-{n:03}"), "c1", "2026-01-31", 100 + n))
        .collect();
    f.db.upsert_invoices(&acme, &invoices).await.unwrap();
    let mut query = DueQuery::new(d("2026-02-10"));
    query.limit = 10;
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = f.db.due_for_review(&acme, &query).await.unwrap();
        pages += 1;
        for i in &page.invoices {
            // Each invoice sees the other 24 as overdue.
            assert_eq!(i.context.other_overdue.count, 24);
            seen.push(i.context.invoice.id.clone());
        }
        match page.next {
            Some(next) => query = query.after(next),
            None => break,
        }
    }
    let expected: Vec<String> = invoices.iter().map(|i| i.id.clone()).collect();
    assert_eq!(seen, expected);
    assert_eq!(pages, 3);
}
