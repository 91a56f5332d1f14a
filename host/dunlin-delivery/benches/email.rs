//! Emails per second through the SMTP transport to a local aiosmtpd (python3-aiosmtpd,
//! started here, dropping what it receives) and through the file transport to a temporary
//! folder: 2,000 messages, 16 at a time.
//!
//! `cargo bench -p dunlin-delivery --bench email` (`DUNLIN_BENCH_EMAILS` and
//! `DUNLIN_BENCH_CONCURRENCY` change the counts). It prints the server's CPU share over the
//! SMTP run: near 100% of one core means the Python server, not the transport, sets the rate.

#[path = "../tests/support/aiosmtpd.rs"]
#[allow(dead_code)] // The tests share this file and use other parts of it.
mod aiosmtpd;
#[path = "../tests/support/python.rs"]
mod python;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aiosmtpd::Aiosmtpd;
use dunlin_delivery::email::{
    Contact, Email, FileTransport, IdempotencyKey, Outcome, Security, SmtpConfig, SmtpTransport,
    Transport,
};
use dunlin_delivery::template::Rendered;

fn count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn email(i: usize) -> Email {
    Email {
        from: Contact::named("Acme Oy", "laskutus@acme.example"),
        to: Contact::named("Jürgen Müller", format!("customer{i}@example.de")),
        reply_to: None,
        body: Rendered {
            subject: format!("Zahlungserinnerung: Rechnung R-{i} über 1.234,56 €"),
            text: "Sehr geehrter Herr Müller,\n\nder Betrag von 1.234,56 € ist seit 14 Tagen fällig.\n"
                .repeat(8),
            html: "<p>Sehr geehrter Herr Müller,</p><p>der Betrag von <b>1.234,56&nbsp;€</b> ist fällig.</p>\n"
                .repeat(8),
        },
        key: IdempotencyKey::new(&format!("bench.{i}")).expect("a valid key"),
        unsubscribe: vec![format!("https://acme.example/u/{i}?sig=abc")],
    }
}

/// Sends `total` emails through `transport`, `concurrency` at a time; the wall time.
async fn run<T: Transport + 'static>(
    transport: Arc<T>,
    total: usize,
    concurrency: usize,
) -> Duration {
    let start = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let transport = Arc::clone(&transport);
        workers.spawn(async move {
            for i in (worker..total).step_by(concurrency) {
                let outcome = transport.send(&email(i)).await;
                assert!(
                    matches!(outcome, Outcome::Sent { .. }),
                    "email {i}: {outcome:?}"
                );
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done.expect("a worker panicked");
    }
    start.elapsed()
}

/// A process's user and system CPU time, from /proc.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc stat");
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("a stat line")
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    // Linux reports in clock ticks of 1/100 s on every platform this runs on.
    Duration::from_millis(ticks * 10)
}

fn main() {
    let total = count("DUNLIN_BENCH_EMAILS", 2000);
    let concurrency = count("DUNLIN_BENCH_CONCURRENCY", 16);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");

    let server = Aiosmtpd::start(None);
    let _runtime = runtime.enter();
    let smtp = Arc::new(
        SmtpTransport::new(&SmtpConfig {
            host: "127.0.0.1".into(),
            port: server.port,
            security: Security::None,
            credentials: None,
            timeout: Duration::from_secs(30),
            max_connections: u32::try_from(concurrency).expect("a small concurrency"),
        })
        .expect("a plain SMTP transport"),
    );
    // Opens the pool's connections before the clock starts.
    runtime.block_on(run(Arc::clone(&smtp), concurrency, concurrency));
    let server_cpu = cpu_time(server.pid());
    let wall = runtime.block_on(run(smtp, total, concurrency));
    let server_share = (cpu_time(server.pid()) - server_cpu).as_secs_f64() / wall.as_secs_f64();
    println!(
        "smtp (aiosmtpd on loopback): {total} emails, concurrency {concurrency}: {:.2} s, {:.0} emails/s; server CPU {:.0}% of one core",
        wall.as_secs_f64(),
        total as f64 / wall.as_secs_f64(),
        server_share * 100.0
    );

    let folder = tempfile::tempdir().expect("a temporary folder");
    let file = Arc::new(FileTransport::new(folder.path()));
    let wall = runtime.block_on(run(file, total, concurrency));
    println!(
        "file (.eml, fsync each): {total} emails, concurrency {concurrency}: {:.2} s, {:.0} emails/s",
        wall.as_secs_f64(),
        total as f64 / wall.as_secs_f64()
    );
}
