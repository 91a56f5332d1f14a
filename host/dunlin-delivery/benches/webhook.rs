//! Webhooks per second through `WebhookSender` to a local receiver (hyper on loopback, in the
//! same process, answering 200 at once): each delivery serialised, signed, posted and its
//! answer classified, at concurrency 16 and 64.
//!
//! `cargo bench -p dunlin-delivery --bench webhook` (`DUNLIN_BENCH_WEBHOOKS` changes the
//! count, 5,000 per run by default). The receiver shares the two cores with the sender, so
//! the figure is a floor for a sender whose receivers run elsewhere.

#[path = "../tests/support/event.rs"]
mod event;
#[path = "../tests/support/receiver.rs"]
#[allow(dead_code)] // The tests share this file and use other parts of it.
mod receiver;

use std::sync::Arc;
use std::time::{Duration, Instant};

use dunlin_delivery::webhook::{
    Endpoint, EndpointPolicy, SigningKeys, WebhookSecret, WebhookSender,
};
use dunlin_delivery::Outcome;
use receiver::{Receiver, Reply};

/// Sends `total` webhooks, `concurrency` at a time; the wall time.
async fn run(
    sender: Arc<WebhookSender>,
    endpoint: Arc<Endpoint>,
    keys: Arc<SigningKeys>,
    total: usize,
    concurrency: usize,
) -> Duration {
    let start = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..concurrency {
        let (sender, endpoint, keys) = (sender.clone(), endpoint.clone(), keys.clone());
        workers.spawn(async move {
            for i in (worker..total).step_by(concurrency) {
                let n = u32::try_from(i).expect("a bench count");
                let (event, id) = (event::sms_notice(n), event::action_key(n));
                let attempt = sender.send(&endpoint, &keys, &event, &id).await;
                assert!(
                    matches!(attempt.outcome, Outcome::Sent { .. }),
                    "webhook {i}: {attempt:?}"
                );
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done.expect("a worker panicked");
    }
    start.elapsed()
}

fn main() {
    let total = std::env::var("DUNLIN_BENCH_WEBHOOKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let receiver = Receiver::start_without_recording(vec![Reply::status(200).body("ok")]).await;
        let policy = EndpointPolicy {
            allow_http: false,
            allow_private: true,
        };
        let endpoint =
            Arc::new(Endpoint::parse(&receiver.url("/hooks"), &policy).expect("an endpoint"));
        let secret = WebhookSecret::from_key(vec![7; 32]).expect("a key");
        let keys = Arc::new(SigningKeys::new(secret));
        for concurrency in [16, 64] {
            let sender = Arc::new(
                WebhookSender::new(policy, Duration::from_secs(30)).expect("a webhook client"),
            );
            // Opens the pool's connections before the clock starts.
            run(sender.clone(), endpoint.clone(), keys.clone(), concurrency, concurrency).await;
            let wall = run(sender, endpoint.clone(), keys.clone(), total, concurrency).await;
            println!(
                "webhook (hyper on loopback): {total} webhooks, concurrency {concurrency}: {:.2} s, {:.0} webhooks/s",
                wall.as_secs_f64(),
                total as f64 / wall.as_secs_f64(),
            );
        }
    });
}
