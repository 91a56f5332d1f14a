//! Reading the decision log for replay and export: the text written, pages, windows, one
//! decision by id, and only the tenant's own.

use dunlin_core::guardrails::{Effect, Intervention, Rule};
use dunlin_store::codec::json;
use dunlin_store::testing::{date as d, Fixture};
use dunlin_store::{ActionStatus, DueQuery, FailureRecord, PlannedAction, RecordedQuery};

use crate::data::{first_reminders, notice, outcome, seed, tid};

dunlin_store::conformance!(
    recorded_decisions_keep_the_text_written_and_the_blocked_actions,
    recorded_decisions_page_by_id_within_a_window,
    recorded_decisions_are_the_tenants_own,
);

async fn recorded_decisions_keep_the_text_written_and_the_blocked_actions(f: Fixture) {
    let acme = tid("acme");
    seed(&f, &acme).await;
    let page =
        f.db.due_for_review(&acme, &DueQuery::new(d("2026-02-10")))
            .await
            .unwrap();
    let mut outcomes = first_reminders(&page);
    // The second invoice's decision had its second notice blocked; the third's policy failed.
    let blocked = outcomes.len() - 1;
    let o = &mut outcomes[0];
    o.interventions = vec![Intervention {
        rule: Rule::InvoiceDailyCap,
        effect: Effect::Dropped,
        action_index: Some(1),
        detail: "cap".into(),
    }];
    o.actions.push(PlannedAction {
        action: notice(2),
        status: ActionStatus::Blocked,
    });
    outcomes[blocked].decision = None;
    outcomes[blocked].failure = Some(FailureRecord {
        code: "out-of-fuel".into(),
        message: "ran out".into(),
    });
    f.db.record_batch(&acme, &outcomes).await.unwrap();

    let read =
        f.db.recorded_decisions(&acme, &RecordedQuery::window(None, None))
            .await
            .unwrap();
    assert_eq!(read.len(), outcomes.len());
    for (r, o) in read.iter().zip(&outcomes) {
        assert_eq!(r.invoice_id, o.context.invoice.id);
        assert_eq!(r.as_of, d("2026-02-10"));
        assert_eq!(&r.context.parse().unwrap(), o.context.as_ref());
        assert_eq!(r.decision, o.decision.as_ref().map(json));
        assert_eq!(r.policy, o.policy);
        assert_eq!(r.interventions, o.interventions);
        assert_eq!(r.failure_code, o.failure.as_ref().map(|f| f.code.clone()));
    }
    assert_eq!(read[0].blocked, vec![json(&notice(2))]);
    assert!(read[1..].iter().all(|r| r.blocked.is_empty()));
    assert_eq!(read[blocked].decision, None);

    // A reader that does not compare the blocked actions (backtest, export) skips them, and
    // reads the rest alike.
    let without = RecordedQuery {
        blocked_actions: false,
        ..RecordedQuery::window(None, None)
    };
    let lean = f.db.recorded_decisions(&acme, &without).await.unwrap();
    assert!(lean.iter().all(|r| r.blocked.is_empty()));
    let mut expected = read;
    expected[0].blocked.clear();
    assert_eq!(lean, expected);
}

async fn recorded_decisions_page_by_id_within_a_window(f: Fixture) {
    let acme = tid("acme");
    seed(&f, &acme).await;
    let mut as_of = Vec::new();
    for day in ["2026-02-10", "2026-02-17", "2026-02-24"] {
        let page =
            f.db.due_for_review(&acme, &DueQuery::new(d(day)))
                .await
                .unwrap();
        let outcomes: Vec<_> = page
            .invoices
            .iter()
            .map(|i| outcome(&i.context, 1))
            .collect();
        as_of.extend(outcomes.iter().map(|o| o.context.as_of));
        f.db.record_batch(&acme, &outcomes).await.unwrap();
    }
    assert_eq!(as_of.len(), 6, "{as_of:?}");

    // A window of one day, one decision a page.
    let mut query = RecordedQuery {
        limit: 1,
        ..RecordedQuery::window(Some(d("2026-02-17")), Some(d("2026-02-17")))
    };
    let mut seen = Vec::new();
    loop {
        let page = f.db.recorded_decisions(&acme, &query).await.unwrap();
        assert!(page.len() <= 1);
        let Some(last) = page.last() else { break };
        query = query.after(last.id);
        seen.extend(page);
    }
    let expected = as_of.iter().filter(|&&a| a == d("2026-02-17")).count();
    assert_eq!(seen.len(), expected);
    assert!(seen.iter().all(|r| r.as_of == d("2026-02-17")));
    assert!(seen.windows(2).all(|w| w[0].id < w[1].id));

    let one = &seen[0];
    let by_id =
        f.db.recorded_decisions(&acme, &RecordedQuery::decision(one.id))
            .await
            .unwrap();
    assert_eq!(by_id, vec![one.clone()]);
}

async fn recorded_decisions_are_the_tenants_own(f: Fixture) {
    let acme = tid("acme");
    let globex = tid("globex");
    seed(&f, &acme).await;
    seed(&f, &globex).await;
    let page =
        f.db.due_for_review(&acme, &DueQuery::new(d("2026-02-10")))
            .await
            .unwrap();
    f.db.record_batch(&acme, &first_reminders(&page))
        .await
        .unwrap();
    let acme_log =
        f.db.recorded_decisions(&acme, &RecordedQuery::window(None, None))
            .await
            .unwrap();
    assert!(!acme_log.is_empty());
    assert!(f
        .db
        .recorded_decisions(&globex, &RecordedQuery::window(None, None))
        .await
        .unwrap()
        .is_empty());
    assert!(f
        .db
        .recorded_decisions(&globex, &RecordedQuery::decision(acme_log[0].id))
        .await
        .unwrap()
        .is_empty());
}
