//! What delivery did flows back into the next review: the invoice's history in the policy's
//! context shows each past action as delivered or failed.

use dunlin_core::{ActionKind, ActionOutcome, Channel};
use dunlin_store::testing::{date, Fixture};
use dunlin_store::{ActionStatus, DueQuery, TenantId};

use crate::scene::{
    clock, config, customer, delivery, entry, march_10, one_notice_each, run, tenant, Mailbox,
    AS_OF,
};

dunlin_store::conformance!(the_next_reviews_history_shows_each_email_as_delivered_or_failed);

/// The outcome the invoice's history shows for its notice of [`AS_OF`] in a review on
/// `on`.
async fn past_outcome(f: &Fixture, tenant: &TenantId, invoice: &str, on: &str) -> ActionOutcome {
    let page =
        f.db.due_for_review(tenant, &DueQuery::new(date(on)))
            .await
            .expect("due page");
    let due = page
        .invoices
        .iter()
        .find(|d| d.context.invoice.id == invoice)
        .unwrap_or_else(|| panic!("{invoice} is not due on {on}"));
    let past: Vec<_> = due
        .context
        .history
        .iter()
        .filter(|p| p.on == date(AS_OF))
        .collect();
    assert_eq!(past.len(), 1, "{invoice}: {:?}", due.context.history);
    assert_eq!(past[0].kind, ActionKind::Notify);
    assert_eq!(past[0].channel, Some(Channel::Email));
    assert_eq!(past[0].level, Some(2));
    past[0].outcome
}

async fn the_next_reviews_history_shows_each_email_as_delivered_or_failed(f: Fixture) {
    let acme = tenant(&f, "acme", delivery()).await;
    let customers = [
        customer("good", "en", "Europe/Helsinki", "good@example.com"),
        customer("garbled", "en", "Europe/Helsinki", "not an address"),
        // The test server answers 550 for the local part "reject".
        customer("gone", "en", "Europe/Helsinki", "reject@example.com"),
    ];
    let ids = one_notice_each(&f, &acme, AS_OF, &customers, 10_000).await;
    let mailbox = Mailbox::start();
    let totals = run(&f, mailbox.smtp(), &clock(march_10(10, 0)), config()).await;
    assert_eq!((totals.delivered, totals.failed), (1, 2), "{totals:?}");
    let garbled = entry(&f, &acme, ids[1]).await;
    assert_eq!(garbled.status, ActionStatus::Failed);
    let error = garbled.last_error.expect("why");
    assert!(error.contains("the to address"), "{error}");
    let gone = entry(&f, &acme, ids[2]).await;
    assert_eq!(gone.status, ActionStatus::Failed);
    let error = gone.last_error.expect("why");
    assert!(error.contains("550"), "{error}");

    // The decisions set the next review a week later.
    let next = "2026-03-17";
    for (invoice, outcome) in [
        ("i-good", ActionOutcome::Delivered),
        ("i-garbled", ActionOutcome::Failed),
        ("i-gone", ActionOutcome::Failed),
    ] {
        assert_eq!(
            past_outcome(&f, &acme, invoice, next).await,
            outcome,
            "{invoice}"
        );
    }
}
