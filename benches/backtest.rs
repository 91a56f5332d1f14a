//! Backtest throughput: one tenant's recorded decisions (N invoices swept on W days a week
//! apart by the `standard` policy) read back from SQLite (contexts decompressed), decided
//! again by a stored version (`saas-card`) in batch mode on all cores, guarded and compared.
//! Prints recorded decisions per second; then replays the same log (each decision decided
//! again by the version that made it and compared byte for byte) and prints its rate.
//!
//! `cargo bench -p dunlin-benches --bench backtest` (defaults: 100,000 invoices, 3 weeks:
//! 300,000 decisions); `DUNLIN_BENCH_INVOICES` and `DUNLIN_BENCH_WEEKS` change them.
//! `DUNLIN_BENCH_INSTANCES=4` shrinks the instance pool so that the bench runs under
//! valgrind (`--tool=callgrind`).

#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::time::Instant;

use dunlin_benches::cpu_time;
use dunlin_lab::backtest::{backtest, BacktestOptions};
use dunlin_lab::replay::{replay, ReplayOptions, Scope};
use dunlin_runtime::{Runtime, RuntimeConfig};
use dunlin_store::testing::{customer, date as d, invoice};
use dunlin_store::{Db, TenantId, TenantSettings};
use dunlin_sweep::{sweep, SweepOptions};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn seed(db: &dyn Db, runtime: &Runtime, invoices: usize, weeks: usize) -> TenantId {
    let started = Instant::now();
    let id = TenantId::new("bench").expect("a tenant id");
    db.create_tenant(&id, &TenantSettings::default())
        .await
        .expect("tenant");
    let v = db
        .add_policy_version(&id, &dunlin_tests::reference_policy("standard"))
        .await
        .expect("upload");
    db.activate_policy_version(&id, v.version)
        .await
        .expect("activate");
    let candidate = dunlin_tests::reference_policy("saas-card");
    db.add_policy_version(&id, &candidate)
        .await
        .expect("upload the candidate");
    // `dunlin policy upload` compiles a version before storing it, and the runtime keeps
    // the machine code (in the process and in its compile cache), so a backtest loads it
    // compiled; the compile is printed apart.
    let loaded = runtime.load(&candidate).expect("the candidate compiles");
    println!(
        "  compiled the candidate at upload in {:.2} s",
        loaded.info().load_time.as_secs_f64()
    );
    let customers: Vec<_> = (0..invoices.div_ceil(10))
        .map(|c| customer(&format!("c{c:06}")).with_tags(&[["smb", "enterprise"][c % 2]]))
        .collect();
    for chunk in customers.chunks(5000) {
        db.upsert_customers(&id, chunk).await.expect("customers");
    }
    let rows: Vec<_> = (0..invoices)
        .map(|i| {
            let due_on = d("2026-01-10") + chrono::Days::new((i % 40) as u64);
            let minor = 5_000 + (i % 1000) as i64 * 100;
            invoice(
                &format!("i{i:07}"),
                &format!("c{:06}", i / 10),
                due_on,
                minor,
            )
        })
        .collect();
    for chunk in rows.chunks(5000) {
        db.upsert_invoices(&id, chunk).await.expect("invoices");
    }
    for week in 0..weeks {
        let as_of = d("2026-03-02") + chrono::Days::new(7 * week as u64);
        sweep(db, runtime, &id, &SweepOptions::new(as_of))
            .await
            .expect("sweep");
    }
    db.refresh_statistics().await.expect("statistics");
    println!(
        "  seeded {invoices} invoices and swept {weeks} weeks in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    id
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let invoices = env("DUNLIN_BENCH_INVOICES", 100_000);
    let weeks = env("DUNLIN_BENCH_WEEKS", 3);
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let db = dunlin_store::connect(&url).await.expect("open");
    let mut config = RuntimeConfig::default();
    // A smaller instance pool reserves less address space, which valgrind needs.
    config.limits.instances =
        env("DUNLIN_BENCH_INSTANCES", config.limits.instances as usize) as u32;
    let runtime = Runtime::new(config).expect("engine");
    println!("backtest, SQLite: {invoices} invoices × {weeks} weekly sweeps");
    let tenant = seed(db.as_ref(), &runtime, invoices, weeks).await;
    let cpu_before = cpu_time();
    let started = Instant::now();
    let report = backtest(
        db.as_ref(),
        &runtime,
        &tenant,
        &BacktestOptions::new(2),
        &mut |_| {},
    )
    .await
    .expect("backtest");
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_before
        .zip(cpu_time())
        .map(|((u0, s0), (u1, s1))| (u1 + s1 - u0 - s0).as_secs_f64());
    let r = &report.comparison;
    println!(
        "  {} recorded decisions in {elapsed:.2} s: {:.0} decisions/s ({} agreed, {} disagreed)",
        r.total,
        r.total as f64 / elapsed,
        r.agreed,
        r.disagreed
    );
    if let Some(cpu) = cpu {
        println!(
            "  CPU {cpu:.2} s ({:.2} cores busy), {:.2} µs of CPU a decision",
            cpu / elapsed,
            cpu * 1e6 / r.total as f64
        );
    }
    // What the disagreements are, so that a count that looks wrong can be looked into.
    let directions: Vec<String> = r
        .directions
        .iter()
        .map(|(d, n)| format!("{} {n}", d.as_str()))
        .collect();
    println!("  disagreements: {}", directions.join(", "));
    if let Some(first) = r.disagreements.first() {
        println!(
            "  the first (decision {:?}, {}): recorded \"{}\", candidate \"{}\"",
            first.decision_id, first.as_of, first.baseline, first.candidate
        );
    }
    replay_row(db.as_ref(), &runtime, &tenant).await;
    db.close().await;
}

/// The same log replayed (`dunlin policy replay`): every decision decided again by the
/// version that made it, in release mode, and compared byte for byte with what was written.
async fn replay_row(db: &dyn Db, runtime: &Runtime, tenant: &TenantId) {
    let cpu_before = cpu_time();
    let started = Instant::now();
    let scope = Scope::Window {
        from: None,
        to: None,
        after_id: None,
    };
    let report = replay(
        db,
        runtime,
        tenant,
        scope,
        &ReplayOptions::default(),
        &|_| {},
    )
    .await
    .expect("replay");
    let elapsed = started.elapsed().as_secs_f64();
    print!(
        "  replay: {} decisions in {elapsed:.2} s: {:.0} decisions/s ({} identical)",
        report.replayed,
        report.replayed as f64 / elapsed,
        report.identical
    );
    match cpu_before.zip(cpu_time()) {
        Some(((u0, s0), (u1, s1))) => println!(", CPU {:.2} s", (u1 + s1 - u0 - s0).as_secs_f64()),
        None => println!(),
    }
}
