//! Shadow and canary versions: the trial row, shadow decisions beside live ones, promotion
//! and abort in one transaction, figures per version; each only the tenant's own.

use dunlin_store::sweep::EncodedOutcome;
use dunlin_store::testing::{self, date as d, Fixture};
use dunlin_store::trial::{ShadowOutcome, ShadowQuery};
use dunlin_store::{CanaryShare, DueQuery, Outcome, PolicyStatus, StoreError, TenantId};

use crate::data::{first_reminders, notice, seed, tid};

dunlin_store::conformance!(
    shadow_is_the_tenants_own_version_and_not_the_active_one,
    shadow_answers_sit_beside_live_decisions_and_touch_nothing_else,
    shadow_answers_carried_by_a_batch_are_written_with_it,
    a_shadow_answer_like_the_live_one_is_stored_by_reference_and_reads_whole,
    a_failing_shadow_write_keeps_the_live_decisions_of_its_batch,
    a_canary_is_promoted_or_aborted_whole,
);

/// A tenant with versions 1 (active), 2 and 3 uploaded.
async fn with_versions(f: &Fixture, tenant: &TenantId) {
    seed(f, tenant).await;
    for n in 1..=3 {
        f.db.add_policy_version(tenant, format!("{tenant} component {n}").as_bytes())
            .await
            .unwrap();
    }
    f.db.activate_policy_version(tenant, 1).await.unwrap();
}

fn invalid(result: Result<impl std::fmt::Debug, StoreError>) -> String {
    match result {
        Err(StoreError::Invalid { problem, .. }) => problem,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

async fn shadow_is_the_tenants_own_version_and_not_the_active_one(f: Fixture) {
    let acme = tid("acme");
    let globex = tid("globex");
    with_versions(&f, &acme).await;
    seed(&f, &globex).await;
    f.db.add_policy_version(&globex, b"globex 1").await.unwrap();
    assert!(f.db.policy_trials(&acme).await.unwrap().shadow.is_none());

    let on = f.db.set_shadow(&acme, Some(2)).await.unwrap();
    let since = on.shadow.as_ref().expect("shadow on").since;
    assert_eq!(on.shadow.as_ref().map(|s| s.version), Some(2));
    // The same version again keeps its start; another one starts anew.
    let again = f.db.set_shadow(&acme, Some(2)).await.unwrap();
    assert_eq!(again.shadow.as_ref().map(|s| s.since), Some(since));
    assert!(invalid(f.db.set_shadow(&acme, Some(1)).await).contains("active"));
    assert!(matches!(
        f.db.set_shadow(&acme, Some(9)).await,
        Err(StoreError::UnknownPolicyVersion { version: 9, .. })
    ));
    // Globex has a version 1 only: acme's 2 and 3 are not its to shadow.
    assert!(matches!(
        f.db.set_shadow(&globex, Some(3)).await,
        Err(StoreError::UnknownPolicyVersion { version: 3, .. })
    ));
    assert!(f.db.policy_trials(&globex).await.unwrap().shadow.is_none());
    assert!(matches!(
        f.db.start_canary(&globex, 2, CanaryShare::from_basis_points(1000).unwrap())
            .await,
        Err(StoreError::UnknownPolicyVersion { version: 2, .. })
    ));
    assert_eq!(
        f.db.policy_trials(&acme)
            .await
            .unwrap()
            .shadow
            .map(|s| s.version),
        Some(2)
    );
    // A version in shadow is in use: it cannot be deleted.
    assert!(matches!(
        f.db.delete_policy_version(&acme, 2).await,
        Err(StoreError::PolicyVersionInUse { .. })
    ));
    let off = f.db.set_shadow(&acme, None).await.unwrap();
    assert!(off.shadow.is_none());
    assert!(matches!(
        f.db.set_shadow(&tid("nobody"), Some(2)).await,
        Err(StoreError::UnknownTenant(_))
    ));
}

fn shadow_of(invoice: &str, as_of: &str, version: u32, level: u8) -> ShadowOutcome {
    ShadowOutcome {
        invoice_id: invoice.into(),
        as_of: d(as_of),
        version,
        decision: Some(dunlin_core::Decision {
            segment: "smb".into(),
            actions: vec![notice(level)],
            review_on: None,
            reason: format!("shadow says level {level}"),
        }),
        reason: format!("shadow says level {level}"),
        interventions: vec![],
        blocked: vec![notice(3)],
        fuel_used: Some(7_000),
        duration_us: Some(30),
        failure: None,
    }
}

async fn count(f: &Fixture, table: &str) -> i64 {
    testing::scalar(f, &format!("SELECT COUNT(*) FROM {table}"))
        .await
        .expect("a count")
}

async fn shadow_answers_sit_beside_live_decisions_and_touch_nothing_else(f: Fixture) {
    let acme = tid("acme");
    let globex = tid("globex");
    with_versions(&f, &acme).await;
    with_versions(&f, &globex).await;
    let page =
        f.db.due_for_review(&acme, &DueQuery::new(d("2026-02-10")))
            .await
            .unwrap();
    let live = first_reminders(&page);
    assert_eq!(live.len(), 2, "i1 and i2 are overdue");
    f.db.record_batch(&acme, &live).await.unwrap();
    let (actions, states) = (count(&f, "actions").await, count(&f, "dunning_state").await);
    let state_before = f.db.dunning_state(&acme, "i1").await.unwrap();

    let mut failed = shadow_of("i2", "2026-02-10", 2, 0);
    failed.decision = None;
    failed.failure = Some(dunlin_store::FailureRecord {
        code: "trap".into(),
        message: "unreachable".into(),
    });
    let rows = [
        shadow_of("i1", "2026-02-10", 2, 2),
        failed.clone(),
        // No live decision for i3 on that day, nor for i1 on another: not written.
        shadow_of("i3", "2026-02-10", 2, 1),
        shadow_of("i1", "2026-02-11", 2, 1),
    ];
    assert_eq!(f.db.record_shadow(&acme, &rows).await.unwrap(), 2);
    // Again: recorded before, not written twice.
    assert_eq!(f.db.record_shadow(&acme, &rows).await.unwrap(), 0);
    // Globex has no live decisions of these invoices: nothing of acme's is linked.
    assert_eq!(f.db.record_shadow(&globex, &rows).await.unwrap(), 0);
    assert_eq!(count(&f, "actions").await, actions, "never in the outbox");
    assert_eq!(count(&f, "dunning_state").await, states);
    assert_eq!(f.db.dunning_state(&acme, "i1").await.unwrap(), state_before);

    let page =
        f.db.shadow_pairs(&acme, &ShadowQuery::default())
            .await
            .unwrap();
    assert_eq!(page.next, None);
    assert_eq!(page.pairs.len(), 2);
    let (first, second) = (&page.pairs[0], &page.pairs[1]);
    assert_eq!(first.live.invoice_id, "i1");
    assert_eq!(first.shadow, rows[0]);
    assert_eq!(
        first.live.context.invoice.id, "i1",
        "the context comes with the pair"
    );
    assert_eq!(first.live.actions.len(), 1);
    assert_eq!(second.shadow, failed);
    // Filters: a version without answers, a range without decisions, paging.
    let none = ShadowQuery {
        version: Some(3),
        ..Default::default()
    };
    assert!(f
        .db
        .shadow_pairs(&acme, &none)
        .await
        .unwrap()
        .pairs
        .is_empty());
    let later = ShadowQuery {
        from: Some(d("2026-02-11")),
        ..Default::default()
    };
    assert!(f
        .db
        .shadow_pairs(&acme, &later)
        .await
        .unwrap()
        .pairs
        .is_empty());
    let one = ShadowQuery {
        limit: 1,
        ..Default::default()
    };
    let p1 = f.db.shadow_pairs(&acme, &one).await.unwrap();
    assert_eq!(p1.pairs.len(), 1);
    let p2 =
        f.db.shadow_pairs(
            &acme,
            &ShadowQuery {
                after_id: p1.next,
                ..one
            },
        )
        .await
        .unwrap();
    assert_eq!(p2.pairs[0].shadow, failed);
    // Another tenant reads none of them.
    assert!(f
        .db
        .shadow_pairs(&globex, &ShadowQuery::default())
        .await
        .unwrap()
        .pairs
        .is_empty());
}

/// acme with its versions, and the live first reminders of its first two invoices due on
/// 2026-02-10, as the sweep would hand them to the writer.
async fn two_first_reminders(f: &Fixture, acme: &TenantId) -> (Outcome, Outcome) {
    with_versions(f, acme).await;
    let page =
        f.db.due_for_review(acme, &DueQuery::new(d("2026-02-10")))
            .await
            .unwrap();
    let mut live = first_reminders(&page).into_iter();
    (live.next().unwrap(), live.next().unwrap())
}

async fn shadow_answers_carried_by_a_batch_are_written_with_it(f: Fixture) {
    let acme = tid("acme");
    let (i1, i2) = two_first_reminders(&f, &acme).await;
    assert_eq!(
        (
            i1.context.invoice.id.as_str(),
            i2.context.invoice.id.as_str()
        ),
        ("i1", "i2")
    );
    let answer = shadow_of("i1", "2026-02-10", 2, 2);
    let batch = || {
        EncodedOutcome::encode_with_shadows(vec![
            (i1.clone(), Some(answer.clone())),
            // An answer for another invoice than its outcome's is dropped, not written.
            (i2.clone(), Some(shadow_of("i3", "2026-02-10", 2, 1))),
        ])
        .unwrap()
    };
    let written = f.db.record_encoded(&acme, batch(), None).await.unwrap();
    assert_eq!((written.recorded, written.shadowed), (2, 1));
    // Again: the decisions exist, so neither they nor their shadow answers are written.
    let again = f.db.record_encoded(&acme, batch(), None).await.unwrap();
    assert_eq!((again.recorded, again.skipped, again.shadowed), (0, 2, 0));
    assert_eq!(count(&f, "shadow_decisions").await, 1);
    let pairs =
        f.db.shadow_pairs(&acme, &ShadowQuery::default())
            .await
            .unwrap()
            .pairs;
    assert_eq!(pairs.len(), 1);
    assert_eq!(pairs[0].shadow, answer);
    assert_eq!(pairs[0].live.invoice_id, "i1");
    assert_eq!(pairs[0].live.actions.len(), 1, "the live action only");
}

async fn a_shadow_answer_like_the_live_one_is_stored_by_reference_and_reads_whole(f: Fixture) {
    let acme = tid("acme");
    let (i1, i2) = two_first_reminders(&f, &acme).await;
    let like = |o: &dunlin_store::Outcome| ShadowOutcome {
        invoice_id: o.context.invoice.id.clone(),
        as_of: o.context.as_of,
        version: 2,
        decision: o.decision.clone(),
        reason: o.decision.as_ref().unwrap().reason.clone(),
        interventions: o.interventions.clone(),
        blocked: vec![notice(3)],
        fuel_used: Some(7_000),
        duration_us: Some(30),
        failure: None,
    };
    // The first agrees with its live decision; the second differs in its reason only.
    let same = like(&i1);
    let other = ShadowOutcome {
        reason: "another reason".into(),
        ..like(&i2)
    };
    let batch = EncodedOutcome::encode_with_shadows(vec![
        (i1.clone(), Some(same.clone())),
        (i2.clone(), Some(other.clone())),
    ])
    .unwrap();
    let written = f.db.record_encoded(&acme, batch, None).await.unwrap();
    assert_eq!((written.recorded, written.shadowed), (2, 2));
    let by_reference = testing::scalar(
        &f,
        "SELECT COUNT(*) FROM shadow_decisions WHERE as_live AND decision IS NULL \
         AND invoice_id = 'i1'",
    )
    .await;
    assert_eq!(
        by_reference,
        Some(1),
        "the agreeing answer names the live one"
    );
    let whole = testing::scalar(
        &f,
        "SELECT COUNT(*) FROM shadow_decisions WHERE NOT as_live AND decision IS NOT NULL \
         AND invoice_id = 'i2'",
    )
    .await;
    assert_eq!(whole, Some(1), "the differing answer is stored whole");
    let pairs =
        f.db.shadow_pairs(&acme, &ShadowQuery::default())
            .await
            .unwrap()
            .pairs;
    let shadows: Vec<&ShadowOutcome> = pairs.iter().map(|p| &p.shadow).collect();
    assert_eq!(shadows, vec![&same, &other]);
}

async fn a_failing_shadow_write_keeps_the_live_decisions_of_its_batch(f: Fixture) {
    let acme = tid("acme");
    with_versions(&f, &acme).await;
    if f.url.starts_with("sqlite:") {
        testing::scalar(
            &f,
            "CREATE TRIGGER shadows_fail BEFORE INSERT ON shadow_decisions \
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
        )
        .await;
    } else {
        testing::scalar(
            &f,
            "CREATE FUNCTION shadows_fail() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$",
        )
        .await;
        testing::scalar(
            &f,
            "CREATE TRIGGER shadows_fail BEFORE INSERT ON shadow_decisions \
             FOR EACH ROW EXECUTE FUNCTION shadows_fail()",
        )
        .await;
    }
    let page =
        f.db.due_for_review(&acme, &DueQuery::new(d("2026-02-10")))
            .await
            .unwrap();
    let batch: Vec<_> = first_reminders(&page)
        .into_iter()
        .map(|o| {
            let shadow = shadow_of(&o.context.invoice.id, "2026-02-10", 2, 2);
            (o, Some(shadow))
        })
        .collect();
    let batch = EncodedOutcome::encode_with_shadows(batch).unwrap();
    let written = f.db.record_encoded(&acme, batch, None).await.unwrap();
    assert_eq!(
        (written.recorded, written.actions, written.shadowed),
        (2, 2, 0)
    );
    assert_eq!(count(&f, "decisions").await, 2);
    assert_eq!(count(&f, "actions").await, 2);
    assert_eq!(count(&f, "shadow_decisions").await, 0);
    assert!(f.db.dunning_state(&acme, "i1").await.unwrap().is_some());
}

/// Makes every change of `policy_trials` fail, as a crash between a transaction's statements
/// would: a promotion or an abort writes the trial row last.
async fn break_trial_writes(f: &Fixture) {
    if f.url.starts_with("sqlite:") {
        testing::scalar(
            f,
            "CREATE TRIGGER trials_fail BEFORE UPDATE ON policy_trials \
             BEGIN SELECT RAISE(ABORT, 'injected failure'); END",
        )
        .await;
    } else {
        testing::scalar(
            f,
            "CREATE FUNCTION trials_fail() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$",
        )
        .await;
        testing::scalar(
            f,
            "CREATE TRIGGER trials_fail BEFORE UPDATE ON policy_trials \
             FOR EACH ROW EXECUTE FUNCTION trials_fail()",
        )
        .await;
    }
}

async fn mend_trial_writes(f: &Fixture) {
    let on = if f.url.starts_with("sqlite:") {
        ""
    } else {
        " ON policy_trials"
    };
    testing::scalar(f, &format!("DROP TRIGGER trials_fail{on}")).await;
}

async fn a_canary_is_promoted_or_aborted_whole(f: Fixture) {
    let acme = tid("acme");
    with_versions(&f, &acme).await;
    let ten = CanaryShare::from_basis_points(1000).unwrap();
    assert!(invalid(f.db.promote_canary(&acme).await).contains("no canary"));
    assert!(invalid(f.db.start_canary(&acme, 1, ten).await).contains("active"));
    let started = f.db.start_canary(&acme, 2, ten).await.unwrap();
    assert_eq!(started.canary.as_ref().map(|c| c.version), Some(2));
    assert!(invalid(f.db.start_canary(&acme, 3, ten).await).contains("promote or abort"));
    // Widening the same canary keeps its start.
    let twenty = CanaryShare::from_basis_points(2000).unwrap();
    let wider = f.db.start_canary(&acme, 2, twenty).await.unwrap();
    let canary = wider.canary.expect("canary");
    assert_eq!(
        (canary.share, canary.since),
        (twenty, started.canary.unwrap().since)
    );

    // Ladders: i1 started by the canary, i2 by the active version.
    let page =
        f.db.due_for_review(&acme, &DueQuery::new(d("2026-02-10")))
            .await
            .unwrap();
    let mut live = first_reminders(&page);
    live[0].state.policy_version = Some(2);
    f.db.record_batch(&acme, &live).await.unwrap();
    let pinned = |inv: &'static str| {
        let db = f.db.clone();
        let acme = acme.clone();
        async move {
            db.dunning_state(&acme, inv)
                .await
                .unwrap()
                .and_then(|s| s.policy_version)
        }
    };
    let active = |db: std::sync::Arc<dyn dunlin_store::Db>, t: TenantId| async move {
        db.policy_versions(&t)
            .await
            .unwrap()
            .into_iter()
            .find(|v| v.status == PolicyStatus::Active)
            .map(|v| v.version)
    };

    // A failure after the ladders moved (or the activation) leaves everything as it was.
    break_trial_writes(&f).await;
    assert!(f.db.abort_canary(&acme).await.is_err());
    assert_eq!(pinned("i1").await, Some(2), "the abort was undone whole");
    assert!(f.db.promote_canary(&acme).await.is_err());
    assert_eq!(
        active(f.db.clone(), acme.clone()).await,
        Some(1),
        "the promotion was undone whole"
    );
    assert_eq!(
        f.db.policy_trials(&acme)
            .await
            .unwrap()
            .canary
            .map(|c| c.version),
        Some(2)
    );
    mend_trial_writes(&f).await;

    // Abort: the canary's open ladders go back to the active version.
    assert_eq!(f.db.abort_canary(&acme).await.unwrap(), 1);
    assert_eq!(pinned("i1").await, Some(1));
    assert_eq!(pinned("i2").await, Some(1));
    assert!(f.db.policy_trials(&acme).await.unwrap().canary.is_none());
    assert!(invalid(f.db.abort_canary(&acme).await).contains("no canary"));

    // Promote: the canary is the active version, the canary is over; ladders stay pinned.
    f.db.start_canary(&acme, 3, ten).await.unwrap();
    let promoted = f.db.promote_canary(&acme).await.unwrap();
    assert_eq!(
        (promoted.version, promoted.status),
        (3, PolicyStatus::Active)
    );
    assert_eq!(active(f.db.clone(), acme.clone()).await, Some(3));
    assert!(f.db.policy_trials(&acme).await.unwrap().canary.is_none());
    assert_eq!(pinned("i1").await, Some(1));
}
