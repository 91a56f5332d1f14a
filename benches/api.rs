//! The tenant HTTP API over loopback, with a Rust client (reqwest, keep-alive connections): a
//! bench binary printing its figures.
//!
//! - **Ingest:** invoices per second through `POST /v1/invoices:batch` (batches of
//!   `DUNLIN_BENCH_BATCH`, default 5,000 rows; `DUNLIN_BENCH_CLIENTS` requests in flight,
//!   default 2), `DUNLIN_BENCH_INGEST` invoices in all (default 200,000).
//! - **Reads:** a tenant whose `DUNLIN_BENCH_INVOICES` invoices (default 1,000,000) were swept
//!   once by the `standard` policy, so the database holds that many decisions; then
//!   `DUNLIN_BENCH_REQUESTS` (default 5,000) `GET /v1/invoices/{id}/explain` of random invoices
//!   and as many `GET /v1/decisions?customer=…` pages, `DUNLIN_BENCH_READERS` in flight
//!   (default 4), each with its requests per second and p50 / p99 / max latency.
//!
//! `cargo bench -p dunlin-benches --bench api` runs on SQLite, and on PostgreSQL too when
//! `DUNLIN_BENCH_POSTGRES_URL` names a database (it is seeded with tenants named by the time of
//! the run, so runs do not collide).

#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::sync::Arc;
use std::time::{Duration, Instant};

use dunlin_api::{ApiConfig, AppState};
use dunlin_runtime::{Runtime, RuntimeConfig};
use dunlin_store::testing::{customer, date as d, invoice};
use dunlin_store::{Db, TenantId, TenantSettings};
use dunlin_sweep::{sweep, SweepOptions};
use futures_util::{stream, StreamExt as _};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The API on a loopback port of its own, and its base URL.
async fn start(db: Arc<dyn Db>, shutdown: CancellationToken) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    // No rate limit: the bench measures the server, not the per-key bucket.
    let config = ApiConfig {
        key_rate: None,
        ..ApiConfig::default()
    };
    let runtime = Runtime::new(RuntimeConfig::default()).expect("runtime");
    let mut state = AppState::new(db, None, config, runtime);
    state.shutdown = shutdown.clone();
    tokio::spawn(dunlin_api::serve(listener, state, shutdown));
    base
}

async fn tenant_with_key(db: &dyn Db, id: &str) -> (TenantId, String) {
    let id = TenantId::new(id).expect("tenant id");
    db.create_tenant(&id, &TenantSettings::default())
        .await
        .expect("tenant");
    let (key, _) = db.create_api_key(&id, "bench").await.expect("key");
    (id, key)
}

/// POSTs `body` and checks the answer is a 200 that stored all `rows`.
async fn post_batch(client: &reqwest::Client, url: &str, key: &str, body: Vec<u8>, rows: usize) {
    let response = client
        .post(url)
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("send");
    let status = response.status();
    let text = response.text().await.expect("body");
    assert!(status.is_success(), "{url}: {status} {text}");
    let v: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(v["stored"].as_u64(), Some(rows as u64), "{text}");
}

async fn ingest(name: &str, db: Arc<dyn Db>, run: &str) {
    let total = env("DUNLIN_BENCH_INGEST", 200_000);
    let batch = env("DUNLIN_BENCH_BATCH", 5_000);
    let clients = env("DUNLIN_BENCH_CLIENTS", 2);
    let shutdown = CancellationToken::new();
    let (_, key) = tenant_with_key(db.as_ref(), &format!("ingest-{run}")).await;
    let base = start(db, shutdown.clone()).await;
    let client = reqwest::Client::new();
    let customers: Vec<Value> = (0..total.div_ceil(10))
        .map(|c| {
            json!({"id": format!("c{c:07}"), "currency": "EUR", "customer-since": "2024-01-01",
                        "email": format!("c{c}@example.com")})
        })
        .collect();
    for chunk in customers.chunks(batch) {
        let body = serde_json::to_vec(chunk).expect("JSON");
        post_batch(
            &client,
            &format!("{base}/v1/customers:batch"),
            &key,
            body,
            chunk.len(),
        )
        .await;
    }
    // The bodies are made before the clock starts: the figure is the server's.
    let bodies: Vec<(Vec<u8>, usize)> = (0..total)
        .collect::<Vec<_>>()
        .chunks(batch)
        .map(|chunk| {
            let rows: Vec<Value> = chunk
                .iter()
                .map(|i| {
                    json!({"id": format!("i{i:08}"), "customer-id": format!("c{:07}", i / 10),
                       "issued-on": "2026-01-01", "due-on": "2026-01-31",
                       "amount-minor": 5_000 + (i % 1000) * 100, "currency": "EUR",
                       "payment-method": "bank-transfer", "number": format!("N{i}")})
                })
                .collect();
            (serde_json::to_vec(&rows).expect("JSON"), rows.len())
        })
        .collect();
    let bytes: usize = bodies.iter().map(|(b, _)| b.len()).sum();
    let url = format!("{base}/v1/invoices:batch");
    let started = Instant::now();
    stream::iter(bodies)
        .for_each_concurrent(clients, |(body, rows)| {
            let (client, url, key) = (&client, &url, &key);
            async move { post_batch(client, url, key, body, rows).await }
        })
        .await;
    let wall = started.elapsed();
    println!(
        "{name} ingest: {total} invoices in batches of {batch}, {clients} in flight \
         ({:.0} MB of JSON): {:.2} s = {:.0} invoices/s",
        bytes as f64 / 1e6,
        wall.as_secs_f64(),
        total as f64 / wall.as_secs_f64()
    );
    shutdown.cancel();
}

/// Requests per second and latency percentiles of `paths`, `readers` in flight.
async fn measure(
    name: &str,
    client: &reqwest::Client,
    base: &str,
    key: &str,
    paths: Vec<String>,
    readers: usize,
) {
    let started = Instant::now();
    let mut latencies: Vec<Duration> = stream::iter(paths)
        .map(|path| async move {
            let t = Instant::now();
            let response = client
                .get(format!("{base}{path}"))
                .bearer_auth(key)
                .send()
                .await
                .expect("send");
            let status = response.status();
            let body = response.bytes().await.expect("body");
            assert!(status.is_success(), "{path}: {status} {body:?}");
            t.elapsed()
        })
        .buffer_unordered(readers)
        .collect()
        .await;
    let wall = started.elapsed();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "  {name}: {} requests, {readers} in flight: {:.0} requests/s; p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        latencies.len() as f64 / wall.as_secs_f64(),
        ms(at(0.5)),
        ms(at(0.99)),
        ms(*latencies.last().expect("a request")),
    );
}

async fn reads(name: &str, db: Arc<dyn Db>, run: &str, policy: &[u8]) {
    let total = env("DUNLIN_BENCH_INVOICES", 1_000_000);
    let requests = env("DUNLIN_BENCH_REQUESTS", 5_000);
    let readers = env("DUNLIN_BENCH_READERS", 4);
    let (id, key) = tenant_with_key(db.as_ref(), &format!("reads-{run}")).await;
    let started = Instant::now();
    let version = db.add_policy_version(&id, policy).await.expect("upload");
    db.activate_policy_version(&id, version.version)
        .await
        .expect("activate");
    let customers: Vec<_> = (0..total.div_ceil(10))
        .map(|c| customer(&format!("c{c:07}")).with_tags(&["smb"]))
        .collect();
    for chunk in customers.chunks(5000) {
        db.upsert_customers(&id, chunk).await.expect("customers");
    }
    for start in (0..total).step_by(5000) {
        let chunk: Vec<_> = (start..(start + 5000).min(total))
            .map(|i| {
                let due_on = d("2026-01-10") + chrono::Days::new((i % 40) as u64);
                invoice(
                    &format!("i{i:08}"),
                    &format!("c{:07}", i / 10),
                    due_on,
                    10_000,
                )
            })
            .collect();
        db.upsert_invoices(&id, &chunk).await.expect("invoices");
    }
    let runtime = Runtime::new(RuntimeConfig::default()).expect("runtime");
    let report = sweep(
        db.as_ref(),
        &runtime,
        &id,
        &SweepOptions::new(d("2026-03-01")),
    )
    .await
    .expect("sweep");
    db.refresh_statistics().await.expect("statistics");
    println!(
        "{name} reads: {} decisions recorded for {total} invoices (seeded and swept in {:.0} s)",
        report.recorded,
        started.elapsed().as_secs_f64()
    );
    let shutdown = CancellationToken::new();
    let base = start(db, shutdown.clone()).await;
    let client = reqwest::Client::new();
    // A fixed sequence, so that runs compare.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    };
    let explain: Vec<String> = (0..requests)
        .map(|_| format!("/v1/invoices/i{:08}/explain", next(total)))
        .collect();
    let lists: Vec<String> = (0..requests)
        .map(|_| format!("/v1/decisions?customer=c{:07}", next(total / 10)))
        .collect();
    let pages = vec!["/v1/decisions?limit=100".to_owned(); requests];
    let days = vec!["/v1/decisions?limit=100&from=2026-03-01&to=2026-03-01".to_owned(); requests];
    measure("explain", &client, &base, &key, explain, readers).await;
    measure(
        "decisions of a customer",
        &client,
        &base,
        &key,
        lists,
        readers,
    )
    .await;
    measure(
        "decisions, first page of 100",
        &client,
        &base,
        &key,
        pages,
        readers,
    )
    .await;
    measure(
        "decisions of a day, first page of 100",
        &client,
        &base,
        &key,
        days,
        readers,
    )
    .await;
    shutdown.cancel();
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let policy = dunlin_tests::reference_policy("standard");
    let run = format!(
        "{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs()
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let db = dunlin_store::connect(&url).await.expect("sqlite");
    ingest("SQLite", Arc::clone(&db), &run).await;
    reads("SQLite", Arc::clone(&db), &run, &policy).await;
    db.close().await;

    if let Ok(url) = std::env::var("DUNLIN_BENCH_POSTGRES_URL") {
        let db = dunlin_store::connect(&url).await.expect("postgres");
        ingest("PostgreSQL", Arc::clone(&db), &run).await;
        reads("PostgreSQL", Arc::clone(&db), &run, &policy).await;
        db.close().await;
    }
}
