//! The world the outbox tests deliver in: a tenant in a real store (the example templates,
//! its customers and invoices, decisions recorded as a sweep records them), a clock the test
//! moves by hand, and a worker run with `--once` over real transports.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Days, TimeZone, Utc};
use dunlin_core::{
    Action, Channel, Closure, Context, Date, Decision, Escalation, EscalationKind, Notice, Pause,
    Retry, Tone,
};
use dunlin_delivery::email::{Security, SmtpConfig, SmtpTransport, Transport};
use dunlin_delivery::outbox::worker::{Scope, Totals, Worker, WorkerConfig};
use dunlin_delivery::template::{Limits, TemplateSet};
use dunlin_delivery::webhook::{EndpointPolicy, WebhookSecret};
use dunlin_scheduler::ManualClock;
use dunlin_store::outbox::{AttemptRecord, OutboxEntry, OutboxQuery};
use dunlin_store::testing::{self, Fixture};
use dunlin_store::{
    ActionStatus, CustomerRecord, DeliverySettings, DueQuery, DunningState, NewEndpoint,
    NewInvoice, Outcome, PlannedAction, PolicyRef, TemplateRow, TenantId, TenantSettings,
};
use tokio_util::sync::CancellationToken;

use crate::aiosmtpd::{free_port, Aiosmtpd};

/// The day every decision is taken on unless a test says otherwise (a Tuesday).
pub const AS_OF: &str = "2026-03-10";
/// The decisions' reason, as the decision log and the webhooks carry it.
pub const REASON: &str = "second reminder, card customer";
/// The policy version that decided.
pub const POLICY_VERSION: u32 = 3;

/// 2026-03-10 at `hour`:`minute` UTC: 10:00 is noon in Helsinki and 06:00 in New York.
pub fn march_10(hour: u32, minute: u32) -> DateTime<Utc> {
    utc(2026, 3, 10, hour, minute)
}

pub fn utc(year: i32, month: u32, day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, day, hour, minute, 0)
        .single()
        .expect("a test instant")
}

pub fn tid(id: &str) -> TenantId {
    TenantId::new(id).expect("a test tenant id")
}

/// A clock at `at`, moved by the test.
pub fn clock(at: DateTime<Utc>) -> Arc<ManualClock> {
    Arc::new(ManualClock::new(at))
}

/// What the tests' tenants send with: their own sender address, a payment link, defaults
/// otherwise (consolidation on, 8 attempts, no quiet days).
pub fn delivery() -> DeliverySettings {
    DeliverySettings {
        sender_address: "billing@acme.example".into(),
        payment_link: "https://pay.acme.example/{invoice}".into(),
        ..DeliverySettings::default()
    }
}

/// Creates tenant `id` ("Acme Oy", Helsinki) with `delivery` and the example templates of
/// `examples/templates`, stored as an upload stores them.
pub async fn tenant(f: &Fixture, id: &str, delivery: DeliverySettings) -> TenantId {
    let tenant = tid(id);
    let settings = TenantSettings {
        name: "Acme Oy".into(),
        time_zone: "Europe/Helsinki".into(),
        schedule: "0 0 9 * * Mon-Fri".into(),
        lead_days: 0,
        delivery,
        ..TenantSettings::default()
    };
    f.db.create_tenant(&tenant, &settings)
        .await
        .expect("create the tenant");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/templates");
    let set = TemplateSet::from_dir(&dir, Limits::default()).expect("the example templates");
    let rows: Vec<TemplateRow> = set.iter().map(TemplateRow::from).collect();
    f.db.put_templates(&tenant, &rows)
        .await
        .expect("store the templates");
    tenant
}

/// A customer speaking `locale` in `zone`, with a name and an email address.
pub fn customer(id: &str, locale: &str, zone: &str, email: &str) -> CustomerRecord {
    testing::customer(id)
        .with_locale(locale)
        .with_time_zone(zone)
        .with_contact("name", &format!("Customer {id}"))
        .with_contact("email", email)
}

/// An open invoice of `customer` for `minor` cents, due on 2026-02-20.
pub fn invoice(id: &str, customer: &str, minor: i64) -> NewInvoice {
    testing::invoice(id, customer, testing::date("2026-02-20"), minor)
}

/// Tenant `acme` (with `delivery`) and its customer `c1` (en, Helsinki) with one invoice
/// `i1` of `minor` cents.
pub async fn acme_with_one_invoice(
    f: &Fixture,
    delivery: DeliverySettings,
    minor: i64,
) -> TenantId {
    let acme = tenant(f, "acme", delivery).await;
    ledger(
        f,
        &acme,
        &[customer("c1", "en", "Europe/Helsinki", "c1@example.com")],
        &[invoice("i1", "c1", minor)],
    )
    .await;
    acme
}

pub async fn ledger(
    f: &Fixture,
    tenant: &TenantId,
    customers: &[CustomerRecord],
    invoices: &[NewInvoice],
) {
    f.db.upsert_customers(tenant, customers)
        .await
        .expect("customers");
    f.db.upsert_invoices(tenant, invoices)
        .await
        .expect("invoices");
}

/// Records what a sweep on `as_of` would record for each listed invoice: a decision with
/// these actions, the next review a week later. Returns the actions' ids, in the order
/// given.
pub async fn decide(
    f: &Fixture,
    tenant: &TenantId,
    as_of: &str,
    planned: &[(&str, Vec<Action>)],
) -> Vec<i64> {
    let as_of = testing::date(as_of);
    let mut query = DueQuery::new(as_of);
    query.limit = DueQuery::MAX_LIMIT;
    let page = f.db.due_for_review(tenant, &query).await.expect("due page");
    let outcomes: Vec<Outcome> = planned
        .iter()
        .map(|(invoice, actions)| {
            let due = page
                .invoices
                .iter()
                .find(|d| d.context.invoice.id == *invoice)
                .unwrap_or_else(|| panic!("invoice {invoice} is not due on {as_of}"));
            outcome(&due.context, actions.clone())
        })
        .collect();
    let summary =
        f.db.record_batch(tenant, &outcomes)
            .await
            .expect("record the decisions");
    assert_eq!(summary.recorded, planned.len());
    let mut ids = Vec::new();
    for (invoice, _) in planned {
        let query = OutboxQuery {
            invoice: Some((*invoice).to_owned()),
            ..OutboxQuery::default()
        };
        let entries = f.db.outbox(tenant, &query).await.expect("the outbox");
        ids.extend(entries.iter().filter(|e| e.as_of == as_of).map(|e| e.id));
    }
    ids
}

/// One email notice from "reminder-friendly" per customer, each for an invoice of its own
/// (`i-{customer}`, `minor` cents), decided on `as_of`; returns the actions' ids in order.
pub async fn one_notice_each(
    f: &Fixture,
    tenant: &TenantId,
    as_of: &str,
    customers: &[CustomerRecord],
    minor: i64,
) -> Vec<i64> {
    let invoices: Vec<NewInvoice> = customers
        .iter()
        .map(|c| invoice(&format!("i-{}", c.profile.id), &c.profile.id, minor))
        .collect();
    ledger(f, tenant, customers, &invoices).await;
    let planned: Vec<(&str, Vec<Action>)> = invoices
        .iter()
        .map(|i| (i.id.as_str(), vec![email("reminder-friendly")]))
        .collect();
    decide(f, tenant, as_of, &planned).await
}

fn outcome(context: &Context, actions: Vec<Action>) -> Outcome {
    let review_on = context.as_of + Days::new(7);
    Outcome {
        context: Box::new(context.clone()),
        policy: Some(PolicyRef {
            version: POLICY_VERSION,
            sha256: "ab".repeat(32),
        }),
        decision: Some(Decision {
            segment: "smb".into(),
            actions: actions.clone(),
            review_on: Some(review_on),
            reason: REASON.into(),
        }),
        reason: REASON.into(),
        interventions: vec![],
        actions: actions
            .into_iter()
            .map(|action| PlannedAction {
                action,
                status: ActionStatus::Pending,
            })
            .collect(),
        fuel_used: Some(6_000),
        duration_us: Some(25),
        failure: None,
        state: DunningState {
            level: 2,
            last_action_on: Some(context.as_of),
            next_review_on: Some(review_on),
            policy_version: Some(POLICY_VERSION),
            paused_until: None,
            paused_why: None,
            ended: false,
        },
        receipt: None,
    }
}

pub fn notice(channel: Channel, template: &str) -> Action {
    Action::Notify(Notice {
        level: 2,
        channel,
        tone: Tone::Friendly,
        template: template.into(),
        vars: Default::default(),
    })
}

/// An email notice from the example template `template`.
pub fn email(template: &str) -> Action {
    notice(Channel::Email, template)
}

pub fn retry_payment() -> Action {
    Action::RetryPayment(Retry {
        reason: "the card may work again".into(),
    })
}

pub fn escalate(kind: EscalationKind) -> Action {
    Action::Escalate(Escalation {
        kind,
        reason: "60 days overdue".into(),
    })
}

pub fn pause(until: Date) -> Action {
    Action::Pause(Pause {
        until,
        reason: "the customer asked for time".into(),
    })
}

pub fn close() -> Action {
    Action::Close(Closure {
        write_off: true,
        reason: "too small to chase".into(),
    })
}

/// A signing secret of 32 bytes of `byte`.
pub fn secret(byte: u8) -> WebhookSecret {
    WebhookSecret::from_key(vec![byte; 32]).expect("a key")
}

/// Adds endpoint `id` at `url` taking `events` (none: every event), signing with `secret`.
pub async fn endpoint(
    f: &Fixture,
    tenant: &TenantId,
    id: &str,
    url: &str,
    events: &[&str],
    secret: &WebhookSecret,
) {
    let new = NewEndpoint {
        id: id.into(),
        url: url.into(),
        events: events.iter().map(|e| (*e).to_owned()).collect(),
        secret: secret.expose_whsec(),
    };
    f.db.add_endpoint(tenant, &new)
        .await
        .expect("add the endpoint");
}

/// The worker's settings in the tests: loopback endpoints allowed, short waits.
pub fn config() -> WorkerConfig {
    let mut config = WorkerConfig::new("outbox-test", "dunning@dunlin.example");
    config.endpoint_policy = EndpointPolicy {
        allow_http: false,
        allow_private: true,
    };
    config.webhook_timeout = Duration::from_secs(5);
    config.idle = Duration::from_millis(10);
    config
}

/// An SMTP transport to the loopback server on `port`.
pub fn smtp(port: u16) -> SmtpTransport {
    SmtpTransport::new(&SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        security: Security::None,
        credentials: None,
        timeout: Duration::from_secs(5),
        max_connections: 4,
    })
    .expect("a plain SMTP transport")
}

/// A transport to a loopback port nothing listens on, for runs that should send no email:
/// one they did send would be refused and counted as a retry.
pub fn no_mail() -> SmtpTransport {
    smtp(free_port())
}

/// A recording SMTP server (aiosmtpd) and the folder it saves messages in, both gone when
/// dropped.
pub struct Mailbox {
    server: Aiosmtpd,
    _folder: tempfile::TempDir,
}

impl Mailbox {
    pub fn start() -> Mailbox {
        Mailbox::start_on(free_port())
    }

    /// A server on `port`, which a test may have had refuse connections before.
    pub fn start_on(port: u16) -> Mailbox {
        let folder = tempfile::tempdir().expect("a folder");
        Mailbox {
            server: Aiosmtpd::start_on(port, Some(folder.path())),
            _folder: folder,
        }
    }

    /// A transport to this server.
    pub fn smtp(&self) -> SmtpTransport {
        smtp(self.server.port)
    }

    /// The messages received, waiting a while for `count` of them. The server writes a
    /// message before it answers 250, so once a run has ended all its messages are here.
    pub fn received(&self, count: usize) -> Vec<Vec<u8>> {
        self.server.received(count)
    }
}

/// One `deliver --once` over every tenant at the clock's time.
pub async fn run<T: Transport + 'static>(
    f: &Fixture,
    email: T,
    clock: &Arc<ManualClock>,
    config: WorkerConfig,
) -> Totals {
    let worker = Worker::new(f.db.clone(), email, clock.clone(), config).expect("a worker");
    Arc::new(worker)
        .run(Scope::All, true, CancellationToken::new())
        .await
        .expect("a delivery run")
}

/// The tenant's outbox entry `id`.
pub async fn entry(f: &Fixture, tenant: &TenantId, id: i64) -> OutboxEntry {
    let query = OutboxQuery {
        after_id: Some(id - 1),
        limit: 1,
        ..OutboxQuery::default()
    };
    let found = f.db.outbox(tenant, &query).await.expect("the outbox");
    found
        .into_iter()
        .find(|e| e.id == id)
        .unwrap_or_else(|| panic!("no action {id}"))
}

pub async fn status(f: &Fixture, tenant: &TenantId, id: i64) -> ActionStatus {
    entry(f, tenant, id).await.status
}

/// The logged attempts of action `id`, oldest first.
pub async fn attempts(f: &Fixture, tenant: &TenantId, id: i64) -> Vec<AttemptRecord> {
    f.db.delivery_attempts(tenant, &[id])
        .await
        .expect("the deliveries log")
}

/// The key every attempt of action `id` carries.
pub fn key(tenant: &TenantId, id: i64) -> String {
    format!("dunlin-{tenant}-{id}")
}
