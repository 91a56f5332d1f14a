//! Shadow and canary routes: a version put in shadow and taken out, the shadow report, a
//! canary started, promoted and aborted, the canary report; another tenant's key can neither
//! try nor read anything of acme's versions.

use dunlin_store::trial::ShadowOutcome;

use crate::policies::good;
use crate::support::*;

dunlin_store::conformance!(
    a_version_is_shadowed_and_reported_then_taken_out,
    a_canary_is_started_promoted_and_aborted,
    trials_keep_each_tenant_to_its_own_versions,
);

/// Acme with fx-good active (version 1) and the standard policy uploaded (version 2).
async fn two_versions(api: &Api) {
    let (s, v) = api
        .upload(&api.acme, "?activate=true", good(), "application/wasm")
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let standard = dunlin_tests::reference_policy("standard");
    let (s, v) = api
        .upload(&api.acme, "", standard, "application/wasm")
        .await;
    assert_eq!(
        (s, &v["policy"]["version"]),
        (StatusCode::CREATED, &json!(2)),
        "{v}"
    );
}

/// The shadow version's answer beside acme's decision of i1 on 2026-02-10: no notice.
async fn shadow_answer(api: &Api) {
    let acme = TenantId::new("acme").unwrap();
    let row = ShadowOutcome {
        invoice_id: "i1".into(),
        as_of: date("2026-02-10"),
        version: 2,
        decision: Some(Decision {
            segment: "patient".into(),
            actions: vec![],
            review_on: Some(date("2026-02-17")),
            reason: "wait a week".into(),
        }),
        reason: "wait a week".into(),
        interventions: vec![],
        blocked: vec![],
        fuel_used: Some(1),
        duration_us: Some(1),
        failure: None,
    };
    assert_eq!(api.f.db.record_shadow(&acme, &[row]).await.unwrap(), 1);
}

async fn a_version_is_shadowed_and_reported_then_taken_out(f: Fixture) {
    let api = Api::new(f).await;
    two_versions(&api).await;
    let (s, v) = api
        .call(Method::PUT, "/v1/policies/2/shadow", Some(&api.acme), None)
        .await;
    assert_eq!(
        (s, &v["shadow"]["version"]),
        (StatusCode::OK, &json!(2)),
        "{v}"
    );
    let (s, v) = api
        .call(Method::PUT, "/v1/policies/1/shadow", Some(&api.acme), None)
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("trial-refused")),
        "{v}"
    );

    seed_decision(&api).await;
    shadow_answer(&api).await;
    let (s, v) = api
        .call(
            Method::GET,
            "/v1/shadow/report?from=2026-02-01",
            Some(&api.acme),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["version"], 2);
    // The live decisions are the baseline, the shadow version's answers the candidate.
    let c = &v["comparison"];
    assert_eq!((&c["total"], &c["agreed"]), (&json!(1), &json!(0)), "{v}");
    assert_eq!(c["baseline"]["levels"]["1"], 1, "{v}");
    assert_eq!(c["baseline"]["actions"]["notify"], 1, "{v}");
    assert!(c["candidate"]["actions"]["notify"].is_null(), "{v}");
    let d = &c["disagreements"][0];
    assert_eq!(d["invoice-id"], "i1", "{v}");
    assert_eq!(
        (&d["baseline-reason"], &d["candidate-reason"]),
        (&json!("first reminder"), &json!("wait a week"))
    );
    let (s, v) = api.get("/v1/shadow/report?listed=101", &api.acme).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad-listed"))
    );
    // Before the range: nothing compared.
    let (_, v) = api
        .call(
            Method::GET,
            "/v1/shadow/report?to=2026-02-09&from=2026-01-01",
            Some(&api.acme),
            None,
        )
        .await;
    assert_eq!(v["comparison"]["total"], 0, "{v}");
    let (s, _) = api
        .call(
            Method::GET,
            "/v1/shadow/report?from=yesterday",
            Some(&api.acme),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    let (s, v) = api
        .call(
            Method::DELETE,
            "/v1/policies/1/shadow",
            Some(&api.acme),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{v}");
    let (s, v) = api
        .call(
            Method::DELETE,
            "/v1/policies/2/shadow",
            Some(&api.acme),
            None,
        )
        .await;
    assert_eq!((s, &v["shadow"]), (StatusCode::OK, &Value::Null), "{v}");
    for (method, path) in [
        (Method::PUT, "/v1/policies/2/shadow"),
        (Method::DELETE, "/v1/policies/2/shadow"),
        (Method::GET, "/v1/shadow/report"),
    ] {
        api.refuses_without_a_valid_key(method, path, None).await;
    }
}

async fn a_canary_is_started_promoted_and_aborted(f: Fixture) {
    let api = Api::new(f).await;
    two_versions(&api).await;
    let share = |s: &str| Some(json!({ "share": s }));
    for bad in ["0%", "100%", "ten"] {
        let (s, v) = api
            .call(
                Method::PUT,
                "/v1/policies/2/canary",
                Some(&api.acme),
                share(bad),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }
    let (s, v) = api
        .call(
            Method::PUT,
            "/v1/policies/2/canary",
            Some(&api.acme),
            share("10%"),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (&v["canary"]["version"], &v["canary"]["share"]),
        (&json!(2), &json!("10%"))
    );
    let (s, v) = api
        .call(Method::GET, "/v1/canary/report", Some(&api.acme), None)
        .await;
    assert_eq!(
        (s, &v["canary"], &v["active"]),
        (StatusCode::OK, &json!(2), &json!(1)),
        "{v}"
    );
    let (s, v) = api
        .call(Method::POST, "/v1/canary/abort", Some(&api.acme), None)
        .await;
    assert_eq!(
        (s, &v["active"], &v["migrated-ladders"]),
        (StatusCode::OK, &json!(1), &json!(0)),
        "{v}"
    );
    let (s, v) = api
        .call(Method::POST, "/v1/canary/promote", Some(&api.acme), None)
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("trial-refused")),
        "{v}"
    );
    api.call(
        Method::PUT,
        "/v1/policies/2/canary",
        Some(&api.acme),
        share("50%"),
    )
    .await;
    let (s, v) = api
        .call(Method::POST, "/v1/canary/promote", Some(&api.acme), None)
        .await;
    assert_eq!((s, &v["active"]), (StatusCode::OK, &json!(2)), "{v}");
    let (_, v) = api
        .call(Method::GET, "/v1/policies/2", Some(&api.acme), None)
        .await;
    assert_eq!(v["status"], "active");
    for (method, path) in [
        (Method::PUT, "/v1/policies/2/canary"),
        (Method::POST, "/v1/canary/promote"),
        (Method::POST, "/v1/canary/abort"),
        (Method::GET, "/v1/canary/report"),
    ] {
        api.refuses_without_a_valid_key(method, path, share("10%"))
            .await;
    }
}

async fn trials_keep_each_tenant_to_its_own_versions(f: Fixture) {
    let api = Api::new(f).await;
    two_versions(&api).await;
    api.call(Method::PUT, "/v1/policies/2/shadow", Some(&api.acme), None)
        .await;
    seed_decision(&api).await;
    shadow_answer(&api).await;
    // Beta has no versions: acme's 1 and 2 are not found, and nothing of acme's moves.
    for (method, path, body) in [
        (Method::PUT, "/v1/policies/2/shadow", None),
        (
            Method::PUT,
            "/v1/policies/1/canary",
            Some(json!({"share": "10%"})),
        ),
    ] {
        let (s, v) = api.call(method.clone(), path, Some(&api.beta), body).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{method} {path}: {v}");
    }
    let (s, _) = api
        .call(
            Method::DELETE,
            "/v1/policies/2/shadow",
            Some(&api.beta),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "beta has nothing in shadow");
    for path in ["/v1/canary/promote", "/v1/canary/abort"] {
        let (s, _) = api.call(Method::POST, path, Some(&api.beta), None).await;
        assert_eq!(s, StatusCode::CONFLICT, "{path}");
    }
    let (s, v) = api
        .call(Method::GET, "/v1/shadow/report", Some(&api.beta), None)
        .await;
    assert_eq!(
        (s, &v["version"], &v["comparison"]["total"]),
        (StatusCode::OK, &Value::Null, &json!(0)),
        "{v}"
    );
    assert!(!v.to_string().contains("wait a week"));
    let (_, v) = api
        .call(Method::GET, "/v1/canary/report", Some(&api.beta), None)
        .await;
    assert_eq!(v["arms"], json!([]), "{v}");
    // Acme's shadow is as it was.
    let (_, v) = api
        .call(
            Method::GET,
            "/v1/shadow/report?from=2026-01-01",
            Some(&api.acme),
            None,
        )
        .await;
    assert_eq!(
        (&v["version"], &v["comparison"]["total"]),
        (&json!(2), &json!(1)),
        "{v}"
    );
}
