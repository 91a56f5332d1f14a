//! Backtests over a seeded history whose difference is known in advance: fx-ladder (the
//! active version, every invoice to collections at 40 days overdue) swept day by day, then
//! fx-ladder-early (customers tagged `smb` to collections at 33 days) backtested over it.
//! On SQLite and PostgreSQL (`DUNLIN_TEST_POSTGRES_URL`). The forward look's tests are in
//! `forward/`.

use std::collections::BTreeMap;

use dunlin_lab::backtest::{backtest, BacktestError, BacktestOptions, BacktestReport};
use dunlin_lab::compare::{Agreement, Direction, MoneyLine, UNTAGGED};
use dunlin_store::testing::{date as d, Fixture};
use dunlin_store::{Db, TenantId, TenantSettings};
use dunlin_tests::{fixture, runtime};

mod forward;
mod history;
use history::seeded;

dunlin_store::conformance!(
    a_backtest_reports_exactly_a_week_earlier_escalation_of_one_segment,
    a_backtest_of_the_version_that_decided_agrees_everywhere,
    a_backtest_window_keeps_to_its_days,
    a_tenant_cannot_backtest_another_tenants_version,
);

async fn run(db: &dyn Db, t: &TenantId, opts: &BacktestOptions) -> BacktestReport {
    let mut pages = Vec::new();
    let report = backtest(db, runtime(), t, opts, &mut |done| pages.push(done))
        .await
        .expect("backtest");
    assert_eq!(pages.last().copied().unwrap_or(0), report.comparison.total);
    report
}

async fn a_backtest_reports_exactly_a_week_earlier_escalation_of_one_segment(f: Fixture) {
    let t = seeded(f.db.as_ref(), "acme", false).await;
    let report = run(f.db.as_ref(), &t, &BacktestOptions::new(2)).await;
    let r = &report.comparison;
    // 4 invoices × 11 days; each smb invoice disagrees on days 33 to 39 overdue.
    assert_eq!((r.total, r.agreed, r.disagreed), (44, 30, 14));
    assert_eq!((r.invoices, r.invoices_differing), (4, 2));
    assert_eq!(
        r.directions,
        BTreeMap::from([(Direction::EarlierEscalation, 14)])
    );
    assert_eq!(
        r.segments,
        BTreeMap::from([
            (
                "smb".to_owned(),
                Agreement {
                    total: 22,
                    agreed: 8
                }
            ),
            (
                "enterprise".to_owned(),
                Agreement {
                    total: 11,
                    agreed: 11
                }
            ),
            (
                UNTAGGED.to_owned(),
                Agreement {
                    total: 11,
                    agreed: 11
                }
            ),
        ])
    );
    // Recorded: one escalation per invoice. Candidate: the smb ones on 8 days each.
    assert_eq!((r.baseline.escalations, r.candidate.escalations), (4, 18));
    assert_eq!(
        r.baseline.actions,
        BTreeMap::from([("escalate".to_owned(), 4)])
    );
    assert!(r.candidate.interventions.is_empty() && r.candidate.failures.is_empty());
    assert_eq!(
        r.money,
        vec![
            MoneyLine {
                direction: Direction::EarlierEscalation,
                currency: "EUR".into(),
                invoices: 1,
                open_balance_minor: 10_000,
            },
            MoneyLine {
                direction: Direction::EarlierEscalation,
                currency: "USD".into(),
                invoices: 1,
                open_balance_minor: 25_000,
            },
        ]
    );
    assert_eq!(r.disagreements.len(), 14);
    let first = &r.disagreements[0];
    assert_eq!(
        (first.invoice_id.as_str(), first.as_of),
        ("inv-1", d("2026-03-04"))
    );
    assert_eq!(first.baseline, "wait; review 2026-03-05");
    assert_eq!(first.candidate, "escalate collections; ladder ends");
    assert_eq!(first.baseline_reason, "smb: waiting at day 33");
    assert_eq!(first.candidate_reason, "smb: to collections at day 33");
    assert!(first.decision_id.is_some());
    assert_eq!((report.version, report.tenant.as_str()), (2, "acme"));
}

async fn a_backtest_of_the_version_that_decided_agrees_everywhere(f: Fixture) {
    let t = seeded(f.db.as_ref(), "acme", false).await;
    let r = run(f.db.as_ref(), &t, &BacktestOptions::new(1))
        .await
        .comparison;
    assert_eq!((r.total, r.agreed, r.disagreed), (44, 44, 0));
    assert_eq!(r.baseline, r.candidate);
    assert!(r.money.is_empty());
}

async fn a_backtest_window_keeps_to_its_days(f: Fixture) {
    let t = seeded(f.db.as_ref(), "acme", false).await;
    let opts = BacktestOptions {
        from: Some(d("2026-03-05")),
        to: Some(d("2026-03-08")),
        workers: 1,
        listed: 3,
        ..BacktestOptions::new(2)
    };
    let r = run(f.db.as_ref(), &t, &opts).await;
    assert!(!r.truncated);
    let r = r.comparison;
    assert_eq!((r.total, r.disagreed), (16, 8));
    assert_eq!((r.disagreements.len(), r.disagreements_not_listed), (3, 5));
    assert!(r
        .disagreements
        .iter()
        .all(|x| x.as_of >= d("2026-03-05") && x.as_of <= d("2026-03-08")));
    let capped = |max| BacktestOptions {
        max_decisions: Some(max),
        ..BacktestOptions::new(2)
    };
    let r = run(f.db.as_ref(), &t, &capped(10)).await;
    assert_eq!((r.comparison.total, r.truncated), (10, true));
    let r = run(f.db.as_ref(), &t, &capped(44)).await;
    assert_eq!((r.comparison.total, r.truncated), (44, false));
    let backwards = BacktestOptions {
        from: Some(d("2026-03-08")),
        to: Some(d("2026-03-05")),
        ..BacktestOptions::new(2)
    };
    let err = backtest(f.db.as_ref(), runtime(), &t, &backwards, &mut |_| {}).await;
    assert!(matches!(err, Err(BacktestError::Window { .. })), "{err:?}");
}

async fn a_tenant_cannot_backtest_another_tenants_version(f: Fixture) {
    let db = f.db.as_ref();
    seeded(db, "acme", false).await;
    let other = TenantId::new("beta").expect("a tenant id");
    db.create_tenant(&other, &TenantSettings::default())
        .await
        .expect("create tenant");
    let v = db
        .add_policy_version(&other, &fixture("fx-ladder"))
        .await
        .expect("upload");
    assert_eq!(v.version, 1);
    // acme has a version 2; beta does not, and does not see acme's.
    let err = backtest(db, runtime(), &other, &BacktestOptions::new(2), &mut |_| {}).await;
    assert!(
        matches!(err, Err(BacktestError::UnknownVersion { version: 2, .. })),
        "{err:?}"
    );
    // Its own version backtests over its own (empty) log, none of acme's decisions.
    let r = run(db, &other, &BacktestOptions::new(1)).await.comparison;
    assert_eq!(r.total, 0);
    let missing = TenantId::new("nobody").expect("a tenant id");
    let err = backtest(
        db,
        runtime(),
        &missing,
        &BacktestOptions::new(1),
        &mut |_| {},
    )
    .await;
    assert!(
        matches!(err, Err(BacktestError::UnknownTenant(_))),
        "{err:?}"
    );
}
