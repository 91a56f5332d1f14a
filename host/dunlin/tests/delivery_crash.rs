//! Crash safety of delivery: `dunlin deliver` is killed with SIGKILL at random moments while
//! it delivers a few thousand actions of two tenants (emails to a real aiosmtpd, signed
//! webhooks to a real HTTP receiver) and started again each time; at the end it runs with
//! `--once` until nothing is pending. Every action is delivered, and every message a
//! receiver saw more than once carries the key of an action that a killed worker held at
//! its kill. On SQLite and on PostgreSQL (`DUNLIN_TEST_POSTGRES_URL`).
//!
//! The kills are drawn from a seeded RNG; the seed is printed, and `DUNLIN_TEST_SEED` runs
//! the same draw again.

#[path = "../../dunlin-delivery/tests/support/aiosmtpd.rs"]
#[allow(dead_code)] // Shared with dunlin-delivery's tests, which use other parts of it.
mod aiosmtpd;
#[path = "../../dunlin-delivery/tests/support/pending.rs"]
#[allow(dead_code)]
mod pending;
#[path = "../../dunlin-delivery/tests/support/python.rs"]
mod python;
#[path = "../../dunlin-delivery/tests/support/receiver.rs"]
#[allow(dead_code)]
mod receiver;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dunlin_delivery::webhook::WebhookSecret;
use dunlin_store::outbox::OutboxQuery;
use dunlin_store::testing::Fixture;
use dunlin_store::{ActionStatus, NewEndpoint, TenantId};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use aiosmtpd::Aiosmtpd;
use receiver::{Receiver, Reply};

dunlin_store::conformance!(
    sigkill_during_delivery_loses_nothing_and_repeats_only_what_was_in_flight
);

/// Actions per tenant: half email notices, half SMS notices (webhooks).
const PER_TENANT: usize = 1500;
const TENANTS: [&str; 2] = ["north", "south"];
/// Kills that must land while the worker holds leases.
const KILLS: usize = 20;
/// The lease the test's workers take: a killed worker's actions come back after it.
const LEASE_SECS: &str = "2";
/// The host part of the workers' names (`{HOSTNAME}-{pid}`), so the test knows whose lease
/// is whose.
const HOST: &str = "crashtest";

/// A spawned `dunlin deliver` that a failing assertion must not leave running.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `dunlin deliver` on the test's database, mail to the aiosmtpd on `smtp_port`, webhooks
/// allowed to the loopback receiver, its log appended to `log`.
fn deliver(f: &Fixture, smtp_port: u16, log: &Path, once: bool) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dunlin"));
    cmd.args([
        "--database",
        &f.url,
        "--webhook-allow-http",
        "--webhook-allow-private",
    ])
    .args(["deliver", "--lease-secs", LEASE_SECS])
    .args(once.then_some("--once"))
    .env_remove("DUNLIN_MAIL_DIR")
    .env("DUNLIN_SMTP_HOST", "127.0.0.1")
    .env("DUNLIN_SMTP_PORT", smtp_port.to_string())
    .env("DUNLIN_SMTP_SECURITY", "none")
    .env("HOSTNAME", HOST)
    .stdout(Stdio::null())
    .stderr(File::options().create(true).append(true).open(log).unwrap());
    cmd
}

/// The key every attempt of action `id` of `tenant` carries.
fn key(tenant: &str, id: i64) -> String {
    format!("dunlin-{tenant}-{id}")
}

/// The tenants' actions, by key, with their status.
async fn actions(f: &Fixture) -> BTreeMap<String, (ActionStatus, Option<String>)> {
    let mut all = BTreeMap::new();
    for t in TENANTS {
        let query = OutboxQuery {
            limit: 10_000,
            ..OutboxQuery::default()
        };
        let entries =
            f.db.outbox(&TenantId::new(t).unwrap(), &query)
                .await
                .unwrap();
        assert_eq!(entries.len(), PER_TENANT, "{t}'s outbox");
        for e in entries {
            all.insert(key(t, e.id), (e.status, e.lease_owner));
        }
    }
    all
}

async fn sigkill_during_delivery_loses_nothing_and_repeats_only_what_was_in_flight(f: Fixture) {
    let mail = tempfile::tempdir().unwrap();
    let smtp = Aiosmtpd::start(Some(mail.path()));
    let hooks = Receiver::start(vec![Reply::status(204)]).await;
    // The customers live in a zone where it is mid-day now, so the default contact window
    // (08:00–21:00) is open for the whole run whatever the time of day on the machine; a
    // tenant window of the whole day would not do, as a window ends before midnight.
    let zone = pending::midday_zone();
    for t in TENANTS {
        let tenant = TenantId::new(t).unwrap();
        pending::seed_pending(f.db.as_ref(), &tenant, &zone, PER_TENANT, |i| {
            if i % 2 == 0 {
                pending::email_notice()
            } else {
                pending::sms_notice()
            }
        })
        .await;
        let endpoint = NewEndpoint {
            id: "hooks".into(),
            url: hooks.url(&format!("/{t}")),
            events: Vec::new(),
            secret: WebhookSecret::generate().unwrap().expose_whsec(),
        };
        f.db.add_endpoint(&tenant, &endpoint).await.unwrap();
    }
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("deliver.log");

    let seed: u64 = match std::env::var("DUNLIN_TEST_SEED") {
        Ok(s) => s.parse().expect("DUNLIN_TEST_SEED is a number"),
        Err(_) => rand::random(),
    };
    eprintln!("delivery crash test: seed {seed} (DUNLIN_TEST_SEED={seed} repeats the kills)");
    let mut rng = StdRng::seed_from_u64(seed);

    // Keys of actions a killed worker held, pending, at its kill, with the number of kills
    // that found each so: the only ones a receiver may see twice, and at most once more
    // than that number.
    let mut in_flight: BTreeMap<String, usize> = BTreeMap::new();
    let (mut kills, mut hits) = (0, 0);
    let started = Instant::now();
    let (mut delivered, mut running) = (0, Duration::ZERO);
    while hits < KILLS {
        // Each run is killed at a random moment up to 700 ms, or up to the time it takes to
        // deliver twice its share of what the kills still to come need left (at the rate
        // seen so far), so that a fast machine does not run out of work before the last
        // kill. A moment, not a count of deliveries: those are written at the end of a
        // round, when the worker holds nothing.
        let share = (PER_TENANT * TENANTS.len() - delivered) / (KILLS - hits + 1);
        let mut longest = 700;
        if delivered > 0 {
            let per_ms = delivered as f64 / running.as_millis() as f64;
            longest = ((2 * share) as f64 / per_ms).clamp(150.0, 700.0) as u64;
        }
        let wait = Duration::from_millis(rng.random_range(100..longest));
        let mut worker = Running(deliver(&f, smtp.port, &log, false).spawn().unwrap());
        let name = format!("{HOST}-{}", worker.0.id());
        tokio::time::sleep(wait).await;
        running += wait;
        assert!(
            worker.0.try_wait().unwrap().is_none(),
            "deliver exited early; its log: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        // SIGKILL: no chance to release a lease or write a result.
        worker.0.kill().unwrap();
        worker.0.wait().unwrap();
        kills += 1;
        let all = actions(&f).await;
        let held: Vec<&String> = all
            .iter()
            .filter(|(_, (status, owner))| {
                *status == ActionStatus::Pending && owner.as_deref() == Some(name.as_str())
            })
            .map(|(k, _)| k)
            .collect();
        hits += usize::from(!held.is_empty());
        for k in held {
            *in_flight.entry(k.clone()).or_default() += 1;
        }
        delivered = all
            .values()
            .filter(|(s, _)| *s == ActionStatus::Delivered)
            .count();
        let pending = all.len() - delivered;
        assert!(
            pending > 0 || hits >= KILLS,
            "everything was delivered after {kills} kills, {hits} of them during delivery: \
             more actions are needed for {KILLS} kills"
        );
    }

    // Restarted until nothing is pending (the last kill's leases run out after the lease).
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        // Awaited, not waited for: the receiver runs on this test's runtime.
        let status = tokio::process::Command::from(deliver(&f, smtp.port, &log, true))
            .status()
            .await
            .unwrap();
        assert!(status.success(), "deliver --once: {status}");
        let all = actions(&f).await;
        if all.values().all(|(s, _)| *s != ActionStatus::Pending) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "actions still pending after 120 s"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let took = started.elapsed();

    let all = actions(&f).await;
    let undelivered: Vec<_> = all
        .iter()
        .filter(|(_, (s, _))| *s != ActionStatus::Delivered)
        .collect();
    assert!(undelivered.is_empty(), "not delivered: {undelivered:?}");

    // What the receivers saw, by key: the Message-ID's local part, the webhook-id.
    let emails = PER_TENANT * TENANTS.len() / 2;
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for raw in smtp.received(emails) {
        let message = mail_parser::MessageParser::default()
            .parse(&raw)
            .expect("a received message parses");
        let id = message.message_id().expect("a Message-ID");
        let (local, _) = id.split_once('@').expect("a Message-ID key@domain");
        *seen.entry(local.to_owned()).or_default() += 1;
    }
    let webhooks = hooks.requests();
    for request in &webhooks {
        let id = request.header("webhook-id").expect("a webhook-id");
        *seen.entry(id.to_owned()).or_default() += 1;
    }
    let received: BTreeSet<&String> = seen.keys().collect();
    let expected: BTreeSet<&String> = all.keys().collect();
    assert_eq!(received, expected, "every action received, nothing else");

    let repeated: Vec<(&String, &usize)> = seen.iter().filter(|(_, n)| **n > 1).collect();
    let duplicates: usize = repeated.iter().map(|(_, n)| *n - 1).sum();
    let unexplained: Vec<_> = repeated
        .iter()
        .filter(|(k, n)| **n > 1 + in_flight.get(*k).copied().unwrap_or(0))
        .collect();
    eprintln!(
        "{}: {} actions in {:.1} s, {kills} kills ({hits} while holding leases, {} actions in \
         flight at a kill), {} messages received ({} emails, {} webhooks), {duplicates} \
         duplicates of {} keys",
        if f.url.starts_with("sqlite:") {
            "SQLite"
        } else {
            "PostgreSQL"
        },
        all.len(),
        took.as_secs_f64(),
        in_flight.len(),
        seen.values().sum::<usize>(),
        seen.values().sum::<usize>() - webhooks.len(),
        webhooks.len(),
        repeated.len(),
    );
    assert!(
        unexplained.is_empty(),
        "received more often than once plus the kills that found them in flight: {unexplained:?}"
    );
}
