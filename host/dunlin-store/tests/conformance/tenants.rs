//! Tenants, API keys, policy versions and the ladders pinned to them; the schema's
//! migrations and the planners' statistics.

use dunlin_store::testing::{date as d, Fixture};
use dunlin_store::{
    api_key, connect, DueQuery, FailureMode, Outcome, PolicyStatus, StoreError, TenantId,
    TenantSettings,
};

use crate::data::{first_reminders, seed, settings, tid};

dunlin_store::conformance!(
    migrations_run_from_empty_and_again,
    statistics_refresh_on_an_empty_and_a_loaded_store,
    tenants_are_created_read_listed_and_updated,
    api_keys_find_their_tenant,
    api_keys_are_made_listed_used_and_revoked,
    revoking_or_listing_keys_never_reaches_another_tenant,
    api_key_labels_are_bounded_text,
    a_migrated_store_is_ready,
    policy_versions_number_up_and_only_one_is_active,
    migrating_ladders_repins_open_ones_only,
);

async fn migrations_run_from_empty_and_again(f: Fixture) {
    assert!(f.db.tenants().await.unwrap().is_empty());
    f.db.create_tenant(&tid("acme"), &settings()).await.unwrap();
    // Opening the same database again finds the schema current and the data intact.
    let again = connect(&f.url).await.expect("reopen");
    assert_eq!(again.tenants().await.unwrap().len(), 1);
    assert_eq!(again.backend(), f.db.backend());
}

/// Bulk loads end with `refresh_statistics`; it must run on either backend, empty or not, and
/// leave every row where it was.
async fn statistics_refresh_on_an_empty_and_a_loaded_store(f: Fixture) {
    f.db.refresh_statistics().await.expect("on an empty store");
    let t = TenantId::new("acme").unwrap();
    f.db.create_tenant(&t, &TenantSettings::default())
        .await
        .unwrap();
    f.db.refresh_statistics().await.expect("with a tenant");
    assert!(f.db.tenant(&t).await.unwrap().is_some());
}

async fn tenants_are_created_read_listed_and_updated(f: Fixture) {
    let acme = tid("acme");
    let created = f.db.create_tenant(&acme, &settings()).await.unwrap();
    assert_eq!(f.db.tenant(&acme).await.unwrap(), Some(created.clone()));
    assert!(matches!(
        f.db.create_tenant(&acme, &settings()).await,
        Err(StoreError::TenantExists(_))
    ));
    f.db.create_tenant(&tid("beta"), &TenantSettings::default())
        .await
        .unwrap();
    let ids: Vec<String> =
        f.db.tenants()
            .await
            .unwrap()
            .into_iter()
            .map(|t| t.id.to_string())
            .collect();
    assert_eq!(ids, ["acme", "beta"]);

    let mut changed = settings();
    changed.schedule = "0 30 8 * * *".into();
    changed.failure_mode = FailureMode::SafeDefault;
    changed.params.insert("grace-days".into(), "3".into());
    let updated = f.db.update_tenant(&acme, &changed).await.unwrap();
    assert_eq!(updated.settings, changed);
    assert_eq!(updated.created_at, created.created_at);
    assert!(matches!(
        f.db.update_tenant(&tid("nobody"), &changed).await,
        Err(StoreError::UnknownTenant(_))
    ));

    let tick = chrono::Utc::now();
    f.db.mark_tick(&acme, tick).await.unwrap();
    let last =
        f.db.tenant(&acme)
            .await
            .unwrap()
            .unwrap()
            .last_tick_at
            .unwrap();
    assert!((last - tick).num_milliseconds().abs() < 1);
    assert!(f.db.tenant(&tid("nobody")).await.unwrap().is_none());
}

async fn api_keys_find_their_tenant(f: Fixture) {
    let (acme, beta) = (tid("acme"), tid("beta"));
    f.db.create_tenant(&acme, &settings()).await.unwrap();
    f.db.create_tenant(&beta, &settings()).await.unwrap();
    f.db.add_api_key(&acme, "key-a", "ci").await.unwrap();
    f.db.add_api_key(&acme, "key-a", "ci").await.unwrap(); // again: no-op
    f.db.add_api_key(&beta, "key-b", "ci").await.unwrap();
    assert_eq!(f.db.tenant_for_api_key("key-a").await.unwrap(), Some(acme));
    assert_eq!(
        f.db.tenant_for_api_key("key-b").await.unwrap(),
        Some(beta.clone())
    );
    assert_eq!(f.db.tenant_for_api_key("key-c").await.unwrap(), None);
    assert!(f.db.add_api_key(&beta, "key-a", "steal").await.is_err());
    assert!(matches!(
        f.db.add_api_key(&tid("nobody"), "key-z", "x").await,
        Err(StoreError::UnknownTenant(_))
    ));
}

async fn api_keys_are_made_listed_used_and_revoked(f: Fixture) {
    let acme = tid("acme");
    f.db.create_tenant(&acme, &settings()).await.unwrap();
    let (key, row) = f.db.create_api_key(&acme, "billing sync").await.unwrap();
    assert!(key.starts_with(api_key::PREFIX), "{key}");
    assert_eq!(row.id, api_key::id_of(&key));
    assert_eq!(row.label, "billing sync");
    assert_eq!((row.last_used_at, row.revoked_at), (None, None));
    let (other, _) = f.db.create_api_key(&acme, "ci").await.unwrap();
    assert_ne!(key, other);

    assert_eq!(
        f.db.tenant_for_api_key(&key).await.unwrap(),
        Some(acme.clone())
    );
    let listed = f.db.api_keys(&acme).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].id, row.id);
    assert!(listed[0].last_used_at.is_some(), "a use is noted");
    assert!(listed[1].last_used_at.is_none());
    // The list never holds a key, in any field.
    let shown = serde_json::to_string(&listed).unwrap();
    assert!(!shown.contains(&key[3..]) && !shown.contains(&other[3..]));

    assert!(f.db.revoke_api_key(&acme, &row.id).await.unwrap());
    assert!(!f.db.revoke_api_key(&acme, &row.id).await.unwrap(), "once");
    assert_eq!(f.db.tenant_for_api_key(&key).await.unwrap(), None);
    assert_eq!(
        f.db.tenant_for_api_key(&other).await.unwrap(),
        Some(acme.clone())
    );
    let listed = f.db.api_keys(&acme).await.unwrap();
    assert!(listed[0].revoked_at.is_some());
    assert!(listed[1].revoked_at.is_none());
    // A revoked key stays revoked when it is added again.
    f.db.add_api_key(&acme, &key, "again").await.unwrap();
    assert_eq!(f.db.tenant_for_api_key(&key).await.unwrap(), None);
}

async fn revoking_or_listing_keys_never_reaches_another_tenant(f: Fixture) {
    let (acme, beta) = (tid("acme"), tid("beta"));
    f.db.create_tenant(&acme, &settings()).await.unwrap();
    f.db.create_tenant(&beta, &settings()).await.unwrap();
    let (key_a, row_a) = f.db.create_api_key(&acme, "a").await.unwrap();
    let (_, row_b) = f.db.create_api_key(&beta, "b").await.unwrap();
    assert!(!f.db.revoke_api_key(&beta, &row_a.id).await.unwrap());
    assert_eq!(
        f.db.tenant_for_api_key(&key_a).await.unwrap(),
        Some(acme.clone())
    );
    let ids =
        |rows: Vec<dunlin_store::ApiKeyRow>| rows.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids(f.db.api_keys(&acme).await.unwrap()), [row_a.id]);
    assert_eq!(ids(f.db.api_keys(&beta).await.unwrap()), [row_b.id]);
    assert!(f.db.api_keys(&tid("nobody")).await.unwrap().is_empty());
    assert!(matches!(
        f.db.create_api_key(&tid("nobody"), "x").await,
        Err(StoreError::UnknownTenant(_))
    ));
}

async fn api_key_labels_are_bounded_text(f: Fixture) {
    let acme = tid("acme");
    f.db.create_tenant(&acme, &settings()).await.unwrap();
    for label in ["a\u{1b}[2Jb", "line\nbreak", &"x".repeat(101)] {
        assert!(
            matches!(
                f.db.create_api_key(&acme, label).await,
                Err(StoreError::Invalid { .. })
            ),
            "{label:?}"
        );
    }
    assert!(f.db.api_keys(&acme).await.unwrap().is_empty());
    f.db.create_api_key(&acme, &"é".repeat(100)).await.unwrap();
}

async fn a_migrated_store_is_ready(f: Fixture) {
    assert!(f.db.ready().await.unwrap());
}

async fn policy_versions_number_up_and_only_one_is_active(f: Fixture) {
    let acme = tid("acme");
    f.db.create_tenant(&acme, &settings()).await.unwrap();
    assert!(f.db.active_policy(&acme).await.unwrap().is_none());
    let v1 =
        f.db.add_policy_version(&acme, b"component one")
            .await
            .unwrap();
    let v2 =
        f.db.add_policy_version(&acme, b"component two")
            .await
            .unwrap();
    assert_eq!((v1.version, v2.version), (1, 2));
    assert_eq!(v1.status, PolicyStatus::Uploaded);
    assert_eq!(v1.size, 13);
    // The same bytes again are the same version.
    let again =
        f.db.add_policy_version(&acme, b"component one")
            .await
            .unwrap();
    assert_eq!(again.version, 1);

    f.db.activate_policy_version(&acme, 1).await.unwrap();
    let active = f.db.activate_policy_version(&acme, 2).await.unwrap();
    assert_eq!(active.status, PolicyStatus::Active);
    let statuses: Vec<(u32, PolicyStatus)> =
        f.db.policy_versions(&acme)
            .await
            .unwrap()
            .iter()
            .map(|v| (v.version, v.status))
            .collect();
    assert_eq!(
        statuses,
        [(1, PolicyStatus::Retired), (2, PolicyStatus::Active)]
    );
    let blob = f.db.active_policy(&acme).await.unwrap().unwrap();
    assert_eq!(
        (blob.version.version, blob.bytes.as_slice()),
        (2, &b"component two"[..])
    );
    assert_eq!(blob.version.sha256, v2.sha256);

    // Rolling back re-activates version 1 and retires 2.
    f.db.activate_policy_version(&acme, 1).await.unwrap();
    let active: Vec<u32> =
        f.db.policy_versions(&acme)
            .await
            .unwrap()
            .iter()
            .filter(|v| v.status == PolicyStatus::Active)
            .map(|v| v.version)
            .collect();
    assert_eq!(active, [1]);
    let old = f.db.policy_blob(&acme, 2).await.unwrap().unwrap();
    assert_eq!(old.bytes, b"component two");
    assert!(matches!(
        f.db.activate_policy_version(&acme, 9).await,
        Err(StoreError::UnknownPolicyVersion { version: 9, .. })
    ));
    assert!(matches!(
        f.db.add_policy_version(&tid("nobody"), b"x").await,
        Err(StoreError::UnknownTenant(_))
    ));
}

async fn migrating_ladders_repins_open_ones_only(f: Fixture) {
    let acme = tid("acme");
    let globex = tid("globex");
    seed(&f, &acme).await;
    seed(&f, &globex).await;
    for t in [&acme, &globex] {
        f.db.add_policy_version(t, b"component one").await.unwrap();
        f.db.add_policy_version(t, b"component two").await.unwrap();
        let page =
            f.db.due_for_review(t, &DueQuery::new(d("2026-02-10")))
                .await
                .unwrap();
        let mut outcomes: Vec<Outcome> = first_reminders(&page);
        outcomes[1].state.ended = true;
        f.db.record_batch(t, &outcomes).await.unwrap();
    }
    assert_eq!(f.db.migrate_ladders(&acme, 2).await.unwrap(), 1);
    let pinned = |t: TenantId, id: &'static str| {
        let db = f.db.clone();
        async move {
            db.dunning_state(&t, id)
                .await
                .unwrap()
                .unwrap()
                .policy_version
        }
    };
    assert_eq!(pinned(acme.clone(), "i1").await, Some(2));
    assert_eq!(
        pinned(acme.clone(), "i2").await,
        Some(1),
        "an ended ladder stays"
    );
    assert_eq!(
        pinned(globex.clone(), "i1").await,
        Some(1),
        "another tenant is untouched"
    );
    assert!(matches!(
        f.db.migrate_ladders(&acme, 9).await,
        Err(StoreError::UnknownPolicyVersion { .. })
    ));
}
