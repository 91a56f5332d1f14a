//! Recording outcomes and reading the decision log: each decision once however often or
//! concurrently a batch is written, contexts stored in chunks and read back whole.

use dunlin_core::guardrails::{Effect, Intervention, Rule};
use dunlin_core::{Action, Date};
use dunlin_store::testing::{self, date as d, eur, Fixture};
use dunlin_store::{
    ActionStatus, DecisionQuery, DueQuery, FailureRecord, Outcome, PlannedAction, RecordSummary,
    StoreError,
};

use crate::data::{
    customer, first_reminders, first_reminders_with_receipts, invoice, many_first_reminders,
    notice, outcome, seed, seeded_page, settings, tid, whole_log,
};

dunlin_store::conformance!(
    record_batch_twice_writes_one_decision_and_no_duplicate_actions,
    overlapping_batches_written_at_once_record_each_decision_once,
    one_batch_may_hold_several_days_of_one_invoice,
    stored_context_decodes_to_the_same_context,
    contexts_are_kept_in_chunks_and_no_chunk_is_left_unnamed,
    a_batch_naming_an_invoice_the_tenant_lacks_writes_nothing,
    the_log_filters_by_customer_and_as_of_range_within_the_tenant,
);

async fn record_batch_twice_writes_one_decision_and_no_duplicate_actions(f: Fixture) {
    let acme = tid("acme");
    let page = seeded_page(&f, &acme).await;
    let mut outcomes: Vec<Outcome> = first_reminders(&page);
    outcomes[0].actions.push(PlannedAction {
        action: notice(2),
        status: ActionStatus::Blocked,
    });
    let first = f.db.record_batch(&acme, &outcomes).await.unwrap();
    assert_eq!(
        first,
        RecordSummary {
            recorded: 2,
            skipped: 0
        }
    );
    // A crashed sweep resumed: the same outcomes, with a different decision for one.
    let mut again = outcomes.clone();
    again[0].state.level = 5;
    again[0].reason = "changed its mind".into();
    let second = f.db.record_batch(&acme, &again).await.unwrap();
    assert_eq!(
        second,
        RecordSummary {
            recorded: 0,
            skipped: 2
        }
    );
    // Duplicates inside one batch count once.
    let dup =
        f.db.record_batch(&acme, &[outcomes[1].clone(), outcomes[1].clone()])
            .await
            .unwrap();
    assert_eq!(
        dup,
        RecordSummary {
            recorded: 0,
            skipped: 2
        }
    );

    let log =
        f.db.decisions(&acme, &DecisionQuery::default())
            .await
            .unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(log[0].reason, "first reminder");
    let statuses: Vec<ActionStatus> = log[0].actions.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [ActionStatus::Pending, ActionStatus::Blocked]);
    assert_eq!(log[1].actions.len(), 1);
    let state = f.db.dunning_state(&acme, "i1").await.unwrap().unwrap();
    assert_eq!(
        state.level, 1,
        "the skipped outcome did not touch the state"
    );
    // Blocked actions are history but not contacts.
    assert_eq!(
        f.db.recent_contacts(&acme, "c1", d("2026-02-01"))
            .await
            .unwrap()
            .len(),
        2
    );

    // The next day is a new decision.
    let next =
        f.db.due_for_review(&acme, &DueQuery::new(d("2026-02-17")))
            .await
            .unwrap();
    let mut outcomes: Vec<Outcome> = next
        .invoices
        .iter()
        .map(|i| outcome(&i.context, 2))
        .collect();
    // A batch mixing an outcome recorded before with new ones writes only the new ones.
    outcomes.insert(0, again[0].clone());
    let third = f.db.record_batch(&acme, &outcomes).await.unwrap();
    assert_eq!(
        third,
        RecordSummary {
            recorded: 2,
            skipped: 1
        }
    );
    let state = f.db.dunning_state(&acme, "i1").await.unwrap().unwrap();
    assert_eq!(state.level, 2, "the new day's state, not the skipped one's");
    let ladder =
        f.db.decisions(&acme, &DecisionQuery::invoice("i1"))
            .await
            .unwrap();
    let days: Vec<Date> = ladder.iter().map(|r| r.as_of).collect();
    assert_eq!(days, [d("2026-02-10"), d("2026-02-17")]);
    // Paging through the log.
    let rest =
        f.db.decisions(
            &acme,
            &DecisionQuery {
                after_id: Some(ladder[0].id),
                limit: 1,
                ..DecisionQuery::invoice("i1")
            },
        )
        .await
        .unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].id, ladder[1].id);
}

/// A sweep writes up to [`dunlin_store::Db::write_lanes`] pages of one tenant at once, and a
/// second sweep of the same tenant and day may run beside it. Two batches of 2,000 invoices
/// that share 1,000, one in the opposite order, written at the same time: each decision once,
/// with its action and its state, and neither batch fails (on PostgreSQL the second insert of
/// a key waits for the first transaction and then skips it; inserted in mixed orders, the two
/// would deadlock).
async fn overlapping_batches_written_at_once_record_each_decision_once(f: Fixture) {
    let acme = tid("acme");
    let outcomes = many_first_reminders(&f, 3_000, &["c1", "c2"]).await;
    let first: Vec<Outcome> = outcomes[..2_000].to_vec();
    let second: Vec<Outcome> = outcomes[1_000..].iter().rev().cloned().collect();

    let (a, b) = tokio::join!(
        f.db.record_batch(&acme, &first),
        f.db.record_batch(&acme, &second)
    );
    let (a, b) = (a.expect("first batch"), b.expect("second batch"));
    assert_eq!(a.recorded + b.recorded, 3_000, "{a:?} {b:?}");
    assert_eq!(a.skipped + b.skipped, 1_000, "{a:?} {b:?}");

    let log = whole_log(&f, &acme).await;
    let mut decided: Vec<&str> = log.iter().map(|r| r.invoice_id.as_str()).collect();
    decided.sort_unstable();
    decided.dedup();
    assert_eq!(log.len(), 3_000, "one decision per invoice");
    assert_eq!(decided.len(), 3_000);
    assert!(log.iter().all(|r| r.actions.len() == 1), "one action each");
    for id in ["inv-0000", "inv-1500", "inv-2999"] {
        let state = f.db.dunning_state(&acme, id).await.unwrap().unwrap();
        assert_eq!(state.level, 1, "{id}");
    }
    assert!(
        f.db.due_for_review(&acme, &DueQuery::new(d("2026-02-10")))
            .await
            .unwrap()
            .invoices
            .is_empty(),
        "nothing left to decide that day"
    );
}

async fn one_batch_may_hold_several_days_of_one_invoice(f: Fixture) {
    let acme = tid("acme");
    let page = seeded_page(&f, &acme).await;
    let day1 = outcome(&page.invoices[0].context, 1);
    let mut ctx2 = page.invoices[0].context.clone();
    ctx2.as_of = d("2026-02-17");
    let day2 = outcome(&ctx2, 2);
    // Later day first: the state must still end up as the later day's.
    let summary = f.db.record_batch(&acme, &[day2, day1]).await.unwrap();
    assert_eq!(summary.recorded, 2);
    let log =
        f.db.decisions(&acme, &DecisionQuery::invoice("i1"))
            .await
            .unwrap();
    let levels: Vec<(Date, Option<u8>)> = log
        .iter()
        .map(|r| {
            let level = match &r.actions[0].action {
                Action::Notify(n) => Some(n.level),
                _ => None,
            };
            (r.as_of, level)
        })
        .collect();
    let mut levels = levels;
    levels.sort();
    assert_eq!(
        levels,
        [(d("2026-02-10"), Some(1)), (d("2026-02-17"), Some(2))]
    );
    let state = f.db.dunning_state(&acme, "i1").await.unwrap().unwrap();
    assert_eq!(state.level, 2);
}

async fn stored_context_decodes_to_the_same_context(f: Fixture) {
    let acme = tid("acme");
    let page = seeded_page(&f, &acme).await;
    let mut o = outcome(&page.invoices[0].context, 1);
    o.context.params.insert("ünïcode".into(), "€ ✓".into());
    o.interventions = vec![Intervention {
        rule: Rule::OptedOutChannel,
        effect: Effect::Rerouted,
        action_index: Some(0),
        detail: "sms is opted out: sent by email".into(),
    }];
    o.failure = Some(FailureRecord {
        code: "out-of-fuel".into(),
        message: "policy ran out of fuel".into(),
    });
    o.decision = None;
    f.db.record_batch(&acme, std::slice::from_ref(&o))
        .await
        .unwrap();
    let log =
        f.db.decisions(&acme, &DecisionQuery::invoice("i1"))
            .await
            .unwrap();
    let r = &log[0];
    assert_eq!(r.context, *o.context);
    assert_eq!(r.interventions, o.interventions);
    assert_eq!(r.failure, o.failure);
    assert_eq!(r.decision, None);
    assert_eq!(r.policy, o.policy);
    assert_eq!((r.fuel_used, r.duration_us), (Some(6_000), Some(25)));
    assert_eq!(r.actions[0].action, notice(1));
    let direct =
        dunlin_store::decompress_context(&dunlin_store::compress_context(&o.context).unwrap());
    assert_eq!(direct.unwrap(), *o.context);
}

/// A batch's contexts are compressed in chunks of `CONTEXTS_PER_CHUNK` and each decision
/// reads back its own exactly; a chunk none of whose decisions is new (a resumed sweep) is
/// not left behind; a decision reads a chunk only of its own tenant.
async fn contexts_are_kept_in_chunks_and_no_chunk_is_left_unnamed(f: Fixture) {
    let acme = tid("acme");
    let per_chunk = dunlin_store::sweep::CONTEXTS_PER_CHUNK;
    let n = 2 * per_chunk + 22;
    let outcomes = many_first_reminders(&f, n, &["c1", "c2"]).await;
    let chunks = "SELECT COUNT(*) FROM context_chunks";
    let summary = f.db.record_batch(&acme, &outcomes).await.unwrap();
    assert_eq!(summary.recorded, n);
    assert_eq!(
        testing::scalar(&f, chunks).await,
        Some(3),
        "{n} contexts in chunks of {per_chunk}"
    );
    let log = whole_log(&f, &acme).await;
    assert_eq!(log.len(), n);
    for (record, o) in log.iter().zip(&outcomes) {
        assert_eq!(record.context, *o.context, "{}", record.invoice_id);
    }

    // Resumed: the first 100 again, all recorded before. Their two chunks go again.
    let again = f.db.record_batch(&acme, &outcomes[..100]).await.unwrap();
    assert_eq!((again.recorded, again.skipped), (0, 100));
    assert_eq!(
        testing::scalar(&f, chunks).await,
        Some(3),
        "no chunk left unnamed"
    );

    // A chunk of five recorded decisions and then five new ones keeps them on lines 5 to 9.
    let mut mixed: Vec<Outcome> = outcomes[..5].to_vec();
    for o in &outcomes[5..10] {
        let mut later = o.context.clone();
        later.as_of = d("2026-02-17");
        later.invoice.open_balance = eur(990);
        mixed.push(outcome(&later, 2));
    }
    let summary = f.db.record_batch(&acme, &mixed).await.unwrap();
    assert_eq!((summary.recorded, summary.skipped), (5, 5));
    assert_eq!(testing::scalar(&f, chunks).await, Some(4));
    for o in &mixed[5..] {
        let ladder =
            f.db.decisions(&acme, &DecisionQuery::invoice(o.context.invoice.id.clone()))
                .await
                .unwrap();
        assert_eq!(ladder.len(), 2);
        assert_eq!(ladder[1].context, *o.context);
    }

    // Another tenant's decision naming acme's chunk does not read it.
    let bolt = tid("bolt");
    seed(&f, &bolt).await;
    let acme_chunk = testing::scalar(&f, "SELECT MIN(id) FROM context_chunks").await;
    let forged = format!(
        "INSERT INTO decisions (tenant_id, invoice_id, as_of, context, context_chunk, \
         context_line, reason, interventions, created_at) VALUES ('bolt', 'i1', '2026-02-10', \
         {}, {}, 0, 'forged', '[]', '2026-02-10T09:00:00+00:00') RETURNING id",
        if f.url.starts_with("sqlite:") {
            "X'02'"
        } else {
            "'\\x02'"
        },
        acme_chunk.expect("a chunk")
    );
    testing::scalar(&f, &forged)
        .await
        .expect("the forged decision");
    let read = f.db.decisions(&bolt, &DecisionQuery::invoice("i1")).await;
    assert!(
        matches!(read, Err(StoreError::Corrupt { .. })),
        "bolt must not read acme's context: {read:?}"
    );
}

/// An outcome for an invoice the tenant does not have (another tenant's, or none at all)
/// fails its whole batch: no decision, action, state or chunk of it is written, and the error
/// names the invoice.
async fn a_batch_naming_an_invoice_the_tenant_lacks_writes_nothing(f: Fixture) {
    let acme = tid("acme");
    let page = seeded_page(&f, &acme).await;
    let bolt = tid("bolt");
    f.db.create_tenant(&bolt, &settings()).await.unwrap();
    f.db.upsert_customers(&bolt, &[customer("c1")])
        .await
        .unwrap();
    f.db.upsert_invoices(&bolt, &[invoice("i1", "c1", "2026-01-31", 10_000)])
        .await
        .unwrap();
    // bolt has an i1 of its own, but not acme's i2; acme's receipts vouch for nothing of
    // bolt's, nor for an invoice other than their own.
    assert!(
        page.invoices.iter().all(|i| i.receipt.is_some()),
        "a page hands out receipts"
    );
    let outcomes = first_reminders_with_receipts(&page);
    let mut ghost = outcomes.clone();
    ghost[1].context.invoice.id = "ghost".into();
    for (tenant, batch, missing) in [(&bolt, &outcomes, "i2"), (&acme, &ghost, "ghost")] {
        let err = f.db.record_batch(tenant, batch).await.unwrap_err();
        assert!(
            matches!(&err, StoreError::UnknownInvoice { invoice, .. } if invoice == missing),
            "{err:?}"
        );
    }
    for table in ["decisions", "actions", "dunning_state", "context_chunks"] {
        let rows = testing::scalar(&f, &format!("SELECT COUNT(*) FROM {table}")).await;
        assert_eq!(rows, Some(0), "{table}");
    }
    // The same batch for its own tenant is fine, receipts or not.
    assert_eq!(
        f.db.record_batch(&acme, &outcomes).await.unwrap().recorded,
        2
    );
    let later: Vec<Outcome> = first_reminders(&page)
        .into_iter()
        .map(|mut o| {
            o.context.as_of = d("2026-02-17");
            o
        })
        .collect();
    assert_eq!(f.db.record_batch(&acme, &later).await.unwrap().recorded, 2);
}

async fn the_log_filters_by_customer_and_as_of_range_within_the_tenant(f: Fixture) {
    let acme = tid("acme");
    let page = seeded_page(&f, &acme).await;
    let mut outcomes = first_reminders(&page);
    let mut later = page.invoices[0].context.clone();
    later.as_of = d("2026-02-17");
    outcomes.push(outcome(&later, 2));
    f.db.record_batch(&acme, &outcomes).await.unwrap();
    // Another tenant with a customer of the same id and a decision of its own.
    let bolt = tid("bolt");
    seed(&f, &bolt).await;
    let bolt_page =
        f.db.due_for_review(&bolt, &DueQuery::new(d("2026-02-10")))
            .await
            .unwrap();
    f.db.record_batch(&bolt, &first_reminders(&bolt_page)[..1])
        .await
        .unwrap();

    let found = |query: DecisionQuery| {
        let db = &f.db;
        let acme = &acme;
        async move {
            db.decisions(acme, &query)
                .await
                .unwrap()
                .into_iter()
                .map(|r| (r.invoice_id, r.as_of.to_string()))
                .collect::<Vec<_>>()
        }
    };
    let day = |s: &str| Some(d(s));
    let c1 = found(DecisionQuery {
        customer: Some("c1".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(c1.len(), 3, "{c1:?}");
    let c2 = found(DecisionQuery {
        customer: Some("c2".into()),
        ..Default::default()
    })
    .await;
    assert!(c2.is_empty(), "{c2:?}");
    let late = found(DecisionQuery {
        from: day("2026-02-11"),
        ..Default::default()
    })
    .await;
    assert_eq!(late, [("i1".to_owned(), "2026-02-17".to_owned())]);
    let early = found(DecisionQuery {
        to: day("2026-02-10"),
        ..Default::default()
    })
    .await;
    assert_eq!(early.len(), 2, "{early:?}");
    let one = found(DecisionQuery {
        from: day("2026-02-10"),
        to: day("2026-02-10"),
        ..DecisionQuery::invoice("i2")
    })
    .await;
    assert_eq!(one, [("i2".to_owned(), "2026-02-10".to_owned())]);
    // Bolt's own c1 sees only bolt's decision.
    let bolt_c1 =
        f.db.decisions(
            &bolt,
            &DecisionQuery {
                customer: Some("c1".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(bolt_c1.len(), 1);
}
