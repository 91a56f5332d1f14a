//! A tenant's own sandbox limits are stored with its settings, each tenant's its own, and
//! a limit no operator allows is refused by name.

use dunlin_core::sandbox_limits::SandboxSettings;
use dunlin_store::testing::Fixture;
use dunlin_store::TenantSettings;

use crate::data::{settings, tid};

dunlin_store::conformance!(sandbox_limits_round_trip_per_tenant_and_zero_is_refused);

async fn sandbox_limits_round_trip_per_tenant_and_zero_is_refused(f: Fixture) {
    let acme = tid("acme");
    let beta = tid("beta");
    f.db.create_tenant(&acme, &settings()).await.unwrap();
    f.db.create_tenant(&beta, &settings()).await.unwrap();
    let own = SandboxSettings {
        fuel: Some(40_000_000),
        memory_mib: Some(48),
        deadline_ms: None,
    };
    let with_limits = TenantSettings {
        sandbox: own,
        ..settings()
    };
    f.db.update_tenant(&acme, &with_limits).await.unwrap();
    assert_eq!(
        f.db.tenant(&acme).await.unwrap().unwrap().settings.sandbox,
        own
    );
    assert!(
        f.db.tenant(&beta)
            .await
            .unwrap()
            .unwrap()
            .settings
            .sandbox
            .is_default(),
        "another tenant keeps the host's defaults"
    );

    let zero = TenantSettings {
        sandbox: SandboxSettings {
            fuel: Some(0),
            ..own
        },
        ..settings()
    };
    let err =
        f.db.update_tenant(&acme, &zero)
            .await
            .unwrap_err()
            .to_string();
    assert!(err.contains("sandbox: fuel is 0"), "{err}");
    assert_eq!(
        f.db.tenant(&acme).await.unwrap().unwrap().settings.sandbox,
        own,
        "unchanged by the refused update"
    );
}
