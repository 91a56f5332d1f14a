//! Replay over HTTP: a decision or a window replayed with the report returned; another
//! tenant's decisions answer as not found; bad bodies are refused.

use dunlin_store::{RecordedQuery, TenantId};
use dunlin_sweep::{sweep, SweepOptions};

use crate::policies::good;
use crate::support::*;

dunlin_store::conformance!(
    a_swept_decision_and_a_window_replay_identically,
    replay_refuses_bad_input_and_other_tenants_decisions,
);

impl Api {
    async fn replay(&self, key: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, "/v1/replays", Some(key), Some(body))
            .await
    }

    /// Acme's good policy active, its invoice i1 swept on 2026-02-10: the decision's id.
    async fn swept(&self) -> i64 {
        let (s, v) = self
            .upload(&self.acme, "?activate=true", good(), "application/wasm")
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        seed_invoice(self).await;
        let acme = TenantId::new("acme").unwrap();
        let as_of = "2026-02-10".parse().unwrap();
        sweep(
            self.f.db.as_ref(),
            &self.state.runtime,
            &acme,
            &SweepOptions::new(as_of),
        )
        .await
        .unwrap();
        let log = self
            .f
            .db
            .recorded_decisions(&acme, &RecordedQuery::window(None, None))
            .await
            .unwrap();
        assert_eq!(log.len(), 1);
        log[0].id
    }
}

async fn a_swept_decision_and_a_window_replay_identically(f: Fixture) {
    let api = Api::new(f).await;
    let id = api.swept().await;
    for body in [
        json!({"decision-id": id}),
        json!({"from": "2026-02-01", "to": "2026-02-28"}),
        json!({}),
    ] {
        let (s, v) = api.replay(&api.acme, body.clone()).await;
        assert_eq!(s, StatusCode::OK, "{body}: {v}");
        assert_eq!(
            (
                &v["replayed"],
                &v["identical"],
                &v["last-id"],
                &v["truncated"]
            ),
            (&json!(1), &json!(1), &json!(id), &json!(false)),
            "{body}: {v}"
        );
        assert_eq!(v["mismatches"], json!([]));
        assert_eq!(v["missing"], json!([]));
    }
    // A window with nothing in it, and one that goes on after the last decision.
    for body in [json!({"from": "2026-03-01"}), json!({"after-id": id})] {
        let (s, v) = api.replay(&api.acme, body.clone()).await;
        assert_eq!(s, StatusCode::OK, "{body}: {v}");
        assert_eq!((&v["replayed"], &v["last-id"]), (&json!(0), &Value::Null));
    }
    let (s, doc) = api.call(Method::GET, "/v1/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(doc["paths"]["/v1/replays"]["post"].is_object(), "{doc}");
}

async fn replay_refuses_bad_input_and_other_tenants_decisions(f: Fixture) {
    let api = Api::new(f).await;
    let id = api.swept().await;
    api.refuses_without_a_valid_key(
        Method::POST,
        "/v1/replays",
        Some(json!({"decision-id": id})),
    )
    .await;
    // Beta has no decision of that id: acme's is not beta's to see.
    let (s, v) = api.replay(&api.beta, json!({"decision-id": id})).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not-found")),
        "{v}"
    );
    let (s, v) = api.replay(&api.beta, json!({})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["replayed"], json!(0));

    for body in [
        json!({"decision-id": id, "from": "2026-02-01"}),
        json!({"from": "2026-03-01", "to": "2026-02-01"}),
    ] {
        let (s, v) = api.replay(&api.acme, body.clone()).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("bad-replay")),
            "{body}: {v}"
        );
    }
    for body in [
        json!({"decision": id}),
        json!({"decision-id": "one"}),
        json!({"from": "2026-02-30"}),
        json!([id]),
    ] {
        let (s, v) = api.replay(&api.acme, body.clone()).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid-body")),
            "{body}: {v}"
        );
    }
}
