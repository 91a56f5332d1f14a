//! `serve` as a replica (its id, its registration, SQLite's one-process rule), the test
//! clock, and `dunlin replicas`: the `serve` processes on the database, their leases and
//! what each is doing.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use dunlin_core::text::{truncate, Escaped};
use dunlin_core::Clock;
use dunlin_store::replica::{Registered, REPLICA_STALE_AFTER};
use dunlin_store::{Backend, Db};
use dunlin_sweep::replica::Replica;

/// This process's replica id: host, process id and a random part (a restarted process on
/// the same host may get its old pid back; the random part keeps the ids apart).
pub fn replica_id() -> anyhow::Result<String> {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "dunlin".into());
    let host: String = host
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        .take(64)
        .collect();
    let random = getrandom::u32().context("drawing the replica id's random part")?;
    Ok(format!("{host}-{}-{random:08x}", std::process::id()))
}

/// Registers this `serve` process as replica `id`. SQLite serves one process: a second
/// `serve` on the same file is refused while the first one beats (a killed one's row goes
/// stale after `REPLICA_STALE_AFTER`, and then a restart goes ahead).
pub async fn register(db: &dyn Db, id: String) -> anyhow::Result<Arc<Replica>> {
    let exclusive = db.backend() == Backend::Sqlite;
    match db
        .register_replica(&id, exclusive)
        .await
        .context("registering this replica")?
    {
        Registered::Yes(_) => Ok(Replica::new(id)),
        Registered::Refused(other) => {
            let ago = (Utc::now() - other.heartbeat_at).num_seconds().max(0);
            anyhow::bail!(
                "another dunlin serve (replica {}, last heartbeat {ago} s ago) is running on \
                 this SQLite database; SQLite serves one process: stop that one (if it was \
                 killed, its row lapses {} s after its last heartbeat), or use PostgreSQL to \
                 run several replicas",
                Escaped(&other.id),
                REPLICA_STALE_AFTER.as_secs()
            )
        }
    }
}

/// The environment variable of the test clock: `ANCHOR,START,SPEED`, where ANCHOR is a Unix
/// time in seconds, START an RFC 3339 instant and SPEED a factor: the clock reads START at
/// ANCHOR and runs SPEED times as fast as the real one. Read only by `serve`, only when set,
/// for tests that need days of schedule in minutes; every replica given the same value
/// reads the same time.
pub const TEST_CLOCK_VAR: &str = "DUNLIN_TEST_CLOCK";

/// The daemon's longest wait between passes under the test clock: ticks come seconds apart.
pub const TEST_CLOCK_RESCAN: std::time::Duration = std::time::Duration::from_millis(500);

/// A clock running `speed` times as fast as the real one, reading `start` at `anchor`.
#[derive(Debug)]
pub struct TestClock {
    anchor: DateTime<Utc>,
    start: DateTime<Utc>,
    speed: f64,
}

impl TestClock {
    /// The test clock of [`TEST_CLOCK_VAR`], if it is set.
    pub fn from_env() -> anyhow::Result<Option<TestClock>> {
        let Ok(text) = std::env::var(TEST_CLOCK_VAR) else {
            return Ok(None);
        };
        let bad = || {
            format!(
                "{TEST_CLOCK_VAR} is not ANCHOR,START,SPEED: {:?}",
                truncate(&text, 200)
            )
        };
        let mut parts = text.split(',');
        let (Some(anchor), Some(start), Some(speed), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            anyhow::bail!(bad());
        };
        let anchor = anchor
            .trim()
            .parse::<i64>()
            .ok()
            .and_then(|s| DateTime::from_timestamp(s, 0))
            .with_context(bad)?;
        let start = DateTime::parse_from_rfc3339(start.trim())
            .with_context(bad)?
            .with_timezone(&Utc);
        let speed = speed.trim().parse::<f64>().with_context(bad)?;
        anyhow::ensure!(speed.is_finite() && speed > 0.0, bad());
        Ok(Some(TestClock {
            anchor,
            start,
            speed,
        }))
    }
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        let real = (Utc::now() - self.anchor).as_seconds_f64();
        let micros = (real * self.speed * 1e6) as i64;
        self.start + chrono::Duration::microseconds(micros)
    }
}

/// `dunlin replicas`'s flags.
#[derive(clap::Args)]
pub struct ReplicasArgs {
    /// Also list replicas that stopped or died within this many seconds.
    #[arg(long, default_value_t = 3600)]
    recent_secs: u32,
}

/// Prints each replica (live, stopped, dead), what it is doing and the leases it holds,
/// then leases held by no listed replica (the API's sweeps, `dunlin deliver`, dead ones).
pub async fn run(args: &ReplicasArgs, db: &dyn Db) -> anyhow::Result<ExitCode> {
    let now = Utc::now();
    let since = now - chrono::Duration::seconds(i64::from(args.recent_secs));
    let replicas = db.replicas(since).await.context("listing replicas")?;
    let leases = db.leases().await.context("listing leases")?;
    if replicas.is_empty() {
        outln!("no replica in the last {} s", args.recent_secs);
    }
    for r in &replicas {
        let state = r.state(now);
        outln!(
            "{}  {state:<7}  started {}  last heartbeat {} s ago  {}",
            Escaped(&r.id),
            r.started_at.format("%Y-%m-%d %H:%M:%S"),
            (now - r.heartbeat_at).num_seconds().max(0),
            Escaped(&r.doing)
        );
        for s in leases
            .sweeps
            .iter()
            .filter(|s| s.replica.as_ref() == Some(&r.id))
        {
            outln!(
                "    sweep lock  {}  as-of {}  run {}",
                s.tenant,
                s.as_of,
                s.run_id
            );
        }
        for a in leases.actions.iter().filter(|a| a.owner == r.id) {
            outln!(
                "    outbox      {}  {} actions leased until {}",
                a.tenant,
                a.actions,
                a.until.format("%H:%M:%S")
            );
        }
    }
    let listed = |id: &str| replicas.iter().any(|r| r.id == id);
    for s in &leases.sweeps {
        if !s.replica.as_deref().is_some_and(listed) {
            let by = s
                .replica
                .as_deref()
                .map_or("the API or the CLI".into(), |r| {
                    format!("replica {}", Escaped(r))
                });
            outln!(
                "sweep lock  {}  as-of {}  run {}  held by {by}",
                s.tenant,
                s.as_of,
                s.run_id
            );
        }
    }
    for a in leases.actions.iter().filter(|a| !listed(&a.owner)) {
        outln!(
            "outbox      {}  {} actions leased by {} until {}",
            a.tenant,
            a.actions,
            Escaped(&a.owner),
            a.until.format("%H:%M:%S")
        );
    }
    Ok(ExitCode::SUCCESS)
}
