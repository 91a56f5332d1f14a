//! Crash safety and the daemon: `dunlin sweep` is killed with SIGKILL at random points over a
//! few thousand invoices and restarted; every due invoice ends with exactly one decision per
//! as-of date and every decision with all of its actions. And `dunlin serve` sweeps on its
//! schedule and stops cleanly on SIGTERM. Both run on SQLite and on PostgreSQL, with the
//! store's test harness (`dunlin_store::testing`, `DUNLIN_TEST_POSTGRES_URL`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dunlin_core::{Channel, Date};
use dunlin_store::testing::{self, customer, date as d, invoice, Fixture};
use dunlin_store::{DecisionQuery, DueQuery, TenantId};

dunlin_store::conformance!(
    sigkill_during_sweeps_loses_and_duplicates_nothing,
    serve_sweeps_on_schedule_and_stops_on_sigterm,
    serve_beside_hostile_tenants_sweeps_the_others_and_stops_on_sigterm,
    serve_rides_out_a_store_that_goes_away,
);

#[path = "crash/replicas.rs"]
mod replicas;

const INVOICES: usize = 3000;
const KILLS: usize = 20;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The binary as a user runs it, on one test database, with its own compile cache.
struct Cli {
    database: String,
    cache: tempfile::TempDir,
}

impl Cli {
    fn new(f: &Fixture) -> Self {
        Self {
            database: f.url.clone(),
            cache: tempfile::tempdir().unwrap(),
        }
    }

    fn dunlin(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dunlin"));
        cmd.arg("--database")
            .arg(&self.database)
            .arg("--cache-dir")
            .arg(self.cache.path())
            .args(args)
            .current_dir(repo())
            // `serve` delivers the outbox: its emails go to the test's folder, not the repo's.
            .env("DUNLIN_MAIL_DIR", self.cache.path().join("mail"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }
}

/// A spawned `dunlin` that a failing assertion must not leave running (on PostgreSQL it would
/// outlive the dropped test database).
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        kill(&mut self.0);
    }
}

fn ok(mut cmd: Command) -> String {
    let out = cmd.output().expect("dunlin runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    stdout
}

async fn seed(f: &Fixture, cli: &Cli, schedule: &str, policy: &str) {
    seed_tenant(f, cli, "crash", &["--schedule", schedule], policy, INVOICES).await;
}

/// Creates `tenant` with `settings` (flags of `tenant create`), uploads and activates
/// `policy`, and imports `invoices` open invoices (ten per customer).
async fn seed_tenant(
    f: &Fixture,
    cli: &Cli,
    tenant: &str,
    settings: &[&str],
    policy: &str,
    invoices: usize,
) {
    let mut create = vec!["tenant", "create", tenant];
    create.extend_from_slice(settings);
    ok(cli.dunlin(&create));
    ok(cli.dunlin(&["policy", "upload", "--tenant", tenant, policy, "--activate"]));
    let t = TenantId::new(tenant).unwrap();
    let customers: Vec<_> = (0..invoices.div_ceil(10))
        .map(|c| {
            customer(&format!("c{c:04}"))
                .with_lifetime_value(50_000)
                .with_customer_since(d("2024-01-01"))
                .with_payments_12m(3, 1)
                .with_time_zone("UTC")
                .with_reachable_on(&[Channel::Email])
        })
        .collect();
    f.db.upsert_customers(&t, &customers).await.unwrap();
    let invoices: Vec<_> = (0..invoices)
        .map(|i| {
            // Due dates spread over a month, so ladders are at different steps.
            let due_on = d("2026-01-15") + chrono::Days::new((i % 30) as u64);
            let customer = format!("c{:04}", i / 10);
            invoice(&format!("i{i:05}"), &customer, due_on, 10_000 + i as i64)
                .with_number(&format!("N{i}"))
        })
        .collect();
    f.db.upsert_invoices(&t, &invoices).await.unwrap();
}

/// A pseudo-random delay from the clock's nanoseconds (no state to seed).
fn random_delay(max_ms: u64) -> Duration {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as u64;
    Duration::from_millis(nanos % max_ms.max(1))
}

fn kill(child: &mut Child) {
    // SIGKILL: no chance to clean up, like a power cut.
    let _ = child.kill();
    let _ = child.wait();
}

async fn sigkill_during_sweeps_loses_and_duplicates_nothing(f: Fixture) {
    let cli = Cli::new(&f);
    let db = &f.db;
    // fx-good reviews every invoice again after 7 days: stepping the as-of date by 7 days
    // makes all of them due in every sweep.
    seed(&f, &cli, "0 0 9 * * *", "tests/fixtures/fx-good").await;
    let t = TenantId::new("crash").unwrap();

    // How long an uninterrupted sweep takes here, to aim the kills inside one.
    let started = Instant::now();
    ok(cli.dunlin(&["sweep", "--tenant", "crash", "--as-of", "2026-02-01"]));
    let full = started.elapsed().as_millis() as u64;

    let mut killed_midway = 0;
    for k in 0..KILLS {
        let as_of = (d("2026-02-01") + chrono::Days::new(7 * (k as u64 + 1))).to_string();
        let mut sweep = Running(
            cli.dunlin(&["sweep", "--tenant", "crash", "--as-of", &as_of])
                .spawn()
                .unwrap(),
        );
        std::thread::sleep(random_delay(full));
        let finished_first = sweep.0.try_wait().unwrap().is_some();
        kill(&mut sweep.0);
        killed_midway += usize::from(!finished_first);
        // Restart: the same sweep again, to completion.
        ok(cli.dunlin(&["sweep", "--tenant", "crash", "--as-of", &as_of]));

        // Nothing left due for that day: every due invoice got its decision.
        let left = db
            .due_for_review(&t, &DueQuery::new(d(&as_of)))
            .await
            .unwrap();
        assert!(
            left.invoices.is_empty(),
            "{as_of}: {} still due",
            left.invoices.len()
        );
    }
    assert!(
        killed_midway >= KILLS / 2,
        "only {killed_midway} kills hit a running sweep"
    );

    // Exactly one decision per invoice and as-of date, each with all its actions.
    let seen = whole_decisions(db.as_ref(), &t).await;
    assert!(seen.len() >= INVOICES, "{} decisions", seen.len());

    // Every chunk of contexts is some decision's (a killed batch left none behind), and
    // every reference holds: SQLite's sweep writer does not have SQLite enforce them.
    let unnamed = "SELECT COUNT(*) FROM context_chunks c \
                   WHERE NOT EXISTS (SELECT 1 FROM decisions d WHERE d.context_chunk = c.id)";
    assert_eq!(
        testing::scalar(&f, unnamed).await,
        Some(0),
        "chunks left behind"
    );
    if f.url.starts_with("sqlite:") {
        let broken = testing::scalar(&f, "SELECT 1 FROM pragma_foreign_key_check").await;
        assert_eq!(broken, None, "a row whose reference does not hold");
    }
}

async fn serve_sweeps_on_schedule_and_stops_on_sigterm(f: Fixture) {
    let db = &f.db;
    let (cli, mut serve) = serving(&f).await;
    let t = TenantId::new("crash").unwrap();
    let child = &mut serve.0;
    // SIGTERM: graceful. The pages in flight are written and the process exits; a sweep cut
    // short leaves its tick unmarked, so the next start finishes it.
    terminate(child);

    // The first run may have finished its sweep and marked the tick before the signal; either
    // way the second run marks a tick of its own (one comes every second).
    let before = db.tenant(&t).await.unwrap().unwrap().last_tick_at;
    let mut serve = Running(cli.dunlin(&["serve"]).spawn().unwrap());
    let child = &mut serve.0;
    let deadline = Instant::now() + Duration::from_secs(120);
    while db.tenant(&t).await.unwrap().unwrap().last_tick_at == before {
        assert!(
            Instant::now() < deadline,
            "the second run marked no tick in 120 s"
        );
        assert!(child.try_wait().unwrap().is_none(), "serve exited early");
        std::thread::sleep(Duration::from_millis(200));
    }
    terminate(child);

    // Between them, the two runs decided every invoice, once a day, each decision whole.
    let seen = whole_decisions(db.as_ref(), &t).await;
    let decided: std::collections::BTreeSet<&str> = seen.iter().map(|(i, _)| i.as_str()).collect();
    assert_eq!(decided.len(), INVOICES, "every due invoice decided");
    // Each run names the replica that ran it, and `dunlin sweeps` shows it.
    let runs = db.sweep_runs(&t, None, 1000).await.unwrap();
    let on = runs.first().and_then(|r| r.replica.clone()).expect("a run");
    assert!(runs.iter().all(|r| r.replica.is_some()), "{runs:?}");
    let listed = cli
        .dunlin(&["sweeps", "--tenant", "crash"])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    let first = listed.lines().next().unwrap_or_default();
    assert!(first.ends_with(&format!("on {on}")), "{listed}");
}

/// Hostile tenants in the same `serve` process: two whose policy sleeps (for an hour, or
/// polls far timers) and one whose policy loops until its deadline. The good tenant's
/// sweep decides every invoice, and SIGTERM stops the daemon within seconds while the
/// looping tenant's sweep is deciding.
async fn serve_beside_hostile_tenants_sweeps_the_others_and_stops_on_sigterm(f: Fixture) {
    const GOOD: usize = 300;
    const LOOPED: usize = 1000;
    let cli = Cli::new(&f);
    let every_second = ["--schedule", "* * * * * *"];
    seed_tenant(&f, &cli, "good", &every_second, "standard", GOOD).await;
    let sleeper = ["--schedule", "* * * * * *", "--param", "sleep=long"];
    seed_tenant(
        &f,
        &cli,
        "sleeper",
        &sleeper,
        "tests/fixtures/fx-sleep",
        100,
    )
    .await;
    let poller = ["--schedule", "* * * * * *", "--param", "sleep=poll"];
    seed_tenant(&f, &cli, "poller", &poller, "tests/fixtures/fx-sleep", 100).await;
    // A refusal of 1 MB per invoice, and a policy that grows its memory to the limit.
    let refuser = [
        "--schedule",
        "* * * * * *",
        "--param",
        "refusal-bytes=1000000",
    ];
    seed_tenant(
        &f,
        &cli,
        "refuser",
        &refuser,
        "tests/fixtures/fx-refuse",
        100,
    )
    .await;
    seed_tenant(
        &f,
        &cli,
        "bomber",
        &every_second,
        "tests/fixtures/fx-good",
        100,
    )
    .await;
    plant(&f, &cli, "bomber", "tests/fixtures/fx-memory-bomb").await;
    // Spins: with fuel out of the way each of its calls runs to the 100 ms deadline, so its
    // first page of 250 invoices takes some 12 s on two workers. Named to be swept last
    // (tenants are swept in the order of their ids).
    let good = "tests/fixtures/fx-good";
    seed_tenant(&f, &cli, "spinner", &every_second, good, LOOPED).await;
    plant(&f, &cli, "spinner", "tests/fixtures/fx-loop").await;

    let all = |t: &str| {
        let (db, t) = (f.db.clone(), TenantId::new(t).unwrap());
        async move {
            let query = DecisionQuery {
                limit: 10_000,
                ..Default::default()
            };
            db.decisions(&t, &query).await.unwrap()
        }
    };
    let unlimited_fuel = ["--fuel", "100000000000", "--deadline-ms", "100", "serve"];
    let mut serve = Running(cli.dunlin(&unlimited_fuel).spawn().unwrap());
    let child = &mut serve.0;
    let deadline = Instant::now() + Duration::from_secs(120);
    let others = [
        ("good", GOOD),
        ("bomber", 100),
        ("poller", 100),
        ("refuser", 100),
        ("sleeper", 100),
    ];
    loop {
        let mut waiting = Vec::new();
        for (t, n) in others {
            let decided: std::collections::BTreeSet<String> =
                all(t).await.into_iter().map(|r| r.invoice_id).collect();
            if decided.len() < n {
                waiting.push(format!("{t} {} of {n}", decided.len()));
            }
        }
        if waiting.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "in 120 s not every invoice was decided: {waiting:?}"
        );
        assert!(child.try_wait().unwrap().is_none(), "serve exited early");
        std::thread::sleep(Duration::from_millis(200));
    }
    // The sleeping tenants decide as well (their timers go off at once).
    for t in ["sleeper", "poller"] {
        for r in all(t).await {
            assert!(r.failure.is_none(), "{t}: {:?}", r.failure);
        }
    }
    // The others' failures are recorded with their own codes, bounded.
    for (t, codes) in [
        ("refuser", &["output-too-large"][..]),
        ("bomber", &["memory-limit", "deadline"][..]),
    ] {
        for r in all(t).await {
            let failure = r.failure.as_ref().expect("a failure");
            assert!(codes.contains(&failure.code.as_str()), "{t}: {failure:?}");
            assert!(
                failure.message.len() < 8192,
                "{t}: {}",
                failure.message.len()
            );
        }
    }
    // The spinning tenant's sweep is now deciding its first page.
    std::thread::sleep(Duration::from_secs(2));
    assert!(child.try_wait().unwrap().is_none(), "serve exited early");
    let stopping = Instant::now();
    terminate(child);
    let took = stopping.elapsed();
    eprintln!("serve stopped {took:?} after SIGTERM");
    assert!(took < Duration::from_secs(5), "SIGTERM took {took:?}");
    // What its workers had decided when the stop came was written; the rest waits for the
    // next start.
    let looped = all("spinner").await;
    assert!(
        !looped.is_empty() && looped.len() < LOOPED,
        "{}",
        looped.len()
    );
    for r in &looped {
        assert_eq!(
            r.failure.as_ref().map(|x| x.code.as_str()),
            Some("deadline")
        );
    }
}

/// The store goes away under a running `serve`: on PostgreSQL the database refuses
/// connections and cuts those it had, for 5 s; on SQLite another connection holds the write lock longer
/// than the busy timeout, so writes fail with `database is locked`. The daemon logs, waits
/// and tries again: it is still running afterwards, marks ticks again, and between the
/// two, every invoice has exactly one decision.
async fn serve_rides_out_a_store_that_goes_away(f: Fixture) {
    let db = &f.db;
    let (_cli, mut serve) = serving(&f).await;
    let t = TenantId::new("crash").unwrap();
    let child = &mut serve.0;

    if f.url.starts_with("sqlite:") {
        use sqlx::Connection as _;
        let mut locker = sqlx::SqliteConnection::connect(&f.url).await.unwrap();
        sqlx::query("BEGIN EXCLUSIVE")
            .execute(&mut locker)
            .await
            .unwrap();
        // Twice the store's 10 s busy timeout: the daemon's tick marks fail meanwhile.
        tokio::time::sleep(Duration::from_secs(25)).await;
        sqlx::query("COMMIT").execute(&mut locker).await.unwrap();
    } else {
        use sqlx::Connection as _;
        // Connected to the cluster's `postgres` database: a database cannot refuse
        // connections while the session changing it is connected to it.
        let (base, name) = f.url.rsplit_once('/').expect("a database in the URL");
        let name = name.split('?').next().unwrap_or(name);
        let mut admin = sqlx::PgConnection::connect(&format!("{base}/postgres"))
            .await
            .unwrap();
        let allow = |yes: bool| format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS {yes}");
        // The database refuses connections and every one it had is cut: a restart, as
        // the daemon sees it, that lasts 5 s.
        sqlx::query(&allow(false))
            .execute(&mut admin)
            .await
            .unwrap();
        let cut = format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        );
        sqlx::query(&cut).execute(&mut admin).await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
        sqlx::query(&allow(true)).execute(&mut admin).await.unwrap();
    }
    assert!(
        child.try_wait().unwrap().is_none(),
        "serve exited when the store went away"
    );

    // It comes back by itself: a tick marked after the fault, and every invoice decided.
    let after_fault = chrono::Utc::now();
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        // The test's own connections were cut too; a failed read is simply tried again.
        let ticked = db
            .tenant(&t)
            .await
            .ok()
            .flatten()
            .and_then(|t| t.last_tick_at)
            .is_some_and(|at| at > after_fault);
        if ticked {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "serve marked no tick in 180 s after the fault"
        );
        assert!(child.try_wait().unwrap().is_none(), "serve exited");
        std::thread::sleep(Duration::from_millis(500));
    }
    terminate(child);
    let mut log = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut log).unwrap();
    eprintln!("serve's log:\n{log}");
    let seen = whole_decisions(db.as_ref(), &t).await;
    let decided: std::collections::BTreeSet<&str> = seen.iter().map(|(i, _)| i.as_str()).collect();
    assert_eq!(decided.len(), INVOICES, "every due invoice decided");
}

/// Makes `policy` the tenant's active version by writing it to the store directly, past the
/// upload's trial (which refuses a policy that fails on a sample invoice): as a component
/// that behaves on the sample and not on real invoices would be.
async fn plant(f: &Fixture, cli: &Cli, tenant: &str, policy: &str) {
    let wasm = cli.cache.path().join(format!("{tenant}-planted.wasm"));
    let wasm_arg = wasm.to_str().unwrap();
    ok(cli.dunlin(&["policy", "build", policy, "--out", wasm_arg]));
    let t = TenantId::new(tenant).unwrap();
    let v =
        f.db.add_policy_version(&t, &std::fs::read(&wasm).unwrap())
            .await
            .unwrap();
    f.db.activate_policy_version(&t, v.version).await.unwrap();
}

/// Seeds tenant `crash` (a tick every second, so the first comes at once, and the standard
/// policy), starts `dunlin serve` and waits for its first decision. The `Cli` holds the
/// compile cache the process uses: keep it as long as the process.
async fn serving(f: &Fixture) -> (Cli, Running) {
    let cli = Cli::new(f);
    seed(f, &cli, "* * * * * *", "standard").await;
    let t = TenantId::new("crash").unwrap();
    let mut serve = Running(cli.dunlin(&["serve"]).spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(120);
    let first = DecisionQuery {
        limit: 1,
        ..Default::default()
    };
    while f.db.decisions(&t, &first).await.unwrap().is_empty() {
        assert!(Instant::now() < deadline, "serve made no decision in 120 s");
        assert!(serve.0.try_wait().unwrap().is_none(), "serve exited early");
        std::thread::sleep(Duration::from_millis(200));
    }
    (cli, serve)
}

/// Reads the tenant's whole decision log, asserting one decision per invoice and as-of date,
/// each with all its actions in ordinal order; returns the (invoice, as-of) pairs.
async fn whole_decisions(
    db: &dyn dunlin_store::Db,
    t: &TenantId,
) -> std::collections::BTreeSet<(String, Date)> {
    let mut seen = std::collections::BTreeSet::new();
    let mut after = None;
    loop {
        let page = db
            .decisions(
                t,
                &DecisionQuery {
                    after_id: after,
                    limit: 10_000,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        for r in &page {
            assert!(
                seen.insert((r.invoice_id.clone(), r.as_of)),
                "second decision: {} {}",
                r.invoice_id,
                r.as_of
            );
            if let Some(decision) = &r.decision {
                assert!(
                    r.actions.len() >= decision.actions.len(),
                    "{} {}: actions lost",
                    r.invoice_id,
                    r.as_of
                );
                let ordinals: Vec<u32> = r.actions.iter().map(|a| a.ordinal).collect();
                assert_eq!(ordinals, (0..r.actions.len() as u32).collect::<Vec<_>>());
            }
        }
    }
    seen
}

/// Sends SIGTERM and waits for a clean exit.
fn terminate(child: &mut Child) {
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let stopped = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(60),
            "serve ignored SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status:?}");
}
