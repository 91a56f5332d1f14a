//! Sweep runs: their record, and the lock that keeps one sweep per tenant at a time.

use chrono::{Duration, Utc};
use dunlin_store::sweep_run::MAX_ERROR_BYTES;
use dunlin_store::testing::{date as d, Fixture};
use dunlin_store::{NewSweepRun, StoreError, SweepFigures, SweepStatus, SweepTrigger};

use crate::data::{settings, tid};

dunlin_store::conformance!(
    one_sweep_runs_per_tenant_and_each_is_recorded,
    a_sweep_whose_heartbeat_stopped_no_longer_holds_the_tenant,
    sweep_runs_are_listed_newest_first_per_tenant,
);

fn new_run(as_of: &str, started_by: SweepTrigger) -> NewSweepRun {
    NewSweepRun {
        as_of: d(as_of),
        dry_run: false,
        started_by,
    }
}

fn long_ago() -> chrono::DateTime<Utc> {
    Utc::now() - Duration::hours(1)
}

async fn one_sweep_runs_per_tenant_and_each_is_recorded(f: Fixture) {
    let (acme, globex) = (tid("acme"), tid("globex"));
    for t in [&acme, &globex] {
        f.db.create_tenant(t, &settings()).await.unwrap();
    }
    let run =
        f.db.start_sweep_run(&acme, &new_run("2026-03-01", SweepTrigger::Api), long_ago())
            .await
            .unwrap()
            .expect("the first sweep starts");
    assert_eq!(
        (run.status, run.as_of, run.started_by, run.dry_run),
        (
            SweepStatus::Running,
            d("2026-03-01"),
            SweepTrigger::Api,
            false
        )
    );
    assert_eq!(
        (run.figures, run.finished_at, &run.error, &run.replica),
        (SweepFigures::default(), None, &None, &None)
    );
    assert!(
        f.db.start_sweep_run(
            &acme,
            &new_run("2026-03-02", SweepTrigger::Schedule),
            long_ago()
        )
        .await
        .unwrap()
        .is_none(),
        "a second sweep of acme waits for the first"
    );
    assert!(
        f.db.start_sweep_run(&acme, &new_run("2026-03-02", SweepTrigger::Cli), long_ago())
            .await
            .unwrap()
            .is_some(),
        "a sweep by hand takes no lock"
    );
    let other =
        f.db.start_sweep_run(
            &globex,
            &new_run("2026-03-01", SweepTrigger::Cli),
            long_ago(),
        )
        .await
        .unwrap()
        .expect("another tenant's sweep is not held up");
    assert!(f.db.sweep_run(&globex, run.id).await.unwrap().is_none());
    assert!(f.db.sweep_run(&acme, other.id).await.unwrap().is_none());
    f.db.heartbeat_sweep_run(&acme, run.id).await.unwrap();
    let figures = SweepFigures {
        reviewed: 10,
        recorded: 8,
        skipped: 1,
        stale: 1,
        failures: 2,
        actions: 7,
        blocked: 1,
    };
    // Finishing through another tenant changes nothing.
    f.db.finish_sweep_run(&globex, run.id, SweepStatus::Done, &figures, None)
        .await
        .unwrap();
    assert_eq!(
        f.db.sweep_run(&acme, run.id).await.unwrap().unwrap().status,
        SweepStatus::Running
    );
    f.db.finish_sweep_run(&acme, run.id, SweepStatus::Done, &figures, None)
        .await
        .unwrap();
    let done = f.db.sweep_run(&acme, run.id).await.unwrap().unwrap();
    assert_eq!((done.status, done.figures), (SweepStatus::Done, figures));
    assert!(done.finished_at.unwrap() >= done.started_at);
    let next =
        f.db.start_sweep_run(
            &acme,
            &new_run("2026-03-02", SweepTrigger::Schedule),
            long_ago(),
        )
        .await
        .unwrap()
        .expect("the next sweep starts once the first ended");
    let error = format!("policy version 3 does not load: {}", "x".repeat(10_000));
    f.db.finish_sweep_run(
        &acme,
        next.id,
        SweepStatus::Failed,
        &SweepFigures::default(),
        Some(&error),
    )
    .await
    .unwrap();
    let failed = f.db.sweep_run(&acme, next.id).await.unwrap().unwrap();
    assert_eq!(failed.status, SweepStatus::Failed);
    let kept = failed.error.unwrap();
    assert!(
        kept.starts_with("policy version 3 does not load") && kept.len() <= MAX_ERROR_BYTES + 64,
        "{}",
        kept.len()
    );
    assert!(matches!(
        f.db.start_sweep_run(
            &tid("nobody"),
            &new_run("2026-03-01", SweepTrigger::Api),
            long_ago()
        )
        .await,
        Err(StoreError::UnknownTenant(_))
    ));
}

async fn a_sweep_whose_heartbeat_stopped_no_longer_holds_the_tenant(f: Fixture) {
    let acme = tid("acme");
    f.db.create_tenant(&acme, &settings()).await.unwrap();
    let dead =
        f.db.start_sweep_run(
            &acme,
            &new_run("2026-03-01", SweepTrigger::Schedule),
            long_ago(),
        )
        .await
        .unwrap()
        .unwrap();
    // Its last beat is older than this cut-off: its process is taken for dead.
    let cut_off = Utc::now() + Duration::seconds(1);
    let next =
        f.db.start_sweep_run(&acme, &new_run("2026-03-01", SweepTrigger::Api), cut_off)
            .await
            .unwrap()
            .expect("a dead sweep holds the tenant no longer");
    let dead = f.db.sweep_run(&acme, dead.id).await.unwrap().unwrap();
    assert_eq!(
        (dead.status, dead.finished_at),
        (SweepStatus::Abandoned, None)
    );
    assert_eq!(
        f.db.sweep_run(&acme, next.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        SweepStatus::Running
    );
}

async fn sweep_runs_are_listed_newest_first_per_tenant(f: Fixture) {
    let (acme, globex) = (tid("acme"), tid("globex"));
    for t in [&acme, &globex] {
        f.db.create_tenant(t, &settings()).await.unwrap();
    }
    let mut ids = Vec::new();
    for (i, day) in ["2026-03-01", "2026-03-02", "2026-03-03"]
        .into_iter()
        .enumerate()
    {
        let run = NewSweepRun {
            dry_run: i == 1,
            ..new_run(day, SweepTrigger::Cli)
        };
        let run =
            f.db.start_sweep_run(&acme, &run, long_ago())
                .await
                .unwrap()
                .unwrap();
        f.db.finish_sweep_run(
            &acme,
            run.id,
            SweepStatus::Done,
            &SweepFigures::default(),
            None,
        )
        .await
        .unwrap();
        ids.push(run.id);
    }
    f.db.start_sweep_run(
        &globex,
        &new_run("2026-03-01", SweepTrigger::Api),
        long_ago(),
    )
    .await
    .unwrap()
    .unwrap();
    let all = f.db.sweep_runs(&acme, None, 10).await.unwrap();
    let listed: Vec<i64> = all.iter().map(|r| r.id).collect();
    ids.reverse();
    assert_eq!(listed, ids, "newest first, acme's only");
    assert!(all[1].dry_run && !all[0].dry_run);
    let first = f.db.sweep_runs(&acme, None, 2).await.unwrap();
    assert_eq!(first.len(), 2);
    let rest = f.db.sweep_runs(&acme, Some(first[1].id), 2).await.unwrap();
    assert_eq!(rest.iter().map(|r| r.id).collect::<Vec<_>>(), [ids[2]]);
    assert_eq!(f.db.sweep_runs(&globex, None, 10).await.unwrap().len(), 1);
}
