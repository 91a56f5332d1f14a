//! End-to-end sweep: N open overdue invoices across T tenants, the `standard` policy, on
//! SQLite (and PostgreSQL when DUNLIN_BENCH_POSTGRES_URL is set). Prints invoices per second
//! and how the time splits between selecting, deciding and writing.
//!
//! `cargo bench -p dunlin-benches --bench sweep` (defaults: 1,000,000 invoices, 100 tenants);
//! `DUNLIN_BENCH_INVOICES=100000` for a quicker run. `DUNLIN_BENCH_SQLITE_SEED=PATH` keeps the
//! seeded SQLite file at PATH and starts later runs from a copy of it.
//! `DUNLIN_BENCH_PAGE` (invoices per page, default the sweep's: 4000) and
//! `DUNLIN_BENCH_WORKERS` (deciding threads, default one per core) try other sweep settings;
//! `DUNLIN_BENCH_DRY_RUN=1` selects, decides and guards without writing, to see what the other
//! stages cost without the writer.
//! `DUNLIN_BENCH_OVERLAP=0` sweeps the tenants strictly one after another instead of through
//! `sweep_many` (each tenant's sweep starting once the one before has selected its last page).
//! `DUNLIN_BENCH_POSTGRES_SEEDED=1` sweeps a PostgreSQL database seeded by an earlier run
//! (decisions, actions and dunning state emptied beforehand) instead of seeding it again.
//! `DUNLIN_BENCH_SHADOW=1` puts a second version in shadow for every tenant before the sweep
//! (the same policy with one more, unused function: other bytes, the same cost per decision),
//! so that the sweep also asks it and records its answers apart.
//! `DUNLIN_BENCH_REPLICAS=N` (PostgreSQL only) sweeps the tenants with N replicas in this
//! process, each with its own connection pool, sharing them through the tenants' sweep locks
//! as `serve` replicas do. On PostgreSQL the bench also prints the local server's CPU time.

/// jemalloc, as the `dunlin` binary uses: the sweep's stages free on one thread what another
/// allocated, and glibc's malloc made them queue on its arena locks (docs/benchmarks.md#jemalloc).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use std::sync::Arc;
use std::time::{Duration, Instant};

use dunlin_benches::{cpu_time, postgres_cpu};
use dunlin_runtime::{Runtime, RuntimeConfig};
use dunlin_store::testing::{customer, date as d, invoice};
use dunlin_store::{Db, SweepTrigger, TenantId, TenantSettings};
use dunlin_sweep::replica::Replica;
use dunlin_sweep::{sweep, sweep_many, CancellationToken, SweepOptions, SweepReport};
use futures_util::StreamExt;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn seed(db: &dyn Db, tenants: usize, per_tenant: usize, policy: &[u8]) -> Vec<TenantId> {
    let started = Instant::now();
    let mut ids = Vec::new();
    for t in 0..tenants {
        let id = tenant_id(t);
        db.create_tenant(&id, &TenantSettings::default())
            .await
            .expect("tenant");
        let v = db.add_policy_version(&id, policy).await.expect("upload");
        db.activate_policy_version(&id, v.version)
            .await
            .expect("activate");
        let customers: Vec<_> = (0..per_tenant.div_ceil(10))
            .map(|c| {
                customer(&format!("c{c:06}"))
                    .with_tags(&["smb"])
                    .with_lifetime_value(80_000)
                    .with_payments_12m(6, 2)
            })
            .collect();
        for chunk in customers.chunks(5000) {
            db.upsert_customers(&id, chunk).await.expect("customers");
        }
        let invoices: Vec<_> = (0..per_tenant)
            .map(|i| {
                let due_on = d("2026-01-10") + chrono::Days::new((i % 40) as u64);
                let customer = format!("c{:06}", i / 10);
                let minor = 5_000 + (i % 1000) as i64 * 100;
                invoice(&format!("i{i:07}"), &customer, due_on, minor).with_number(&format!("N{i}"))
            })
            .collect();
        for chunk in invoices.chunks(5000) {
            db.upsert_invoices(&id, chunk).await.expect("invoices");
        }
        ids.push(id);
    }
    db.refresh_statistics().await.expect("statistics");
    println!(
        "  seeded {} invoices in {:.1} s",
        tenants * per_tenant,
        started.elapsed().as_secs_f64()
    );
    ids
}

/// `path` with `suffix` after its file name (SQLite's `-wal` beside the database).
fn with_suffix(path: &std::path::Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

/// Puts a twin of `policy` in shadow for each tenant of `ids`.
async fn shadow(db: &dyn Db, ids: &[TenantId], policy: &[u8]) {
    let twin = dunlin_tests::with_extra_function(policy, 16);
    for id in ids {
        let v = db.add_policy_version(id, &twin).await.expect("upload");
        db.set_shadow(id, Some(v.version)).await.expect("shadow");
    }
}

fn tenant_id(t: usize) -> TenantId {
    TenantId::new(&format!("t{t:03}")).expect("id")
}

fn tenant_ids(tenants: usize) -> Vec<TenantId> {
    (0..tenants).map(tenant_id).collect()
}

fn runtime() -> Runtime {
    let mut config = RuntimeConfig::default();
    // A smaller instance pool reserves less address space: valgrind (callgrind counts
    // instructions exactly where timings vary by a fifth) cannot reserve the default's.
    config.limits.instances =
        env("DUNLIN_BENCH_INSTANCES", config.limits.instances as usize) as u32;
    Runtime::new(config).expect("runtime")
}

fn options() -> SweepOptions {
    let mut opts = SweepOptions::new(d("2026-03-01"));
    opts.page_size = env("DUNLIN_BENCH_PAGE", opts.page_size as usize) as u32;
    opts.workers = env("DUNLIN_BENCH_WORKERS", opts.workers);
    opts.dry_run = env("DUNLIN_BENCH_DRY_RUN", 0) != 0;
    opts
}

/// What a run reads before it starts, to print what it took.
struct Started {
    at: Instant,
    cpu: Option<(Duration, Duration)>,
    /// The local PostgreSQL server's CPU, for a run against it.
    server: Option<Duration>,
}

impl Started {
    fn now(postgres: bool) -> Started {
        Started {
            at: Instant::now(),
            cpu: cpu_time(),
            server: postgres.then(postgres_cpu),
        }
    }

    /// Prints the reports' sum, the stages' split and the CPU used, ours and the server's.
    fn print(self, reports: &[SweepReport]) {
        let wall = self.at.elapsed();
        let mut sum = SweepReport::default();
        for r in reports {
            sum.reviewed += r.reviewed;
            sum.recorded += r.recorded;
            sum.shadowed += r.shadowed;
            sum.actions += r.actions;
            sum.select += r.select;
            sum.decide += r.decide;
            sum.write += r.write;
        }
        let pct = |x: Duration| 100.0 * x.as_secs_f64() / wall.as_secs_f64();
        println!(
            "  sweep: {} reviewed, {} recorded ({} shadowed), {} actions in {:.2} s = {:.0} invoices/s",
            sum.reviewed,
            sum.recorded,
            sum.shadowed,
            sum.actions,
            wall.as_secs_f64(),
            sum.reviewed as f64 / wall.as_secs_f64()
        );
        println!(
            "  split: select {:.2} s ({:.0}%), decide {:.2} s ({:.0}%), guard+write {:.2} s ({:.0}%)",
            sum.select.as_secs_f64(),
            pct(sum.select),
            sum.decide.as_secs_f64(),
            pct(sum.decide),
            sum.write.as_secs_f64(),
            pct(sum.write)
        );
        let per_invoice = |t: f64| t * 1e6 / sum.reviewed.max(1) as f64;
        if let Some(((user0, sys0), (user1, sys1))) = self.cpu.zip(cpu_time()) {
            let (user, sys) = ((user1 - user0).as_secs_f64(), (sys1 - sys0).as_secs_f64());
            println!(
                "  cpu: user {user:.2} s + system {sys:.2} s = {:.2} cores busy on average, {:.1} µs an invoice",
                (user + sys) / wall.as_secs_f64(),
                per_invoice(user + sys)
            );
        }
        if let Some(before) = self.server {
            let server = (postgres_cpu().saturating_sub(before)).as_secs_f64();
            println!(
                "  PostgreSQL server cpu: {server:.2} s = {:.2} cores busy on average, {:.1} µs an invoice",
                server / wall.as_secs_f64(),
                per_invoice(server)
            );
        }
        println!();
    }
}

async fn run_seeded(name: &str, db: &dyn Db, ids: Vec<TenantId>, total: usize, tenants: usize) {
    println!("{name}: {total} invoices across {tenants} tenants");
    let runtime = runtime();
    let started = Started::now(name == "PostgreSQL");
    let jobs = ids.into_iter().map(|id| (id, options()));
    let reports: Vec<SweepReport> = if env("DUNLIN_BENCH_OVERLAP", 1) != 0 {
        let swept = sweep_many(db, &runtime, jobs);
        swept
            .map(|(_, r)| r.expect("sweep"))
            .collect::<Vec<_>>()
            .await
    } else {
        let mut reports = Vec::new();
        for (id, opts) in jobs {
            reports.push(sweep(db, &runtime, &id, &opts).await.expect("sweep"));
        }
        reports
    };
    started.print(&reports);
}

/// `replicas` daemons' worth of sweeping on one PostgreSQL, in this process: each with its
/// own connection pool and replica id, each offered every tenant in turn as `serve` is, each
/// tenant swept by whichever takes its sweep lock first (the other is refused and goes on).
/// A tenant one replica has finished may be offered to the other still: its sweep finds
/// nothing due and writes nothing.
async fn run_replicas(url: &str, ids: Vec<TenantId>, replicas: usize, total: usize) {
    println!(
        "PostgreSQL, {replicas} replicas: {total} invoices across {} tenants",
        ids.len()
    );
    let runtime = runtime();
    let mut dbs = Vec::new();
    for r in 0..replicas {
        let db = dunlin_store::connect(url).await.expect("postgres");
        db.register_replica(&format!("bench-{r}"), false)
            .await
            .expect("register");
        dbs.push(db);
    }
    let started = Started::now(true);
    // Each replica beats as `serve`'s does: one whose beat is 15 s old is taken for dead,
    // and the others take its locks.
    let beating = CancellationToken::new();
    let tasks: Vec<_> = dbs
        .iter()
        .enumerate()
        .map(|(r, db)| {
            let (db, runtime, ids) = (db.clone(), runtime.clone(), ids.clone());
            let replica = Replica::new(format!("bench-{r}"));
            tokio::spawn(Arc::clone(&replica).beat(db.clone(), beating.clone()));
            tokio::spawn(async move {
                let jobs = ids.into_iter().map(|id| {
                    let mut opts = options();
                    opts.record = Some(SweepTrigger::Schedule);
                    opts.replica = Some(replica.clone());
                    (id, opts)
                });
                let mut swept = Vec::new();
                let mut refused = 0;
                let mut results = std::pin::pin!(sweep_many(db.as_ref(), &runtime, jobs));
                while let Some((_, result)) = results.next().await {
                    match result {
                        Ok(report) => swept.push(report),
                        Err(dunlin_sweep::SweepError::AlreadyRunning(_)) => refused += 1,
                        Err(e) => panic!("sweep: {e}"),
                    }
                }
                (swept, refused)
            })
        })
        .collect();
    let mut reports = Vec::new();
    for (r, task) in tasks.into_iter().enumerate() {
        let (swept, refused) = task.await.expect("replica task");
        let reviewed: usize = swept.iter().map(|s| s.reviewed).sum();
        println!(
            "  replica bench-{r}: {reviewed} invoices reviewed in {} sweeps ({} of them found nothing due), {refused} tenants refused (another replica held them)",
            swept.len(),
            swept.iter().filter(|s| s.reviewed == 0).count()
        );
        reports.extend(swept);
    }
    started.print(&reports);
    beating.cancel();
    for db in dbs {
        db.close().await;
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let total = env("DUNLIN_BENCH_INVOICES", 1_000_000);
    let tenants = env("DUNLIN_BENCH_TENANTS", 100);
    let policy = dunlin_tests::reference_policy("standard");

    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("bench.db");
    let url = format!("sqlite://{}", file.display());
    let seed_copy = std::env::var_os("DUNLIN_BENCH_SQLITE_SEED").map(std::path::PathBuf::from);
    let seeded = match &seed_copy {
        Some(saved) if saved.exists() => {
            std::fs::copy(saved, &file).expect("copy the saved seed");
            true
        }
        _ => false,
    };
    let db = dunlin_store::SqliteDb::connect(&url).await.expect("sqlite");
    let ids = if seeded {
        tenant_ids(tenants)
    } else {
        let ids = seed(&db, tenants, total / tenants, &policy).await;
        if let Some(saved) = &seed_copy {
            // Everything into the database file first: the copy is then the whole seed.
            db.checkpoint().await.expect("checkpoint");
            std::fs::copy(&file, saved).expect("save the seed");
        }
        ids
    };
    if env("DUNLIN_BENCH_SHADOW", 0) != 0 {
        shadow(&db, &ids, &policy).await;
    }
    run_seeded("SQLite", &db, ids, total, tenants).await;
    let wal = with_suffix(&file, "-wal");
    let size = |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.len()) as f64 / 1e6;
    println!(
        "  SQLite files after the sweep: database {:.0} MB, WAL {:.0} MB\n",
        size(&file),
        size(&wal)
    );
    db.close().await;

    if let Ok(url) = std::env::var("DUNLIN_BENCH_POSTGRES_URL") {
        let db = dunlin_store::connect(&url).await.expect("postgres");
        // DUNLIN_BENCH_POSTGRES_SEEDED=1: the database holds a seed already (its decisions,
        // actions and states emptied by hand), so only the sweep runs.
        let ids = if std::env::var_os("DUNLIN_BENCH_POSTGRES_SEEDED").is_some() {
            tenant_ids(tenants)
        } else {
            seed(db.as_ref(), tenants, total / tenants, &policy).await
        };
        if env("DUNLIN_BENCH_SHADOW", 0) != 0 {
            shadow(db.as_ref(), &ids, &policy).await;
        }
        match env("DUNLIN_BENCH_REPLICAS", 1) {
            1 => run_seeded("PostgreSQL", db.as_ref(), ids, total, tenants).await,
            n => run_replicas(&url, ids, n, total).await,
        }
        db.close().await;
    }
}
