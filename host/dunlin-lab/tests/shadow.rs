//! The shadow report over the seeded history whose difference is known in advance:
//! fx-ladder live and fx-ladder-early (customers tagged `smb` to collections at 33 days
//! instead of 40) in shadow through every sweep. The report states exactly the difference a
//! backtest of the same version states, and never another tenant's decisions. The canary
//! report over the same ledger, 70 % of the customers on fx-ladder-early, counts each arm. On
//! SQLite and PostgreSQL (`DUNLIN_TEST_POSTGRES_URL`).

use std::collections::BTreeMap;

use dunlin_lab::backtest::{backtest, BacktestOptions};
use dunlin_lab::canary::canary_report;
use dunlin_lab::compare::Direction;
use dunlin_lab::shadow::shadow_report;
use dunlin_lab::Range;
use dunlin_store::testing::{date as d, Fixture};
use dunlin_store::trial::CanaryShare;
use dunlin_store::{TenantId, TenantSettings};
use dunlin_tests::runtime;

mod history;
use history::{ledger, seeded, sweep_days};

dunlin_store::conformance!(
    the_shadow_report_states_exactly_a_week_earlier_escalation_of_one_segment,
    a_shadow_report_reads_only_the_tenants_own_decisions,
    the_canary_report_counts_each_arm_with_the_comparisons_measures,
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

async fn the_canary_report_counts_each_arm_with_the_comparisons_measures(f: Fixture) {
    let db = f.db.as_ref();
    let t = ledger(db, "acme", false).await;
    let share = CanaryShare::from_basis_points(7000).expect("a share");
    let trials = db.start_canary(&t, 2, share).await.expect("canary");
    let canary = trials.canary.expect("a canary runs");
    // 70 %: of acme's customers, c-smb2 alone (the arm points are fixed by the ids).
    // From the due date to 43 days overdue: every ladder walks to collections.
    sweep_days(db, &t, d("2026-01-30"), d("2026-03-13")).await;
    let customers = [
        ("c-smb1", true),
        ("c-smb2", true),
        ("c-plain", false),
        ("c-ent", false),
    ];
    let in_canary: Vec<bool> = customers.iter().map(|(c, _)| canary.takes(&t, c)).collect();
    assert!(
        in_canary.contains(&true) && in_canary.contains(&false),
        "the test wants both arms: {in_canary:?}"
    );
    // Each customer has one invoice: decided from day 0 to its escalation (day 40, or day 33
    // for smb under the canary), with reminders at days 1 and 8.
    let expected = |canary_arm: bool| {
        let mine: Vec<bool> = customers
            .iter()
            .zip(&in_canary)
            .filter(|(_, &c)| c == canary_arm)
            .map(|((_, smb), _)| *smb)
            .collect();
        let n = mine.len() as u64;
        let decisions: u64 = mine
            .iter()
            .map(|&smb| if smb && canary_arm { 34 } else { 41 })
            .sum();
        (n, decisions)
    };
    // The report starts on the canary's start by default (today): these sweeps are in 2026's
    // first quarter.
    let all = Range {
        from: Some(d("2026-01-01")),
        to: None,
    };
    let today = canary_report(db, &t, Range::default()).await;
    assert!(today.expect("a report").arms.is_empty());
    let r = canary_report(db, &t, all).await.expect("a report");
    assert_eq!(
        (r.canary, r.active, r.share.as_deref()),
        (Some(2), Some(1), Some("70%"))
    );
    let arms: Vec<(&str, u32)> = r.arms.iter().map(|a| (a.arm, a.version)).collect();
    assert_eq!(arms, [("canary", 2), ("active", 1)]);
    for (arm, canary_arm) in r.arms.iter().zip([true, false]) {
        let (n, decisions) = expected(canary_arm);
        assert_eq!(
            (arm.invoices, arm.customers, arm.decisions),
            (n, n, decisions),
            "{arm:?}"
        );
        assert_eq!((arm.failure_rate, arm.blocked), (0.0, 0));
        assert_eq!(arm.side.escalations, n);
        assert_eq!(arm.side.levels, BTreeMap::from([(1, n), (2, n)]));
        assert_eq!(arm.side.tones.get("firm"), Some(&n));
        assert_eq!(arm.side.notices_per_customer, BTreeMap::from([(2, n)]));
    }
    // A range after the escalations holds no decision; another tenant has no arms.
    let late = Range {
        from: Some(d("2026-03-12")),
        to: None,
    };
    assert!(canary_report(db, &t, late)
        .await
        .expect("a report")
        .arms
        .is_empty());
    let other = TenantId::new("beta").expect("a tenant id");
    db.create_tenant(&other, &TenantSettings::default())
        .await
        .expect("create tenant");
    let r = canary_report(db, &other, all).await.expect("a report");
    assert!(r.arms.is_empty() && r.canary.is_none());
}
