//! Replicas: registration (exclusive on a one-process database), heartbeats, graceful stops,
//! and a dead or stopped replica's sweep lock going free at once.

use chrono::{Duration, Utc};
use dunlin_store::replica::Registered;
use dunlin_store::testing::{date as d, Fixture};
use dunlin_store::{NewSweepRun, SweepStatus, SweepTrigger};

use crate::data::{settings, tid};

dunlin_store::conformance!(
    an_exclusive_registration_is_refused_while_another_replica_is_live,
    a_stopped_replicas_sweep_lock_is_free_at_once,
);

async fn an_exclusive_registration_is_refused_while_another_replica_is_live(f: Fixture) {
    assert!(matches!(
        f.db.register_replica("a", true).await.unwrap(),
        Registered::Yes(r) if r.id == "a" && r.doing == "idle" && r.stopped_at.is_none()
    ));
    match f.db.register_replica("b", true).await.unwrap() {
        Registered::Refused(live) => assert_eq!(live.id, "a"),
        other => panic!("b registered beside a live a: {other:?}"),
    }
    // Not exclusive (PostgreSQL): any number.
    assert!(matches!(
        f.db.register_replica("c", false).await.unwrap(),
        Registered::Yes(_)
    ));
    f.db.heartbeat_replica("c", "sweeping acme as-of 2026-03-01")
        .await
        .unwrap();
    f.db.stop_replica("a").await.unwrap();
    f.db.stop_replica("c").await.unwrap();
    assert!(matches!(
        f.db.register_replica("d", true).await.unwrap(),
        Registered::Yes(_)
    ));
    let now = Utc::now();
    let listed = f.db.replicas(now - Duration::hours(1)).await.unwrap();
    let states: Vec<(&str, &str)> = listed
        .iter()
        .map(|r| (r.id.as_str(), r.state(now)))
        .collect();
    assert_eq!(
        states,
        vec![("a", "stopped"), ("c", "stopped"), ("d", "live")]
    );
    // Later than the staleness window, d (never stopped) is dead.
    let later = now + Duration::seconds(60);
    assert_eq!(listed[2].state(later), "dead");
    assert!(
        f.db.replicas(now + Duration::hours(1))
            .await
            .unwrap()
            .is_empty(),
        "none beat since"
    );
}

async fn a_stopped_replicas_sweep_lock_is_free_at_once(f: Fixture) {
    let acme = tid("acme");
    f.db.create_tenant(&acme, &settings()).await.unwrap();
    for id in ["r1", "r2"] {
        f.db.register_replica(id, false).await.unwrap();
    }
    let run = NewSweepRun {
        as_of: d("2026-03-01"),
        dry_run: false,
        started_by: SweepTrigger::Schedule,
    };
    let long_ago = Utc::now() - Duration::hours(1);
    let first =
        f.db.start_sweep_run_as(&acme, &run, long_ago, Some("r1"))
            .await
            .unwrap()
            .expect("r1 takes the lock");
    assert_eq!(first.replica.as_deref(), Some("r1"));
    let leases = f.db.leases().await.unwrap();
    assert_eq!(leases.sweeps.len(), 1);
    assert_eq!(
        (leases.sweeps[0].replica.as_deref(), leases.sweeps[0].run_id),
        (Some("r1"), first.id)
    );
    assert!(
        f.db.start_sweep_run_as(&acme, &run, long_ago, Some("r2"))
            .await
            .unwrap()
            .is_none(),
        "a live replica's sweep holds the tenant"
    );
    f.db.stop_replica("r1").await.unwrap();
    let second =
        f.db.start_sweep_run_as(&acme, &run, long_ago, Some("r2"))
            .await
            .unwrap()
            .expect("a stopped replica's lock is free at once");
    let abandoned = f.db.sweep_run(&acme, first.id).await.unwrap().unwrap();
    assert_eq!(
        (abandoned.status, abandoned.replica.as_deref()),
        (SweepStatus::Abandoned, Some("r1"))
    );
    let leases = f.db.leases().await.unwrap();
    assert_eq!(
        (leases.sweeps.len(), leases.sweeps[0].replica.as_deref()),
        (1, Some("r2"))
    );
    assert_eq!(leases.sweeps[0].run_id, second.id);
}
