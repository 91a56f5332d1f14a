//! The forward look over the ledger of [`crate::history`]: four invoices due 2026-01-30,
//! fx-ladder active (reminders at 1 and 8 days overdue, collections at 40) and fx-ladder-early
//! stored as version 2 (`smb` customers to collections at 33). Nobody pays, so each ladder's
//! days are known in advance. On SQLite and PostgreSQL (`DUNLIN_TEST_POSTGRES_URL`).

use std::collections::BTreeMap;

use dunlin_lab::backtest::BacktestError;
use dunlin_lab::compare::{Direction, MoneyLine};
use dunlin_lab::forward::{forward, ForwardOptions, ForwardReport, Step};
use dunlin_store::outbox::OutboxQuery;
use dunlin_store::testing::{date as d, Fixture};
use dunlin_store::{Db, DecisionQuery, TenantId, TenantSettings};
use dunlin_tests::{fixture, runtime};

use crate::history::{ledger, sweep_days};

dunlin_store::conformance!(
    a_forward_look_reports_the_week_earlier_escalation_of_one_segment,
    a_forward_look_starts_from_the_ladders_as_they_stand_and_writes_nothing,
    a_forward_look_of_the_active_version_agrees_everywhere,
    a_forward_look_refuses_another_tenants_version_and_a_bad_window,
);

async fn run(db: &dyn Db, t: &TenantId, opts: &ForwardOptions) -> ForwardReport {
    let mut days = Vec::new();
    let report = forward(db, runtime(), t, opts, &mut |done| days.push(done))
        .await
        .expect("forward look");
    assert_eq!(days, (1..=u64::from(opts.days)).collect::<Vec<_>>());
    report
}

fn step(on: &str, what: &str, reason: &str) -> Step {
    Step {
        on: d(on),
        what: what.into(),
        reason: reason.into(),
    }
}

async fn a_forward_look_reports_the_week_earlier_escalation_of_one_segment(f: Fixture) {
    let t = ledger(f.db.as_ref(), "acme", false).await;
    // From the due date (0 days overdue) to 2026-03-15 (44 days).
    let r = run(
        f.db.as_ref(),
        &t,
        &ForwardOptions::new(2, d("2026-01-30"), 45),
    )
    .await;
    assert_eq!((r.baseline_version, r.version, r.invoices), (1, 2, 4));
    // Baseline: every invoice decided from day 0 to day 40; candidate: smb ones to day 33.
    assert_eq!(r.decisions, (4 * 41, 2 * 34 + 2 * 41));
    assert_eq!(r.invoices_differing, 2);
    assert_eq!(
        r.directions,
        BTreeMap::from([(Direction::EarlierEscalation, 2)])
    );
    let line = |currency: &str, minor| MoneyLine {
        direction: Direction::EarlierEscalation,
        currency: currency.into(),
        invoices: 1,
        open_balance_minor: minor,
    };
    assert_eq!(r.money, vec![line("EUR", 10_000), line("USD", 25_000)]);
    for side in [&r.baseline, &r.candidate] {
        assert_eq!(side.escalations, 4);
        assert_eq!(side.levels, BTreeMap::from([(1, 4), (2, 4)]));
        assert_eq!(side.notices_per_customer, BTreeMap::from([(2, 4)]));
        assert!(side.failures.is_empty() && side.interventions.is_empty());
    }
    assert_eq!(r.ladders.len(), 2);
    let inv1 = &r.ladders[0];
    assert_eq!(
        (inv1.invoice_id.as_str(), inv1.segment.as_str()),
        ("inv-1", "smb")
    );
    let reminders = [
        step(
            "2026-01-31",
            "notify L1 friendly email",
            "smb: reminder 1 at day 1",
        ),
        step(
            "2026-02-07",
            "notify L2 firm email",
            "smb: reminder 2 at day 8",
        ),
    ];
    let with = |last: Step| reminders.iter().cloned().chain([last]).collect::<Vec<_>>();
    assert_eq!(
        inv1.baseline,
        with(step(
            "2026-03-11",
            "escalate collections",
            "smb: to collections at day 40"
        ))
    );
    assert_eq!(
        inv1.candidate,
        with(step(
            "2026-03-04",
            "escalate collections",
            "smb: to collections at day 33"
        ))
    );
    assert_eq!(
        (inv1.baseline_end.as_str(), inv1.candidate_end.as_str()),
        ("ladder ended", "ladder ended")
    );
    assert_eq!(r.ladders[1].invoice_id, "inv-2");
}

async fn a_forward_look_starts_from_the_ladders_as_they_stand_and_writes_nothing(f: Fixture) {
    let db = f.db.as_ref();
    let t = ledger(db, "acme", false).await;
    // Swept to 2026-03-05 (34 days overdue): no invoice escalated yet under fx-ladder.
    sweep_days(db, &t, d("2026-03-01"), d("2026-03-05")).await;
    let before = snapshot(db, &t).await;
    let r = run(db, &t, &ForwardOptions::new(2, d("2026-03-06"), 10)).await;
    assert_eq!(
        snapshot(db, &t).await,
        before,
        "the forward look wrote to the ledger"
    );
    // The candidate's smb ladders are past their day 33: they escalate on the first day.
    assert_eq!(r.decisions, (4 * 6, 2 + 2 * 6));
    let inv1 = &r.ladders[0];
    assert_eq!(
        inv1.candidate,
        vec![step(
            "2026-03-06",
            "escalate collections",
            "smb: to collections at day 35"
        )]
    );
    assert_eq!(
        inv1.baseline,
        vec![step(
            "2026-03-11",
            "escalate collections",
            "smb: to collections at day 40"
        )]
    );
    // After the real escalation, nothing is left to play.
    sweep_days(db, &t, d("2026-03-06"), d("2026-03-11")).await;
    let r = run(db, &t, &ForwardOptions::new(2, d("2026-03-12"), 5)).await;
    assert_eq!(
        (r.invoices, r.decisions, r.invoices_differing),
        (0, (0, 0), 0)
    );
}

/// What the forward look must leave as it found it: the log, the outbox, the ladders.
async fn snapshot(db: &dyn Db, t: &TenantId) -> (usize, usize, Vec<String>) {
    let query = DecisionQuery {
        limit: 1000,
        ..DecisionQuery::default()
    };
    let decisions = db.decisions(t, &query).await.expect("decisions").len();
    let outbox = db
        .outbox(t, &OutboxQuery::default())
        .await
        .expect("outbox")
        .len();
    let mut states = Vec::new();
    for id in ["inv-1", "inv-2", "inv-3", "inv-4"] {
        let state = db.dunning_state(t, id).await.expect("state");
        states.push(format!("{state:?}"));
    }
    (decisions, outbox, states)
}

async fn a_forward_look_of_the_active_version_agrees_everywhere(f: Fixture) {
    let t = ledger(f.db.as_ref(), "acme", false).await;
    let r = run(
        f.db.as_ref(),
        &t,
        &ForwardOptions::new(1, d("2026-01-30"), 45),
    )
    .await;
    assert_eq!((r.invoices, r.invoices_differing), (4, 0));
    assert_eq!(r.decisions, (164, 164));
    assert_eq!(r.baseline, r.candidate);
    assert!(r.ladders.is_empty() && r.money.is_empty());
}

async fn a_forward_look_refuses_another_tenants_version_and_a_bad_window(f: Fixture) {
    let db = f.db.as_ref();
    ledger(db, "acme", false).await;
    let other = TenantId::new("beta").expect("a tenant id");
    db.create_tenant(&other, &TenantSettings::default())
        .await
        .expect("create tenant");
    let start = d("2026-03-01");
    let err = forward(
        db,
        runtime(),
        &other,
        &ForwardOptions::new(1, start, 10),
        &mut |_| {},
    )
    .await;
    assert!(
        matches!(err, Err(BacktestError::NoActiveVersion(_))),
        "{err:?}"
    );
    let v = db
        .add_policy_version(&other, &fixture("fx-ladder"))
        .await
        .expect("upload");
    db.activate_policy_version(&other, v.version)
        .await
        .expect("activate");
    // acme has a version 2; beta does not, and does not see acme's.
    let err = forward(
        db,
        runtime(),
        &other,
        &ForwardOptions::new(2, start, 10),
        &mut |_| {},
    )
    .await;
    assert!(
        matches!(err, Err(BacktestError::UnknownVersion { version: 2, .. })),
        "{err:?}"
    );
    // Its own version plays its own (empty) ledger, none of acme's invoices.
    let r = run(db, &other, &ForwardOptions::new(1, start, 10)).await;
    assert_eq!(r.invoices, 0);
    for days in [0, dunlin_lab::forward::MAX_DAYS + 1] {
        let err = forward(
            db,
            runtime(),
            &other,
            &ForwardOptions::new(1, start, days),
            &mut |_| {},
        )
        .await;
        assert!(matches!(err, Err(BacktestError::Days { .. })), "{err:?}");
    }
}
