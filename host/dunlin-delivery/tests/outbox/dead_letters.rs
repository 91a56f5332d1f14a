//! Dead letters: an action whose every allowed attempt failed for now ends `dead`, is not
//! tried again, shows as failed to the next review, and goes out once requeued by hand.

use chrono::TimeDelta;
use dunlin_core::clock::Clock;
use dunlin_core::ActionOutcome;
use dunlin_store::outbox::Requeue;
use dunlin_store::testing::{date, Fixture};
use dunlin_store::{ActionStatus, DeliverySettings, DueQuery};

use crate::receiver::{Receiver, Reply};
use crate::scene::{
    acme_with_one_invoice, attempts, clock, config, decide, delivery, endpoint, entry, key,
    march_10, no_mail, retry_payment, run, secret, AS_OF,
};

dunlin_store::conformance!(an_action_is_dead_after_its_last_attempt_and_goes_once_requeued);

async fn an_action_is_dead_after_its_last_attempt_and_goes_once_requeued(f: Fixture) {
    let settings = DeliverySettings {
        max_attempts: 2,
        ..delivery()
    };
    let acme = acme_with_one_invoice(&f, settings, 10_000).await;
    let id = decide(&f, &acme, AS_OF, &[("i1", vec![retry_payment()])]).await[0];
    // Down for two requests, then back.
    let script = vec![Reply::status(503), Reply::status(503), Reply::status(200)];
    let receiver = Receiver::start(script).await;
    endpoint(&f, &acme, "erp", &receiver.url("/hooks"), &[], &secret(1)).await;

    let now = clock(march_10(10, 0));
    let first = run(&f, no_mail(), &now, config()).await;
    assert_eq!(first.retried, 1, "{first:?}");
    now.set(entry(&f, &acme, id).await.next_attempt_at.expect("a retry"));
    let second = run(&f, no_mail(), &now, config()).await;
    assert_eq!(second.dead, 1, "{second:?}");
    let dead = entry(&f, &acme, id).await;
    assert_eq!(dead.status, ActionStatus::Dead);
    assert_eq!(dead.attempts, 2);
    assert_eq!(dead.next_attempt_at, None);
    let error = dead.last_error.expect("the last error");
    assert!(error.contains("503"), "{error}");

    // Not tried again, however long one waits; the next review sees it failed.
    now.set(now.now() + TimeDelta::days(2));
    assert_eq!(run(&f, no_mail(), &now, config()).await.handled(), 0);
    assert_eq!(receiver.requests().len(), 2);
    let page =
        f.db.due_for_review(&acme, &DueQuery::new(date("2026-03-17")))
            .await
            .expect("due page");
    let history = &page.invoices[0].context.history;
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0].outcome, ActionOutcome::Failed);

    let requeued =
        f.db.requeue_actions(&acme, &Requeue::Dead)
            .await
            .expect("requeue");
    assert_eq!(requeued, 1);
    let back = entry(&f, &acme, id).await;
    assert_eq!((back.status, back.attempts), (ActionStatus::Pending, 0));
    let third = run(&f, no_mail(), &now, config()).await;
    assert_eq!(third.delivered, 1, "{third:?}");
    assert_eq!(entry(&f, &acme, id).await.status, ActionStatus::Delivered);
    let ids: Vec<String> = receiver
        .requests()
        .iter()
        .map(|r| r.header("webhook-id").expect("an id").to_owned())
        .collect();
    assert_eq!(ids, [key(&acme, id), key(&acme, id), key(&acme, id)]);
    let log = attempts(&f, &acme, id).await;
    assert_eq!(log.len(), 3, "{log:?}");
}
