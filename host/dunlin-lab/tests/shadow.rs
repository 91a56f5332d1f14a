//! The shadow report over the seeded history whose difference is known in advance:
//! fx-ladder live and fx-ladder-early (customers tagged `smb` to collections at 33 days
//! instead of 40) in shadow through every sweep. The report states exactly the difference a
//! backtest of the same version states, and never another tenant's decisions. On SQLite and
//! PostgreSQL (`DUNLIN_TEST_POSTGRES_URL`).

use std::collections::BTreeMap;

use dunlin_lab::backtest::{backtest, BacktestOptions};
use dunlin_lab::compare::Direction;
use dunlin_lab::shadow::shadow_report;
use dunlin_store::testing::{date as d, Fixture};
use dunlin_store::{TenantId, TenantSettings};
use dunlin_sweep::trial::Range;
use dunlin_tests::runtime;

mod history;
use history::seeded;

dunlin_store::conformance!(
    the_shadow_report_states_exactly_a_week_earlier_escalation_of_one_segment,
    a_shadow_report_reads_only_the_tenants_own_decisions,
);

/// Every day of the seeded sweeps.
fn all_days() -> Range {
    Range {
        from: Some(d("2026-03-01")),
        to: None,
    }
}

async fn the_shadow_report_states_exactly_a_week_earlier_escalation_of_one_segment(f: Fixture) {
    let t = seeded(f.db.as_ref(), "acme", true).await;
    let report = shadow_report(f.db.as_ref(), &t, all_days(), 20)
        .await
        .expect("a report");
    assert_eq!(report.version, Some(2));
    let r = &report.comparison;
    // 4 invoices × 11 days; each smb invoice disagrees on days 33 to 39 overdue.
    assert_eq!((r.total, r.agreed, r.disagreed), (44, 30, 14));
    assert_eq!((r.invoices, r.invoices_differing), (4, 2));
    assert_eq!(
        r.directions,
        BTreeMap::from([(Direction::EarlierEscalation, 14)])
    );
    assert_eq!((r.baseline.escalations, r.candidate.escalations), (4, 18));
    let money: Vec<(&str, u64, i64)> = r
        .money
        .iter()
        .map(|m| (m.currency.as_str(), m.invoices, m.open_balance_minor))
        .collect();
    assert_eq!(money, [("EUR", 1, 10_000), ("USD", 1, 25_000)]);
    let first = &r.disagreements[0];
    assert_eq!(
        (first.invoice_id.as_str(), first.as_of),
        ("inv-1", d("2026-03-04"))
    );
    assert_eq!(first.baseline_reason, "smb: waiting at day 33");
    assert_eq!(first.candidate_reason, "smb: to collections at day 33");

    // A backtest of the shadowed version over the same days says the same.
    let backtested = backtest(
        f.db.as_ref(),
        runtime(),
        &t,
        &BacktestOptions::new(2),
        &mut |_| {},
    )
    .await
    .expect("backtest")
    .comparison;
    assert_eq!(&backtested, r);

    // A range keeps to its days: 2026-03-05 to 03-08 is 16 decisions, 8 of them differing.
    let range = Range {
        from: Some(d("2026-03-05")),
        to: Some(d("2026-03-08")),
    };
    let r = shadow_report(f.db.as_ref(), &t, range, 3)
        .await
        .expect("a report")
        .comparison;
    assert_eq!((r.total, r.disagreed), (16, 8));
    assert_eq!((r.disagreements.len(), r.disagreements_not_listed), (3, 5));
}

async fn a_shadow_report_reads_only_the_tenants_own_decisions(f: Fixture) {
    let db = f.db.as_ref();
    seeded(db, "acme", true).await;
    let beta = TenantId::new("beta").expect("a tenant id");
    db.create_tenant(&beta, &TenantSettings::default())
        .await
        .expect("create tenant");
    let report = shadow_report(db, &beta, all_days(), 20)
        .await
        .expect("a report");
    assert_eq!((report.version, report.comparison.total), (None, 0));
}
