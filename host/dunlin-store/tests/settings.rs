//! The store refuses tenant settings the daemon could not run, on both backends, whoever
//! calls it: the conformance harness runs each test on SQLite and PostgreSQL.

use dunlin_store::testing::Fixture;
use dunlin_store::{SettingsError, StoreError, TenantId, TenantSettings};

dunlin_store::conformance!(
    create_refuses_settings_the_daemon_could_not_run,
    update_refuses_them_and_keeps_the_settings_before,
);

fn tid(s: &str) -> TenantId {
    TenantId::new(s).expect("test tenant id")
}

/// Settings no operator's limits allow, each with what the refusal must say.
fn bad_settings() -> Vec<(TenantSettings, &'static str)> {
    let with = |edit: fn(&mut TenantSettings)| {
        let mut s = TenantSettings::default();
        edit(&mut s);
        s
    };
    vec![
        (
            with(|s| s.guardrails = serde_json::json!({"max-contacts-per-week": 7})),
            r#"unknown field "max-contacts-per-week""#,
        ),
        (
            with(
                |s| s.guardrails = serde_json::json!({"contact-window": {"start": "08:00", "end": "20:00", "zone": "x"}}),
            ),
            r#"unknown field "contact-window.zone""#,
        ),
        (
            with(|s| s.guardrails = serde_json::json!([1, 2])),
            "must be a JSON object",
        ),
        (
            with(|s| s.guardrails = serde_json::json!({"max-contacts-per-invoice-per-day": "2"})),
            r#"max-contacts-per-invoice-per-day is "2": invalid type"#,
        ),
        (
            with(|s| s.time_zone = "Mars/Olympus".into()),
            r#"time-zone "Mars/Olympus" is an unknown time zone"#,
        ),
        (
            with(|s| s.schedule = "every day at nine".into()),
            r#"schedule "every day at nine" is not a cron expression"#,
        ),
        // Beyond what any operator can allow: no contact at all, an empty window.
        (
            with(|s| s.guardrails = serde_json::json!({"max-contacts-per-customer-7-days": 0})),
            "max-contacts-per-customer-7-days is 0",
        ),
        (
            with(|s| {
                s.guardrails =
                    serde_json::json!({"contact-window": {"start": "21:00", "end": "08:00"}})
            }),
            "contact-window 21:00:00–08:00:00 is empty",
        ),
        (
            with(|s| s.name = "Acme\u{0}".into()),
            "holds a control character",
        ),
    ]
}

fn assert_refused(result: Result<dunlin_store::Tenant, StoreError>, says: &str) {
    match result {
        Err(StoreError::Settings(
            e @ (SettingsError::Invalid { .. } | SettingsError::Guardrails(_)),
        )) => {
            let message = e.to_string();
            assert!(message.contains(says), "{says:?} in {message:?}");
        }
        other => panic!("expected refused settings ({says}), got {other:?}"),
    }
}

async fn create_refuses_settings_the_daemon_could_not_run(f: Fixture) {
    for (i, (settings, says)) in bad_settings().into_iter().enumerate() {
        let id = tid(&format!("bad-{i}"));
        assert_refused(f.db.create_tenant(&id, &settings).await, says);
        assert_eq!(
            f.db.tenant(&id).await.unwrap(),
            None,
            "{says}: nothing stored"
        );
    }
    assert!(f.db.tenants().await.unwrap().is_empty());
    // Settings only the widest limits allow are the operator's to judge, not the store's.
    let loose = TenantSettings {
        guardrails: serde_json::json!({"max-contacts-per-customer-7-days": 50, "hold-while-disputed": false}),
        ..TenantSettings::default()
    };
    f.db.create_tenant(&tid("loose"), &loose).await.unwrap();
}

async fn update_refuses_them_and_keeps_the_settings_before(f: Fixture) {
    let acme = tid("acme");
    let before = TenantSettings {
        name: "Acme Oy".into(),
        time_zone: "Europe/Helsinki".into(),
        ..TenantSettings::default()
    };
    f.db.create_tenant(&acme, &before).await.unwrap();
    for (settings, says) in bad_settings() {
        assert_refused(f.db.update_tenant(&acme, &settings).await, says);
        let stored = f.db.tenant(&acme).await.unwrap().expect("acme exists");
        assert_eq!(stored.settings, before, "{says}: unchanged");
    }
}
