//! Replay over a history recorded by real sweeps of real components, on SQLite and on
//! PostgreSQL (`dunlin_store::testing`, `DUNLIN_TEST_POSTGRES_URL`).

use std::sync::atomic::{AtomicUsize, Ordering};

use dunlin_core::guardrails::Effect;
use dunlin_core::Channel;
use dunlin_lab::replay::{replay, ReplayError, ReplayOptions, ReplayReport, Scope};
use dunlin_store::testing::{customer, date as d, invoice, scalar, Fixture};
use dunlin_store::{FailureMode, RecordedQuery, TenantId, TenantSettings};
use dunlin_sweep::{sweep, SweepOptions};
use dunlin_tests::{fixture, reference_policy, runtime};

dunlin_store::conformance!(
    a_history_swept_by_the_reference_policies_replays_identically,
    a_policy_that_is_not_deterministic_is_reported,
    a_decision_whose_component_is_gone_is_reported,
    one_decision_replays_and_another_tenants_is_unknown,
);

/// A tenant with `policies` uploaded and activated in order, and `n` overdue invoices over
/// six customers: one opted out of email, one of email and reachable only there, the rest
/// plain.
async fn tenant(f: &Fixture, id: &str, mode: FailureMode, guardrails: &str, n: usize) -> TenantId {
    let t = TenantId::new(id).unwrap();
    let settings = TenantSettings {
        name: id.into(),
        failure_mode: mode,
        guardrails: serde_json::from_str(guardrails).unwrap(),
        ..TenantSettings::default()
    };
    f.db.create_tenant(&t, &settings).await.unwrap();
    f.db.upsert_customers(
        &t,
        &[
            customer("c0"),
            customer("c1").with_opted_out(&[Channel::Email]),
            customer("c2")
                .with_reachable_on(&[Channel::Email])
                .with_opted_out(&[Channel::Email]),
            customer("c3").with_tags(&["vip"]),
            customer("c4").with_lifetime_value(5_000_000),
            customer("c5"),
        ],
    )
    .await
    .unwrap();
    let invoices: Vec<_> = (0..n)
        .map(|i| {
            let due = d("2026-01-01") + chrono::Days::new((i % 40) as u64);
            invoice(
                &format!("i{i:03}"),
                &format!("c{}", i % 6),
                due,
                5_000 + 731 * i as i64,
            )
        })
        .collect();
    f.db.upsert_invoices(&t, &invoices).await.unwrap();
    t
}

/// Uploads and activates `bytes`, moving every open ladder onto it.
async fn activate(f: &Fixture, t: &TenantId, bytes: &[u8]) -> u32 {
    let v = f.db.add_policy_version(t, bytes).await.unwrap();
    f.db.activate_policy_version(t, v.version).await.unwrap();
    f.db.migrate_ladders(t, v.version).await.unwrap();
    v.version
}

/// Sweeps `t` every day from `from` for `days` days, with `workers` threads.
async fn sweep_days(f: &Fixture, t: &TenantId, from: &str, days: u64, workers: usize) {
    for day in 0..days {
        let mut opts = SweepOptions::new(d(from) + chrono::Days::new(day));
        opts.workers = workers;
        opts.page_size = 16;
        sweep(f.db.as_ref(), runtime(), t, &opts).await.unwrap();
    }
}

async fn replay_all(f: &Fixture, t: &TenantId, workers: usize) -> ReplayReport {
    let opts = ReplayOptions {
        workers,
        page_size: 50,
        max_decisions: None,
    };
    let window = Scope::Window {
        from: None,
        to: None,
        after_id: None,
    };
    replay(f.db.as_ref(), runtime(), t, window, &opts, &|_| {})
        .await
        .unwrap()
}

async fn logged(f: &Fixture, t: &TenantId) -> Vec<dunlin_store::RecordedDecision> {
    let query = RecordedQuery {
        limit: RecordedQuery::MAX_LIMIT,
        ..RecordedQuery::window(None, None)
    };
    f.db.recorded_decisions(t, &query).await.unwrap()
}

async fn a_history_swept_by_the_reference_policies_replays_identically(f: Fixture) {
    for (i, name) in dunlin_tests::REFERENCE_POLICIES.iter().enumerate() {
        // Half the tenants move notices off an opted-out channel, half drop them.
        let guardrails = if i % 2 == 0 {
            r#"{"opted-out-channel": "fall-back"}"#
        } else {
            "{}"
        };
        let t = tenant(&f, name, FailureMode::SafeDefault, guardrails, 60).await;
        activate(&f, &t, &reference_policy(name)).await;
        sweep_days(&f, &t, "2026-01-20", 20, 2).await;
        // A second component decides the later history: each decision replays through its own.
        let other = dunlin_tests::REFERENCE_POLICIES[(i + 1) % 3];
        activate(&f, &t, &reference_policy(other)).await;
        sweep_days(&f, &t, "2026-02-09", 20, 2).await;

        let log = logged(&f, &t).await;
        let shas: std::collections::BTreeSet<_> = log
            .iter()
            .filter_map(|r| r.policy.as_ref().map(|p| p.sha256.clone()))
            .collect();
        assert_eq!(shas.len(), 2, "{name}: both components decided");
        let changed: Vec<_> = log
            .iter()
            .flat_map(|r| &r.interventions)
            .map(|i| i.effect)
            .collect();
        assert!(changed.contains(&Effect::Dropped), "{name}: {changed:?}");
        assert!(log.iter().any(|r| !r.blocked.is_empty()), "{name}");

        let progress = AtomicUsize::new(0);
        let report = replay(
            f.db.as_ref(),
            runtime(),
            &t,
            Scope::Window {
                from: None,
                to: None,
                after_id: None,
            },
            &ReplayOptions {
                page_size: 64,
                ..ReplayOptions::default()
            },
            &|n| progress.store(n, Ordering::Relaxed),
        )
        .await
        .unwrap();
        assert!(report.all_identical(), "{name}: {report:#?}");
        assert_eq!(report.replayed, log.len(), "{name}");
        assert_eq!(report.identical, log.len(), "{name}");
        assert!(log.len() > 100, "{name}: only {} decisions", log.len());
        assert_eq!(progress.load(Ordering::Relaxed), log.len(), "{name}");
        assert!(!report.truncated);

        // A window replays only its own days.
        let window = replay(
            f.db.as_ref(),
            runtime(),
            &t,
            Scope::Window {
                from: Some(d("2026-01-25")),
                to: Some(d("2026-01-31")),
                after_id: None,
            },
            &ReplayOptions::default(),
            &|_| {},
        )
        .await
        .unwrap();
        let in_window = log
            .iter()
            .filter(|r| r.as_of >= d("2026-01-25") && r.as_of <= d("2026-01-31"))
            .count();
        assert!(in_window > 0);
        assert_eq!((window.replayed, window.identical), (in_window, in_window));
    }
}

async fn a_policy_that_is_not_deterministic_is_reported(f: Fixture) {
    let t = tenant(&f, "acme", FailureMode::RetryNextTick, "{}", 4).await;
    activate(&f, &t, &fixture("fx-counter")).await;
    // One worker: one instance answers the four invoices in order, calls 1 to 4.
    sweep_days(&f, &t, "2026-03-01", 1, 1).await;
    let log = logged(&f, &t).await;
    assert_eq!(log.len(), 4);
    // Pages written at once (PostgreSQL) may take ids out of the order decided.
    let call = |r: &dunlin_store::RecordedDecision| -> usize {
        let text = r.decision.as_deref().unwrap();
        (1..=4)
            .find(|n| text.contains(&format!("\"call {n}\"")))
            .unwrap_or_else(|| panic!("{text}"))
    };
    let third = log.iter().position(|r| call(r) == 3).unwrap();

    // Replayed alone, the third decision meets a fresh instance: call 1, not call 3.
    let one = replay(
        f.db.as_ref(),
        runtime(),
        &t,
        Scope::Decision(log[third].id),
        &ReplayOptions::default(),
        &|_| {},
    )
    .await
    .unwrap();
    assert_eq!((one.replayed, one.identical), (1, 0));
    let m = &one.mismatches[0];
    assert_eq!(m.decision_id, log[third].id);
    assert_eq!(m.invoice_id, log[third].invoice_id);
    assert_eq!(m.as_of, d("2026-03-01"));
    assert!(m.recorded.contains("call 3"), "{m:?}");
    assert!(m.replayed.contains("call 1"), "{m:?}");
    assert!(m.at > 0 && m.recorded.len() <= dunlin_lab::replay::EXCERPT_BYTES + 8);

    // Two workers split the four in id order, each on a fresh instance: calls 1, 2, 1, 2.
    let report = replay_all(&f, &t, 2).await;
    let expected: Vec<i64> = log
        .iter()
        .enumerate()
        .filter(|(i, r)| call(r) != i % 2 + 1)
        .map(|(_, r)| r.id)
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(report.replayed, 4);
    assert_eq!(report.identical, 4 - expected.len());
    let ids: Vec<i64> = report.mismatches.iter().map(|m| m.decision_id).collect();
    assert_eq!(ids, expected);
}

async fn a_decision_whose_component_is_gone_is_reported(f: Fixture) {
    let t = tenant(&f, "acme", FailureMode::RetryNextTick, "{}", 6).await;
    let first = activate(&f, &t, &fixture("fx-good")).await;
    sweep_days(&f, &t, "2026-03-01", 1, 2).await;
    activate(&f, &t, &reference_policy("standard")).await;
    sweep_days(&f, &t, "2026-03-09", 1, 2).await;
    let log = logged(&f, &t).await;
    let by_first = log
        .iter()
        .filter(|r| r.policy.as_ref().is_some_and(|p| p.version == first))
        .count();
    assert!(
        by_first > 0 && by_first < log.len(),
        "{by_first} of {}",
        log.len()
    );

    // Removed behind the store's back: the product itself refuses to delete a version
    // that decisions name.
    scalar(
        &f,
        &format!("DELETE FROM policy_versions WHERE tenant_id = 'acme' AND version = {first}"),
    )
    .await;
    let report = replay_all(&f, &t, 2).await;
    assert_eq!(report.missing.len(), by_first);
    assert_eq!(report.replayed, log.len() - by_first);
    assert_eq!(report.identical, report.replayed);
    assert!(!report.all_identical());
    let gone = &report.missing[0];
    assert_eq!(gone.policy_version, first);
    assert!(gone.why.contains("no stored version"), "{gone:?}");
}

async fn one_decision_replays_and_another_tenants_is_unknown(f: Fixture) {
    let acme = tenant(&f, "acme", FailureMode::RetryNextTick, "{}", 3).await;
    let globex = tenant(&f, "globex", FailureMode::RetryNextTick, "{}", 3).await;
    activate(&f, &acme, &reference_policy("standard")).await;
    activate(&f, &globex, &fixture("fx-refuse")).await;
    sweep_days(&f, &acme, "2026-03-01", 1, 1).await;
    sweep_days(&f, &globex, "2026-03-01", 1, 1).await;
    let acme_log = logged(&f, &acme).await;
    let globex_log = logged(&f, &globex).await;

    let one = |t: TenantId, id: i64| {
        let db = f.db.clone();
        async move {
            replay(
                db.as_ref(),
                runtime(),
                &t,
                Scope::Decision(id),
                &ReplayOptions::default(),
                &|_| {},
            )
            .await
        }
    };
    let report = one(acme.clone(), acme_log[1].id).await.unwrap();
    assert_eq!((report.replayed, report.identical), (1, 1));
    // A failure recorded replays as the same failure.
    assert_eq!(globex_log[0].failure_code.as_deref(), Some("refused"));
    let report = one(globex.clone(), globex_log[0].id).await.unwrap();
    assert_eq!((report.replayed, report.identical), (1, 1));
    // Another tenant's decision id is not this tenant's.
    match one(acme, globex_log[0].id).await {
        Err(ReplayError::UnknownDecision(id)) => assert_eq!(id, globex_log[0].id),
        other => panic!("{other:?}"),
    }
}
