//! The suite's data: a seeded tenant, and the outcomes a sweep would record for its due
//! invoices.

use std::collections::BTreeMap;

use dunlin_core::{Action, Channel, Context, Decision, Notice, Tone};
use dunlin_store::testing::{self, date as d, Fixture};
use dunlin_store::{
    ActionStatus, CustomerRecord, DecisionQuery, DueQuery, DunningState, FailureMode, NewInvoice,
    Outcome, PlannedAction, PolicyRef, TenantId, TenantSettings,
};

pub fn tid(s: &str) -> TenantId {
    TenantId::new(s).expect("test tenant id")
}

pub fn settings() -> TenantSettings {
    TenantSettings {
        name: "Acme Oy".into(),
        time_zone: "Europe/Helsinki".into(),
        schedule: "0 0 9 * * Mon-Fri".into(),
        guardrails: serde_json::json!({"max-contacts-per-customer-7-days": 5}),
        failure_mode: FailureMode::PreviousVersion,
        params: BTreeMap::from([("brand".to_owned(), "Acme".to_owned())]),
        lead_days: 0,
        ..TenantSettings::default()
    }
}

/// The suite's customer: a small business in Finland, opted out of letters, with an email
/// address.
pub fn customer(id: &str) -> CustomerRecord {
    testing::customer(id)
        .with_tags(&["smb"])
        .with_lifetime_value(120_000)
        .with_customer_since(d("2023-04-01"))
        .with_payments_12m(5, 2)
        .with_locale("fi")
        .with_opted_out(&[Channel::Letter])
        .with_contact("email", &format!("{id}@example.com"))
}

/// The suite's invoice, with the tenant's purchase order number in its metadata.
pub fn invoice(id: &str, customer: &str, due_on: &str, minor: i64) -> NewInvoice {
    testing::invoice(id, customer, d(due_on), minor).with_metadata("po", "77")
}

/// A tenant with two customers and three invoices: `i1` and `i2` of `c1` (overdue on
/// 2026-02-10), `i3` of `c2` (not yet due).
pub async fn seed(f: &Fixture, tenant: &TenantId) {
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

pub fn notice(level: u8) -> Action {
    Action::Notify(Notice {
        level,
        channel: Channel::Email,
        tone: Tone::Friendly,
        template: "reminder".into(),
        vars: BTreeMap::new(),
    })
}

/// What a sweep would record for `ctx`: one reminder, review again in a week.
pub fn outcome(ctx: &Context, level: u8) -> Outcome {
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
pub fn first_reminders_with_receipts(page: &dunlin_store::DuePage) -> Vec<Outcome> {
    page.invoices
        .iter()
        .map(|i| Outcome {
            receipt: i.receipt.clone(),
            ..outcome(&i.context, 1)
        })
        .collect()
}

/// What a sweep would record for every invoice of `page`: a first reminder each.
pub fn first_reminders(page: &dunlin_store::DuePage) -> Vec<Outcome> {
    page.invoices
        .iter()
        .map(|i| outcome(&i.context, 1))
        .collect()
}

/// A tenant `acme` with `n` invoices (`inv-0000` …, all overdue on 2026-02-10, shared out
/// over `customers`), and a first reminder for each, in invoice order.
pub async fn many_first_reminders(f: &Fixture, n: usize, customers: &[&str]) -> Vec<Outcome> {
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
pub async fn whole_log(f: &Fixture, tenant: &TenantId) -> Vec<dunlin_store::DecisionRecord> {
    let query = DecisionQuery {
        limit: 10_000,
        ..DecisionQuery::default()
    };
    f.db.decisions(tenant, &query).await.unwrap()
}

/// [`seed`], then the page due on 2026-02-10 (`i1` and `i2`).
pub async fn seeded_page(f: &Fixture, tenant: &TenantId) -> dunlin_store::DuePage {
    seed(f, tenant).await;
    f.db.due_for_review(tenant, &DueQuery::new(d("2026-02-10")))
        .await
        .unwrap()
}

pub async fn due_ids(f: &Fixture, tenant: &TenantId, as_of: &str) -> Vec<String> {
    f.db.due_for_review(tenant, &DueQuery::new(d(as_of)))
        .await
        .expect("due")
        .invoices
        .into_iter()
        .map(|i| i.context.invoice.id)
        .collect()
}

/// The status of the first action of the invoice's first decision.
pub async fn first_action_status(f: &Fixture, tenant: &TenantId, invoice: &str) -> ActionStatus {
    let log =
        f.db.decisions(tenant, &DecisionQuery::invoice(invoice))
            .await
            .unwrap();
    log[0].actions[0].status
}
