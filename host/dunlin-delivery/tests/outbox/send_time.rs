//! The send-time rules through the worker: contact windows in each customer's time zone and
//! across daylight-saving changes, quiet days, a payment written after the decision, an
//! opt-out.

use chrono::TimeDelta;
use dunlin_core::clock::Clock;
use dunlin_core::Channel;
use dunlin_store::testing::{date, eur, scalar, Fixture};
use dunlin_store::{ActionStatus, DeliverySettings, NewPayment, TenantId, Weekday};

use crate::scene::{
    attempts, clock, config, customer, delivery, entry, march_10, no_mail, one_notice_each, run,
    tenant, utc, Mailbox, AS_OF,
};

dunlin_store::conformance!(
    contact_windows_follow_each_customers_time_zone,
    the_window_opens_at_the_right_instant_across_a_daylight_saving_change,
    a_quiet_day_holds_notices_until_the_next_day_that_is_not,
    a_payment_written_after_the_decision_cancels_the_reminder,
    an_invoice_closed_outside_the_ledger_writes_is_cancelled_at_send_time,
    a_channel_the_customer_opted_out_of_is_blocked,
);

/// Tenant `acme` with one email notice per `(customer, zone)`, each for its own invoice
/// `i-{customer}`, decided on `as_of`; returns the actions' ids in that order.
async fn notices_for(
    f: &Fixture,
    settings: DeliverySettings,
    as_of: &str,
    people: &[(&str, &str)],
) -> (TenantId, Vec<i64>) {
    let acme = tenant(f, "acme", settings).await;
    notices_of(f, &acme, as_of, people).await
}

async fn notices_of(
    f: &Fixture,
    acme: &TenantId,
    as_of: &str,
    people: &[(&str, &str)],
) -> (TenantId, Vec<i64>) {
    let customers: Vec<_> = people
        .iter()
        .map(|(id, zone)| customer(id, "en", zone, &format!("{id}@example.com")))
        .collect();
    let ids = one_notice_each(f, acme, as_of, &customers, 20_000).await;
    (acme.clone(), ids)
}

async fn contact_windows_follow_each_customers_time_zone(f: Fixture) {
    let people = [("hel", "Europe/Helsinki"), ("nyc", "America/New_York")];
    let (acme, ids) = notices_for(&f, delivery(), AS_OF, &people).await;
    let mailbox = Mailbox::start();
    // 10:00 UTC: noon in Helsinki, 06:00 in New York.
    let now = clock(march_10(10, 0));
    let totals = run(&f, mailbox.smtp(), &now, config()).await;
    assert_eq!((totals.delivered, totals.waiting), (1, 1), "{totals:?}");
    assert_eq!(
        entry(&f, &acme, ids[0]).await.status,
        ActionStatus::Delivered
    );
    let waiting = entry(&f, &acme, ids[1]).await;
    assert_eq!(waiting.status, ActionStatus::Pending);
    assert_eq!(waiting.attempts, 0, "a wait is not an attempt");
    assert_eq!(
        waiting.note.as_deref(),
        Some("outside the contact window 08:00–21:00 in America/New_York")
    );
    // 08:00 EDT.
    assert_eq!(waiting.next_attempt_at, Some(march_10(12, 0)));
    assert!(attempts(&f, &acme, ids[1]).await.is_empty());

    now.set(march_10(11, 59));
    let early = run(&f, mailbox.smtp(), &now, config()).await;
    assert_eq!(early.handled(), 0, "{early:?}");
    now.set(march_10(12, 0));
    let totals = run(&f, mailbox.smtp(), &now, config()).await;
    assert_eq!(totals.delivered, 1, "{totals:?}");
    assert_eq!(
        entry(&f, &acme, ids[1]).await.status,
        ActionStatus::Delivered
    );
    assert_eq!(mailbox.received(2).len(), 2);
}

async fn the_window_opens_at_the_right_instant_across_a_daylight_saving_change(f: Fixture) {
    let acme = tenant(&f, "acme", delivery()).await;
    let mailbox = Mailbox::start();
    // (customer, zone, as-of, now, the window's next opening)
    let cases = [
        // Saturday 22:00 EST; New York springs forward that night: 08:00 EDT is 12:00 UTC.
        (
            "nyc",
            "America/New_York",
            "2026-03-07",
            utc(2026, 3, 8, 3, 0),
            utc(2026, 3, 8, 12, 0),
        ),
        // Saturday 22:00 EET; Helsinki springs forward that night: 08:00 EEST is 05:00 UTC.
        (
            "hel-spring",
            "Europe/Helsinki",
            "2026-03-28",
            utc(2026, 3, 28, 20, 0),
            utc(2026, 3, 29, 5, 0),
        ),
        // Saturday 23:00 EEST; Helsinki falls back that night: 08:00 EET is 06:00 UTC.
        (
            "hel-autumn",
            "Europe/Helsinki",
            "2026-10-24",
            utc(2026, 10, 24, 20, 0),
            utc(2026, 10, 25, 6, 0),
        ),
    ];
    for (person, zone, as_of, at, opens) in cases {
        let (_, ids) = notices_of(&f, &acme, as_of, &[(person, zone)]).await;
        let now = clock(at);
        let totals = run(&f, mailbox.smtp(), &now, config()).await;
        assert!(totals.waiting >= 1, "{person}: {totals:?}");
        let waiting = entry(&f, &acme, ids[0]).await;
        assert_eq!(waiting.status, ActionStatus::Pending, "{person}");
        assert_eq!(waiting.next_attempt_at, Some(opens), "{person}");
        // It goes at the opening, not a second before.
        now.set(opens - TimeDelta::seconds(1));
        run(&f, mailbox.smtp(), &now, config()).await;
        assert_eq!(entry(&f, &acme, ids[0]).await.status, ActionStatus::Pending);
        now.set(opens);
        run(&f, mailbox.smtp(), &now, config()).await;
        let sent = entry(&f, &acme, ids[0]).await;
        assert_eq!(sent.status, ActionStatus::Delivered, "{person}: {sent:?}");
    }
}

async fn a_quiet_day_holds_notices_until_the_next_day_that_is_not(f: Fixture) {
    let settings = DeliverySettings {
        quiet_days: vec![Weekday::Sat, Weekday::Sun],
        ..delivery()
    };
    let (acme, ids) = notices_for(&f, settings, AS_OF, &[("hel", "Europe/Helsinki")]).await;
    // Saturday noon in Helsinki, inside the window.
    let now = clock(utc(2026, 3, 14, 10, 0));
    let totals = run(&f, no_mail(), &now, config()).await;
    assert_eq!(totals.waiting, 1, "{totals:?}");
    let waiting = entry(&f, &acme, ids[0]).await;
    assert_eq!(
        waiting.note.as_deref(),
        Some("Saturday is a quiet day in Europe/Helsinki")
    );
    // Monday 08:00 EET.
    assert_eq!(waiting.next_attempt_at, Some(utc(2026, 3, 16, 6, 0)));
}

async fn a_payment_written_after_the_decision_cancels_the_reminder(f: Fixture) {
    let people = [("paid", "Europe/Helsinki"), ("partly", "Europe/Helsinki")];
    let (acme, ids) = notices_for(&f, delivery(), AS_OF, &people).await;
    let payment = |id: &str, invoice: &str, minor| NewPayment {
        id: id.into(),
        invoice_id: invoice.into(),
        amount: eur(minor),
        paid_on: date(AS_OF),
    };
    f.db.upsert_payments(
        &acme,
        &[
            payment("p1", "i-paid", 20_000),
            payment("p2", "i-partly", 5_000),
        ],
    )
    .await
    .expect("payments");
    let cancelled = entry(&f, &acme, ids[0]).await;
    assert_eq!(cancelled.status, ActionStatus::Cancelled);
    assert_eq!(
        cancelled.note.as_deref(),
        Some("the invoice was paid in full after the decision")
    );

    let mailbox = Mailbox::start();
    let now = clock(march_10(10, 0));
    let totals = run(&f, mailbox.smtp(), &now, config()).await;
    // Only the partly paid invoice's reminder goes, for what is left.
    assert_eq!(totals.delivered, 1, "{totals:?}");
    assert_eq!(totals.handled(), 1, "{totals:?}");
    assert_eq!(
        entry(&f, &acme, ids[0]).await.status,
        ActionStatus::Cancelled
    );
    assert!(attempts(&f, &acme, ids[0]).await.is_empty());
    let received = mailbox.received(1);
    assert_eq!(received.len(), 1);
    let text = String::from_utf8_lossy(&received[0]);
    assert!(text.contains("partly@example.com"), "{text}");
}

async fn an_invoice_closed_outside_the_ledger_writes_is_cancelled_at_send_time(f: Fixture) {
    let people = [("paid", "Europe/Helsinki"), ("zero", "Europe/Helsinki")];
    let (acme, ids) = notices_for(&f, delivery(), AS_OF, &people).await;
    // Another system changes the rows behind the store's ledger writes, which would have
    // withdrawn the actions: only the worker's check stands between them and the customer.
    scalar(
        &f,
        "UPDATE invoices SET status = 'paid' WHERE tenant_id = 'acme' AND id = 'i-paid'",
    )
    .await;
    scalar(
        &f,
        "UPDATE invoices SET open_balance_minor = 0 WHERE tenant_id = 'acme' AND id = 'i-zero'",
    )
    .await;
    let now = clock(march_10(10, 0));
    let totals = run(&f, no_mail(), &now, config()).await;
    assert_eq!(totals.cancelled, 2, "{totals:?}");
    assert_eq!(totals.handled(), 2, "{totals:?}");
    for (id, note) in [
        (ids[0], "the invoice was paid after the decision"),
        (ids[1], "nothing is left to collect on the invoice"),
    ] {
        let cancelled = entry(&f, &acme, id).await;
        assert_eq!(cancelled.status, ActionStatus::Cancelled);
        assert_eq!(cancelled.note.as_deref(), Some(note));
        assert!(attempts(&f, &acme, id).await.is_empty());
    }
    // Nothing is tried later either.
    now.set(now.now() + TimeDelta::days(1));
    assert_eq!(run(&f, no_mail(), &now, config()).await.handled(), 0);
}

async fn a_channel_the_customer_opted_out_of_is_blocked(f: Fixture) {
    let (acme, ids) = notices_for(&f, delivery(), AS_OF, &[("hel", "Europe/Helsinki")]).await;
    // The customer opts out of email after the decision.
    let opted_out = customer("hel", "en", "Europe/Helsinki", "hel@example.com")
        .with_opted_out(&[Channel::Email]);
    f.db.upsert_customers(&acme, &[opted_out])
        .await
        .expect("customer");
    let now = clock(march_10(10, 0));
    let totals = run(&f, no_mail(), &now, config()).await;
    assert_eq!(totals.blocked, 1, "{totals:?}");
    assert_eq!(totals.handled(), 1, "{totals:?}");
    let blocked = entry(&f, &acme, ids[0]).await;
    assert_eq!(blocked.status, ActionStatus::Blocked);
    assert_eq!(
        blocked.note.as_deref(),
        Some("the customer opted out of email notices")
    );
    assert!(attempts(&f, &acme, ids[0]).await.is_empty());
}
