//! Sweeps on a real store with real policy components: every test runs on SQLite and on
//! PostgreSQL, with the store's test harness (`dunlin_store::testing`,
//! `DUNLIN_TEST_POSTGRES_URL`).

use std::sync::Arc;

use dunlin_core::guardrails::Rule;
use dunlin_core::Channel;
use dunlin_runtime::{Runtime, RuntimeConfig};
use dunlin_store::testing::{customer, date as d, Fixture};
use dunlin_store::{
    ActionStatus, Db, DecisionQuery, FailureMode, NewInvoice, NewPaymentPlan, PlanKind, PlanStatus,
    TenantId, TenantSettings,
};
use dunlin_sweep::{sweep, sweep_many, SweepError, SweepOptions, SweepReport};
use dunlin_tests::metrics::Recorded;
use dunlin_tests::{fixture, reference_policy};
use futures_util::StreamExt;
use metrics_exporter_prometheus::PrometheusBuilder;

dunlin_store::conformance!(
    a_sweep_counts_decisions_by_outcome_and_failure_code_in_the_metrics,
    a_sweep_decides_each_due_invoice_once_and_a_rerun_adds_nothing,
    the_customer_contact_cap_holds_across_pages_in_flight,
    a_payment_plan_holds_dunning_unless_the_tenant_releases_it,
    a_dry_run_writes_nothing,
    another_tenant_sees_nothing_of_this_sweep,
    a_failing_policy_is_recorded_and_retried_at_the_next_tick,
    the_safe_default_sends_a_neutral_reminder_when_the_policy_fails,
    previous_version_decides_when_the_new_one_fails,
    guardrails_block_an_opted_out_channel_and_the_log_says_so,
    each_reference_policy_plays_a_full_ladder_forward,
    tenants_swept_together_are_swept_as_each_alone,
    once_stopped_sweep_many_starts_no_further_tenant,
    a_recorded_sweep_writes_its_run_and_waits_for_one_running,
    each_tenant_decides_under_its_own_sandbox_limits,
);

struct World {
    db: Arc<dyn Db>,
    runtime: Runtime,
}

fn world(f: Fixture) -> World {
    World {
        db: f.db,
        runtime: Runtime::new(RuntimeConfig::default()).unwrap(),
    }
}

/// An invoice of 120.00 EUR.
fn invoice(id: &str, customer: &str, due_on: &str) -> NewInvoice {
    dunlin_store::testing::invoice(id, customer, d(due_on), 12_000)
}

/// A tenant with `policies` uploaded in order (the last one active), two customers, two
/// overdue invoices and one due far in the future.
async fn tenant(
    w: &World,
    id: &str,
    mode: FailureMode,
    policies: &[Vec<u8>],
    opted_out: Vec<Channel>,
) -> TenantId {
    let t = TenantId::new(id).unwrap();
    let settings = TenantSettings {
        name: id.into(),
        failure_mode: mode,
        ..TenantSettings::default()
    };
    w.db.create_tenant(&t, &settings).await.unwrap();
    for bytes in policies {
        let v = w.db.add_policy_version(&t, bytes).await.unwrap();
        w.db.activate_policy_version(&t, v.version).await.unwrap();
    }
    w.db.upsert_customers(
        &t,
        &[
            customer("c1").with_opted_out(&opted_out),
            customer("c2").with_opted_out(&opted_out),
        ],
    )
    .await
    .unwrap();
    w.db.upsert_invoices(
        &t,
        &[
            invoice("i1", "c1", "2026-02-01"),
            invoice("i2", "c2", "2026-02-01"),
            invoice("i3", "c2", "2027-06-01"),
        ],
    )
    .await
    .unwrap();
    t
}

async fn run(
    w: &World,
    t: &TenantId,
    as_of: &str,
) -> Result<dunlin_sweep::SweepReport, SweepError> {
    sweep(w.db.as_ref(), &w.runtime, t, &SweepOptions::new(d(as_of))).await
}

async fn a_sweep_decides_each_due_invoice_once_and_a_rerun_adds_nothing(f: Fixture) {
    let w = world(f);
    let t = tenant(
        &w,
        "acme",
        FailureMode::RetryNextTick,
        &[reference_policy("standard")],
        vec![],
    )
    .await;
    let report = run(&w, &t, "2026-02-10").await.unwrap();
    assert_eq!(
        (report.reviewed, report.recorded, report.failures),
        (2, 2, 0)
    );
    assert!(report.actions >= 2, "{report:?}");

    let again = run(&w, &t, "2026-02-10").await.unwrap();
    assert_eq!(
        (again.reviewed, again.recorded),
        (0, 0),
        "an invoice decided today is not reviewed again today: {again:?}"
    );
    let log = w.db.decisions(&t, &DecisionQuery::default()).await.unwrap();
    assert_eq!(log.len(), 2);
    assert!(log.iter().all(|r| r.policy.as_ref().unwrap().version == 1));
    assert!(log
        .iter()
        .all(|r| r.actions.iter().all(|a| a.status == ActionStatus::Pending)));
}

async fn the_customer_contact_cap_holds_across_pages_in_flight(f: Fixture) {
    // Twelve overdue invoices of one customer, two per page: pages are selected while earlier
    // ones are still being written, and the cap of seven notices a week must still hold.
    let w = world(f);
    let t = tenant(
        &w,
        "acme",
        FailureMode::RetryNextTick,
        &[reference_policy("standard")],
        vec![],
    )
    .await;
    let many: Vec<NewInvoice> = (0..12)
        .map(|i| invoice(&format!("m{i:02}"), "c1", "2026-02-01"))
        .collect();
    w.db.upsert_invoices(&t, &many).await.unwrap();
    let opts = SweepOptions {
        page_size: 2,
        workers: 2,
        ..SweepOptions::new(d("2026-02-10"))
    };
    let report = sweep(w.db.as_ref(), &w.runtime, &t, &opts).await.unwrap();
    assert_eq!(report.reviewed, 14, "{report:?}");

    let contacts =
        w.db.recent_contacts(&t, "c1", d("2026-02-04"))
            .await
            .unwrap();
    assert_eq!(
        contacts.len(),
        7,
        "c1 is contacted at most 7 times: {contacts:?}"
    );
    let log = w.db.decisions(&t, &DecisionQuery::default()).await.unwrap();
    let blocked = log
        .iter()
        .flat_map(|r| &r.actions)
        .filter(|a| a.status == ActionStatus::Blocked)
        .count();
    assert_eq!(
        blocked,
        13 - 7,
        "the rest of c1's notices are blocked and logged"
    );
}

async fn a_payment_plan_holds_dunning_unless_the_tenant_releases_it(f: Fixture) {
    let w = world(f);
    let t = tenant(
        &w,
        "acme",
        FailureMode::RetryNextTick,
        &[fixture("fx-good")], // always sends a reminder: only the guardrail can hold it
        vec![],
    )
    .await;
    w.db.upsert_payment_plans(
        &t,
        &[NewPaymentPlan {
            id: "p1".into(),
            invoice_id: "i1".into(),
            kind: PlanKind::Promise,
            agreed_on: d("2026-02-05"),
            expires_on: d("2026-03-01"),
            status: PlanStatus::Active,
        }],
    )
    .await
    .unwrap();
    let notices = |log: &[dunlin_store::DecisionRecord], day: &str| {
        log.iter()
            .filter(|r| r.invoice_id == "i1" && r.as_of == d(day))
            .flat_map(|r| &r.actions)
            .filter(|a| a.status == ActionStatus::Pending)
            .count()
    };

    // Held by default: the decision log shows the intervention, nothing is sent.
    run(&w, &t, "2026-02-10").await.unwrap();
    let log =
        w.db.decisions(&t, &DecisionQuery::invoice("i1"))
            .await
            .unwrap();
    assert_eq!(notices(&log, "2026-02-10"), 0, "{log:?}");
    assert!(
        log[0]
            .interventions
            .iter()
            .any(|i| i.rule == Rule::PaymentPlan),
        "{:?}",
        log[0].interventions
    );

    // The tenant releases the hold: the next review may remind during the promise.
    let mut settings = w.db.tenant(&t).await.unwrap().unwrap().settings;
    settings.guardrails = serde_json::json!({"hold-during-payment-plan": false});
    w.db.update_tenant(&t, &settings).await.unwrap();
    let next = log[0].decision.as_ref().unwrap().review_on.unwrap();
    run(&w, &t, &next.to_string()).await.unwrap();
    let log =
        w.db.decisions(&t, &DecisionQuery::invoice("i1"))
            .await
            .unwrap();
    assert!(
        notices(&log, &next.to_string()) >= 1,
        "released: {:?}",
        log.last()
    );
}

async fn a_dry_run_writes_nothing(f: Fixture) {
    let w = world(f);
    let t = tenant(
        &w,
        "acme",
        FailureMode::RetryNextTick,
        &[reference_policy("standard")],
        vec![],
    )
    .await;
    let opts = SweepOptions {
        dry_run: true,
        ..SweepOptions::new(d("2026-02-10"))
    };
    let report = sweep(w.db.as_ref(), &w.runtime, &t, &opts).await.unwrap();
    assert_eq!((report.reviewed, report.recorded), (2, 0));
    assert!(w
        .db
        .decisions(&t, &DecisionQuery::default())
        .await
        .unwrap()
        .is_empty());
}

async fn another_tenant_sees_nothing_of_this_sweep(f: Fixture) {
    let w = world(f);
    let acme = tenant(
        &w,
        "acme",
        FailureMode::RetryNextTick,
        &[reference_policy("standard")],
        vec![],
    )
    .await;
    let globex = tenant(&w, "globex", FailureMode::RetryNextTick, &[], vec![]).await;
    run(&w, &acme, "2026-02-10").await.unwrap();
    assert!(w
        .db
        .decisions(&globex, &DecisionQuery::default())
        .await
        .unwrap()
        .is_empty());
    assert!(w
        .db
        .decisions(&globex, &DecisionQuery::invoice("i1"))
        .await
        .unwrap()
        .is_empty());
    let err = run(&w, &globex, "2026-02-10").await.unwrap_err();
    assert!(matches!(err, SweepError::NoActivePolicy(_)), "{err}");
    let err = run(&w, &TenantId::new("nobody").unwrap(), "2026-02-10")
        .await
        .unwrap_err();
    assert!(matches!(err, SweepError::UnknownTenant(_)), "{err}");
}

async fn a_failing_policy_is_recorded_and_retried_at_the_next_tick(f: Fixture) {
    let w = world(f);
    let t = tenant(
        &w,
        "acme",
        FailureMode::RetryNextTick,
        &[fixture("fx-loop")],
        vec![],
    )
    .await;
    let report = run(&w, &t, "2026-02-10").await.unwrap();
    assert_eq!(
        (report.reviewed, report.failures, report.actions),
        (2, 2, 0)
    );
    let log =
        w.db.decisions(&t, &DecisionQuery::invoice("i1"))
            .await
            .unwrap();
    assert_eq!(log[0].failure.as_ref().unwrap().code, "out-of-fuel");
    // Due again the next day.
    let next = run(&w, &t, "2026-02-11").await.unwrap();
    assert_eq!(next.reviewed, 2);
}

async fn the_safe_default_sends_a_neutral_reminder_when_the_policy_fails(f: Fixture) {
    let w = world(f);
    let t = tenant(
        &w,
        "acme",
        FailureMode::SafeDefault,
        &[fixture("fx-panic")],
        vec![],
    )
    .await;
    let report = run(&w, &t, "2026-02-10").await.unwrap();
    assert_eq!((report.failures, report.actions), (2, 2));
    let log =
        w.db.decisions(&t, &DecisionQuery::invoice("i1"))
            .await
            .unwrap();
    let failure = log[0].failure.as_ref().unwrap();
    assert_eq!(failure.code, "trap");
    // What the policy printed before it trapped (its panic message) is kept with the failure:
    // a panic, an abort and `unreachable` are the same trap otherwise.
    assert!(
        failure.message.contains("policy bug: boom"),
        "{}",
        failure.message
    );
    assert_eq!(log[0].decision.as_ref().unwrap().segment, "safe-default");
}

async fn previous_version_decides_when_the_new_one_fails(f: Fixture) {
    let w = world(f);
    let t = tenant(
        &w,
        "acme",
        FailureMode::PreviousVersion,
        &[reference_policy("standard"), fixture("fx-refuse")],
        vec![],
    )
    .await;
    let report = run(&w, &t, "2026-02-10").await.unwrap();
    assert_eq!((report.reviewed, report.failures), (2, 2));
    let log =
        w.db.decisions(&t, &DecisionQuery::invoice("i1"))
            .await
            .unwrap();
    assert_eq!(log[0].policy.as_ref().unwrap().version, 1, "{:?}", log[0]);
    assert_eq!(log[0].failure.as_ref().unwrap().code, "refused");
    assert!(log[0].decision.is_some());
}

async fn guardrails_block_an_opted_out_channel_and_the_log_says_so(f: Fixture) {
    let w = world(f);
    // fx-good always e-mails; these customers opted out of e-mail.
    let t = tenant(
        &w,
        "acme",
        FailureMode::RetryNextTick,
        &[fixture("fx-good")],
        vec![Channel::Email],
    )
    .await;
    let report = run(&w, &t, "2026-02-10").await.unwrap();
    assert_eq!((report.actions, report.blocked), (0, 2), "{report:?}");
    let log =
        w.db.decisions(&t, &DecisionQuery::invoice("i1"))
            .await
            .unwrap();
    assert_eq!(log[0].interventions[0].rule, Rule::OptedOutChannel);
    assert_eq!(log[0].actions[0].status, ActionStatus::Blocked);
}

/// `--as-of` as a test clock: every reference policy's ladder played forward day by day for
/// a customer who never pays ends (collections, suspension and close, or write-off) with
/// notices climbing on the way.
async fn each_reference_policy_plays_a_full_ladder_forward(f: Fixture) {
    let w = world(f);
    for name in dunlin_tests::REFERENCE_POLICIES {
        let t = tenant(
            &w,
            name,
            FailureMode::RetryNextTick,
            &[reference_policy(name)],
            vec![],
        )
        .await;
        let mut day = d("2026-01-20");
        for _ in 0..100 {
            run(&w, &t, &day.to_string()).await.unwrap();
            day = day.succ_opt().unwrap();
        }
        let state = w.db.dunning_state(&t, "i1").await.unwrap().unwrap();
        assert!(state.ended, "{name}: ladder still open: {state:?}");
        let log =
            w.db.decisions(&t, &DecisionQuery::invoice("i1"))
                .await
                .unwrap();
        assert!(log.iter().all(|r| r.failure.is_none()), "{name}");
        let levels: Vec<u8> = log
            .iter()
            .flat_map(|r| r.actions.iter())
            .filter_map(|a| match &a.action {
                dunlin_core::Action::Notify(n) if a.status == ActionStatus::Pending => {
                    Some(n.level)
                }
                _ => None,
            })
            .collect();
        assert!(levels.len() >= 2, "{name}: {levels:?}");
        assert!(
            levels.windows(2).all(|w| w[0] <= w[1]),
            "{name}: levels went back: {levels:?}"
        );
        // The guardrails' one-notice-per-invoice-per-day never had to intervene twice a day.
        let mut days: Vec<_> = log.iter().map(|r| r.as_of).collect();
        days.dedup();
        assert_eq!(days.len(), log.len(), "{name}: two decisions on one day");
    }
}

/// What a tenant's log says, without ids and timestamps: per decision its invoice, day,
/// decision, reason and actions, sorted (pages written at once may land in either order).
async fn ladder(w: &World, t: &TenantId) -> Vec<String> {
    let log = w.db.decisions(t, &DecisionQuery::default()).await.unwrap();
    let mut lines: Vec<String> = log
        .iter()
        .map(|r| {
            let actions: Vec<_> = r.actions.iter().map(|a| (&a.action, a.status)).collect();
            format!(
                "{} {} {:?} {} {:?}",
                r.invoice_id, r.as_of, r.decision, r.reason, actions
            )
        })
        .collect();
    lines.sort();
    lines
}

/// A tenant like [`tenant`]'s, with 12 more overdue invoices: several pages of 2.
async fn busy_tenant(w: &World, id: &str, policies: &[Vec<u8>]) -> TenantId {
    let t = tenant(w, id, FailureMode::RetryNextTick, policies, vec![]).await;
    let many: Vec<NewInvoice> = (0..12)
        .map(|i| invoice(&format!("m{i:02}"), ["c1", "c2"][i % 2], "2026-02-01"))
        .collect();
    w.db.upsert_invoices(&t, &many).await.unwrap();
    t
}

fn small_pages(as_of: &str) -> SweepOptions {
    SweepOptions {
        page_size: 2,
        workers: 2,
        ..SweepOptions::new(d(as_of))
    }
}

/// `sweep_many` overlaps tenants' sweeps at the seams; each tenant's log comes out as its
/// own sweep alone writes it, the results come in the order asked, and a tenant that cannot
/// be swept is its own result without stopping the ones after it.
async fn tenants_swept_together_are_swept_as_each_alone(f: Fixture) {
    let w = world(f);
    let standard = reference_policy("standard");
    let alone = busy_tenant(&w, "alone", std::slice::from_ref(&standard)).await;
    let together = [
        busy_tenant(&w, "t1", std::slice::from_ref(&standard)).await,
        busy_tenant(&w, "t2", &[]).await,
        busy_tenant(&w, "t3", std::slice::from_ref(&standard)).await,
        busy_tenant(&w, "t4", std::slice::from_ref(&standard)).await,
    ];
    for day in ["2026-02-10", "2026-02-20"] {
        let solo = sweep(w.db.as_ref(), &w.runtime, &alone, &small_pages(day))
            .await
            .unwrap();
        assert!(solo.recorded > 0, "{day}: {solo:?}");
        let jobs = together.iter().map(|t| (t.clone(), small_pages(day)));
        let results: Vec<(TenantId, Result<SweepReport, SweepError>)> =
            sweep_many(w.db.as_ref(), &w.runtime, jobs).collect().await;
        let order: Vec<&str> = results.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(order, ["t1", "t2", "t3", "t4"]);
        for (t, result) in &results {
            match (t.as_str(), result) {
                ("t2", Err(SweepError::NoActivePolicy(_))) => {}
                (_, Ok(report)) if t.as_str() != "t2" => {
                    let counts = |r: &SweepReport| (r.reviewed, r.recorded, r.actions, r.blocked);
                    assert_eq!(counts(report), counts(&solo), "{t:?} {day}");
                    assert!(!report.interrupted);
                }
                other => panic!("{day}: {other:?}"),
            }
        }
    }
    let expected = ladder(&w, &alone).await;
    assert!(expected.len() > 14, "{expected:?}");
    for t in [&together[0], &together[2], &together[3]] {
        assert_eq!(ladder(&w, t).await, expected, "{t:?}");
    }
    assert!(ladder(&w, &together[1]).await.is_empty());
}

/// Shutdown sets the sweeps' `stop` flag: the sweeps under way stop after their pages in
/// flight, and no further tenant's sweep starts.
async fn once_stopped_sweep_many_starts_no_further_tenant(f: Fixture) {
    let w = world(f);
    let standard = reference_policy("standard");
    let mut tenants = Vec::new();
    for id in ["s1", "s2", "s3", "s4"] {
        tenants.push(busy_tenant(&w, id, std::slice::from_ref(&standard)).await);
    }
    let stop = dunlin_sweep::CancellationToken::new();
    let jobs = tenants.iter().map(|t| {
        let opts = SweepOptions {
            stop: stop.clone(),
            ..small_pages("2026-02-10")
        };
        (t.clone(), opts)
    });
    let mut swept = std::pin::pin!(sweep_many(w.db.as_ref(), &w.runtime, jobs));
    let (first, report) = swept.next().await.unwrap();
    assert_eq!(first.as_str(), "s1");
    assert_eq!(report.unwrap().recorded, 14);
    stop.cancel();
    // s2 may have started beside s1; it stops early. s3 and s4 never start.
    let rest: Vec<_> = swept.collect().await;
    assert!(rest.len() <= 1, "{rest:?}");
    for (t, result) in &rest {
        assert_eq!(t.as_str(), "s2");
        let report = result.as_ref().unwrap();
        assert!(report.interrupted || report.recorded == 14, "{report:?}");
    }
    for t in &tenants[2..] {
        assert!(ladder(&w, t).await.is_empty(), "{t:?} was swept");
    }
}

/// A sweep with `record` set writes its run with its figures, and does not start while
/// another of the tenant's sweeps runs (in any process: the lock is in the store).
async fn a_recorded_sweep_writes_its_run_and_waits_for_one_running(f: Fixture) {
    use dunlin_store::{SweepStatus, SweepTrigger};
    let w = world(f);
    let t = tenant(
        &w,
        "acme",
        FailureMode::RetryNextTick,
        &[fixture("fx-good")],
        vec![],
    )
    .await;
    let recorded = |as_of: &str, by| SweepOptions {
        record: Some(by),
        ..SweepOptions::new(d(as_of))
    };
    let opts = recorded("2026-02-10", SweepTrigger::Schedule);
    let running = dunlin_sweep::recorded::claim(w.db.as_ref(), &t, &opts, SweepTrigger::Api)
        .await
        .unwrap()
        .expect("nothing runs yet");
    let refused = sweep(w.db.as_ref(), &w.runtime, &t, &opts).await;
    assert!(
        matches!(refused, Err(SweepError::AlreadyRunning(_))),
        "{refused:?}"
    );
    // By hand, the operator sweeps whatever runs; nothing is due a second time that day.
    let by_hand = sweep(
        w.db.as_ref(),
        &w.runtime,
        &t,
        &recorded("2026-01-15", SweepTrigger::Cli),
    )
    .await
    .unwrap();
    assert_eq!(by_hand.reviewed, 0, "nothing is due on 2026-01-15");
    let report =
        dunlin_sweep::recorded::run_claimed(w.db.as_ref(), &w.runtime, &t, &running, &opts)
            .await
            .unwrap();
    assert_eq!(report.recorded, 2);
    let report = sweep(
        w.db.as_ref(),
        &w.runtime,
        &t,
        &recorded("2026-02-17", SweepTrigger::Schedule),
    )
    .await
    .unwrap();
    let runs = w.db.sweep_runs(&t, None, 10).await.unwrap();
    assert_eq!(runs.len(), 3, "the refused sweep wrote no run");
    assert_eq!(
        (runs[0].started_by, runs[0].status, runs[0].as_of),
        (SweepTrigger::Schedule, SweepStatus::Done, d("2026-02-17"))
    );
    assert_eq!(runs[0].figures.reviewed, report.reviewed as u64);
    assert_eq!(
        (runs[1].started_by, runs[1].status),
        (SweepTrigger::Cli, SweepStatus::Done)
    );
    assert_eq!(
        (runs[2].started_by, runs[2].status, runs[2].figures.recorded),
        (SweepTrigger::Api, SweepStatus::Done, 2)
    );
    // A sweep that cannot run is recorded as failed, with why.
    let beta = TenantId::new("beta").unwrap();
    w.db.create_tenant(&beta, &TenantSettings::default())
        .await
        .unwrap();
    let failed = sweep(
        w.db.as_ref(),
        &w.runtime,
        &beta,
        &recorded("2026-02-10", SweepTrigger::Cli),
    )
    .await;
    assert!(matches!(failed, Err(SweepError::NoActivePolicy(_))));
    let run = &w.db.sweep_runs(&beta, None, 10).await.unwrap()[0];
    assert_eq!(run.status, SweepStatus::Failed);
    assert!(run.error.as_deref().unwrap().contains("no active policy"));
}

async fn a_sweep_counts_decisions_by_outcome_and_failure_code_in_the_metrics(f: Fixture) {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    Recorded::new(recorder, async move {
        let w = world(f);
        let good = &[reference_policy("standard")];
        let acme = tenant(&w, "acme", FailureMode::RetryNextTick, good, vec![]).await;
        let looping = &[fixture("fx-loop")];
        let beta = tenant(&w, "beta", FailureMode::RetryNextTick, looping, vec![]).await;
        assert_eq!(run(&w, &acme, "2026-02-10").await.unwrap().reviewed, 2);
        assert_eq!(run(&w, &beta, "2026-02-10").await.unwrap().failures, 2);
        let scrape = handle.render();
        for line in [
            r#"dunlin_decisions_total{tenant="acme",outcome="decided",failure_code=""} 2"#,
            r#"dunlin_decisions_total{tenant="beta",outcome="failed",failure_code="out-of-fuel"} 2"#,
            r#"dunlin_policy_call_seconds_count{tenant="acme"} 2"#,
            r#"dunlin_policy_fuel_count{tenant="beta"} 2"#,
            r#"dunlin_sweeps_total{tenant="acme"} 1"#,
            r#"dunlin_sweep_invoices_sum{tenant="acme"} 2"#,
            r#"dunlin_sweep_duration_seconds_count{tenant="beta"} 1"#,
        ] {
            assert!(scrape.lines().any(|l| l == line), "{line} in:\n{scrape}");
        }
        assert!(!scrape.contains(r#"tenant="acme",outcome="failed""#), "{scrape}");
    })
    .await
}

async fn each_tenant_decides_under_its_own_sandbox_limits(f: Fixture) {
    let w = world(f);
    let standard = [reference_policy("standard")];
    let tight = tenant(&w, "tight", FailureMode::RetryNextTick, &standard, vec![]).await;
    let roomy = tenant(&w, "roomy", FailureMode::RetryNextTick, &standard, vec![]).await;
    let mut settings = w.db.tenant(&tight).await.unwrap().unwrap().settings;
    // The standard policy needs thousands of fuel units per decision.
    settings.sandbox.fuel = Some(500);
    w.db.update_tenant(&tight, &settings).await.unwrap();

    assert_eq!(run(&w, &tight, "2026-02-10").await.unwrap().failures, 2);
    let log =
        w.db.decisions(&tight, &DecisionQuery::invoice("i1"))
            .await
            .unwrap();
    let failure = log[0].failure.as_ref().unwrap();
    assert_eq!(failure.code, "out-of-fuel");
    assert!(failure.message.contains("500"), "{}", failure.message);
    assert_eq!(run(&w, &roomy, "2026-02-10").await.unwrap().failures, 0);
}
