//! The outbox: claims are leases that expire, results are written only under their lease,
//! retries wait for their time, dead actions are requeued by hand, a ledger write withdraws
//! a held action with its reason, and no tenant reaches another's outbox.

use chrono::{DateTime, Duration, TimeZone, Utc};
use dunlin_core::guardrails::InvoiceStatus;
use dunlin_store::outbox::{
    Attempt, AttemptChannel, AttemptOutcome, Backlog, Claim, ClaimedAction, Finished, Next,
    OutboxQuery, Requeue,
};
use dunlin_store::testing::{date as d, Fixture};
use dunlin_store::{ActionStatus, DecisionQuery, NewPayment, TenantId};

use crate::data::{first_reminders, seed, seeded_page, tid};

dunlin_store::conformance!(
    a_claim_leases_each_due_action_once_until_the_lease_expires,
    consolidation_claims_the_customers_other_email_notices_of_the_day,
    a_claimed_action_carries_its_decision_invoice_and_customer,
    a_result_is_written_only_under_its_own_lease,
    retries_wait_for_their_time_and_dead_actions_are_requeued_by_hand,
    a_retry_knows_which_targets_took_the_action_already,
    a_payment_withdraws_a_held_action_and_says_why,
    no_tenant_claims_lists_or_requeues_another_tenants_actions,
    the_backlog_counts_pending_and_dead_actions_of_the_tenant_alone,
    a_stopped_or_dead_replicas_leases_are_free_before_they_expire,
);

fn at(hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 2, 10, hour, 0, 0).unwrap()
}

fn claim(worker: &str, now: DateTime<Utc>, limit: u32, consolidate: bool) -> Claim {
    Claim {
        worker: worker.into(),
        now,
        lease: Duration::minutes(5),
        limit,
        consolidate,
    }
}

/// `acme` seeded, with a first email reminder recorded for `i1` and `i2` (both `c1`'s).
async fn two_reminders(f: &Fixture) -> TenantId {
    let acme = tid("acme");
    let page = seeded_page(f, &acme).await;
    f.db.record_batch(&acme, &first_reminders(&page))
        .await
        .unwrap();
    acme
}

fn ids(claimed: &[ClaimedAction]) -> Vec<i64> {
    claimed.iter().map(|c| c.lease.id).collect()
}

fn attempt(target: &str, outcome: AttemptOutcome) -> Attempt {
    Attempt {
        started_at: at(9),
        latency_us: 1_500,
        channel: AttemptChannel::Webhook,
        target: target.into(),
        message_key: "dunlin-acme-1".into(),
        outcome,
        detail: "HTTP 200".into(),
    }
}

fn finished(c: &ClaimedAction, attempts: Vec<Attempt>, next: Next) -> Finished {
    Finished {
        lease: c.lease,
        attempt: c.attempts + 1,
        attempts,
        next,
    }
}

/// `c` taken by the customer's mail server.
fn delivered(c: &ClaimedAction) -> Finished {
    let to_c1 = attempt("c1@example.com", AttemptOutcome::Delivered);
    finished(c, vec![to_c1], Next::Delivered)
}

async fn status_of(f: &Fixture, tenant: &TenantId, id: i64) -> ActionStatus {
    let all = f.db.outbox(tenant, &OutboxQuery::default()).await.unwrap();
    all.iter().find(|e| e.id == id).expect("the action").status
}

async fn a_claim_leases_each_due_action_once_until_the_lease_expires(f: Fixture) {
    let acme = two_reminders(&f).await;
    let first =
        f.db.claim_actions(&acme, &claim("w1", at(9), 1, false))
            .await
            .unwrap();
    let second =
        f.db.claim_actions(&acme, &claim("w2", at(9), 5, false))
            .await
            .unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(second.len(), 1);
    assert!(
        first[0].lease.id < second[0].lease.id,
        "claimed in id order"
    );
    let none =
        f.db.claim_actions(&acme, &claim("w3", at(9), 5, false))
            .await
            .unwrap();
    assert!(none.is_empty(), "both are leased: {none:?}");
    let listed = f.db.outbox(&acme, &OutboxQuery::default()).await.unwrap();
    assert_eq!(listed[0].lease_owner.as_deref(), Some("w1"));
    assert_eq!(listed[1].lease_owner.as_deref(), Some("w2"));

    // Five minutes on, both leases have run out: a new claim takes both, with new tokens.
    let later = at(9) + Duration::minutes(5);
    let again =
        f.db.claim_actions(&acme, &claim("w3", later, 5, false))
            .await
            .unwrap();
    assert_eq!(ids(&again), vec![first[0].lease.id, second[0].lease.id]);
    assert_ne!(again[0].lease.token, first[0].lease.token);
}

async fn consolidation_claims_the_customers_other_email_notices_of_the_day(f: Fixture) {
    let acme = two_reminders(&f).await;
    let claimed =
        f.db.claim_actions(&acme, &claim("w1", at(9), 1, true))
            .await
            .unwrap();
    assert_eq!(claimed.len(), 2, "c1's two notices of 2026-02-10 together");
    assert!(claimed.iter().all(|c| c.customer_id == "c1"));
    let none =
        f.db.claim_actions(&acme, &claim("w2", at(9), 5, true))
            .await
            .unwrap();
    assert!(none.is_empty());
}

async fn a_claimed_action_carries_its_decision_invoice_and_customer(f: Fixture) {
    let acme = two_reminders(&f).await;
    let claimed =
        f.db.claim_actions(&acme, &claim("w1", at(9), 1, false))
            .await
            .unwrap();
    let c = &claimed[0];
    assert_eq!(
        (c.invoice_id.as_str(), c.customer_id.as_str()),
        ("i1", "c1")
    );
    assert_eq!(c.as_of, d("2026-02-10"));
    assert_eq!(c.reason, "first reminder");
    assert_eq!(c.policy_version, Some(1));
    assert_eq!(c.attempts, 0);
    assert_eq!(c.invoice.number, "N-i1");
    assert_eq!(c.invoice.due_on, d("2026-01-31"));
    assert_eq!(c.invoice.open_balance.minor, 10_000);
    assert_eq!(c.invoice.status, InvoiceStatus::Open);
    assert!(!c.invoice.disputed && !c.invoice.on_payment_plan);
    assert_eq!(c.customer.locale, "fi");
    assert_eq!(c.customer.contact["email"], "c1@example.com");
    assert!(c.customer.recent_contacts.is_empty());
    assert!(c.delivered_to.is_empty());
    assert_eq!(c.key("acme"), format!("dunlin-acme-{}", c.lease.id));

    // Once the first is delivered, the customer's second notice counts it.
    let done = delivered(c);
    f.db.finish_actions(&acme, "w1", at(9), &[done])
        .await
        .unwrap();
    let next =
        f.db.claim_actions(&acme, &claim("w1", at(10), 1, false))
            .await
            .unwrap();
    assert_eq!(next[0].customer.recent_contacts, vec![at(9)]);
    // A week on, the contact has left the cap's span.
    let week_on = at(10) + Duration::days(7);
    let later =
        f.db.claim_actions(&acme, &claim("w1", week_on, 1, false))
            .await
            .unwrap();
    assert!(later[0].customer.recent_contacts.is_empty());
}

async fn a_result_is_written_only_under_its_own_lease(f: Fixture) {
    let acme = two_reminders(&f).await;
    let stale =
        f.db.claim_actions(&acme, &claim("w1", at(9), 1, false))
            .await
            .unwrap();
    let fresh =
        f.db.claim_actions(&acme, &claim("w2", at(9) + Duration::minutes(6), 1, false))
            .await
            .unwrap();
    assert_eq!(ids(&stale), ids(&fresh), "the expired lease was taken over");

    let late = delivered(&stale[0]);
    let summary =
        f.db.finish_actions(&acme, "w1", at(9), &[late])
            .await
            .unwrap();
    assert_eq!((summary.written, summary.lost), (0, 1));
    assert_eq!(
        status_of(&f, &acme, stale[0].lease.id).await,
        ActionStatus::Pending
    );

    let own = delivered(&fresh[0]);
    let summary =
        f.db.finish_actions(&acme, "w2", at(9), &[own])
            .await
            .unwrap();
    assert_eq!((summary.written, summary.lost), (1, 0));
    assert_eq!(
        status_of(&f, &acme, fresh[0].lease.id).await,
        ActionStatus::Delivered
    );

    // Both attempts happened and both are logged, each with its worker.
    let log = f.db.delivery_attempts(&acme, &ids(&fresh)).await.unwrap();
    let workers: Vec<&str> = log.iter().map(|a| a.worker.as_str()).collect();
    assert_eq!(workers, ["w1", "w2"]);
    assert_eq!(log[1].attempt, 1);
    assert_eq!(log[1].attempt_made.outcome, AttemptOutcome::Delivered);
}

async fn retries_wait_for_their_time_and_dead_actions_are_requeued_by_hand(f: Fixture) {
    let acme = two_reminders(&f).await;
    let claimed =
        f.db.claim_actions(&acme, &claim("w1", at(9), 5, false))
            .await
            .unwrap();
    let (a, b) = (&claimed[0], &claimed[1]);
    let retry = Next::Retry {
        at: at(10),
        error: "421 try later".into(),
    };
    let dead = Next::Dead {
        error: "timed out".into(),
    };
    f.db.finish_actions(
        &acme,
        "w1",
        at(9),
        &[
            finished(a, vec![attempt("x", AttemptOutcome::Temporary)], retry),
            finished(b, vec![attempt("x", AttemptOutcome::Temporary)], dead),
        ],
    )
    .await
    .unwrap();
    let early =
        f.db.claim_actions(&acme, &claim("w1", at(9) + Duration::minutes(30), 5, false))
            .await
            .unwrap();
    assert!(early.is_empty(), "the retry is not due yet");
    let due =
        f.db.claim_actions(&acme, &claim("w1", at(10), 5, false))
            .await
            .unwrap();
    assert_eq!(ids(&due), vec![a.lease.id]);
    assert_eq!(due[0].attempts, 1);
    let listed =
        f.db.outbox(
            &acme,
            &OutboxQuery {
                status: Some(ActionStatus::Dead),
                ..OutboxQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].last_error.as_deref(), Some("timed out"));

    // A pending action is not requeued; the dead one is, with its attempts reset.
    assert_eq!(
        f.db.requeue_actions(&acme, &Requeue::One(a.lease.id))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        f.db.requeue_actions(&acme, &Requeue::Dead).await.unwrap(),
        1
    );
    let back =
        f.db.claim_actions(&acme, &claim("w1", at(10), 5, false))
            .await
            .unwrap();
    assert_eq!(ids(&back), vec![b.lease.id]);
    assert_eq!(back[0].attempts, 0);
}

async fn a_retry_knows_which_targets_took_the_action_already(f: Fixture) {
    let acme = two_reminders(&f).await;
    let claimed =
        f.db.claim_actions(&acme, &claim("w1", at(9), 1, false))
            .await
            .unwrap();
    let c = &claimed[0];
    let attempts = vec![
        attempt("endpoint-a", AttemptOutcome::Delivered),
        attempt("endpoint-b", AttemptOutcome::Temporary),
    ];
    let retry = Next::Retry {
        at: at(10),
        error: "endpoint-b: HTTP 503".into(),
    };
    f.db.finish_actions(&acme, "w1", at(9), &[finished(c, attempts, retry)])
        .await
        .unwrap();
    let again =
        f.db.claim_actions(&acme, &claim("w1", at(10), 1, false))
            .await
            .unwrap();
    assert_eq!(again[0].delivered_to, vec!["endpoint-a".to_owned()]);
}

async fn a_payment_withdraws_a_held_action_and_says_why(f: Fixture) {
    let acme = two_reminders(&f).await;
    let claimed =
        f.db.claim_actions(&acme, &claim("w1", at(9), 1, false))
            .await
            .unwrap();
    let c = &claimed[0];
    f.db.upsert_payments(
        &acme,
        &[NewPayment {
            id: "p1".into(),
            invoice_id: c.invoice_id.clone(),
            amount: c.invoice.open_balance,
            paid_on: d("2026-02-10"),
        }],
    )
    .await
    .unwrap();
    let done = delivered(c);
    let summary =
        f.db.finish_actions(&acme, "w1", at(9), &[done])
            .await
            .unwrap();
    assert_eq!(summary.lost, 1, "the withdrawn action keeps its status");
    let log =
        f.db.decisions(&acme, &DecisionQuery::invoice(&c.invoice_id))
            .await
            .unwrap();
    let action = &log[0].actions[0];
    assert_eq!(action.status, ActionStatus::Cancelled);
    assert_eq!(
        action.note.as_deref(),
        Some("the invoice was paid in full after the decision")
    );
}

async fn no_tenant_claims_lists_or_requeues_another_tenants_actions(f: Fixture) {
    let acme = two_reminders(&f).await;
    let other = tid("other");
    seed(&f, &other).await;
    assert!(f
        .db
        .claim_actions(&other, &claim("w1", at(9), 5, true))
        .await
        .unwrap()
        .is_empty());
    let claimed =
        f.db.claim_actions(&acme, &claim("w1", at(9), 5, false))
            .await
            .unwrap();
    let dead = Next::Dead {
        error: "gone".into(),
    };
    let results: Vec<Finished> = claimed
        .iter()
        .map(|c| {
            finished(
                c,
                vec![attempt("x", AttemptOutcome::Temporary)],
                dead.clone(),
            )
        })
        .collect();
    // Another tenant's results for acme's leases write nothing.
    let summary =
        f.db.finish_actions(&other, "w1", at(9), &results)
            .await
            .unwrap();
    assert_eq!(summary.written, 0);
    f.db.finish_actions(&acme, "w1", at(9), &results)
        .await
        .unwrap();
    assert!(f
        .db
        .outbox(&other, &OutboxQuery::default())
        .await
        .unwrap()
        .is_empty());
    assert!(f
        .db
        .delivery_attempts(&other, &ids(&claimed))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        f.db.requeue_actions(&other, &Requeue::Dead).await.unwrap(),
        0
    );
    assert_eq!(
        f.db.requeue_actions(&other, &Requeue::One(claimed[0].lease.id))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        f.db.requeue_actions(&acme, &Requeue::Dead).await.unwrap(),
        2
    );
}

async fn the_backlog_counts_pending_and_dead_actions_of_the_tenant_alone(f: Fixture) {
    let before = Utc::now();
    let acme = two_reminders(&f).await;
    let beta = tid("beta");
    seed(&f, &beta).await;
    let backlog = f.db.outbox_backlog(&acme).await.unwrap();
    assert_eq!(backlog.pending, 2, "{backlog:?}");
    assert_eq!(backlog.dead, 0);
    let oldest = backlog.oldest_pending_at.expect("two are pending");
    // Stamps may be stored to the second or the microsecond.
    assert!(
        oldest >= before - Duration::seconds(1) && oldest <= Utc::now(),
        "{oldest}"
    );
    assert_eq!(
        f.db.outbox_backlog(&beta).await.unwrap(),
        Backlog::default()
    );

    let claimed =
        f.db.claim_actions(&acme, &claim("w1", at(9), 5, false))
            .await
            .unwrap();
    let dead = Next::Dead {
        error: "gone".into(),
    };
    f.db.finish_actions(
        &acme,
        "w1",
        at(9),
        &[
            delivered(&claimed[0]),
            finished(
                &claimed[1],
                vec![attempt("x", AttemptOutcome::Permanent)],
                dead,
            ),
        ],
    )
    .await
    .unwrap();
    assert_eq!(
        f.db.outbox_backlog(&acme).await.unwrap(),
        Backlog {
            pending: 0,
            oldest_pending_at: None,
            dead: 1
        }
    );
    assert_eq!(
        f.db.outbox_backlog(&beta).await.unwrap(),
        Backlog::default()
    );
}

/// A lease whose owner is a replica that stopped (or stopped beating) is free at once; a live
/// replica's holds until it expires. The operator's lease listing counts them per owner.
async fn a_stopped_or_dead_replicas_leases_are_free_before_they_expire(f: Fixture) {
    let acme = two_reminders(&f).await;
    for id in ["r1", "r2"] {
        f.db.register_replica(id, false).await.unwrap();
    }
    let now = Utc::now();
    let mine =
        f.db.claim_actions(&acme, &claim("r1", now, 5, false))
            .await
            .unwrap();
    assert_eq!(mine.len(), 2);
    let leases = f.db.leases().await.unwrap();
    assert_eq!(leases.actions.len(), 1, "{leases:?}");
    assert_eq!(
        (leases.actions[0].owner.as_str(), leases.actions[0].actions),
        ("r1", 2)
    );
    let taken =
        f.db.claim_actions(&acme, &claim("r2", now, 5, false))
            .await
            .unwrap();
    assert!(taken.is_empty(), "a live replica's leases hold: {taken:?}");
    // Dead: a claim whose clock is past the replica's staleness sees r1 as dead.
    let stale = now
        + Duration::from_std(dunlin_store::replica::REPLICA_STALE_AFTER).unwrap()
        + Duration::seconds(1);
    assert!(
        stale < now + Duration::minutes(5),
        "before the lease's own expiry"
    );
    let after_death =
        f.db.claim_actions(&acme, &claim("r2", stale, 1, false))
            .await
            .unwrap();
    assert_eq!(ids(&after_death), vec![mine[0].lease.id]);
    // Stopped: free at once, at the same instant.
    f.db.stop_replica("r1").await.unwrap();
    let after_stop =
        f.db.claim_actions(&acme, &claim("r2", now, 5, false))
            .await
            .unwrap();
    assert_eq!(ids(&after_stop), vec![mine[1].lease.id]);
}
