//! Sweeps over HTTP: started in the background (202), one per tenant at a time, listed with
//! their figures.

use std::time::Duration;

use dunlin_store::{NewSweepRun, SweepTrigger};

use crate::policies::good;
use crate::support::*;

dunlin_store::conformance!(
    a_sweep_runs_in_the_background_and_is_listed_with_its_figures,
    a_second_sweep_of_a_tenant_is_refused_while_one_runs,
    sweep_routes_refuse_bad_input_and_other_tenants,
);

impl Api {
    /// Polls the sweep at `location` until it is no longer running.
    async fn ended(&self, location: &str, key: &str) -> Value {
        for _ in 0..600 {
            let (s, v) = self.call(Method::GET, location, Some(key), None).await;
            assert_eq!(s, StatusCode::OK, "{v}");
            if v["status"] != "running" {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the sweep at {location} did not end within a minute");
    }

    async fn start_sweep(&self, key: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, "/v1/sweeps", Some(key), Some(body))
            .await
    }
}

async fn a_sweep_runs_in_the_background_and_is_listed_with_its_figures(f: Fixture) {
    let mut api = Api::new(f).await;
    // Served by a replica: the API's sweeps are its own, as the daemon's are.
    api.f.db.register_replica("host-1-aa", false).await.unwrap();
    api.state.replica = Some(dunlin_sweep::replica::Replica::new("host-1-aa".into()));
    let (s, v) = api
        .upload(&api.acme, "?activate=true", good(), "application/wasm")
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    seed_invoice(&api).await;

    let (s, dry) = api
        .start_sweep(&api.acme, json!({"as-of": "2026-02-10", "dry-run": true}))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{dry}");
    assert_eq!(
        (&dry["status"], &dry["dry-run"], &dry["started-by"]),
        (&json!("running"), &json!(true), &json!("api"))
    );
    let dry = api
        .ended(&format!("/v1/sweeps/{}", dry["id"]), &api.acme)
        .await;
    assert_eq!(dry["status"], "done", "{dry}");
    assert_eq!(
        (&dry["figures"]["reviewed"], &dry["figures"]["recorded"]),
        (&json!(1), &json!(0)),
        "{dry}"
    );

    let request = Request::builder()
        .method(Method::POST)
        .uri("/v1/sweeps")
        .header("authorization", format!("Bearer {}", api.acme))
        .header("content-type", "application/json")
        .body(Body::from(json!({"as-of": "2026-02-10"}).to_string()))
        .unwrap();
    let response = {
        use tower::ServiceExt as _;
        dunlin_api::router(api.state.clone())
            .oneshot(request)
            .await
            .unwrap()
    };
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let real = api.ended(&location, &api.acme).await;
    assert_eq!(real["status"], "done", "{real}");
    let figures = &real["figures"];
    assert_eq!(
        (
            &figures["reviewed"],
            &figures["recorded"],
            &figures["actions"],
            &figures["failures"]
        ),
        (&json!(1), &json!(1), &json!(1), &json!(0)),
        "{real}"
    );
    assert!(real["duration-ms"].as_i64().unwrap() >= 0);
    let acme = TenantId::new("acme").unwrap();
    let run = api.f.db.sweep_run(&acme, real["id"].as_i64().unwrap());
    let run = run.await.unwrap().unwrap();
    assert_eq!(run.replica.as_deref(), Some("host-1-aa"));
    let (_, decisions) = api
        .call(Method::GET, "/v1/decisions", Some(&api.acme), None)
        .await;
    assert_eq!(decisions["items"].as_array().unwrap().len(), 1);

    // Beta has no active policy: its sweep fails, and says why.
    let (s, v) = api
        .start_sweep(&api.beta, json!({"as-of": "2026-02-10"}))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let failed = api
        .ended(&format!("/v1/sweeps/{}", v["id"]), &api.beta)
        .await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("no active policy"),
        "{failed}"
    );

    let (s, v) = api
        .call(Method::GET, "/v1/sweeps", Some(&api.acme), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "acme's own sweeps only: {v}");
    assert_eq!(items[0]["id"], real["id"], "newest first");
    assert_eq!(items[1]["dry-run"], true);
    let (_, page) = api
        .call(Method::GET, "/v1/sweeps?limit=1", Some(&api.acme), None)
        .await;
    let cursor = page["next-cursor"].as_str().unwrap().to_owned();
    let (_, rest) = api
        .call(
            Method::GET,
            &format!("/v1/sweeps?limit=1&cursor={cursor}"),
            Some(&api.acme),
            None,
        )
        .await;
    assert_eq!(rest["items"][0]["id"], dry["id"]);
}

async fn a_second_sweep_of_a_tenant_is_refused_while_one_runs(f: Fixture) {
    let api = Api::new(f).await;
    let acme = TenantId::new("acme").unwrap();
    // A sweep already under way, as the daemon's tick or `dunlin sweep` starts one.
    let running = api
        .f
        .db
        .start_sweep_run(
            &acme,
            &NewSweepRun {
                as_of: date("2026-02-10"),
                dry_run: false,
                started_by: SweepTrigger::Schedule,
            },
            chrono::Utc::now() - chrono::Duration::hours(1),
        )
        .await
        .unwrap()
        .unwrap();
    let (s, v) = api
        .start_sweep(&api.acme, json!({"as-of": "2026-02-11"}))
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("sweep-running")),
        "{v}"
    );
    let (_, list) = api
        .call(Method::GET, "/v1/sweeps", Some(&api.acme), None)
        .await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        1,
        "nothing started"
    );
    assert_eq!(list["items"][0]["started-by"], "schedule");
    // Another tenant is not held up by acme's sweep.
    let (s, v) = api
        .start_sweep(&api.beta, json!({"as-of": "2026-02-11"}))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    api.ended(&format!("/v1/sweeps/{}", v["id"]), &api.beta)
        .await;
    // Once acme's sweep ended, the next one starts.
    api.f
        .db
        .finish_sweep_run(
            &acme,
            running.id,
            dunlin_store::SweepStatus::Done,
            &Default::default(),
            None,
        )
        .await
        .unwrap();
    let (s, v) = api
        .start_sweep(&api.acme, json!({"as-of": "2026-02-11"}))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    api.ended(&format!("/v1/sweeps/{}", v["id"]), &api.acme)
        .await;
}

async fn sweep_routes_refuse_bad_input_and_other_tenants(f: Fixture) {
    let api = Api::new(f).await;
    for body in [
        json!({"as-of": "yesterday"}),
        json!({"as-of": "2026-02-30"}),
        json!({"dry-run": true}),
        json!({"as-of": "2026-02-10", "dry_run": true}),
        json!("2026-02-10"),
    ] {
        let (s, v) = api.start_sweep(&api.acme, body.clone()).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid-body")),
            "{body}: {v}"
        );
    }
    for path in [
        "/v1/sweeps?limit=0",
        "/v1/sweeps?cursor=x",
        "/v1/sweeps?colour=red",
    ] {
        let (s, v) = api.get(path, &api.acme).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid-query")),
            "{path}: {v}"
        );
    }
    let (s, v) = api
        .call(Method::GET, "/v1/sweeps/x", Some(&api.acme), None)
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid-path"))
    );

    let (s, v) = api
        .start_sweep(&api.acme, json!({"as-of": "2026-02-10"}))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let id = v["id"].as_i64().unwrap();
    let path = format!("/v1/sweeps/{id}");
    api.ended(&path, &api.acme).await;
    let (s, v) = api.get(&path, &api.beta).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    let (_, v) = api
        .call(Method::GET, "/v1/sweeps", Some(&api.beta), None)
        .await;
    assert_eq!(v["items"].as_array().unwrap().len(), 0, "{v}");
    api.refuses_without_a_valid_key(Method::GET, "/v1/sweeps", None)
        .await;
    api.refuses_without_a_valid_key(Method::GET, &path, None)
        .await;
    api.refuses_without_a_valid_key(
        Method::POST,
        "/v1/sweeps",
        Some(json!({"as-of": "2026-02-10"})),
    )
    .await;
}
