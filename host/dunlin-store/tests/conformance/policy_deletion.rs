//! Deleting a policy upload: only one nothing uses, and only the tenant's own.

use dunlin_store::testing::{date as d, Fixture};
use dunlin_store::{DueQuery, PolicyRef, StoreError};

use crate::data::{first_reminders, seed, tid};

dunlin_store::conformance!(
    only_an_unused_upload_is_deleted,
    open_ladders_are_counted_per_version,
);

fn why(result: Result<(), StoreError>) -> &'static str {
    match result {
        Err(StoreError::PolicyVersionInUse { why, .. }) => why,
        other => panic!("expected PolicyVersionInUse, got {other:?}"),
    }
}

async fn only_an_unused_upload_is_deleted(f: Fixture) {
    let acme = tid("acme");
    let globex = tid("globex");
    seed(&f, &acme).await;
    seed(&f, &globex).await;
    for n in 1..=5 {
        f.db.add_policy_version(&acme, format!("component {n}").as_bytes())
            .await
            .unwrap();
    }
    f.db.add_policy_version(&globex, b"component 1")
        .await
        .unwrap();
    let page =
        f.db.due_for_review(&acme, &DueQuery::new(d("2026-02-10")))
            .await
            .unwrap();
    let mut outcomes = first_reminders(&page);
    outcomes[0].policy = Some(PolicyRef {
        version: 3,
        sha256: "cd".repeat(32),
    });
    f.db.record_batch(&acme, &outcomes).await.unwrap();
    f.db.activate_policy_version(&acme, 2).await.unwrap();
    f.db.migrate_ladders(&acme, 4).await.unwrap();

    assert_eq!(
        why(f.db.delete_policy_version(&acme, 1).await),
        "is named by decisions"
    );
    assert_eq!(
        why(f.db.delete_policy_version(&acme, 2).await),
        "is or was active"
    );
    assert_eq!(
        why(f.db.delete_policy_version(&acme, 3).await),
        "is named by decisions"
    );
    assert_eq!(
        why(f.db.delete_policy_version(&acme, 4).await),
        "has ladders pinned to it"
    );
    f.db.activate_policy_version(&acme, 5).await.unwrap();
    f.db.activate_policy_version(&acme, 2).await.unwrap();
    assert_eq!(
        why(f.db.delete_policy_version(&acme, 5).await),
        "is or was active",
        "a retired version stays"
    );
    let six =
        f.db.add_policy_version(&acme, b"component 6")
            .await
            .unwrap();
    f.db.delete_policy_version(&acme, six.version)
        .await
        .unwrap();
    let versions: Vec<u32> =
        f.db.policy_versions(&acme)
            .await
            .unwrap()
            .iter()
            .map(|v| v.version)
            .collect();
    assert_eq!(versions, [1, 2, 3, 4, 5]);
    assert!(matches!(
        f.db.delete_policy_version(&acme, six.version).await,
        Err(StoreError::UnknownPolicyVersion { version: 6, .. })
    ));
    // Globex's unused version 1 is not acme's to delete, whatever acme's 1 is.
    assert!(matches!(
        f.db.delete_policy_version(&tid("nobody"), 1).await,
        Err(StoreError::UnknownPolicyVersion { .. })
    ));
    assert_eq!(f.db.policy_versions(&globex).await.unwrap().len(), 1);
    f.db.delete_policy_version(&globex, 1).await.unwrap();
    assert!(f.db.policy_versions(&globex).await.unwrap().is_empty());
    assert_eq!(f.db.policy_versions(&acme).await.unwrap().len(), 5);
}

async fn open_ladders_are_counted_per_version(f: Fixture) {
    let acme = tid("acme");
    let globex = tid("globex");
    seed(&f, &acme).await;
    seed(&f, &globex).await;
    assert!(f
        .db
        .open_ladders_by_version(&acme)
        .await
        .unwrap()
        .is_empty());
    let page =
        f.db.due_for_review(&acme, &DueQuery::new(d("2026-02-10")))
            .await
            .unwrap();
    let mut outcomes = first_reminders(&page);
    assert_eq!(outcomes.len(), 2);
    outcomes[0].state.policy_version = Some(2);
    f.db.record_batch(&acme, &outcomes).await.unwrap();
    let counts = |t| {
        let db = f.db.clone();
        async move {
            db.open_ladders_by_version(&t)
                .await
                .unwrap()
                .into_iter()
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(counts(acme.clone()).await, [(1, 1), (2, 1)]);
    // A week on, the ladder on version 2 ends: it is no longer counted.
    let page =
        f.db.due_for_review(&acme, &DueQuery::new(d("2026-02-17")))
            .await
            .unwrap();
    let mut outcomes = first_reminders(&page);
    assert_eq!(outcomes.len(), 2);
    outcomes[0].state.policy_version = Some(2);
    outcomes[0].state.ended = true;
    f.db.record_batch(&acme, &outcomes).await.unwrap();
    assert_eq!(counts(acme.clone()).await, [(1, 1)]);
    assert!(f
        .db
        .open_ladders_by_version(&globex)
        .await
        .unwrap()
        .is_empty());
}
