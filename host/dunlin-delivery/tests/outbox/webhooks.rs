//! Every other action through the worker to a real webhook receiver: each event kind to the
//! endpoints subscribed to it, signed and carrying the decision; retries on 500, 429 and a
//! timeout with the same `webhook-id`; none on 400; and a retry sends again only to the
//! endpoint that failed.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::TimeDelta;
use dunlin_core::clock::Clock;
use dunlin_core::{Action, Channel, EscalationKind};
use dunlin_delivery::webhook::{verify, WebhookEvent, WebhookSecret};
use dunlin_store::outbox::{AttemptOutcome, OutboxEntry};
use dunlin_store::testing::{date, Fixture};
use dunlin_store::{ActionStatus, TenantId};

use dunlin_delivery::outbox::worker::{Scope, Worker};
use tokio_util::sync::CancellationToken;

use crate::receiver::{Receiver, Recorded, Reply};
use crate::scene::{
    acme_with_one_invoice, attempts, clock, close, config, customer, decide, delivery, endpoint,
    entry, escalate, invoice, key, ledger, march_10, no_mail, notice, pause, retry_payment, run,
    secret, status, tenant, AS_OF, POLICY_VERSION, REASON,
};

dunlin_store::conformance!(
    each_event_reaches_the_endpoints_subscribed_to_it_signed_with_the_decision,
    a_500_then_a_200_is_retried_and_delivered_with_the_same_webhook_id,
    a_429_is_retried_no_sooner_than_its_retry_after,
    a_receiver_slower_than_the_timeout_is_retried,
    a_400_fails_at_once_and_is_not_retried,
    a_retry_goes_only_to_the_endpoint_that_failed,
    an_endpoint_added_after_the_worker_read_the_settings_takes_the_next_action,
);

fn unix_now() -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970");
    i64::try_from(now.as_secs()).expect("a timestamp")
}

/// Whether `request` verifies with `secret`, as a receiver checks it.
fn verifies(request: &Recorded, secret: &WebhookSecret) -> bool {
    let header = |name| request.header(name).unwrap_or_default();
    verify(
        &[secret],
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
        &request.body,
        unix_now(),
        300,
    )
    .is_ok()
}

fn event_of(request: &Recorded) -> WebhookEvent {
    serde_json::from_slice(&request.body).unwrap_or_else(|err| {
        panic!(
            "not an event ({err}): {}",
            String::from_utf8_lossy(&request.body)
        )
    })
}

fn webhook_ids(receiver: &Receiver) -> Vec<String> {
    receiver
        .requests()
        .iter()
        .map(|r| r.header("webhook-id").expect("a webhook-id").to_owned())
        .collect()
}

/// Tenant `acme` with customer `c1` and invoice `i1`, and a payment retry decided for it.
async fn one_retry(f: &Fixture) -> (TenantId, i64) {
    let acme = acme_with_one_invoice(f, delivery(), 10_000).await;
    let id = decide(f, &acme, AS_OF, &[("i1", vec![retry_payment()])]).await[0];
    (acme, id)
}

async fn each_event_reaches_the_endpoints_subscribed_to_it_signed_with_the_decision(f: Fixture) {
    let acme = tenant(&f, "acme", delivery()).await;
    let customers = [customer("c1", "en", "Europe/Helsinki", "c1@example.com")];
    let invoices: Vec<_> = (1..=6)
        .map(|n| invoice(&format!("i{n}"), "c1", 123_456))
        .collect();
    ledger(&f, &acme, &customers, &invoices).await;
    let actions: Vec<(&str, Action)> = vec![
        ("i1", notice(Channel::Sms, "reminder-friendly")),
        ("i2", retry_payment()),
        ("i3", escalate(EscalationKind::Collections)),
        ("i4", escalate(EscalationKind::SuspendService)),
        ("i5", pause(date("2026-04-01"))),
        ("i6", close()),
    ];
    let planned: Vec<(&str, Vec<Action>)> =
        actions.iter().map(|(i, a)| (*i, vec![a.clone()])).collect();
    let ids = decide(&f, &acme, AS_OF, &planned).await;
    let notices = Receiver::start(vec![Reply::status(204)]).await;
    let ledger_side = Receiver::start(vec![Reply::status(200)]).await;
    let (notices_secret, ledger_secret) = (secret(1), secret(2));
    endpoint(
        &f,
        &acme,
        "notices",
        &notices.url("/hooks"),
        &["notice.requested", "invoice.escalated", "invoice.paused"],
        &notices_secret,
    )
    .await;
    endpoint(
        &f,
        &acme,
        "ledger",
        &ledger_side.url("/hooks"),
        &[
            "payment.retry_requested",
            "service.suspend_requested",
            "invoice.closed",
        ],
        &ledger_secret,
    )
    .await;

    let now = clock(march_10(10, 0));
    let totals = run(&f, no_mail(), &now, config()).await;
    assert_eq!(totals.delivered, 6, "{totals:?}");

    let expected = [
        ("notice.requested", &notices, 0),
        ("payment.retry_requested", &ledger_side, 1),
        ("invoice.escalated", &notices, 2),
        ("service.suspend_requested", &ledger_side, 3),
        ("invoice.paused", &notices, 4),
        ("invoice.closed", &ledger_side, 5),
    ];
    for receiver in [&notices, &ledger_side] {
        assert_eq!(
            receiver.requests().len(),
            3,
            "each event once, to its endpoint"
        );
    }
    for (kind, receiver, n) in expected {
        let (invoice_id, action) = &actions[n];
        let id = ids[n];
        let requests = receiver.requests();
        let request = requests
            .iter()
            .find(|r| event_of(r).kind.as_str() == kind)
            .unwrap_or_else(|| panic!("{kind} did not reach its endpoint"));
        let (own, other) = if std::ptr::eq(receiver, &notices) {
            (&notices_secret, &ledger_secret)
        } else {
            (&ledger_secret, &notices_secret)
        };
        assert!(
            verifies(request, own),
            "{kind}: the signature does not verify"
        );
        assert!(
            !verifies(request, other),
            "{kind}: verifies with another secret"
        );
        assert_eq!(request.method, "POST");
        assert_eq!(request.header("content-type"), Some("application/json"));
        assert_eq!(request.header("webhook-id"), Some(key(&acme, id).as_str()));

        let event = event_of(request);
        assert_eq!(event.data.tenant_id, "acme");
        assert_eq!(event.data.invoice_id, *invoice_id);
        assert_eq!(event.data.customer_id, "c1");
        assert_eq!(event.data.action_key, key(&acme, id));
        assert_eq!(&event.data.action, action);
        assert_eq!(event.data.reason, REASON);
        assert_eq!(event.data.policy_version, POLICY_VERSION.to_string());
        match kind {
            "notice.requested" => {
                let text = event.data.text.as_deref().expect("an SMS notice's text");
                assert!(text.contains("Dear Customer c1,"), "{text}");
                assert!(
                    text.contains("N-i1") && text.contains("€1,234.56"),
                    "{text}"
                );
            }
            _ => assert_eq!(event.data.text, None, "{kind}"),
        }
        let log = attempts(&f, &acme, id).await;
        assert_eq!(log.len(), 1, "{kind}: {log:?}");
        let target = if std::ptr::eq(receiver, &notices) {
            "notices"
        } else {
            "ledger"
        };
        assert_eq!(log[0].attempt_made.target, target);
        assert_eq!(log[0].attempt_made.outcome, AttemptOutcome::Delivered);
        assert_eq!(status(&f, &acme, id).await, ActionStatus::Delivered);
    }
}

/// One payment retry to a receiver answering `first` and then 200, with `timeout`: the
/// action after the first run (the receiver's answer makes it wait), then delivered at its
/// retry time with the same `webhook-id`. Returns the entry after the first run and the
/// clock's time then.
async fn retried_then_delivered(
    f: &Fixture,
    first: Reply,
    timeout: Duration,
) -> (OutboxEntry, chrono::DateTime<chrono::Utc>) {
    let (acme, id) = one_retry(f).await;
    let receiver = Receiver::start(vec![first, Reply::status(200)]).await;
    endpoint(f, &acme, "erp", &receiver.url("/hooks"), &[], &secret(1)).await;
    let mut config = config();
    config.webhook_timeout = timeout;
    let now = clock(march_10(10, 0));
    let totals = run(f, no_mail(), &now, config.clone()).await;
    assert_eq!(totals.retried, 1, "{totals:?}");
    let waiting = entry(f, &acme, id).await;
    assert_eq!(waiting.status, ActionStatus::Pending);
    assert_eq!(waiting.attempts, 1);
    let next = waiting.next_attempt_at.expect("a retry time");

    now.set(next - TimeDelta::seconds(1));
    let early = run(f, no_mail(), &now, config.clone()).await;
    assert_eq!(early.handled(), 0, "tried before its time: {early:?}");
    now.set(next);
    let totals = run(f, no_mail(), &now, config).await;
    assert_eq!(totals.delivered, 1, "{totals:?}");
    assert_eq!(status(f, &acme, id).await, ActionStatus::Delivered);
    assert_eq!(webhook_ids(&receiver), [key(&acme, id), key(&acme, id)]);
    let log = attempts(f, &acme, id).await;
    let outcomes: Vec<(u32, AttemptOutcome)> = log
        .iter()
        .map(|a| (a.attempt, a.attempt_made.outcome))
        .collect();
    assert_eq!(
        outcomes,
        [
            (1, AttemptOutcome::Temporary),
            (2, AttemptOutcome::Delivered)
        ]
    );
    assert!(log
        .iter()
        .all(|a| a.attempt_made.message_key == key(&acme, id)));
    (waiting, march_10(10, 0))
}

async fn a_500_then_a_200_is_retried_and_delivered_with_the_same_webhook_id(f: Fixture) {
    let (waiting, then) =
        retried_then_delivered(&f, Reply::status(500), Duration::from_secs(5)).await;
    let error = waiting.last_error.expect("the error");
    assert!(error.contains("500"), "{error}");
    // The first backoff is 30 s with equal jitter: 15 to 30 s.
    let wait = waiting.next_attempt_at.expect("a retry time") - then;
    assert!(
        (TimeDelta::seconds(15)..=TimeDelta::seconds(30)).contains(&wait),
        "{wait}"
    );
}

async fn a_429_is_retried_no_sooner_than_its_retry_after(f: Fixture) {
    let busy = Reply::status(429).header("retry-after", "120");
    let (waiting, then) = retried_then_delivered(&f, busy, Duration::from_secs(5)).await;
    let error = waiting.last_error.expect("the error");
    assert!(error.contains("429"), "{error}");
    let wait = waiting.next_attempt_at.expect("a retry time") - then;
    assert!(wait >= TimeDelta::seconds(120), "{wait}");
}

async fn a_receiver_slower_than_the_timeout_is_retried(f: Fixture) {
    let slow = Reply::status(200).after(Duration::from_secs(3));
    let (waiting, _) = retried_then_delivered(&f, slow, Duration::from_millis(300)).await;
    let error = waiting.last_error.expect("the error");
    assert!(error.contains("no answer within 300 ms"), "{error}");
}

async fn a_400_fails_at_once_and_is_not_retried(f: Fixture) {
    let (acme, id) = one_retry(&f).await;
    let receiver = Receiver::start(vec![
        Reply::status(400).body("unknown invoice"),
        Reply::status(200),
    ])
    .await;
    endpoint(&f, &acme, "erp", &receiver.url("/hooks"), &[], &secret(1)).await;
    let now = clock(march_10(10, 0));
    let totals = run(&f, no_mail(), &now, config()).await;
    assert_eq!((totals.failed, totals.retried), (1, 0), "{totals:?}");
    let failed = entry(&f, &acme, id).await;
    assert_eq!(failed.status, ActionStatus::Failed);
    assert_eq!(failed.attempts, 1);
    assert_eq!(failed.next_attempt_at, None);
    let error = failed.last_error.expect("the error");
    assert!(
        error.contains("400") && error.contains("unknown invoice"),
        "{error}"
    );

    // A day later nothing is tried again.
    now.set(now.now() + TimeDelta::days(1));
    let later = run(&f, no_mail(), &now, config()).await;
    assert_eq!(later.handled(), 0, "{later:?}");
    assert_eq!(receiver.requests().len(), 1);
    let log = attempts(&f, &acme, id).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].attempt_made.outcome, AttemptOutcome::Permanent);
}

async fn a_retry_goes_only_to_the_endpoint_that_failed(f: Fixture) {
    let (acme, id) = one_retry(&f).await;
    let steady = Receiver::start(vec![Reply::status(200)]).await;
    let flaky = Receiver::start(vec![Reply::status(503), Reply::status(200)]).await;
    endpoint(&f, &acme, "crm", &steady.url("/hooks"), &[], &secret(1)).await;
    endpoint(&f, &acme, "erp", &flaky.url("/hooks"), &[], &secret(2)).await;
    let now = clock(march_10(10, 0));
    let totals = run(&f, no_mail(), &now, config()).await;
    assert_eq!(totals.retried, 1, "{totals:?}");
    assert_eq!((steady.requests().len(), flaky.requests().len()), (1, 1));

    let next = entry(&f, &acme, id)
        .await
        .next_attempt_at
        .expect("a retry time");
    now.set(next);
    let totals = run(&f, no_mail(), &now, config()).await;
    assert_eq!(totals.delivered, 1, "{totals:?}");
    assert_eq!(
        (steady.requests().len(), flaky.requests().len()),
        (1, 2),
        "the endpoint that took it is not sent it again"
    );
    assert_eq!(webhook_ids(&steady), [key(&acme, id)]);
    assert_eq!(webhook_ids(&flaky), [key(&acme, id), key(&acme, id)]);
    let log = attempts(&f, &acme, id).await;
    let seen: Vec<(u32, &str, AttemptOutcome)> = log
        .iter()
        .map(|a| {
            (
                a.attempt,
                a.attempt_made.target.as_str(),
                a.attempt_made.outcome,
            )
        })
        .collect();
    let mut first: Vec<_> = seen.iter().filter(|s| s.0 == 1).cloned().collect();
    first.sort_by_key(|s| s.1);
    assert_eq!(
        first,
        [
            (1, "crm", AttemptOutcome::Delivered),
            (1, "erp", AttemptOutcome::Temporary)
        ]
    );
    assert_eq!(seen.last(), Some(&(2, "erp", AttemptOutcome::Delivered)));
    assert_eq!(seen.len(), 3);
}

/// A running worker has read the tenant's settings (no endpoint yet) when an endpoint is
/// added and a retry decided: the retry is delivered, not failed for want of an endpoint the
/// worker had not read yet (it reads settings again only every 30 seconds).
async fn an_endpoint_added_after_the_worker_read_the_settings_takes_the_next_action(f: Fixture) {
    let acme = acme_with_one_invoice(&f, delivery(), 10_000).await;
    let worker =
        Worker::new(f.db.clone(), no_mail(), clock(march_10(10, 0)), config()).expect("a worker");
    let stop = CancellationToken::new();
    let running = tokio::spawn(std::sync::Arc::new(worker).run(Scope::All, false, stop.clone()));
    // Idle rounds every 10 ms: by now the worker has read the settings more than once.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let receiver = Receiver::start(vec![Reply::status(200)]).await;
    endpoint(&f, &acme, "erp", &receiver.url("/hooks"), &[], &secret(1)).await;
    let id = decide(&f, &acme, AS_OF, &[("i1", vec![retry_payment()])]).await[0];
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut last = status(&f, &acme, id).await;
    while last != ActionStatus::Delivered && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        last = status(&f, &acme, id).await;
    }
    stop.cancel();
    running
        .await
        .expect("the worker's task")
        .expect("the worker's run");
    assert_eq!(
        last,
        ActionStatus::Delivered,
        "{:?}",
        entry(&f, &acme, id).await
    );
    assert_eq!(receiver.requests().len(), 1);
}
