//! The storage conformance suite: every test runs on SQLite and on PostgreSQL
//! (`cargo test -p dunlin-store --test conformance`; see harness.rs for the PostgreSQL URL).

mod harness;

use std::collections::BTreeMap;

use dunlin_core::guardrails::{Effect, Intervention, Rule};
use dunlin_core::{
    Action, ActionOutcome, Channel, Context, Currency, Customer, Date, Decision, Money, Notice,
    PaymentMethod, Tone,
};
use dunlin_store::{
    connect, ActionStatus, CustomerRecord, DecisionQuery, DisputeStatus, DueQuery, DunningState,
    FailureMode, FailureRecord, InvoiceStatus, NewDispute, NewInvoice, NewPayment, NewPaymentPlan,
    Outcome, PlanKind, PlanStatus, PlannedAction, PolicyRef, PolicyStatus, RecordSummary,
    StoreError, TenantId, TenantSettings,
};
use harness::Fixture;

/// Bulk loads end with `refresh_statistics`; it must run on either backend, empty or not, and
/// leave every row where it was.
async fn statistics_refresh_on_an_empty_and_a_loaded_store(f: Fixture) {
    f.db.refresh_statistics().await.expect("on an empty store");
    let t = TenantId::new("acme").unwrap();
    f.db.create_tenant(&t, &TenantSettings::default())
        .await
        .unwrap();
    f.db.refresh_statistics().await.expect("with a tenant");
    assert!(f.db.tenant(&t).await.unwrap().is_some());
}

conformance!(
    migrations_run_from_empty_and_again,
    statistics_refresh_on_an_empty_and_a_loaded_store,
    tenants_are_created_read_listed_and_updated,
    api_keys_find_their_tenant,
    policy_versions_number_up_and_only_one_is_active,
    importing_twice_leaves_the_same_rows,
    large_import_batches_apply_in_order,
    a_payment_that_clears_an_invoice_stops_its_ladder,
    payments_of_one_batch_apply_in_file_order,
    a_batch_of_payments_larger_than_a_statement_clears_every_invoice,
    disputes_and_plans_of_one_batch_apply_in_file_order,
    an_invoice_imported_as_closed_withdraws_its_pending_actions,
    due_for_review_builds_complete_contexts,
    due_for_review_pages_with_a_cursor,
    record_batch_twice_writes_one_decision_and_no_duplicate_actions,
    overlapping_batches_written_at_once_record_each_decision_once,
    one_batch_may_hold_several_days_of_one_invoice,
    stored_context_decodes_to_the_same_context,
    contexts_are_kept_in_chunks_and_no_chunk_is_left_unnamed,
    a_batch_naming_an_invoice_the_tenant_lacks_writes_nothing,
    bad_input_is_rejected_and_nothing_is_half_written,
    tenant_b_never_sees_tenant_a,
    migrating_ladders_repins_open_ones_only,
);

// ---- builders ----------------------------------------------------------------------------

fn d(s: &str) -> Date {
    s.parse().expect("test date")
}

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::EUR)
}

fn tid(s: &str) -> TenantId {
    TenantId::new(s).expect("test tenant id")
}

fn settings() -> TenantSettings {
    TenantSettings {
        name: "Acme Oy".into(),
        time_zone: "Europe/Helsinki".into(),
        schedule: "0 0 9 * * Mon-Fri".into(),
        guardrails: serde_json::json!({"max-contacts-per-customer-7-days": 5}),
        failure_mode: FailureMode::PreviousVersion,
        params: BTreeMap::from([("brand".to_owned(), "Acme".to_owned())]),
        lead_days: 0,
    }
}

fn customer(id: &str) -> CustomerRecord {
    CustomerRecord {
        profile: Customer {
            id: id.into(),
            tags: vec!["smb".into()],
            lifetime_value: eur(120_000),
            customer_since: d("2023-04-01"),
            on_time_payments_12m: 5,
            late_payments_12m: 2,
            locale: "fi".into(),
            time_zone: "Europe/Helsinki".into(),
            reachable_on: vec![Channel::Email, Channel::Sms],
            opted_out: vec![Channel::Letter],
        },
        contact: BTreeMap::from([("email".to_owned(), format!("{id}@example.com"))]),
    }
}

fn invoice(id: &str, customer: &str, due_on: &str, minor: i64) -> NewInvoice {
    NewInvoice {
        id: id.into(),
        customer_id: customer.into(),
        number: format!("N-{id}"),
        issued_on: d("2026-01-01"),
        due_on: d(due_on),
        amount: eur(minor),
        open_balance_minor: None,
        payment_method: PaymentMethod::BankTransfer,
        failed_attempts: 0,
        last_failure: None,
        status: None,
        metadata: BTreeMap::from([("po".to_owned(), "77".to_owned())]),
    }
}

/// A tenant with two customers and three invoices: `i1` and `i2` of `c1` (overdue on
/// 2026-02-10), `i3` of `c2` (not yet due).
async fn seed(f: &Fixture, tenant: &TenantId) {
    f.db.create_tenant(tenant, &settings())
        .await
        .expect("tenant");
    f.db.upsert_customers(tenant, &[customer("c1"), customer("c2")])
        .await
        .expect("customers");
    f.db.upsert_invoices(
        tenant,
        &[
            invoice("i1", "c1", "2026-01-31", 10_000),
            invoice("i2", "c1", "2026-02-05", 2_500),
            invoice("i3", "c2", "2026-03-31", 4_000),
        ],
    )
    .await
    .expect("invoices");
}

fn notice(level: u8) -> Action {
    Action::Notify(Notice {
        level,
        channel: Channel::Email,
        tone: Tone::Friendly,
        template: "reminder".into(),
        vars: BTreeMap::new(),
    })
}

/// What a sweep would record for `ctx`: one reminder, review again in a week.
fn outcome(ctx: &Context, level: u8) -> Outcome {
    let review_on = ctx.as_of + chrono::Days::new(7);
    Outcome {
        context: Box::new(ctx.clone()),
        policy: Some(PolicyRef {
            version: 1,
            sha256: "ab".repeat(32),
        }),
        decision: Some(Decision {
            segment: "smb".into(),
            actions: vec![notice(level)],
            review_on: Some(review_on),
            reason: "first reminder".into(),
        }),
        reason: "first reminder".into(),
        interventions: vec![],
        actions: vec![PlannedAction {
            action: notice(level),
            status: ActionStatus::Pending,
        }],
        fuel_used: Some(6_000),
        duration_us: Some(25),
        failure: None,
        state: DunningState {
            level,
            last_action_on: Some(ctx.as_of),
            next_review_on: Some(review_on),
            policy_version: Some(1),
            paused_until: None,
            paused_why: None,
            ended: false,
        },
        receipt: None,
    }
}

/// [`first_reminders`] handing on the page's receipts, as a sweep does.
fn first_reminders_with_receipts(page: &dunlin_store::DuePage) -> Vec<Outcome> {
    page.invoices
        .iter()
        .map(|i| Outcome {
            receipt: i.receipt.clone(),
            ..outcome(&i.context, 1)
        })
        .collect()
}

/// What a sweep would record for every invoice of `page`: a first reminder each.
fn first_reminders(page: &dunlin_store::DuePage) -> Vec<Outcome> {
    page.invoices
        .iter()
        .map(|i| outcome(&i.context, 1))
        .collect()
}

/// A tenant `acme` with `n` invoices (`inv-0000` …, all overdue on 2026-02-10, shared out
/// over `customers`), and a first reminder for each, in invoice order.
async fn many_first_reminders(f: &Fixture, n: usize, customers: &[&str]) -> Vec<Outcome> {
    let acme = tid("acme");
    f.db.create_tenant(&acme, &settings()).await.unwrap();
    let records: Vec<CustomerRecord> = customers.iter().map(|c| customer(c)).collect();
    f.db.upsert_customers(&acme, &records).await.unwrap();
    let invoices: Vec<NewInvoice> = (0..n)
        .map(|i| {
            let owner = customers[i % customers.len()];
            invoice(&format!("inv-{i:04}"), owner, "2026-01-31", 1_000)
        })
        .collect();
    f.db.upsert_invoices(&acme, &invoices).await.unwrap();
    let mut query = DueQuery::new(d("2026-02-10"));
    query.limit = 5_000;
    let page = f.db.due_for_review(&acme, &query).await.unwrap();
    assert_eq!(page.invoices.len(), n);
    first_reminders(&page)
}

/// The tenant's decision log, up to 10,000 decisions (one page of `decisions`).
async fn whole_log(f: &Fixture, tenant: &TenantId) -> Vec<dunlin_store::DecisionRecord> {
    let query = DecisionQuery {
        limit: 10_000,
        ..DecisionQuery::default()
    };
    f.db.decisions(tenant, &query).await.unwrap()
}

/// [`seed`], then the page due on 2026-02-10 (`i1` and `i2`).
async fn seeded_page(f: &Fixture, tenant: &TenantId) -> dunlin_store::DuePage {
    seed(f, tenant).await;
    f.db.due_for_review(tenant, &DueQuery::new(d("2026-02-10")))
        .await
        .unwrap()
}

async fn due_ids(f: &Fixture, tenant: &TenantId, as_of: &str) -> Vec<String> {
    f.db.due_for_review(tenant, &DueQuery::new(d(as_of)))
        .await
        .expect("due")
        .invoices
        .into_iter()
        .map(|i| i.context.invoice.id)
        .collect()
}

/// The status of the first action of the invoice's first decision.
async fn first_action_status(f: &Fixture, tenant: &TenantId, invoice: &str) -> ActionStatus {
    let log =
        f.db.decisions(tenant, &DecisionQuery::invoice(invoice))
            .await
            .unwrap();
    log[0].actions[0].status
}

// ---- tests -------------------------------------------------------------------------------

async fn migrations_run_from_empty_and_again(f: Fixture) {
    assert!(f.db.tenants().await.unwrap().is_empty());
    f.db.create_tenant(&tid("acme"), &settings()).await.unwrap();
    // Opening the same database again finds the schema current and the data intact.
    let again = connect(&f.url).await.expect("reopen");
    assert_eq!(again.tenants().await.unwrap().len(), 1);
    assert_eq!(again.backend(), f.db.backend());
}

async fn tenants_are_created_read_listed_and_updated(f: Fixture) {
    let acme = tid("acme");
    let created = f.db.create_tenant(&acme, &settings()).await.unwrap();
    assert_eq!(f.db.tenant(&acme).await.unwrap(), Some(created.clone()));
    assert!(matches!(
        f.db.create_tenant(&acme, &settings()).await,
        Err(StoreError::TenantExists(_))
    ));
    f.db.create_tenant(&tid("beta"), &TenantSettings::default())
        .await
        .unwrap();
    let ids: Vec<String> =
        f.db.tenants()
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.id.to_string())
            .collect();
    assert_eq!(ids, ["acme", "beta"]);

    let mut changed = settings();
    changed.schedule = "0 30 8 * * *".into();
    changed.failure_mode = FailureMode::SafeDefault;
    changed.params.insert("grace-days".into(), "3".into());
    let updated = f.db.update_tenant(&acme, &changed).await.unwrap();
    assert_eq!(updated.settings, changed);
    assert_eq!(updated.created_at, created.created_at);
    assert!(matches!(
        f.db.update_tenant(&tid("nobody"), &changed).await,
        Err(StoreError::UnknownTenant(_))
    ));

    let tick = chrono::Utc::now();
    f.db.mark_tick(&acme, tick).await.unwrap();
    let last =
        f.db.tenant(&acme)
            .await
            .unwrap()
            .unwrap()
            .last_tick_at
            .unwrap();
    assert!((last - tick).num_milliseconds().abs() < 1);
    assert!(f.db.tenant(&tid("nobody")).await.unwrap().is_none());
}

async fn api_keys_find_their_tenant(f: Fixture) {
    let (acme, beta) = (tid("acme"), tid("beta"));
    f.db.create_tenant(&acme, &settings()).await.unwrap();
    f.db.create_tenant(&beta, &settings()).await.unwrap();
    f.db.add_api_key(&acme, "key-a", "ci").await.unwrap();
    f.db.add_api_key(&acme, "key-a", "ci").await.unwrap(); // again: no-op
    f.db.add_api_key(&beta, "key-b", "ci").await.unwrap();
    assert_eq!(f.db.tenant_for_api_key("key-a").await.unwrap(), Some(acme));
    assert_eq!(
        f.db.tenant_for_api_key("key-b").await.unwrap(),
        Some(beta.clone())
    );
    assert_eq!(f.db.tenant_for_api_key("key-c").await.unwrap(), None);
    assert!(f.db.add_api_key(&beta, "key-a", "steal").await.is_err());
    assert!(matches!(
        f.db.add_api_key(&tid("nobody"), "key-z", "x").await,
        Err(StoreError::UnknownTenant(_))
    ));
}

async fn policy_versions_number_up_and_only_one_is_active(f: Fixture) {
    let acme = tid("acme");
    f.db.create_tenant(&acme, &settings()).await.unwrap();
    assert!(f.db.active_policy(&acme).await.unwrap().is_none());
    let v1 =
        f.db.add_policy_version(&acme, b"component one")
            .await
            .unwrap();
    let v2 =
        f.db.add_policy_version(&acme, b"component two")
            .await
            .unwrap();
    assert_eq!((v1.version, v2.version), (1, 2));
    assert_eq!(v1.status, PolicyStatus::Uploaded);
    assert_eq!(v1.size, 13);
    // The same bytes again are the same version.
    let again =
        f.db.add_policy_version(&acme, b"component one")
            .await
            .unwrap();
    assert_eq!(again.version, 1);

    f.db.activate_policy_version(&acme, 1).await.unwrap();
    let active = f.db.activate_policy_version(&acme, 2).await.unwrap();
    assert_eq!(active.status, PolicyStatus::Active);
    let statuses: Vec<(u32, PolicyStatus)> =
        f.db.policy_versions(&acme)
            .await
            .unwrap()
            .iter()
            .map(|v| (v.version, v.status))
            .collect();
    assert_eq!(
        statuses,
        [(1, PolicyStatus::Retired), (2, PolicyStatus::Active)]
    );
    let blob = f.db.active_policy(&acme).await.unwrap().unwrap();
    assert_eq!(
        (blob.version.version, blob.bytes.as_slice()),
        (2, &b"component two"[..])
    );
    assert_eq!(blob.version.sha256, v2.sha256);

    // Rolling back re-activates version 1 and retires 2.
    f.db.activate_policy_version(&acme, 1).await.unwrap();
    let active: Vec<u32> =
        f.db.policy_versions(&acme)
            .await
            .unwrap()
            .iter()
            .filter(|v| v.status == PolicyStatus::Active)
            .map(|v| v.version)
            .collect();
    assert_eq!(active, [1]);
    let old = f.db.policy_blob(&acme, 2).await.unwrap().unwrap();
    assert_eq!(old.bytes, b"component two");
    assert!(matches!(
        f.db.activate_policy_version(&acme, 9).await,
        Err(StoreError::UnknownPolicyVersion { version: 9, .. })
    ));
    assert!(matches!(
        f.db.add_policy_version(&tid("nobody"), b"x").await,
        Err(StoreError::UnknownTenant(_))
    ));
}

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

async fn record_batch_twice_writes_one_decision_and_no_duplicate_actions(f: Fixture) {
    let acme = tid("acme");
    let page = seeded_page(&f, &acme).await;
    let mut outcomes: Vec<Outcome> = first_reminders(&page);
    outcomes[0].actions.push(PlannedAction {
        action: notice(2),
        status: ActionStatus::Blocked,
    });
    let first = f.db.record_batch(&acme, &outcomes).await.unwrap();
    assert_eq!(
        first,
        RecordSummary {
            recorded: 2,
            skipped: 0
        }
    );
    // A crashed sweep resumed: the same outcomes, with a different decision for one.
    let mut again = outcomes.clone();
    again[0].state.level = 5;
    again[0].reason = "changed its mind".into();
    let second = f.db.record_batch(&acme, &again).await.unwrap();
    assert_eq!(
        second,
        RecordSummary {
            recorded: 0,
            skipped: 2
        }
    );
    // Duplicates inside one batch count once.
    let dup =
        f.db.record_batch(&acme, &[outcomes[1].clone(), outcomes[1].clone()])
            .await
            .unwrap();
    assert_eq!(
        dup,
        RecordSummary {
            recorded: 0,
            skipped: 2
        }
    );

    let log =
        f.db.decisions(&acme, &DecisionQuery::default())
            .await
            .unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].reason, "first reminder");
    let statuses: Vec<ActionStatus> = log[0].actions.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [ActionStatus::Pending, ActionStatus::Blocked]);
    assert_eq!(log[1].actions.len(), 1);
    let state = f.db.dunning_state(&acme, "i1").await.unwrap().unwrap();
    assert_eq!(
        state.level, 1,
        "the skipped outcome did not touch the state"
    );
    // Blocked actions are history but not contacts.
    assert_eq!(
        f.db.recent_contacts(&acme, "c1", d("2026-02-01"))
            .await
            .unwrap()
            .len(),
        2
    );

    // The next day is a new decision.
    let next =
        f.db.due_for_review(&acme, &DueQuery::new(d("2026-02-17")))
            .await
            .unwrap();
    let mut outcomes: Vec<Outcome> = next
        .invoices
        .iter()
        .map(|i| outcome(&i.context, 2))
        .collect();
    // A batch mixing an outcome recorded before with new ones writes only the new ones.
    outcomes.insert(0, again[0].clone());
    let third = f.db.record_batch(&acme, &outcomes).await.unwrap();
    assert_eq!(
        third,
        RecordSummary {
            recorded: 2,
            skipped: 1
        }
    );
    let state = f.db.dunning_state(&acme, "i1").await.unwrap().unwrap();
    assert_eq!(state.level, 2, "the new day's state, not the skipped one's");
    let ladder =
        f.db.decisions(&acme, &DecisionQuery::invoice("i1"))
            .await
            .unwrap();
    let days: Vec<Date> = ladder.iter().map(|r| r.as_of).collect();
    assert_eq!(days, [d("2026-02-10"), d("2026-02-17")]);
    // Paging through the log.
    let rest =
        f.db.decisions(
            &acme,
            &DecisionQuery {
                after_id: Some(ladder[0].id),
                limit: 1,
                ..DecisionQuery::invoice("i1")
            },
        )
        .await
        .unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].id, ladder[1].id);
}

/// A sweep writes up to [`dunlin_store::Db::write_lanes`] pages of one tenant at once, and a
/// second sweep of the same tenant and day may run beside it. Two batches of 2,000 invoices
/// that share 1,000, one in the opposite order, written at the same time: each decision once,
/// with its action and its state, and neither batch fails (on PostgreSQL the second insert of
/// a key waits for the first transaction and then skips it; inserted in mixed orders, the two
/// would deadlock).
async fn overlapping_batches_written_at_once_record_each_decision_once(f: Fixture) {
    let acme = tid("acme");
    let outcomes = many_first_reminders(&f, 3_000, &["c1", "c2"]).await;
    let first: Vec<Outcome> = outcomes[..2_000].to_vec();
    let second: Vec<Outcome> = outcomes[1_000..].iter().rev().cloned().collect();

    let (a, b) = tokio::join!(
        f.db.record_batch(&acme, &first),
        f.db.record_batch(&acme, &second)
    );
    let (a, b) = (a.expect("first batch"), b.expect("second batch"));
    assert_eq!(a.recorded + b.recorded, 3_000, "{a:?} {b:?}");
    assert_eq!(a.skipped + b.skipped, 1_000, "{a:?} {b:?}");

    let log = whole_log(&f, &acme).await;
    let mut decided: Vec<&str> = log.iter().map(|r| r.invoice_id.as_str()).collect();
    decided.sort_unstable();
    decided.dedup();
    assert_eq!(log.len(), 3_000, "one decision per invoice");
    assert_eq!(decided.len(), 3_000);
    assert!(log.iter().all(|r| r.actions.len() == 1), "one action each");
    for id in ["inv-0000", "inv-1500", "inv-2999"] {
        let state = f.db.dunning_state(&acme, id).await.unwrap().unwrap();
        assert_eq!(state.level, 1, "{id}");
    }
    assert!(
        f.db.due_for_review(&acme, &DueQuery::new(d("2026-02-10")))
            .await
            .unwrap()
            .invoices
            .is_empty(),
        "nothing left to decide that day"
    );
}

async fn one_batch_may_hold_several_days_of_one_invoice(f: Fixture) {
    let acme = tid("acme");
    let page = seeded_page(&f, &acme).await;
    let day1 = outcome(&page.invoices[0].context, 1);
    let mut ctx2 = page.invoices[0].context.clone();
    ctx2.as_of = d("2026-02-17");
    let day2 = outcome(&ctx2, 2);
    // Later day first: the state must still end up as the later day's.
    let summary = f.db.record_batch(&acme, &[day2, day1]).await.unwrap();
    assert_eq!(summary.recorded, 2);
    let log =
        f.db.decisions(&acme, &DecisionQuery::invoice("i1"))
            .await
            .unwrap();
    let levels: Vec<(Date, Option<u8>)> = log
        .iter()
        .map(|r| {
            let level = match &r.actions[0].action {
                Action::Notify(n) => Some(n.level),
                _ => None,
            };
            (r.as_of, level)
        })
        .collect();
    let mut levels = levels;
    levels.sort();
    assert_eq!(
        levels,
        [(d("2026-02-10"), Some(1)), (d("2026-02-17"), Some(2))]
    );
    let state = f.db.dunning_state(&acme, "i1").await.unwrap().unwrap();
    assert_eq!(state.level, 2);
}

async fn stored_context_decodes_to_the_same_context(f: Fixture) {
    let acme = tid("acme");
    let page = seeded_page(&f, &acme).await;
    let mut o = outcome(&page.invoices[0].context, 1);
    o.context.params.insert("ünïcode".into(), "€ ✓".into());
    o.interventions = vec![Intervention {
        rule: Rule::OptedOutChannel,
        effect: Effect::Rerouted,
        action_index: Some(0),
        detail: "sms is opted out: sent by email".into(),
    }];
    o.failure = Some(FailureRecord {
        code: "out-of-fuel".into(),
        message: "policy ran out of fuel".into(),
    });
    o.decision = None;
    f.db.record_batch(&acme, std::slice::from_ref(&o))
        .await
        .unwrap();
    let log =
        f.db.decisions(&acme, &DecisionQuery::invoice("i1"))
            .await
            .unwrap();
    let r = &log[0];
    assert_eq!(r.context, *o.context);
    assert_eq!(r.interventions, o.interventions);
    assert_eq!(r.failure, o.failure);
    assert_eq!(r.decision, None);
    assert_eq!(r.policy, o.policy);
    assert_eq!((r.fuel_used, r.duration_us), (Some(6_000), Some(25)));
    assert_eq!(r.actions[0].action, notice(1));
    let direct =
        dunlin_store::decompress_context(&dunlin_store::compress_context(&o.context).unwrap());
    assert_eq!(direct.unwrap(), *o.context);
}

/// An outcome for an invoice the tenant does not have (another tenant's, or none at all)
/// fails its whole batch: no decision, action, state or chunk of it is written. On SQLite the
/// error names the invoice.
async fn a_batch_naming_an_invoice_the_tenant_lacks_writes_nothing(f: Fixture) {
    let acme = tid("acme");
    let page = seeded_page(&f, &acme).await;
    let bolt = tid("bolt");
    f.db.create_tenant(&bolt, &settings()).await.unwrap();
    f.db.upsert_customers(&bolt, &[customer("c1")])
        .await
        .unwrap();
    f.db.upsert_invoices(&bolt, &[invoice("i1", "c1", "2026-01-31", 10_000)])
        .await
        .unwrap();
    // bolt has an i1 of its own, but not acme's i2; acme's receipts vouch for nothing of
    // bolt's, nor for an invoice other than their own.
    let sqlite = f.url.starts_with("sqlite:");
    assert_eq!(
        page.invoices[0].receipt.is_some(),
        sqlite,
        "SQLite issues receipts"
    );
    let outcomes = first_reminders_with_receipts(&page);
    let mut ghost = outcomes.clone();
    ghost[1].context.invoice.id = "ghost".into();
    for (tenant, batch, missing) in [(&bolt, &outcomes, "i2"), (&acme, &ghost, "ghost")] {
        let err = f.db.record_batch(tenant, batch).await.unwrap_err();
        if sqlite {
            assert!(
                matches!(&err, StoreError::UnknownInvoice { invoice, .. } if invoice == missing),
                "{err:?}"
            );
        }
    }
    for table in ["decisions", "actions", "dunning_state", "context_chunks"] {
        let rows = harness::scalar(&f, &format!("SELECT COUNT(*) FROM {table}")).await;
        assert_eq!(rows, Some(0), "{table}");
    }
    // The same batch for its own tenant is fine, receipts or not.
    assert_eq!(
        f.db.record_batch(&acme, &outcomes).await.unwrap().recorded,
        2
    );
    let later: Vec<Outcome> = first_reminders(&page)
        .into_iter()
        .map(|mut o| {
            o.context.as_of = d("2026-02-17");
            o
        })
        .collect();
    assert_eq!(f.db.record_batch(&acme, &later).await.unwrap().recorded, 2);
}

/// SQLite only: a receipt vouches only in the store that issued it. Another store with the
/// same tenant but not the invoice refuses the outcome.
#[tokio::test]
async fn sqlite_a_receipt_from_another_store_vouches_for_nothing() {
    use dunlin_store::Db as _;
    let dir = tempfile::tempdir().expect("temp dir");
    let (_first, page) = sqlite_with_a_due_page(&dir.path().join("first.db")).await;
    let other = dunlin_store::SqliteDb::connect(&format!(
        "sqlite://{}",
        dir.path().join("other.db").display()
    ))
    .await
    .expect("open");
    other
        .create_tenant(&tid("acme"), &settings())
        .await
        .expect("tenant");
    let outcomes = first_reminders_with_receipts(&page);
    assert!(outcomes.iter().all(|o| o.receipt.is_some()));
    let err = other
        .record_batch(&tid("acme"), &outcomes)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::UnknownInvoice { invoice, .. } if invoice == "i1"),
        "{err:?}"
    );
}

/// A batch's contexts are compressed in chunks of `CONTEXTS_PER_CHUNK` and each decision
/// reads back its own exactly; a chunk none of whose decisions is new (a resumed sweep) is
/// not left behind; a decision reads a chunk only of its own tenant.
async fn contexts_are_kept_in_chunks_and_no_chunk_is_left_unnamed(f: Fixture) {
    let acme = tid("acme");
    let per_chunk = dunlin_store::CONTEXTS_PER_CHUNK;
    let n = 2 * per_chunk + 22;
    let outcomes = many_first_reminders(&f, n, &["c1", "c2"]).await;
    let chunks = "SELECT COUNT(*) FROM context_chunks";
    let summary = f.db.record_batch(&acme, &outcomes).await.unwrap();
    assert_eq!(summary.recorded, n);
    assert_eq!(
        harness::scalar(&f, chunks).await,
        Some(3),
        "{n} contexts in chunks of {per_chunk}"
    );
    let log = whole_log(&f, &acme).await;
    assert_eq!(log.len(), n);
    for (record, o) in log.iter().zip(&outcomes) {
        assert_eq!(record.context, *o.context, "{}", record.invoice_id);
    }

    // Resumed: the first 100 again, all recorded before. Their two chunks go again.
    let again = f.db.record_batch(&acme, &outcomes[..100]).await.unwrap();
    assert_eq!((again.recorded, again.skipped), (0, 100));
    assert_eq!(
        harness::scalar(&f, chunks).await,
        Some(3),
        "no chunk left unnamed"
    );

    // A chunk of five recorded decisions and then five new ones keeps them on lines 5 to 9.
    let mut mixed: Vec<Outcome> = outcomes[..5].to_vec();
    for o in &outcomes[5..10] {
        let mut later = o.context.clone();
        later.as_of = d("2026-02-17");
        later.invoice.open_balance = eur(990);
        mixed.push(outcome(&later, 2));
    }
    let summary = f.db.record_batch(&acme, &mixed).await.unwrap();
    assert_eq!((summary.recorded, summary.skipped), (5, 5));
    assert_eq!(harness::scalar(&f, chunks).await, Some(4));
    for o in &mixed[5..] {
        let ladder =
            f.db.decisions(&acme, &DecisionQuery::invoice(o.context.invoice.id.clone()))
                .await
                .unwrap();
        assert_eq!(ladder.len(), 2);
        assert_eq!(ladder[1].context, *o.context);
    }

    // Another tenant's decision naming acme's chunk does not read it.
    let bolt = tid("bolt");
    seed(&f, &bolt).await;
    let acme_chunk = harness::scalar(&f, "SELECT MIN(id) FROM context_chunks").await;
    let forged = format!(
        "INSERT INTO decisions (tenant_id, invoice_id, as_of, context, context_chunk, \
         context_line, reason, interventions, created_at) VALUES ('bolt', 'i1', '2026-02-10', \
         {}, {}, 0, 'forged', '[]', '2026-02-10T09:00:00+00:00') RETURNING id",
        if f.url.starts_with("sqlite:") {
            "X'02'"
        } else {
            "'\\x02'"
        },
        acme_chunk.expect("a chunk")
    );
    harness::scalar(&f, &forged)
        .await
        .expect("the forged decision");
    let read = f.db.decisions(&bolt, &DecisionQuery::invoice("i1")).await;
    assert!(
        matches!(read, Err(StoreError::Corrupt { .. })),
        "bolt must not read acme's context: {read:?}"
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

async fn migrating_ladders_repins_open_ones_only(f: Fixture) {
    let acme = tid("acme");
    let globex = tid("globex");
    seed(&f, &acme).await;
    seed(&f, &globex).await;
    for t in [&acme, &globex] {
        f.db.add_policy_version(t, b"component one").await.unwrap();
        f.db.add_policy_version(t, b"component two").await.unwrap();
        let page =
            f.db.due_for_review(t, &DueQuery::new(d("2026-02-10")))
                .await
                .unwrap();
        let mut outcomes: Vec<Outcome> = first_reminders(&page);
        outcomes[1].state.ended = true;
        f.db.record_batch(t, &outcomes).await.unwrap();
    }
    assert_eq!(f.db.migrate_ladders(&acme, 2).await.unwrap(), 1);
    let pinned = |t: TenantId, id: &'static str| {
        let db = f.db.clone();
        async move {
            db.dunning_state(&t, id)
                .await
                .unwrap()
                .unwrap()
                .policy_version
        }
    };
    assert_eq!(pinned(acme.clone(), "i1").await, Some(2));
    assert_eq!(
        pinned(acme.clone(), "i2").await,
        Some(1),
        "an ended ladder stays"
    );
    assert_eq!(
        pinned(globex.clone(), "i1").await,
        Some(1),
        "another tenant is untouched"
    );
    assert!(matches!(
        f.db.migrate_ladders(&acme, 9).await,
        Err(StoreError::UnknownPolicyVersion { .. })
    ));
}

/// SQLite only: a checkpoint leaves every committed row in the database file and the WAL
/// empty, so the file alone can be copied.
#[tokio::test]
async fn sqlite_checkpoint_empties_the_wal_into_the_database_file() {
    use dunlin_store::Db as _;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("dunlin.db");
    let db = dunlin_store::SqliteDb::connect(&format!("sqlite://{}", file.display()))
        .await
        .expect("open");
    let acme = tid("acme");
    db.create_tenant(&acme, &TenantSettings::default())
        .await
        .expect("tenant");
    let wal = dir.path().join("dunlin.db-wal");
    assert!(std::fs::metadata(&wal).expect("WAL").len() > 0);
    db.checkpoint().await.expect("checkpoint");
    assert_eq!(std::fs::metadata(&wal).expect("WAL").len(), 0);
    db.close().await;

    let copy = dir.path().join("copy.db");
    std::fs::copy(&file, &copy).expect("copy the file alone");
    let db = dunlin_store::SqliteDb::connect(&format!("sqlite://{}", copy.display()))
        .await
        .expect("open the copy");
    assert!(db.tenant(&acme).await.expect("read").is_some());
}

/// SQLite only: a checkpoint that cannot empty the WAL says so. A reader in the middle of a
/// transaction keeps the WAL in use: after the busy timeout (10 s) the checkpoint fails with
/// `CheckpointBlocked`, not as if the file alone were complete; once the reader is done, the
/// checkpoint empties the WAL.
#[tokio::test]
async fn sqlite_checkpoint_fails_while_a_reader_keeps_the_wal() {
    use dunlin_store::Db as _;
    use sqlx::{Connection, Executor};
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("dunlin.db").display());
    let db = dunlin_store::SqliteDb::connect(&url).await.expect("open");
    db.create_tenant(&tid("acme"), &TenantSettings::default())
        .await
        .expect("tenant");
    let mut reader = sqlx::SqliteConnection::connect(&url).await.expect("reader");
    reader.execute("BEGIN").await.expect("begin");
    let tenants: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tenants")
        .fetch_one(&mut reader)
        .await
        .expect("read");
    assert_eq!(tenants, 1);
    db.create_tenant(&tid("bolt"), &TenantSettings::default())
        .await
        .expect("tenant");

    let blocked = db.checkpoint().await;
    assert!(
        matches!(blocked, Err(StoreError::CheckpointBlocked { .. })),
        "{blocked:?}"
    );
    reader.execute("ROLLBACK").await.expect("end the read");
    db.checkpoint().await.expect("checkpoint");
    let wal = dir.path().join("dunlin.db-wal");
    assert_eq!(std::fs::metadata(&wal).expect("WAL").len(), 0);
    db.close().await;
}

/// SQLite only: a new file is made with 16 KiB pages; a file made before with 4 KiB pages
/// keeps them, and the sweep's own connections (which size the WAL's bound by the file's
/// page size) still read and record in it.
#[tokio::test]
async fn sqlite_new_files_get_16k_pages_and_older_files_keep_theirs() {
    use dunlin_store::Db as _;
    use sqlx::{Connection, Executor};
    let dir = tempfile::tempdir().expect("temp dir");
    let page_size = |path: std::path::PathBuf| async move {
        let url = format!("sqlite://{}", path.display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("open");
        sqlx::query_scalar::<_, i64>("PRAGMA page_size")
            .fetch_one(&mut conn)
            .await
            .expect("page size")
    };

    let new = dir.path().join("new.db");
    let (db, _) = sqlite_with_a_due_page(&new).await;
    db.close().await;
    assert_eq!(page_size(new).await, 16384);

    // An older file: 4 KiB pages, in WAL mode, before Dunlin ever opened it.
    let old = dir.path().join("old.db");
    let url = format!("sqlite://{}?mode=rwc", old.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("create");
    conn.execute("PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; CREATE TABLE t (x)")
        .await
        .expect("a 4 KiB file");
    conn.close().await.expect("close");
    let (db, page) = sqlite_with_a_due_page(&old).await;
    let acme = tid("acme");
    let outcomes = first_reminders_with_receipts(&page);
    let summary = db.record_batch(&acme, &outcomes).await.expect("record");
    assert_eq!(summary.recorded, outcomes.len());
    assert_eq!(
        db.decisions(&acme, &DecisionQuery::default())
            .await
            .expect("read")
            .len(),
        outcomes.len()
    );
    db.close().await;
    assert_eq!(page_size(old).await, 4096);
}

/// SQLite only: a seeded store in the file at `path` and its first due page (2026-02-10).
async fn sqlite_with_a_due_page(
    path: &std::path::Path,
) -> (dunlin_store::SqliteDb, dunlin_store::DuePage) {
    use dunlin_store::Db as _;
    let db = dunlin_store::SqliteDb::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("open");
    let f = Fixture {
        db: std::sync::Arc::new(db.clone()),
        url: String::new(),
    };
    seed(&f, &tid("acme")).await;
    let page = db
        .due_for_review(&tid("acme"), &DueQuery::new(d("2026-02-10")))
        .await
        .expect("due");
    (db, page)
}

/// SQLite only: migration 3 rebuilds the decision log and the outbox (dropping
/// AUTOINCREMENT) and drops an unused index. A database written under migration 2 keeps every
/// decision and action with its id, new ids continue after the largest, and actions still
/// need their decision. Its decisions hold their own compressed contexts, as every decision
/// did before migration 5 put a sweep's contexts in chunks, and still read back the same.
#[tokio::test]
async fn sqlite_migration_3_keeps_the_log_its_ids_and_its_references() {
    use dunlin_store::Db as _;
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
    use std::str::FromStr as _;

    let dir = tempfile::tempdir().expect("temp dir");
    let (written, old) = (dir.path().join("written.db"), dir.path().join("old.db"));

    // A ladder recorded through the store (latest schema): three decisions, four actions.
    let (db, page) = sqlite_with_a_due_page(&written).await;
    let acme = tid("acme");
    let mut outcomes: Vec<Outcome> = first_reminders(&page);
    outcomes[0].actions.push(PlannedAction {
        action: notice(2),
        status: ActionStatus::Blocked,
    });
    db.record_batch(&acme, &outcomes).await.expect("record");
    let a_week_on = |ctx: &Context| {
        let mut later = ctx.clone();
        later.as_of = d("2026-02-17");
        [outcome(&later, 2)]
    };
    db.record_batch(&acme, &a_week_on(&page.invoices[0].context))
        .await
        .expect("record a later day");
    let before = db
        .decisions(&acme, &DecisionQuery::default())
        .await
        .expect("log");
    assert_eq!(before.len(), 3);
    db.close().await;

    // The same rows in a database that has only the first two migrations (same columns but
    // for the decisions' chunk columns: there each decision holds its own compressed
    // context, as before migration 5).
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", old.display()))
        .expect("url")
        .create_if_missing(true)
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .expect("open old");
    let mut first_two = sqlx::migrate!("migrations/sqlite");
    first_two.migrations = first_two.migrations[..2].to_vec().into();
    first_two.run(&pool).await.expect("migrations 1 and 2");
    sqlx::query("ATTACH DATABASE ? AS src")
        .bind(written.display().to_string())
        .execute(&pool)
        .await
        .expect("attach");
    for table in ["tenants", "customers", "invoices", "dunning_state"] {
        sqlx::query(&format!(
            "INSERT INTO main.{table} SELECT * FROM src.{table}"
        ))
        .execute(&pool)
        .await
        .expect(table);
    }
    sqlx::query(
        "INSERT INTO main.decisions SELECT id, tenant_id, invoice_id, as_of, policy_version, \
         policy_sha256, X'00', decision, reason, interventions, fuel_used, duration_us, \
         failure_code, failure_message, created_at FROM src.decisions",
    )
    .execute(&pool)
    .await
    .expect("decisions");
    for r in &before {
        let own = dunlin_store::compress_context(&r.context).expect("compress");
        sqlx::query("UPDATE main.decisions SET context = ? WHERE id = ?")
            .bind(own)
            .bind(r.id)
            .execute(&pool)
            .await
            .expect("a decision's own context");
    }
    sqlx::query("INSERT INTO main.actions SELECT * FROM src.actions")
        .execute(&pool)
        .await
        .expect("actions");
    sqlx::query("DETACH DATABASE src")
        .execute(&pool)
        .await
        .expect("detach");
    pool.close().await;

    // Migrated to the latest schema: the same log, ids and all.
    let db = dunlin_store::SqliteDb::connect(&format!("sqlite://{}", old.display()))
        .await
        .expect("migrate");
    let after = db
        .decisions(&acme, &DecisionQuery::default())
        .await
        .expect("log");
    assert_eq!(after, before);
    let (indexes,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM sqlite_master WHERE name = 'dunning_state_review' \
         OR sql LIKE '%AUTOINCREMENT%'",
    )
    .fetch_one(db.pool())
    .await
    .expect("schema");
    assert_eq!(indexes, 0, "the index and AUTOINCREMENT are gone");

    // New rows continue after the largest ids.
    db.record_batch(&acme, &a_week_on(&page.invoices[1].context))
        .await
        .expect("record after the migration");
    let log = db
        .decisions(&acme, &DecisionQuery::default())
        .await
        .expect("log");
    let newest = log.last().expect("a decision");
    let largest_decision = before.iter().map(|r| r.id).max().expect("ids");
    let largest_action = before
        .iter()
        .flat_map(|r| r.actions.iter().map(|a| a.id))
        .max()
        .expect("ids");
    assert_eq!(newest.id, largest_decision + 1);
    assert_eq!(newest.actions[0].id, largest_action + 1);

    // An action still needs its decision.
    let orphan = sqlx::query(
        "INSERT INTO actions (tenant_id, invoice_id, as_of, ordinal, customer_id, kind, \
         payload, status, created_at, updated_at) \
         VALUES ('acme', 'i1', '2030-01-01', 0, 'c1', 'wait', '{}', 'pending', 'now', 'now')",
    )
    .execute(db.pool())
    .await;
    assert!(
        orphan.is_err(),
        "an action without its decision: {orphan:?}"
    );
}

/// SQLite only: closing the handle closes every connection, the sweep's own included, so
/// SQLite folds the WAL back into the file and removes it.
#[tokio::test]
async fn sqlite_close_leaves_the_database_file_complete() {
    use dunlin_store::Db as _;
    let dir = tempfile::tempdir().expect("temp dir");
    let (db, page) = sqlite_with_a_due_page(&dir.path().join("dunlin.db")).await;
    let acme = tid("acme");
    let outcomes: Vec<Outcome> = first_reminders(&page);
    db.record_batch(&acme, &outcomes).await.expect("record");
    let wal = dir.path().join("dunlin.db-wal");
    assert!(wal.exists(), "a WAL while open");
    db.close().await;
    assert!(
        !wal.exists(),
        "the last connection to close removes the WAL"
    );
}

/// SQLite only: the pages a recorded batch commits reach the database file with nobody
/// asking. The checkpoint thread copies them; the writer's own checkpoint waits for a WAL of
/// 20,000 pages, and nothing here closes a connection (which would checkpoint too).
#[tokio::test]
async fn sqlite_recorded_batches_are_checkpointed_in_the_background() {
    use dunlin_store::Db as _;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("dunlin.db");
    let (db, page) = sqlite_with_a_due_page(&file).await;
    let size = || std::fs::metadata(&file).expect("the database file").len();
    let before = size();
    let summary = db
        .record_batch(&tid("acme"), &first_reminders(&page))
        .await
        .expect("record");
    assert_eq!(summary.recorded, page.invoices.len());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while size() <= before {
        assert!(
            std::time::Instant::now() < deadline,
            "the database file stayed at {before} bytes: nothing copied the WAL into it"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    db.close().await;
}

/// PostgreSQL only (SQLite has one writer, so its batches never meet mid-write). Another
/// writer, inserting in key order as a batch does, holds `inv-1000` uncommitted when a batch
/// of all 3,000 invoices, handed over in descending order, starts: the batch waits for that
/// key, the other writer then inserts `inv-1500`, commits, and the batch goes on, skipping
/// both. Had the batch been written in the order given, it would have held `inv-1500` by then
/// and the two would have deadlocked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_batches_wait_for_a_concurrent_writer_in_key_order() {
    use sqlx::{ConnectOptions, Connection, Executor};
    harness::on_postgres(|f: Fixture| async move {
        let acme = tid("acme");
        let mut outcomes = many_first_reminders(&f, 3_000, &["c1"]).await;
        outcomes.reverse();

        let options =
            <sqlx::postgres::PgConnectOptions as std::str::FromStr>::from_str(&f.url).unwrap();
        let mut other = options.connect().await.unwrap();
        let insert = |invoice: &str| {
            format!(
                "INSERT INTO decisions (tenant_id, invoice_id, as_of, context, reason, \
                 interventions, created_at) VALUES ('acme', '{invoice}', '2026-02-10', \
                 '\\x00', 'the other writer', '[]', now())"
            )
        };
        other.execute("BEGIN").await.unwrap();
        other.execute(insert("inv-1000").as_str()).await.unwrap();

        let db = f.db.clone();
        let batch = tokio::spawn(async move { db.record_batch(&acme, &outcomes).await });
        // Wait until the batch is blocked on the other writer's key.
        let mut watcher = options.connect().await.unwrap();
        let mut waited = 0;
        loop {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
            )
            .fetch_one(&mut watcher)
            .await
            .unwrap();
            if waiting > 0 {
                break;
            }
            assert!(waited < 200, "the batch never waited for inv-1000");
            waited += 1;
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        other.execute(insert("inv-1500").as_str()).await.unwrap();
        other.execute("COMMIT").await.unwrap();
        other.close().await.unwrap();
        watcher.close().await.unwrap();

        let summary = batch
            .await
            .unwrap()
            .expect("the batch finishes without a deadlock");
        assert_eq!(
            summary,
            RecordSummary {
                recorded: 2_998,
                skipped: 2
            }
        );
        // The other writer's rows hold no real context: read them with SQL, not `decisions`.
        let acme = tid("acme");
        let mut check = options.connect().await.unwrap();
        let reasons: Vec<String> = sqlx::query_scalar(
            "SELECT reason FROM decisions WHERE invoice_id IN ('inv-1000', 'inv-1500')",
        )
        .fetch_all(&mut check)
        .await
        .unwrap();
        assert_eq!(reasons, ["the other writer", "the other writer"]);
        let (decisions, actions): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM decisions), (SELECT count(*) FROM actions)",
        )
        .fetch_one(&mut check)
        .await
        .unwrap();
        assert_eq!((decisions, actions), (3_000, 2_998));
        check.close().await.unwrap();
        assert!(
            f.db.dunning_state(&acme, "inv-1500")
                .await
                .unwrap()
                .is_none(),
            "nor its state"
        );
        assert_eq!(
            f.db.dunning_state(&acme, "inv-1499")
                .await
                .unwrap()
                .unwrap()
                .level,
            1
        );
    })
    .await;
}
