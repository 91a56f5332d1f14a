//! Shadow and canary versions in real sweeps, on SQLite and on PostgreSQL: a shadow version
//! is asked on the same contexts and recorded apart, never delivered and never moving a
//! ladder; a canary's customers stay in their arm across sweeps and a restart.

use std::sync::Arc;

use dunlin_runtime::{Runtime, RuntimeConfig};
use dunlin_store::testing::{customer, date as d, Fixture};
use dunlin_store::trial::{arm_point, ShadowQuery};
use dunlin_store::{
    CanaryShare, Db, DecisionQuery, FailureMode, NewInvoice, TenantId, TenantSettings,
};
use dunlin_sweep::{sweep, SweepOptions};
use dunlin_tests::{fixture, reference_policy};

dunlin_store::conformance!(
    shadow_decisions_are_never_delivered_and_never_move_the_ladder,
    a_failing_shadow_version_leaves_the_live_decisions_as_they_were,
    a_shadow_version_answering_as_the_live_one_records_the_live_guarded_answer,
    canary_arms_hold_across_sweeps_and_a_restart,
);

/// A tenant with `active` uploaded and active, then `others` uploaded (versions 2, 3, …),
/// customers `c00`.. and one invoice each, overdue.
async fn tenant(
    db: &dyn Db,
    id: &str,
    active: Vec<u8>,
    others: &[Vec<u8>],
    customers: usize,
) -> TenantId {
    let t = TenantId::new(id).unwrap();
    let settings = TenantSettings {
        name: id.into(),
        failure_mode: FailureMode::RetryNextTick,
        ..TenantSettings::default()
    };
    db.create_tenant(&t, &settings).await.unwrap();
    let v = db.add_policy_version(&t, &active).await.unwrap();
    db.activate_policy_version(&t, v.version).await.unwrap();
    for bytes in others {
        db.add_policy_version(&t, bytes).await.unwrap();
    }
    let people: Vec<_> = (0..customers)
        .map(|i| customer(&format!("c{i:02}")))
        .collect();
    db.upsert_customers(&t, &people).await.unwrap();
    let invoices: Vec<NewInvoice> = (0..customers)
        .map(|i| invoice(&format!("i{i:02}"), &format!("c{i:02}"), "2026-02-01"))
        .collect();
    db.upsert_invoices(&t, &invoices).await.unwrap();
    t
}

/// The same tenant twice, `acme` and `twin`, with the standard policy active and `shadow`
/// uploaded as version 2; in shadow for acme only.
async fn twins(db: &dyn Db, shadow: Vec<u8>, customers: usize) -> (TenantId, TenantId) {
    let standard = reference_policy("standard");
    let acme = tenant(
        db,
        "acme",
        standard.clone(),
        std::slice::from_ref(&shadow),
        customers,
    )
    .await;
    let twin = tenant(db, "twin", standard, &[shadow], customers).await;
    db.set_shadow(&acme, Some(2)).await.unwrap();
    (acme, twin)
}

fn invoice(id: &str, customer: &str, due_on: &str) -> NewInvoice {
    dunlin_store::testing::invoice(id, customer, d(due_on), 12_000)
}

fn opts(as_of: &str) -> SweepOptions {
    SweepOptions {
        page_size: 3,
        workers: 2,
        ..SweepOptions::new(d(as_of))
    }
}

/// Each invoice's log (decision, actions with their status) and ladder state, by invoice:
/// everything a sweep delivers or moves, without ids and timestamps.
async fn delivered_and_ladders(db: &dyn Db, t: &TenantId, invoices: usize) -> Vec<String> {
    let mut out = Vec::new();
    for r in db.decisions(t, &DecisionQuery::default()).await.unwrap() {
        let actions: Vec<_> = r.actions.iter().map(|a| (&a.action, a.status)).collect();
        out.push(format!(
            "{} {} {:?} {:?} {:?}",
            r.invoice_id,
            r.as_of,
            r.decision,
            actions,
            r.policy.map(|p| p.version)
        ));
    }
    for i in 0..invoices {
        let id = format!("i{i:02}");
        out.push(format!(
            "{id} {:?}",
            db.dunning_state(t, &id).await.unwrap()
        ));
    }
    // PostgreSQL writes two pages at once, so decision ids need not follow the invoices.
    out.sort();
    out
}

/// Sweeps the twins (`shadowed`, `alone`) on each of `days`: each sweep of the shadowed one
/// records, acts and blocks as its twin's does, and shadows every decision it records, the
/// twin none; afterwards what was delivered (the outbox) and where each ladder stands are
/// the twin's.
async fn sweep_twins_alike(
    db: &dyn Db,
    runtime: &Runtime,
    (shadowed, alone): (&TenantId, &TenantId),
    invoices: usize,
    days: &[&str],
) {
    for day in days {
        let with = sweep(db, runtime, shadowed, &opts(day)).await.unwrap();
        let without = sweep(db, runtime, alone, &opts(day)).await.unwrap();
        assert_eq!(
            (with.recorded, with.actions, with.blocked),
            (without.recorded, without.actions, without.blocked),
            "{day}"
        );
        assert_eq!(
            (without.shadowed, with.shadowed),
            (0, with.recorded),
            "{day}"
        );
    }
    assert_eq!(
        delivered_and_ladders(db, shadowed, invoices).await,
        delivered_and_ladders(db, alone, invoices).await
    );
}

async fn shadow_decisions_are_never_delivered_and_never_move_the_ladder(f: Fixture) {
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let db = f.db.as_ref();
    // The same tenant twice, one with fx-good in shadow beside the standard policy.
    let (shadowed, alone) = twins(db, fixture("fx-good"), 7).await;
    sweep_twins_alike(
        db,
        &runtime,
        (&shadowed, &alone),
        7,
        &["2026-02-10", "2026-02-17", "2026-02-24"],
    )
    .await;
    // fx-good's answers were recorded apart, each beside its live decision.
    let page = db
        .shadow_pairs(&shadowed, &ShadowQuery::default())
        .await
        .unwrap();
    let live = db
        .decisions(&shadowed, &DecisionQuery::default())
        .await
        .unwrap();
    assert_eq!(page.pairs.len(), live.len());
    for pair in &page.pairs {
        assert_eq!(pair.shadow.version, 2);
        assert_eq!(pair.shadow.reason, "good policy");
        assert_eq!(pair.live.policy.as_ref().map(|p| p.version), Some(1));
        assert_eq!(
            (&pair.shadow.invoice_id, pair.shadow.as_of),
            (&pair.live.invoice_id, pair.live.as_of)
        );
    }
    assert!(db
        .shadow_pairs(&alone, &ShadowQuery::default())
        .await
        .unwrap()
        .pairs
        .is_empty());
    // Off: the next sweep asks it no more.
    db.set_shadow(&shadowed, None).await.unwrap();
    db.upsert_invoices(&shadowed, &[invoice("i99", "c00", "2026-02-01")])
        .await
        .unwrap();
    let report = sweep(db, &runtime, &shadowed, &opts("2026-03-03"))
        .await
        .unwrap();
    assert!(report.recorded > 0);
    assert_eq!(report.shadowed, 0);
}

async fn a_shadow_version_answering_as_the_live_one_records_the_live_guarded_answer(f: Fixture) {
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let db = f.db.as_ref();
    // A twin of the standard policy (other bytes, the same answers) in shadow.
    let twin = dunlin_tests::with_extra_function(&reference_policy("standard"), 4);
    let (shadowed, alone) = twins(db, twin, 6).await;
    sweep_twins_alike(
        db,
        &runtime,
        (&shadowed, &alone),
        6,
        &["2026-02-10", "2026-02-11", "2026-02-17", "2026-02-24"],
    )
    .await;
    let page = db
        .shadow_pairs(&shadowed, &ShadowQuery::default())
        .await
        .unwrap();
    assert!(!page.pairs.is_empty());
    for pair in &page.pairs {
        let live = &pair.live;
        let blocked: Vec<_> = live
            .actions
            .iter()
            .filter(|a| a.status == dunlin_store::ActionStatus::Blocked)
            .map(|a| a.action.clone())
            .collect();
        assert_eq!(pair.shadow.version, 2);
        assert!(pair.shadow.failure.is_none());
        assert_eq!(pair.shadow.decision, live.decision);
        assert_eq!(
            Some(&pair.shadow.reason),
            live.decision.as_ref().map(|d| &d.reason)
        );
        assert_eq!(pair.shadow.interventions, live.interventions);
        assert_eq!(pair.shadow.blocked, blocked);
    }
}

async fn a_failing_shadow_version_leaves_the_live_decisions_as_they_were(f: Fixture) {
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let db = f.db.as_ref();
    let (shadowed, alone) = twins(db, fixture("fx-panic"), 5).await;
    let with = sweep(db, &runtime, &shadowed, &opts("2026-02-10"))
        .await
        .unwrap();
    let without = sweep(db, &runtime, &alone, &opts("2026-02-10"))
        .await
        .unwrap();
    assert_eq!((with.failures, with.shadow_failures), (0, 5));
    assert_eq!(
        (with.recorded, with.actions),
        (without.recorded, without.actions)
    );
    assert_eq!(
        delivered_and_ladders(db, &shadowed, 5).await,
        delivered_and_ladders(db, &alone, 5).await
    );
    let page = db
        .shadow_pairs(&shadowed, &ShadowQuery::default())
        .await
        .unwrap();
    assert_eq!(page.pairs.len(), 5);
    for pair in &page.pairs {
        let failure = pair.shadow.failure.as_ref().expect("the shadow failed");
        assert_eq!(failure.code, "trap");
        assert!(pair.shadow.decision.is_none());
        assert!(pair.live.failure.is_none() && pair.live.decision.is_some());
    }
}

/// The version each invoice's ladder is pinned to, by invoice.
async fn pins(db: &dyn Db, t: &TenantId, ids: &[String]) -> Vec<Option<u32>> {
    let mut out = Vec::new();
    for id in ids {
        out.push(
            db.dunning_state(t, id)
                .await
                .unwrap()
                .and_then(|s| s.policy_version),
        );
    }
    out
}

async fn canary_arms_hold_across_sweeps_and_a_restart(f: Fixture) {
    let n = 40;
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let t = tenant(
        f.db.as_ref(),
        "acme",
        reference_policy("standard"),
        &[fixture("fx-good")],
        n,
    )
    .await;
    let share: CanaryShare = "50%".parse().unwrap();
    let canary =
        f.db.start_canary(&t, 2, share)
            .await
            .unwrap()
            .canary
            .unwrap();
    let customers: Vec<String> = (0..n).map(|i| format!("c{i:02}")).collect();
    let expected: Vec<Option<u32>> = customers
        .iter()
        .map(|c| Some(if canary.takes(&t, c) { 2 } else { 1 }))
        .collect();
    // The hash puts customers in both arms, as documented: the first 8 bytes of the sha256.
    assert!(expected.contains(&Some(1)) && expected.contains(&Some(2)));
    assert_eq!(
        customers.iter().filter(|c| arm_point(&t, c) < 5000).count(),
        expected.iter().filter(|v| **v == Some(2)).count()
    );
    let first: Vec<String> = (0..n).map(|i| format!("i{i:02}")).collect();
    sweep(f.db.as_ref(), &runtime, &t, &opts("2026-02-10"))
        .await
        .unwrap();
    assert_eq!(pins(f.db.as_ref(), &t, &first).await, expected);
    let log = f.db.decisions(&t, &DecisionQuery::default()).await.unwrap();
    assert!(log.iter().all(|r| {
        let i: usize = r.invoice_id[1..].parse().unwrap();
        r.policy.as_ref().map(|p| p.version) == expected[i]
    }));

    // A restart: a new connection and a new runtime. Each customer's new invoice starts on
    // the customer's arm, and the first ladders stay where they are.
    f.db.close().await;
    let db: Arc<dyn Db> = dunlin_store::connect(&f.url).await.unwrap();
    let runtime = Runtime::new(RuntimeConfig::default()).unwrap();
    let second: Vec<String> = (0..n).map(|i| format!("j{i:02}")).collect();
    let invoices: Vec<NewInvoice> = (0..n)
        .map(|i| invoice(&second[i], &customers[i], "2026-02-05"))
        .collect();
    db.upsert_invoices(&t, &invoices).await.unwrap();
    for day in ["2026-02-17", "2026-02-24"] {
        sweep(db.as_ref(), &runtime, &t, &opts(day)).await.unwrap();
        assert_eq!(pins(db.as_ref(), &t, &first).await, expected, "{day}");
        assert_eq!(pins(db.as_ref(), &t, &second).await, expected, "{day}");
    }
    // Every later decision of a ladder came from the version it is pinned to.
    let log = db.decisions(&t, &DecisionQuery::default()).await.unwrap();
    assert!(log.len() > 2 * n, "{}", log.len());
    for r in &log {
        let i: usize = r.invoice_id[1..].parse().unwrap();
        assert_eq!(
            r.policy.as_ref().map(|p| p.version),
            expected[i],
            "{}",
            r.invoice_id
        );
    }
    db.close().await;
}
