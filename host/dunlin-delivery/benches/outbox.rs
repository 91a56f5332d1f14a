//! The outbox, on SQLite and (with `DUNLIN_TEST_POSTGRES_URL`) on PostgreSQL, each in a new
//! database:
//!
//! - the claim rate: 100,000 pending actions of one tenant claimed 64 at a time and each
//!   claim finished as delivered (one logged attempt per action, as the worker writes), with
//!   no sending: actions per second through the store alone;
//! - end to end through the worker (`Worker::run(Scope::One, once)`): email notices to a
//!   local aiosmtpd (python3-aiosmtpd, dropping what it receives) and SMS notices as signed
//!   webhooks to a local hyper receiver in this process answering 204 at once: actions per
//!   second from the first claim to the last result written.
//!
//! `cargo bench -p dunlin-delivery --bench outbox`. `DUNLIN_BENCH_CLAIMS` (100,000),
//! `DUNLIN_BENCH_EMAILS` (5,000) and `DUNLIN_BENCH_WEBHOOKS` (10,000) change the counts;
//! `DUNLIN_BENCH_CLAIM_BATCH` (the worker's claim size, default 64), `DUNLIN_BENCH_PER_TENANT`
//! (sends of the tenant at once, 64) and `DUNLIN_BENCH_TOTAL` (all sends at once, 128) the
//! worker's concurrency; `DUNLIN_BENCH_ONLY=claims|emails|webhooks` runs one part.

#[path = "../tests/support/aiosmtpd.rs"]
#[allow(dead_code)] // The tests share these files and use other parts of them.
mod aiosmtpd;
#[path = "../tests/support/pending.rs"]
#[allow(dead_code)]
mod pending;
#[path = "../tests/support/python.rs"]
mod python;
#[path = "../tests/support/receiver.rs"]
#[allow(dead_code)]
mod receiver;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aiosmtpd::Aiosmtpd;
use chrono::Utc;
use dunlin_delivery::email::{Security, SmtpConfig, SmtpTransport};
use dunlin_delivery::outbox::worker::{Scope, Totals, Worker, WorkerConfig};
use dunlin_delivery::webhook::{EndpointPolicy, WebhookSecret};
use dunlin_store::outbox::{Attempt, AttemptChannel, AttemptOutcome, Claim, Finished, Next};
use dunlin_store::testing::{self, Fixture};
use dunlin_store::{NewEndpoint, TenantId};
use receiver::{Receiver, Reply};
use tokio_util::sync::CancellationToken;

fn count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn runs(part: &str) -> bool {
    std::env::var("DUNLIN_BENCH_ONLY").map_or(true, |only| only == part)
}

/// Claims of 64 and their results, until nothing is left; prints the rate.
async fn claims(f: &Fixture, backend: &str, n: usize) {
    let tenant = TenantId::new("claims").expect("an id");
    let seeding = Instant::now();
    pending::seed_pending(f.db.as_ref(), &tenant, &pending::midday_zone(), n, |_| {
        pending::sms_notice()
    })
    .await;
    f.db.refresh_statistics().await.expect("statistics");
    let seeded = seeding.elapsed();
    let start = Instant::now();
    let (mut claimed, mut claim_time) = (0, Duration::ZERO);
    loop {
        let asked = Instant::now();
        let batch =
            f.db.claim_actions(
                &tenant,
                &Claim {
                    worker: "bench".into(),
                    now: Utc::now(),
                    lease: chrono::Duration::minutes(5),
                    limit: 64,
                    consolidate: true,
                },
            )
            .await
            .expect("claim");
        claim_time += asked.elapsed();
        if batch.is_empty() {
            break;
        }
        claimed += batch.len();
        let results: Vec<Finished> = batch
            .iter()
            .map(|c| Finished {
                lease: c.lease,
                attempt: c.attempts + 1,
                attempts: vec![Attempt {
                    started_at: Utc::now(),
                    latency_us: 1_000,
                    channel: AttemptChannel::Webhook,
                    target: "hooks".into(),
                    message_key: c.key("claims"),
                    outcome: AttemptOutcome::Delivered,
                    detail: "HTTP 204".into(),
                }],
                next: Next::Delivered,
            })
            .collect();
        let written =
            f.db.finish_actions(&tenant, "bench", Utc::now(), &results)
                .await
                .expect("finish");
        assert_eq!(written.written, results.len());
    }
    let wall = start.elapsed();
    assert_eq!(claimed, n);
    println!(
        "claims, {backend}: {n} actions (seeded in {:.1} s), claims of 64 + finish: {:.2} s, \
         {:.0} actions/s; claiming {:.2} s, finishing {:.2} s",
        seeded.as_secs_f64(),
        wall.as_secs_f64(),
        n as f64 / wall.as_secs_f64(),
        claim_time.as_secs_f64(),
        (wall - claim_time).as_secs_f64(),
    );
}

fn worker_config() -> WorkerConfig {
    let mut config = WorkerConfig::new("bench", "laskutus@acme.example");
    config.claim_batch = u32::try_from(count("DUNLIN_BENCH_CLAIM_BATCH", 64)).expect("a batch");
    config.per_tenant = count("DUNLIN_BENCH_PER_TENANT", 64);
    config.total = count("DUNLIN_BENCH_TOTAL", 128);
    config.endpoint_policy = EndpointPolicy {
        allow_http: true,
        allow_private: true,
    };
    config
}

/// Runs the worker once over `tenant`'s pending actions; the wall time.
async fn deliver(f: &Fixture, tenant: &TenantId, smtp_port: u16, n: usize) -> Duration {
    let config = worker_config();
    let smtp = SmtpTransport::new(&SmtpConfig {
        host: "127.0.0.1".into(),
        port: smtp_port,
        security: Security::None,
        credentials: None,
        timeout: Duration::from_secs(30),
        max_connections: u32::try_from(config.per_tenant).expect("a small concurrency"),
    })
    .expect("a plain SMTP transport");
    let clock = Arc::new(dunlin_scheduler::SystemClock);
    let worker = Arc::new(Worker::new(Arc::clone(&f.db), smtp, clock, config).expect("a worker"));
    let start = Instant::now();
    let totals = worker
        .run(Scope::One(tenant.clone()), true, CancellationToken::new())
        .await
        .expect("a delivery run");
    let wall = start.elapsed();
    assert_eq!(
        totals,
        Totals {
            delivered: n as u64,
            ..Totals::default()
        }
    );
    wall
}

async fn end_to_end(f: &Fixture, backend: &str, emails: usize, webhooks: usize) {
    let zone = pending::midday_zone();
    let config = worker_config();
    let concurrency = format!(
        "claims of {}, {} sends per tenant, {} in all",
        config.claim_batch, config.per_tenant, config.total
    );
    if runs("emails") {
        let server = Aiosmtpd::start(None);
        let tenant = TenantId::new("mail").expect("an id");
        pending::seed_pending(f.db.as_ref(), &tenant, &zone, emails, |_| {
            pending::email_notice()
        })
        .await;
        let wall = deliver(f, &tenant, server.port, emails).await;
        println!(
            "emails end to end, {backend}: {emails} to aiosmtpd, {concurrency}: {:.2} s, {:.0} emails/s",
            wall.as_secs_f64(),
            emails as f64 / wall.as_secs_f64()
        );
    }
    if runs("webhooks") {
        let receiver = Receiver::start_without_recording(vec![Reply::status(204)]).await;
        let tenant = TenantId::new("hooks").expect("an id");
        pending::seed_pending(f.db.as_ref(), &tenant, &zone, webhooks, |_| {
            pending::sms_notice()
        })
        .await;
        let endpoint = NewEndpoint {
            id: "hooks".into(),
            url: receiver.url("/hooks"),
            events: Vec::new(),
            secret: WebhookSecret::generate().expect("a secret").expose_whsec(),
        };
        f.db.add_endpoint(&tenant, &endpoint)
            .await
            .expect("an endpoint");
        // No email goes out: the transport is there because the worker needs one.
        let wall = deliver(f, &tenant, 9, webhooks).await;
        println!(
            "webhooks end to end, {backend}: {webhooks} to a hyper receiver, {concurrency}: {:.2} s, {:.0} webhooks/s",
            wall.as_secs_f64(),
            webhooks as f64 / wall.as_secs_f64()
        );
    }
}

async fn bench(f: Fixture) {
    let backend = if f.url.starts_with("sqlite:") {
        "SQLite"
    } else {
        "PostgreSQL"
    };
    if runs("claims") {
        claims(&f, backend, count("DUNLIN_BENCH_CLAIMS", 100_000)).await;
    }
    let emails = count("DUNLIN_BENCH_EMAILS", 5_000);
    let webhooks = count("DUNLIN_BENCH_WEBHOOKS", 10_000);
    end_to_end(&f, backend, emails, webhooks).await;
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        testing::on_sqlite(bench).await;
        testing::on_postgres(bench).await;
    });
}
