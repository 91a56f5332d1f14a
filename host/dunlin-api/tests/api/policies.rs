//! Policy versions and settings: upload (the sandbox's refusals explained), list, read,
//! activate, roll back, delete; the tenant's settings against the operator's limits.

use crate::support::*;

dunlin_store::conformance!(
    a_policy_is_uploaded_listed_activated_and_rolled_back,
    an_upload_the_sandbox_refuses_is_explained_and_stores_nothing,
    only_an_unused_upload_is_deleted,
    policy_routes_keep_each_tenant_to_its_own_versions,
    settings_are_read_and_replaced_within_the_operators_limits,
    sandbox_limits_are_set_within_the_operators_bounds,
    an_upload_reports_its_fit_under_the_tenants_own_limits,
);

impl Api {
    /// `POST /v1/policies{query}` with `bytes` as `content_type`.
    pub async fn upload(
        &self,
        key: &str,
        query: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> (StatusCode, Value) {
        let request = Request::builder()
            .method(Method::POST)
            .uri(format!("/v1/policies{query}"))
            .header("authorization", format!("Bearer {key}"))
            .header("content-type", content_type)
            .body(Body::from(bytes))
            .unwrap();
        let (status, text) = self.raw(request).await;
        let value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
        (status, value)
    }
}

pub fn good() -> Vec<u8> {
    dunlin_tests::fixture("fx-good")
}

async fn a_policy_is_uploaded_listed_activated_and_rolled_back(f: Fixture) {
    let api = Api::new(f).await;
    let (s, v) = api.upload(&api.acme, "", good(), "application/wasm").await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["policy"]["version"], 1);
    assert_eq!(v["policy"]["status"], "uploaded");
    assert_eq!(v["contract"], "0.1.0");
    assert_eq!(v["policy"]["size"], good().len());
    // The same bytes again are the same version.
    let (s, v) = api.upload(&api.acme, "", good(), "application/wasm").await;
    assert_eq!(
        (s, &v["policy"]["version"]),
        (StatusCode::OK, &json!(1)),
        "{v}"
    );

    let (s, v) = api
        .call(
            Method::POST,
            "/v1/policies/1/activate",
            Some(&api.acme),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["policy"]["status"], "active");
    assert!(v.get("migrated-ladders").is_none(), "{v}");
    let (s, v) = api
        .call(Method::POST, "/v1/policies/rollback", Some(&api.acme), None)
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("no-previous-version")),
        "{v}"
    );
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no previously active version"));

    // A ladder on version 1, then version 2 uploaded and activated, moving it.
    seed_decision(&api).await;
    // Version 2 goes in through the store: its bytes are never run here.
    let acme = TenantId::new("acme").unwrap();
    api.f.db.add_policy_version(&acme, b"second").await.unwrap();
    let (s, v) = api
        .call(
            Method::POST,
            "/v1/policies/2/activate?migrate-ladders=true",
            Some(&api.acme),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["migrated-ladders"], 1);
    let (s, v) = api
        .call(Method::GET, "/v1/policies", Some(&api.acme), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(
        (&items[0]["status"], &items[0]["open-ladders"]),
        (&json!("retired"), &json!(0))
    );
    assert_eq!(
        (&items[1]["status"], &items[1]["open-ladders"]),
        (&json!("active"), &json!(1))
    );
    let (s, v) = api
        .call(Method::GET, "/v1/policies?limit=1", Some(&api.acme), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["next-cursor"], "1");
    let (_, v) = api.get("/v1/policies?limit=1&cursor=1", &api.acme).await;
    assert_eq!(v["items"][0]["version"], 2);
    assert!(v.get("next-cursor").is_none());

    let (s, v) = api
        .call(Method::POST, "/v1/policies/rollback", Some(&api.acme), None)
        .await;
    assert_eq!((s, &v["version"]), (StatusCode::OK, &json!(1)), "{v}");
    assert_eq!(v["status"], "active");
    let (s, v) = api
        .call(Method::GET, "/v1/policies/2", Some(&api.acme), None)
        .await;
    assert_eq!(
        (s, &v["status"]),
        (StatusCode::OK, &json!("retired")),
        "{v}"
    );

    // Upload and activate at once.
    api.f.db.add_policy_version(&acme, b"third").await.unwrap();
    let (s, v) = api
        .upload(
            &api.acme,
            "?activate=true&migrate-ladders=true",
            good(),
            "application/wasm",
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (&v["policy"]["version"], &v["policy"]["status"]),
        (&json!(1), &json!("active"))
    );
    assert_eq!(v["migrated-ladders"], 1);

    // Bad input.
    for (path, code) in [
        ("/v1/policies/9/activate", "not-found"),
        ("/v1/policies/x/activate", "invalid-path"),
        (
            "/v1/policies/1/activate?migrate-ladders=maybe",
            "invalid-query",
        ),
        ("/v1/policies/1/activate?activate=true", "invalid-query"),
    ] {
        let (s, v) = api.call(Method::POST, path, Some(&api.acme), None).await;
        assert_eq!(v["error"]["code"], code, "{path}: {s} {v}");
        assert!(s.is_client_error());
    }
    let (s, v) = api
        .upload(
            &api.acme,
            "?migrate-ladders=true",
            good(),
            "application/wasm",
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid-query"))
    );
    for path in [
        "/v1/policies",
        "/v1/policies/1",
        "/v1/policies/1/activate",
        "/v1/policies/rollback",
    ] {
        let method = if path == "/v1/policies" || path == "/v1/policies/1" {
            Method::GET
        } else {
            Method::POST
        };
        api.refuses_without_a_valid_key(method, path, None).await;
    }
}

async fn an_upload_the_sandbox_refuses_is_explained_and_stores_nothing(f: Fixture) {
    let api = Api::new(f).await;
    let core_module = b"\0asm\x01\0\0\0".to_vec();
    for (bytes, reason, says) in [
        (
            b"not wasm at all".to_vec(),
            "not-wasm",
            "not a WebAssembly file",
        ),
        (core_module, "not-a-component", "core WebAssembly module"),
        (
            dunlin_tests::fixture("fx-wrong-world"),
            "wrong-world",
            "does not export dunlin:policy/decider",
        ),
        (
            dunlin_tests::fixture("fx-loop"),
            "trial-failed",
            "failed on a sample invoice",
        ),
    ] {
        let (s, v) = api.upload(&api.acme, "", bytes, "application/wasm").await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{reason}: {v}");
        assert_eq!(v["error"]["code"], "policy-rejected");
        assert_eq!(v["error"]["details"]["reason"], reason, "{v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{reason}: {message}");
        assert!(
            !message.contains("/work/") && !message.contains("/tmp/"),
            "{message}"
        );
    }
    let (s, v) = api.upload(&api.acme, "", good(), "application/json").await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Some("unsupported-media-type")
        ),
        "{v}"
    );
    let acme = TenantId::new("acme").unwrap();
    assert!(api.f.db.policy_versions(&acme).await.unwrap().is_empty());
    // Over the upload cap (its own, larger than the JSON routes' 64 KiB here).
    let mut api = api;
    assert!(api.state.config.upload_limit > api.state.config.body_limit);
    let (s, _) = api
        .upload(&api.acme, "", vec![0; 100 * 1024], "application/wasm")
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "within the upload cap");
    api.state.config.upload_limit = 1024;
    let (s, v) = api.upload(&api.acme, "", good(), "application/wasm").await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("body-too-large")),
        "{v}"
    );
    let (s, v) = api.upload("dk_wrong", "", good(), "application/wasm").await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid-key"))
    );
}

async fn only_an_unused_upload_is_deleted(f: Fixture) {
    let api = Api::new(f).await;
    let acme = TenantId::new("acme").unwrap();
    let (s, _) = api
        .upload(&api.acme, "?activate=true", good(), "application/wasm")
        .await;
    assert_eq!(s, StatusCode::CREATED);
    api.f.db.add_policy_version(&acme, b"unused").await.unwrap();
    let (s, v) = api
        .call(Method::DELETE, "/v1/policies/1", Some(&api.acme), None)
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("policy-in-use")),
        "{v}"
    );
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("is or was active"));
    let (s, v) = api
        .call(Method::DELETE, "/v1/policies/2", Some(&api.beta), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "beta cannot delete acme's: {v}");
    let (s, _) = api
        .call(Method::DELETE, "/v1/policies/2", Some(&api.acme), None)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = api
        .call(Method::GET, "/v1/policies/2", Some(&api.acme), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = api
        .call(Method::DELETE, "/v1/policies/2", Some(&api.acme), None)
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not-found"))
    );
    api.refuses_without_a_valid_key(Method::DELETE, "/v1/policies/1", None)
        .await;
}

async fn policy_routes_keep_each_tenant_to_its_own_versions(f: Fixture) {
    let api = Api::new(f).await;
    let (s, v) = api
        .upload(&api.acme, "?activate=true", good(), "application/wasm")
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let sha = v["policy"]["sha256"].as_str().unwrap().to_owned();
    for (method, path) in [
        (Method::GET, "/v1/policies/1"),
        (Method::POST, "/v1/policies/1/activate"),
        (Method::DELETE, "/v1/policies/1"),
    ] {
        let (s, v) = api.call(method.clone(), path, Some(&api.beta), None).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{method} {path}: {v}");
        assert!(!v.to_string().contains(&sha));
    }
    let (s, v) = api
        .call(Method::GET, "/v1/policies", Some(&api.beta), None)
        .await;
    assert_eq!(
        (s, v["items"].as_array().unwrap().len()),
        (StatusCode::OK, 0)
    );
    let (s, _) = api
        .call(Method::POST, "/v1/policies/rollback", Some(&api.beta), None)
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    // Acme's version is as it was.
    let (_, v) = api
        .call(Method::GET, "/v1/policies/1", Some(&api.acme), None)
        .await;
    assert_eq!(v["status"], "active");
}

async fn settings_are_read_and_replaced_within_the_operators_limits(f: Fixture) {
    let api = Api::new(f).await;
    let (s, mut settings) = api
        .call(Method::GET, "/v1/settings", Some(&api.acme), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{settings}");
    assert_eq!(settings["time-zone"], "UTC");
    settings["time-zone"] = json!("Europe/Helsinki");
    settings["params"] = json!({"brand": "Acme"});
    settings["guardrails"] = json!({"max-contacts-per-customer-7-days": 5});
    let (s, v) = api
        .call(
            Method::PUT,
            "/v1/settings",
            Some(&api.acme),
            Some(settings.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v, settings);
    let stored = api
        .f
        .db
        .tenant(&TenantId::new("acme").unwrap())
        .await
        .unwrap()
        .unwrap()
        .settings;
    assert_eq!(stored.time_zone, "Europe/Helsinki");
    assert_eq!(stored.params["brand"], "Acme");
    let (_, beta) = api
        .call(Method::GET, "/v1/settings", Some(&api.beta), None)
        .await;
    assert_eq!(beta["time-zone"], "UTC", "beta's settings are its own");

    let with = |key: &str, value: Value| {
        let mut s = settings.clone();
        s[key] = value;
        s
    };
    for (body, says) in [
        (
            with(
                "guardrails",
                json!({"max-contacts-per-customer-7-days": 99}),
            ),
            "max-contacts-per-customer-7-days is 99; the operator allows 1 to 7",
        ),
        (
            with("guardrails", json!({"hold-while-disputed": false})),
            "not allowed by the operator",
        ),
        (
            with("time-zone", json!("Mars/Olympus")),
            "time-zone \"Mars/Olympus\"",
        ),
        (
            with("shedule", json!("0 0 8 * * *")),
            "unknown field \"shedule\"",
        ),
        (with("lead-days", json!("7")), "malformed"),
        (json!({"time-zone": "UTC"}), "malformed"),
    ] {
        let (s, v) = api
            .call(Method::PUT, "/v1/settings", Some(&api.acme), Some(body))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{says}: {v}");
        assert_eq!(v["error"]["code"], "invalid-settings", "{v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{says:?} in {message:?}");
    }
    let (_, v) = api
        .call(Method::GET, "/v1/settings", Some(&api.acme), None)
        .await;
    assert_eq!(v, settings, "a refused PUT changes nothing");
    api.refuses_without_a_valid_key(Method::GET, "/v1/settings", None)
        .await;
    api.refuses_without_a_valid_key(Method::PUT, "/v1/settings", Some(settings))
        .await;
}

async fn sandbox_limits_are_set_within_the_operators_bounds(f: Fixture) {
    let api = Api::new(f).await;
    let (_, mut settings) = api
        .call(Method::GET, "/v1/settings", Some(&api.acme), None)
        .await;
    assert_eq!(
        settings.get("sandbox"),
        None,
        "the host's defaults: {settings}"
    );
    settings["sandbox"] = json!({"fuel": 50_000_000, "memory-mib": 32});
    let (s, v) = put_settings(&api, settings.clone()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["sandbox"], json!({"fuel": 50_000_000, "memory-mib": 32}));

    let bound = dunlin_core::guardrails::OperatorLimits::default().max_fuel_per_decision;
    let mut over = settings.clone();
    over["sandbox"] = json!({"fuel": bound + 1});
    let (s, v) = put_settings(&api, over).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"]["code"], "invalid-settings", "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("allows 1 to {bound} (max-fuel-per-decision")),
        "{message}"
    );
    let (_, v) = api
        .call(Method::GET, "/v1/settings", Some(&api.acme), None)
        .await;
    assert_eq!(
        v["sandbox"]["fuel"], 50_000_000,
        "a refused PUT changes nothing"
    );
    let (_, beta) = api
        .call(Method::GET, "/v1/settings", Some(&api.beta), None)
        .await;
    assert_eq!(beta.get("sandbox"), None, "beta's limits are its own");
}

async fn put_settings(api: &Api, settings: Value) -> (StatusCode, Value) {
    api.call(Method::PUT, "/v1/settings", Some(&api.acme), Some(settings))
        .await
}

async fn an_upload_reports_its_fit_under_the_tenants_own_limits(f: Fixture) {
    let api = Api::new(f).await;
    let heavy = dunlin_tests::fixture("fx-heavy-history");
    let (s, v) = api
        .upload(&api.acme, "", heavy.clone(), "application/wasm")
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert_eq!(v["error"]["details"]["reason"], "does-not-fit", "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains("does not fit its limits"), "{message}");
    let acme = TenantId::new("acme").unwrap();
    assert!(api.f.db.policy_versions(&acme).await.unwrap().is_empty());

    let (_, mut settings) = api
        .call(Method::GET, "/v1/settings", Some(&api.acme), None)
        .await;
    settings["sandbox"] = json!({"fuel": 100_000_000});
    let (s, v) = put_settings(&api, settings).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = api.upload(&api.acme, "", heavy, "application/wasm").await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let fit = &v["fit"];
    assert_eq!(fit["fuel-limit"], 100_000_000, "{v}");
    assert!(fit["fuel-used"].as_u64().unwrap() > 10_000_000, "{v}");
    assert_eq!(
        fit["sample"],
        "40 history entries, 30 metadata pairs, 10 tags, 20 params"
    );
    assert!(fit["peak-memory-bytes"].as_u64().unwrap() > 0, "{v}");

    // Another tenant's upload runs under the host's defaults.
    let (s, v) = api.upload(&api.beta, "", good(), "application/wasm").await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["fit"]["fuel-limit"], 10_000_000, "{v}");
    assert_eq!(v["fit"]["warnings"], json!([]), "{v}");
}
