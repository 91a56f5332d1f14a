//! Replicas of `dunlin serve` sharing the work. On PostgreSQL: three replicas on one database
//! of the test's own PostgreSQL server (so it can be restarted without disturbing anyone
//! else's), days of ticks in minutes (the test clock), one replica killed with SIGKILL and
//! restarted at random, the server restarted once; afterwards every due invoice has one
//! decision per as-of day, no action was lost or delivered twice beyond a kill's in-flight
//! sends, and every tenant's ticks ran. On SQLite: a second `serve` is refused while the
//! first one beats, and goes ahead once a killed first one's row lapses.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{Timelike, Utc};
use dunlin_core::Channel;
use dunlin_store::testing::{customer, invoice, Fixture, PG_URL_VAR};
use dunlin_store::{DueQuery, TenantId};

use super::{kill, ok, random_delay, serving, terminate, whole_decisions, Cli, Running};

/// Tenants, each in its own time zone (so one instant is a different as-of day for each).
const TENANTS: [(&str, &str); 3] = [
    ("east", "Pacific/Kiritimati"),
    ("mid", "UTC"),
    ("west", "America/Los_Angeles"),
];
const INVOICES_PER_TENANT: usize = 1000;
const KILLS: usize = 22;
/// The test clock runs a day in this many real seconds.
const REAL_SECS_PER_DAY: u64 = 4;

/// A PostgreSQL 15 server of the test's own, in a temporary directory on a free port. Run
/// as the `postgres` user when the test runs as root (PostgreSQL refuses root).
struct PrivatePg {
    dir: tempfile::TempDir,
    port: u16,
}

impl PrivatePg {
    const BIN: &'static str = "/usr/lib/postgresql/15/bin";

    fn start() -> PrivatePg {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pg = PrivatePg { dir, port };
        if is_root() {
            assert!(Command::new("chown")
                .args(["-R", "postgres:", pg.dir.path().to_str().unwrap()])
                .status()
                .unwrap()
                .success());
        }
        let data = pg.data();
        let out = pg
            .tool("initdb")
            .args(["-D", &data, "-U", "dunlin", "-A", "trust", "--no-sync"])
            .output()
            .unwrap();
        assert!(out.status.success(), "initdb: {out:?}");
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            pg.port,
            pg.dir.path().display()
        );
        let log = pg.dir.path().join("log").display().to_string();
        let out = pg
            .tool("pg_ctl")
            .args(["-D", &data, "-l", &log, "-o", &opts, "-w", "start"])
            .output()
            .unwrap();
        assert!(out.status.success(), "pg_ctl start: {out:?}");
        pg
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn tool(&self, name: &str) -> Command {
        let program = Path::new(Self::BIN).join(name);
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        cmd.stdin(Stdio::null());
        cmd
    }

    fn url(&self) -> String {
        format!("postgres://dunlin@127.0.0.1:{}/postgres", self.port)
    }

    /// A fast restart: every connection is cut, the server is away for a moment.
    fn restart(&self) {
        // The server's output goes to the log: a pipe the server inherited would keep
        // `pg_ctl` from ever seeing its end.
        let log = self.dir.path().join("log").display().to_string();
        let status = self
            .tool("pg_ctl")
            .args([
                "-D",
                &self.data(),
                "-l",
                &log,
                "-m",
                "fast",
                "-w",
                "restart",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "pg_ctl restart: {status:?}");
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        let _ = self
            .tool("pg_ctl")
            .args(["-D", &self.data(), "-m", "immediate", "stop"])
            .output();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// The IANA zone (`Etc/GMT±N`, whose sign is inverted) where it is now about 14:00, so that
/// the contact window (08:00–21:00 in the customer's zone) is open during the test.
fn afternoon_zone() -> String {
    let hour = i64::from(Utc::now().hour());
    // Local = UTC + offset; offsets from -12 to +14.
    let mut offset = 14 - hour;
    if offset < -12 {
        offset += 24;
    }
    match offset {
        0 => "Etc/GMT".into(),
        o if o > 0 => format!("Etc/GMT-{o}"),
        o => format!("Etc/GMT+{}", -o),
    }
}

/// A `serve` replica of slot `slot` (the test's name for it across restarts).
struct Replica {
    slot: usize,
    process: Running,
}

fn start_replica(cli: &Cli, clock: &str, slot: usize, pids: &mut HashMap<u32, usize>) -> Replica {
    let mut cmd = cli.dunlin(&["serve"]);
    cmd.env("DUNLIN_TEST_CLOCK", clock)
        .env("DUNLIN_LOG", "warn")
        // The log is not read: a full pipe must not stall the replica.
        .stderr(Stdio::null())
        .stdout(Stdio::null());
    let child = cmd.spawn().unwrap();
    pids.insert(child.id(), slot);
    Replica {
        slot,
        process: Running(child),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_share_the_work_through_kills_and_a_database_restart() {
    if std::env::var_os(PG_URL_VAR).is_none() {
        if std::env::var_os("CI").is_some() {
            panic!("{PG_URL_VAR} is not set: in CI the PostgreSQL leg must run");
        }
        eprintln!("note: skipping the replicas test: set {PG_URL_VAR}");
        return;
    }
    let pg = PrivatePg::start();
    let db = dunlin_store::connect(&pg.url()).await.unwrap();
    let f = Fixture {
        db: Arc::clone(&db),
        url: pg.url(),
    };
    let cli = Cli::new(&f);
    // The test clock starts tomorrow (past the tenants' creation, from which ticks count)
    // and runs a day every REAL_SECS_PER_DAY seconds.
    let start = (Utc::now() + chrono::Days::new(1))
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    let clock = format!(
        "{},{},{}",
        Utc::now().timestamp(),
        start.to_rfc3339(),
        86_400 / REAL_SECS_PER_DAY
    );
    let zone = afternoon_zone();
    let today = start.date_naive();
    for (tenant, tz) in TENANTS {
        let args = [
            "tenant",
            "create",
            tenant,
            "--time-zone",
            tz,
            "--schedule",
            "0 0 12 * * *",
        ];
        ok(cli.dunlin(&args));
        ok(cli.dunlin(&[
            "policy",
            "upload",
            "--tenant",
            tenant,
            "standard",
            "--activate",
        ]));
        ok(cli.dunlin(&[
            "template",
            "upload",
            "--tenant",
            tenant,
            "--dir",
            "examples/templates",
        ]));
        let t = TenantId::new(tenant).unwrap();
        // One invoice per customer, so that the per-customer contact cap holds few back.
        let customers: Vec<_> = (0..INVOICES_PER_TENANT)
            .map(|c| {
                customer(&format!("c{c:05}"))
                    .with_lifetime_value(50_000)
                    .with_customer_since(today - chrono::Days::new(600))
                    .with_payments_12m(3, 1)
                    .with_time_zone(&zone)
                    .with_reachable_on(&[Channel::Email])
                    .with_contact("email", &format!("c{c:05}@example.com"))
            })
            .collect();
        db.upsert_customers(&t, &customers).await.unwrap();
        let invoices: Vec<_> = (0..INVOICES_PER_TENANT)
            .map(|i| {
                let due_on = today - chrono::Days::new(1 + (i % 30) as u64);
                invoice(
                    &format!("i{i:05}"),
                    &format!("c{i:05}"),
                    due_on,
                    10_000 + i as i64,
                )
                .with_number(&format!("N{i}"))
            })
            .collect();
        db.upsert_invoices(&t, &invoices).await.unwrap();
    }

    let began = Instant::now();
    let mut pids = HashMap::new();
    let mut replicas: Vec<Replica> = (0..3)
        .map(|slot| start_replica(&cli, &clock, slot, &mut pids))
        .collect();
    // Replica 0 is killed and restarted at random; the server restarts once, midway.
    let mut killed_ids = 0;
    for kill_no in 0..KILLS {
        // Registered first, so that every kill leaves a dead replica row behind.
        registered(&pg, replicas[0].process.0.id()).await;
        tokio::time::sleep(Duration::from_millis(200) + random_delay(3500)).await;
        let victim = &mut replicas[0];
        assert!(
            victim.process.0.try_wait().unwrap().is_none(),
            "replica 0 exited by itself"
        );
        kill(&mut victim.process.0);
        killed_ids += 1;
        if kill_no == KILLS / 2 {
            pg.restart();
        }
        replicas[0] = start_replica(&cli, &clock, 0, &mut pids);
    }
    for r in &mut replicas[1..] {
        assert!(
            r.process.0.try_wait().unwrap().is_none(),
            "replica {} exited (the database restart, a kill beside it?)",
            r.slot
        );
    }
    // A few more days with all three up, so that the last kill's leases lapse and its
    // work is taken over; on a slow machine, until every tenant has had its ten days (a
    // daemon that falls behind its ticks sweeps the latest only, so a busy machine sweeps
    // fewer of the clock's days).
    tokio::time::sleep(Duration::from_secs(25)).await;
    let deadline = Instant::now() + Duration::from_secs(180);
    for (tenant, _) in TENANTS {
        while done_days(&pg, tenant).await.len() < 10 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    // `dunlin replicas` shows the three live ones and the killed ones, dead.
    let shown = ok(cli.dunlin(&["replicas"]));
    let state = |s: &str| {
        shown
            .lines()
            .filter(|l| l.contains(&format!("  {s:<7}  ")))
            .count()
    };
    assert_eq!(state("live"), 3, "{shown}");
    assert_eq!(state("dead"), killed_ids, "{shown}");

    // Everything due for sending now is taken up: nothing stays stuck under a dead lease.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let stuck = count(
            &pg,
            "SELECT COUNT(*) FROM actions WHERE status = 'pending' \
             AND (next_attempt_at IS NULL OR next_attempt_at < now() - interval '20 seconds') \
             AND (lease_until IS NULL OR lease_until < now())",
        )
        .await;
        if stuck == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{stuck} due actions never claimed"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Graceful stops hand everything back: no lease is left by a stopped replica.
    for r in &mut replicas {
        terminate(&mut r.process.0);
    }
    let ran_for = began.elapsed();
    let leased_by_stopped = count(
        &pg,
        "SELECT COUNT(*) FROM actions a JOIN replicas r ON r.id = a.lease_owner \
         WHERE a.status = 'pending' AND r.stopped_at IS NOT NULL",
    )
    .await;
    assert_eq!(leased_by_stopped, 0, "a stopped replica kept leases");
    assert_eq!(
        count(
            &pg,
            "SELECT COUNT(*) FROM sweep_runs WHERE status = 'running'"
        )
        .await,
        0,
        "a sweep still holds its lock after every replica stopped"
    );
    assert_eq!(
        count(
            &pg,
            "SELECT COUNT(*) FROM replicas WHERE stopped_at IS NULL"
        )
        .await,
        killed_ids as i64,
        "the killed replicas (and only they) are not marked stopped"
    );

    for (tenant, _) in TENANTS {
        let t = TenantId::new(tenant).unwrap();
        // One decision per (invoice, as-of), each whole; every invoice decided.
        let seen = whole_decisions(db.as_ref(), &t).await;
        let invoices: BTreeSet<&str> = seen.iter().map(|(i, _)| i.as_str()).collect();
        assert_eq!(
            invoices.len(),
            INVOICES_PER_TENANT,
            "{tenant}: every invoice decided"
        );
        // The ticks ran: many as-of days swept to the end, and nothing left due on the last.
        let days: BTreeSet<_> = done_days(&pg, tenant).await;
        assert!(
            days.len() >= 10,
            "{tenant}: only {} as-of days swept in {ran_for:?}",
            days.len()
        );
        let last = *days.last().unwrap();
        let due = db.due_for_review(&t, &DueQuery::new(last)).await.unwrap();
        assert!(
            due.invoices.is_empty(),
            "{tenant}: {} invoices due on {last} undecided",
            due.invoices.len()
        );
        let decided_days: BTreeSet<_> = seen.iter().map(|(_, d)| *d).collect();
        assert!(
            decided_days.len() >= 2,
            "{tenant}: decisions on one day only"
        );
    }

    // No action delivered twice, except a send in flight when its replica was killed (its
    // result was never written, so the next claimant sent it again).
    let delivered = rows(
        &pg,
        "SELECT action_id, worker FROM deliveries WHERE outcome = 'delivered' ORDER BY id",
    )
    .await;
    let stopped: BTreeSet<String> = rows(
        &pg,
        "SELECT id, '' FROM replicas WHERE stopped_at IS NOT NULL",
    )
    .await
    .into_iter()
    .map(|(id, _)| id)
    .collect();
    let mut by_action: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (action, worker) in delivered {
        by_action.entry(action).or_default().push(worker);
    }
    let mut repeated = 0;
    for (action, workers) in &by_action {
        for earlier in &workers[..workers.len() - 1] {
            assert!(
                !stopped.contains(earlier),
                "action {action} delivered again after {earlier}, which was not killed, delivered it: {workers:?}"
            );
            repeated += 1;
        }
    }
    let outcomes = rows(
        &pg,
        "SELECT status || ' ' || COALESCE(kind, '') || ' ' || COALESCE(channel, '') || ' ' || COALESCE(LEFT(last_error, 80), ''), COUNT(*)::text FROM actions GROUP BY 1",
    )
    .await;
    let attempts = rows(
        &pg,
        "SELECT outcome || ' ' || LEFT(detail, 80), COUNT(*)::text FROM deliveries GROUP BY 1",
    )
    .await;
    assert!(
        !by_action.is_empty(),
        "nothing was delivered: {outcomes:?} {attempts:?}"
    );

    // How the work was split.
    let slot_of = |id: &str| -> String {
        let pid = id.rsplit('-').nth(1).and_then(|p| p.parse::<u32>().ok());
        pid.and_then(|p| pids.get(&p))
            .map_or_else(|| format!("? ({id})"), |s| format!("replica {s}"))
    };
    let mut sweeps: BTreeMap<String, i64> = BTreeMap::new();
    for (replica, _) in rows(
        &pg,
        "SELECT COALESCE(replica, '-'), '' FROM sweep_runs WHERE status = 'done'",
    )
    .await
    {
        *sweeps.entry(slot_of(&replica)).or_default() += 1;
    }
    let mut deliveries: BTreeMap<String, i64> = BTreeMap::new();
    for workers in by_action.values() {
        for w in workers {
            *deliveries.entry(slot_of(w)).or_default() += 1;
        }
    }
    let abandoned = count(
        &pg,
        "SELECT COUNT(*) FROM sweep_runs WHERE status = 'abandoned'",
    )
    .await;
    eprintln!(
        "replicas over {ran_for:?}: {KILLS} kills of replica 0, one database restart; \
         sweeps done per replica {sweeps:?}, {abandoned} abandoned by kills; \
         deliveries per replica {deliveries:?}, {} actions delivered, {repeated} sent again \
         after a kill",
        by_action.len()
    );
    for slot in 0..3 {
        assert!(
            sweeps.contains_key(&format!("replica {slot}")),
            "replica {slot} swept nothing: {sweeps:?}"
        );
    }
    drop(db);
    drop(pg);
}

/// Waits until the process `pid` has registered as a replica.
async fn registered(pg: &PrivatePg, pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let sql = format!("SELECT COUNT(*) FROM replicas WHERE id LIKE '%-{pid}-%'");
    while count(pg, &sql).await == 0 {
        assert!(Instant::now() < deadline, "replica {pid} never registered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn done_days(pg: &PrivatePg, tenant: &str) -> BTreeSet<chrono::NaiveDate> {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(&pg.url()).await.unwrap();
    sqlx::query_scalar(
        "SELECT DISTINCT as_of FROM sweep_runs WHERE tenant_id = $1 AND status = 'done' \
         AND started_by = 'schedule'",
    )
    .bind(tenant)
    .fetch_all(&mut conn)
    .await
    .unwrap()
    .into_iter()
    .collect()
}

async fn count(pg: &PrivatePg, sql: &str) -> i64 {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(&pg.url()).await.unwrap();
    sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
}

/// Two text columns of every row.
async fn rows(pg: &PrivatePg, sql: &str) -> Vec<(String, String)> {
    use sqlx::Connection as _;
    use sqlx::Row as _;
    let mut conn = sqlx::PgConnection::connect(&pg.url()).await.unwrap();
    sqlx::query(sql)
        .fetch_all(&mut conn)
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let first: String = r
                .try_get::<String, _>(0)
                .or_else(|_| r.try_get::<i64, _>(0).map(|n| n.to_string()))
                .unwrap();
            (first, r.get(1))
        })
        .collect()
}

/// SQLite serves one process: a second `serve` on the file is refused, saying so, while the
/// first beats; after the first is killed, a restart goes ahead once its row lapses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_refuses_a_second_serve_until_the_first_is_gone() {
    dunlin_store::testing::on_sqlite(refuses_a_second_serve).await;
}

async fn refuses_a_second_serve(f: Fixture) {
    let (cli, mut first) = serving(&f).await;
    let second = cli.dunlin(&["serve"]).output().unwrap();
    assert!(
        !second.status.success(),
        "a second serve ran beside the first"
    );
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(
        said.contains("SQLite serves one process") && said.contains("PostgreSQL"),
        "{said}"
    );
    kill(&mut first.0);
    // The killed one's row holds for a while; then a restart runs.
    let killed = Instant::now();
    let mut tries = 0;
    let restarted = loop {
        tries += 1;
        let mut serve = Running(cli.dunlin(&["serve"]).spawn().unwrap());
        std::thread::sleep(Duration::from_secs(2));
        if serve.0.try_wait().unwrap().is_none() {
            break serve;
        }
        assert!(
            killed.elapsed() < dunlin_store::replica::REPLICA_STALE_AFTER + Duration::from_secs(20),
            "a restart after a kill is still refused"
        );
    };
    assert!(tries > 1, "the killed replica's row did not hold at all");
    let mut restarted = restarted;
    terminate(&mut restarted.0);
    // Stopped gracefully, the next start goes ahead at once.
    let mut again = Running(cli.dunlin(&["serve"]).spawn().unwrap());
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        again.0.try_wait().unwrap().is_none(),
        "refused after a graceful stop"
    );
    terminate(&mut again.0);
}
