//! The operator routes.

use crate::support::*;

dunlin_store::conformance!(
    operator_routes_make_list_and_revoke_keys,
    operator_routes_make_show_and_list_tenants,
    operator_routes_show_the_limits_and_every_tenants_health,
);

async fn operator_routes_make_list_and_revoke_keys(f: Fixture) {
    let api = Api::new(f).await;
    let path = "/v1/admin/tenants/acme/keys";
    let (s, v) = api
        .call(
            Method::POST,
            path,
            Some(OPERATOR),
            Some(json!({"label": "sync"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let key = v["key"].as_str().unwrap().to_owned();
    let id = v["id"].as_str().unwrap().to_owned();
    let (s, _) = api
        .call(Method::GET, "/v1/decisions", Some(&key), None)
        .await;
    assert_eq!(s, StatusCode::OK, "the new key works");
    let (s, v) = api.get(path, OPERATOR).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert!(
        !v.to_string().contains(&key[3..]),
        "a list never shows a key"
    );
    // A tenant's key is not the operator's.
    let (s, _) = api.get(path, &api.acme).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, v) = api
        .call(
            Method::POST,
            path,
            Some(OPERATOR),
            Some(json!({"label": "a\u{1b}b"})),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid-body"))
    );
    // Revoking by beta's path does not reach acme's key.
    let (s, _) = api
        .call(
            Method::DELETE,
            &format!("/v1/admin/tenants/beta/keys/{id}"),
            Some(OPERATOR),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = api
        .call(
            Method::DELETE,
            &format!("{path}/{id}"),
            Some(OPERATOR),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = api
        .call(Method::GET, "/v1/decisions", Some(&key), None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "a revoked key finds no tenant");
    let (s, _) = api
        .call(
            Method::GET,
            "/v1/admin/tenants/nobody/keys",
            Some(OPERATOR),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    api.refuses_admin(path).await;
}

impl Api {
    async fn refuses_admin(&self, path: &str) {
        for key in [None, Some("wrong"), Some(self.acme.as_str())] {
            let (s, _) = self.call(Method::GET, path, key, None).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{key:?}");
        }
    }
}

async fn operator_routes_make_show_and_list_tenants(f: Fixture) {
    let api = Api::new(f).await;
    let made = json!({"id": "gamma", "settings": {"time-zone": "Europe/Helsinki", "params": {"brand": "G"}}});
    let (s, v) = api
        .call(
            Method::POST,
            "/v1/admin/tenants",
            Some(OPERATOR),
            Some(made.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(
        (v["id"].as_str(), v["settings"]["name"].as_str()),
        (Some("gamma"), Some("gamma")),
        "the name defaults to the id: {v}"
    );
    let gamma = TenantId::new("gamma").unwrap();
    let stored = api.f.db.tenant(&gamma).await.unwrap().unwrap();
    assert_eq!(stored.settings.time_zone, "Europe/Helsinki");
    assert_eq!(stored.settings.params["brand"], "G");
    assert_eq!(stored.settings.schedule, TenantSettings::default().schedule);
    let (s, v) = api
        .call(
            Method::POST,
            "/v1/admin/tenants",
            Some(OPERATOR),
            Some(made),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("tenant-exists"))
    );
    // Bad ids and settings are refused with what is wrong, and nothing is made.
    for (body, code, says) in [
        (json!({"id": "Not Valid"}), "invalid-body", "Not Valid"),
        (
            json!({"id": "d1", "settings": {"time-zone": "Mars/Base"}}),
            "invalid-settings",
            "time-zone",
        ),
        (
            json!({"id": "d2", "settings": {"colour": "red"}}),
            "invalid-settings",
            "colour",
        ),
        // Over the operator's limit of 7 contacts a week.
        (
            json!({"id": "d3", "settings": {"guardrails": {"max-contacts-per-customer-7-days": 50}}}),
            "invalid-settings",
            "max-contacts-per-customer-7-days",
        ),
        (json!({"settings": {}}), "invalid-body", "id"),
    ] {
        let (s, v) = api
            .call(
                Method::POST,
                "/v1/admin/tenants",
                Some(OPERATOR),
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some(code)),
            "{body}: {v}"
        );
        assert!(
            v["error"]["message"].as_str().unwrap().contains(says),
            "{body}: {v}"
        );
    }
    assert_eq!(api.f.db.tenants().await.unwrap().len(), 3);

    let (s, v) = api
        .call(Method::GET, "/v1/admin/tenants/gamma", Some(OPERATOR), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (v["id"].as_str(), v["policy-versions"].clone()),
        (Some("gamma"), json!([])),
        "{v}"
    );
    let (s, _) = api
        .call(
            Method::GET,
            "/v1/admin/tenants/nobody",
            Some(OPERATOR),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // A page at a time, by id.
    let (s, v) = api
        .call(
            Method::GET,
            "/v1/admin/tenants?limit=2",
            Some(OPERATOR),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let ids = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        (ids(&v), v["next-cursor"].as_str()),
        (vec!["acme".to_owned(), "beta".to_owned()], Some("beta"))
    );
    let (_, v) = api
        .call(
            Method::GET,
            "/v1/admin/tenants?limit=2&cursor=beta",
            Some(OPERATOR),
            None,
        )
        .await;
    assert_eq!(
        (ids(&v), v.get("next-cursor")),
        (vec!["gamma".to_owned()], None)
    );
    let (s, v) = api
        .call(
            Method::GET,
            "/v1/admin/tenants?limit=0",
            Some(OPERATOR),
            None,
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid-query"))
    );

    api.refuses_admin("/v1/admin/tenants").await;
    api.refuses_admin("/v1/admin/tenants/acme").await;
    for key in [None, Some("wrong"), Some(api.acme.as_str())] {
        let (s, _) = api
            .call(
                Method::POST,
                "/v1/admin/tenants",
                key,
                Some(json!({"id": "delta"})),
            )
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{key:?}");
    }
    assert!(api
        .f
        .db
        .tenant(&TenantId::new("delta").unwrap())
        .await
        .unwrap()
        .is_none());
}

async fn operator_routes_show_the_limits_and_every_tenants_health(f: Fixture) {
    let api = Api::new(f).await;
    let (s, v) = api
        .call(Method::GET, "/v1/admin/limits", Some(OPERATOR), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        v["guardrails"]["max-contacts-per-customer-7-days"], 7,
        "{v}"
    );
    assert_eq!(
        (v["max-batch-rows"].as_u64(), v["key-rate"].clone()),
        (Some(50), Value::Null)
    );
    assert_eq!(v["timeout-ms"], 30_000);

    seed_decision(&api).await;
    let acme = TenantId::new("acme").unwrap();
    let v1 = api
        .f
        .db
        .add_policy_version(&acme, b"not checked by the store")
        .await
        .unwrap();
    api.f
        .db
        .activate_policy_version(&acme, v1.version)
        .await
        .unwrap();
    let tick = chrono::DateTime::parse_from_rfc3339("2026-02-10T09:00:00Z")
        .unwrap()
        .to_utc();
    api.f.db.mark_tick(&acme, tick).await.unwrap();
    let (s, v) = api
        .call(Method::GET, "/v1/admin/health", Some(OPERATOR), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (a, b) = (&v["items"][0], &v["items"][1]);
    assert_eq!(
        (a["tenant"].as_str(), b["tenant"].as_str()),
        (Some("acme"), Some("beta"))
    );
    assert_eq!(a["active-policy-version"], 1, "{a}");
    assert_eq!(
        a["last-tick-at"]
            .as_str()
            .map(|t| t.starts_with("2026-02-10T09:00:00")),
        Some(true),
        "{a}"
    );
    assert_eq!(
        (
            a["outbox"]["pending"].as_u64(),
            a["outbox"]["dead"].as_u64()
        ),
        (Some(1), Some(0)),
        "{a}"
    );
    assert!(
        a["outbox"]["oldest-pending-at"].is_string()
            && a["oldest-pending-age-seconds"].as_i64().unwrap() < 60
    );
    assert_eq!(
        (
            b["active-policy-version"].clone(),
            b["outbox"]["pending"].as_u64()
        ),
        (Value::Null, Some(0)),
        "{b}"
    );
    let (_, v) = api
        .call(
            Method::GET,
            "/v1/admin/health?limit=1&cursor=acme",
            Some(OPERATOR),
            None,
        )
        .await;
    assert_eq!(v["items"][0]["tenant"], "beta", "{v}");
    let (s, _) = api
        .call(
            Method::GET,
            "/v1/admin/health?cursor=a&bogus=1",
            Some(OPERATOR),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    api.refuses_admin("/v1/admin/limits").await;
    api.refuses_admin("/v1/admin/health").await;
}
