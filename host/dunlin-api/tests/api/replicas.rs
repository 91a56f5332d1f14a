//! `GET /v1/admin/replicas`: the replicas on the database, their state and their leases.

use crate::support::*;

dunlin_store::conformance!(the_operator_sees_replicas_and_the_leases_each_holds);

async fn the_operator_sees_replicas_and_the_leases_each_holds(f: Fixture) {
    let api = Api::new(f).await;
    let db = &api.f.db;
    db.register_replica("host-1-aa", false).await.unwrap();
    db.register_replica("host-2-bb", false).await.unwrap();
    db.heartbeat_replica("host-1-aa", "sweeping acme as-of 2026-03-01")
        .await
        .unwrap();
    db.stop_replica("host-2-bb").await.unwrap();
    let acme = dunlin_store::TenantId::new("acme").unwrap();
    let run = dunlin_store::NewSweepRun {
        as_of: dunlin_store::testing::date("2026-03-01"),
        dry_run: false,
        started_by: dunlin_store::SweepTrigger::Schedule,
    };
    let long_ago = chrono::Utc::now() - chrono::Duration::hours(1);
    db.start_sweep_run_as(&acme, &run, long_ago, Some("host-1-aa"))
        .await
        .unwrap()
        .unwrap();

    let (s, v) = api
        .call(Method::GET, "/v1/admin/replicas", Some(OPERATOR), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let replicas = v["replicas"].as_array().unwrap();
    assert_eq!(replicas.len(), 2, "{v}");
    assert_eq!(
        (replicas[0]["id"].as_str(), replicas[0]["state"].as_str()),
        (Some("host-1-aa"), Some("live"))
    );
    assert_eq!(replicas[0]["doing"], "sweeping acme as-of 2026-03-01");
    assert_eq!(replicas[1]["state"], "stopped", "{v}");
    assert!(replicas[1]["stopped-at"].is_string());
    assert_eq!(v["sweeps"][0]["tenant"], "acme", "{v}");
    assert_eq!(v["sweeps"][0]["replica"], "host-1-aa");
    assert_eq!(v["sweeps"][0]["as-of"], "2026-03-01");
    assert!(v["actions"].as_array().unwrap().is_empty());

    // Tenants' keys and no key are refused.
    for key in [None, Some("wrong"), Some(api.acme.as_str())] {
        let (s, _) = api.call(Method::GET, "/v1/admin/replicas", key, None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{key:?}");
    }
}
