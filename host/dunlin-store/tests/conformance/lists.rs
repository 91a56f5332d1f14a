//! The decision log filtered by how a review ended and by failure code, and the action list
//! filtered by invoice, customer, kind, status and as-of days; each tenant's own.

use dunlin_core::{ActionKind, Retry};
use dunlin_store::outbox::ActionQuery;
use dunlin_store::testing::{date as d, Fixture};
use dunlin_store::{
    ActionStatus, DecisionOutcome, DecisionQuery, FailureRecord, Outcome, PlannedAction,
};

use crate::data::{outcome, seeded_page, tid};

dunlin_store::conformance!(
    decisions_are_filtered_by_how_they_ended_and_failure_code,
    actions_are_filtered_by_invoice_customer_kind_status_and_day,
);

/// Acme's page of 2026-02-10: `i1` decided (a reminder and a retry), `i2` failed (out of
/// fuel, nothing done); and beta's own `i1`, decided.
async fn seed_log(f: &Fixture) {
    let (acme, beta) = (tid("acme"), tid("beta"));
    let page = seeded_page(f, &acme).await;
    let mut decided = outcome(&page.invoices[0].context, 1);
    let retry = dunlin_core::Action::RetryPayment(Retry {
        reason: "card".into(),
    });
    decided.actions.push(PlannedAction {
        action: retry,
        status: ActionStatus::Pending,
    });
    let failed = Outcome {
        decision: None,
        actions: vec![],
        failure: Some(FailureRecord {
            code: "out-of-fuel".into(),
            message: "the policy ran out of fuel".into(),
        }),
        ..outcome(&page.invoices[1].context, 1)
    };
    f.db.record_batch(&acme, &[decided, failed]).await.unwrap();
    let page = seeded_page(f, &beta).await;
    f.db.record_batch(&beta, &[outcome(&page.invoices[0].context, 1)])
        .await
        .unwrap();
}

async fn decisions_are_filtered_by_how_they_ended_and_failure_code(f: Fixture) {
    seed_log(&f).await;
    let acme = tid("acme");
    let invoices = |query: DecisionQuery| {
        let db = f.db.clone();
        let acme = acme.clone();
        async move {
            let log = db.decisions(&acme, &query).await.unwrap();
            log.into_iter().map(|r| r.invoice_id).collect::<Vec<_>>()
        }
    };
    let by = |outcome, failure_code: Option<&str>| DecisionQuery {
        outcome,
        failure_code: failure_code.map(str::to_owned),
        ..DecisionQuery::default()
    };
    assert_eq!(
        invoices(by(Some(DecisionOutcome::Decided), None)).await,
        ["i1"]
    );
    assert_eq!(
        invoices(by(Some(DecisionOutcome::Failed), None)).await,
        ["i2"]
    );
    assert!(invoices(by(Some(DecisionOutcome::NoPolicy), None))
        .await
        .is_empty());
    assert_eq!(invoices(by(None, Some("out-of-fuel"))).await, ["i2"]);
    assert!(invoices(by(None, Some("trap"))).await.is_empty());
    assert!(
        invoices(by(Some(DecisionOutcome::Decided), Some("out-of-fuel")))
            .await
            .is_empty()
    );
}

async fn actions_are_filtered_by_invoice_customer_kind_status_and_day(f: Fixture) {
    seed_log(&f).await;
    let (acme, beta) = (tid("acme"), tid("beta"));
    let all = ActionQuery {
        status: None,
        invoice: None,
        customer: None,
        kind: None,
        from: None,
        to: None,
        after_id: None,
        limit: 100,
    };
    let kinds = |query: ActionQuery| {
        let db = f.db.clone();
        let acme = acme.clone();
        async move {
            let actions = db.actions(&acme, &query).await.unwrap();
            actions
                .into_iter()
                .map(|a| dunlin_store::review::action_kind(&a.action))
                .collect::<Vec<_>>()
        }
    };
    let both = [ActionKind::Notify, ActionKind::RetryPayment];
    assert_eq!(kinds(all.clone()).await, both);
    assert_eq!(
        kinds(ActionQuery {
            kind: Some(ActionKind::RetryPayment),
            ..all.clone()
        })
        .await,
        [ActionKind::RetryPayment]
    );
    assert_eq!(
        kinds(ActionQuery {
            customer: Some("c1".into()),
            ..all.clone()
        })
        .await,
        both
    );
    assert!(kinds(ActionQuery {
        customer: Some("c2".into()),
        ..all.clone()
    })
    .await
    .is_empty());
    assert!(kinds(ActionQuery {
        invoice: Some("i2".into()),
        ..all.clone()
    })
    .await
    .is_empty());
    assert_eq!(
        kinds(ActionQuery {
            from: Some(d("2026-02-10")),
            to: Some(d("2026-02-10")),
            ..all.clone()
        })
        .await,
        both
    );
    assert!(kinds(ActionQuery {
        from: Some(d("2026-02-11")),
        ..all.clone()
    })
    .await
    .is_empty());
    assert!(kinds(ActionQuery {
        to: Some(d("2026-02-09")),
        ..all.clone()
    })
    .await
    .is_empty());
    assert!(kinds(ActionQuery {
        status: Some(ActionStatus::Delivered),
        ..all.clone()
    })
    .await
    .is_empty());
    // Paging by id, and beta's list holds only its own one action.
    let first =
        f.db.actions(
            &acme,
            &ActionQuery {
                limit: 1,
                ..all.clone()
            },
        )
        .await
        .unwrap();
    let rest =
        f.db.actions(
            &acme,
            &ActionQuery {
                after_id: Some(first[0].id),
                ..all.clone()
            },
        )
        .await
        .unwrap();
    assert_eq!((first.len(), rest.len()), (1, 1));
    assert!(rest[0].id > first[0].id);
    let theirs = f.db.actions(&beta, &all).await.unwrap();
    assert_eq!(theirs.len(), 1);
    assert!(theirs
        .iter()
        .all(|a| a.id != first[0].id && a.id != rest[0].id));
}
