//! Per-tenant fairness: one tenant's endpoint that hangs until the timeout, with many
//! actions queued, does not hold back another tenant's mail.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use dunlin_store::outbox::AttemptOutcome;
use dunlin_store::testing::Fixture;
use dunlin_store::TenantId;

use crate::receiver::{Receiver, Reply};
use crate::scene::{
    clock, config, customer, decide, delivery, email, endpoint, invoice, ledger, march_10,
    retry_payment, run, secret, tenant, Mailbox, AS_OF,
};

dunlin_store::conformance!(a_tenant_whose_endpoint_hangs_does_not_hold_back_another_tenants_mail);

const TIMEOUT: Duration = Duration::from_secs(2);

/// When each of the tenant's logged attempts started and ended, and how it went.
async fn attempt_times(
    f: &Fixture,
    tenant: &TenantId,
    ids: &[i64],
) -> Vec<(DateTime<Utc>, DateTime<Utc>, AttemptOutcome)> {
    let log =
        f.db.delivery_attempts(tenant, ids)
            .await
            .expect("the deliveries log");
    log.iter()
        .map(|a| {
            let a = &a.attempt_made;
            let took = TimeDelta::microseconds(i64::try_from(a.latency_us).expect("a latency"));
            (a.started_at, a.started_at + took, a.outcome)
        })
        .collect()
}

async fn a_tenant_whose_endpoint_hangs_does_not_hold_back_another_tenants_mail(f: Fixture) {
    // `acme` sorts first: a worker that served tenants in turn would serve it first.
    let acme = tenant(&f, "acme", delivery()).await;
    let hangs = Receiver::start(vec![Reply::status(200).after(Duration::from_secs(60))]).await;
    endpoint(&f, &acme, "erp", &hangs.url("/hooks"), &[], &secret(1)).await;
    let invoices: Vec<_> = (0..12)
        .map(|n| invoice(&format!("a{n:02}"), "a-c", 10_000))
        .collect();
    ledger(
        &f,
        &acme,
        &[customer("a-c", "en", "Europe/Helsinki", "a@example.com")],
        &invoices,
    )
    .await;
    let planned: Vec<(&str, _)> = invoices
        .iter()
        .map(|i| (i.id.as_str(), vec![retry_payment()]))
        .collect();
    let acme_ids = decide(&f, &acme, AS_OF, &planned).await;

    let bolt = tenant(&f, "bolt", delivery()).await;
    let customers: Vec<_> = (0..8)
        .map(|n| {
            customer(
                &format!("b{n}"),
                "en",
                "Europe/Helsinki",
                &format!("b{n}@example.com"),
            )
        })
        .collect();
    let invoices: Vec<_> = (0..8)
        .map(|n| invoice(&format!("b{n}"), &format!("b{n}"), 10_000))
        .collect();
    ledger(&f, &bolt, &customers, &invoices).await;
    let planned: Vec<(&str, _)> = invoices
        .iter()
        .map(|i| (i.id.as_str(), vec![email("reminder-friendly")]))
        .collect();
    let bolt_ids = decide(&f, &bolt, AS_OF, &planned).await;

    let mailbox = Mailbox::start();
    let mut config = config();
    config.webhook_timeout = TIMEOUT;
    config.per_tenant = 4;
    config.total = 8;
    let totals = run(&f, mailbox.smtp(), &clock(march_10(10, 0)), config).await;
    // acme's 12 actions time out 4 at a time: three rounds of the timeout.
    assert_eq!((totals.delivered, totals.retried), (8, 12), "{totals:?}");

    let acme_times = attempt_times(&f, &acme, &acme_ids).await;
    assert_eq!(acme_times.len(), 12);
    assert!(acme_times
        .iter()
        .all(|(_, _, outcome)| *outcome == AttemptOutcome::Temporary));
    let bolt_times = attempt_times(&f, &bolt, &bolt_ids).await;
    assert_eq!(bolt_times.len(), 8);
    assert!(bolt_times
        .iter()
        .all(|(_, _, outcome)| *outcome == AttemptOutcome::Delivered));
    let first_timeout = acme_times
        .iter()
        .map(|(started, _, _)| *started)
        .min()
        .expect("an attempt")
        + TimeDelta::from_std(TIMEOUT).expect("a timeout");
    let bolt_done = bolt_times
        .iter()
        .map(|(_, ended, _)| *ended)
        .max()
        .expect("an attempt");
    assert!(
        bolt_done < first_timeout,
        "bolt's mail was done at {bolt_done}, after acme's first timeout at {first_timeout}"
    );
    assert_eq!(mailbox.received(8).len(), 8);
}
