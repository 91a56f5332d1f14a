//! The reads: decisions, explain and the outbox, and what another tenant sees of them.

use crate::support::*;

dunlin_store::conformance!(
    decisions_are_filtered_and_paged,
    explain_shows_the_ladder_with_deliveries,
    the_outbox_is_listed_by_status,
    another_tenants_objects_answer_404_and_never_show,
);

async fn decisions_are_filtered_and_paged(f: Fixture) {
    let api = Api::new(f).await;
    seed_decision(&api).await;
    let (s, v) = api
        .call(Method::GET, "/v1/decisions", Some(&api.acme), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let d = &v["items"][0];
    assert_eq!(
        (d["invoice-id"].as_str(), d["as-of"].as_str()),
        (Some("i1"), Some("2026-02-10"))
    );
    assert_eq!(
        (d["policy"]["version"].as_u64(), d["reason"].as_str()),
        (Some(1), Some("first reminder"))
    );
    assert_eq!(d["actions"][0]["status"], "pending");
    assert!(v.get("next-cursor").is_none());
    for (query, n) in [
        ("invoice=i1", 1),
        ("invoice=i9", 0),
        ("customer=c1", 1),
        ("customer=c2", 0),
        ("from=2026-02-10&to=2026-02-10", 1),
        ("from=2026-02-11", 0),
    ] {
        let (s, v) = api
            .call(
                Method::GET,
                &format!("/v1/decisions?{query}"),
                Some(&api.acme),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["items"].as_array().unwrap().len(), n, "{query}: {v}");
    }
    // The page after the last decision is empty; the one before it holds it.
    let (_, all) = api
        .call(Method::GET, "/v1/decisions", Some(&api.acme), None)
        .await;
    let id = all["items"][0]["id"].as_i64().unwrap();
    let after = format!("/v1/decisions?limit=1&cursor={id}");
    let (s, v) = api.get(&after, &api.acme).await;
    assert_eq!((s, &v["items"]), (StatusCode::OK, &json!([])));
    let before = format!("/v1/decisions?limit=1&cursor={}", id - 1);
    let (s, v) = api.get(&before, &api.acme).await;
    assert_eq!((s, &v["items"][0]["id"]), (StatusCode::OK, &json!(id)));
    let (s, v) = api.get("/v1/decisions?cursor=-3", &api.acme).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid-query"))
    );
    api.refuses_without_a_valid_key(Method::GET, "/v1/decisions", None)
        .await;
}

async fn explain_shows_the_ladder_with_deliveries(f: Fixture) {
    let api = Api::new(f).await;
    seed_decision(&api).await;
    let (s, v) = api.get("/v1/invoices/i1/explain", &api.acme).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["invoice-id"], "i1");
    let d = &v["decisions"][0];
    assert_eq!(
        (d["segment"].as_str(), d["review-on"].as_str()),
        (Some("smb"), Some("2026-02-17"))
    );
    let action = &d["actions"][0];
    assert_eq!(action["action"]["level"], 1, "{action}");
    assert_eq!(action["attempt-log"], json!([]));
    let (s, v) = api.get("/v1/invoices/nope/explain", &api.acme).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not-found"))
    );
    api.refuses_without_a_valid_key(Method::GET, "/v1/invoices/i1/explain", None)
        .await;
}

async fn the_outbox_is_listed_by_status(f: Fixture) {
    let api = Api::new(f).await;
    seed_decision(&api).await;
    let (s, v) = api.get("/v1/outbox?status=pending", &api.acme).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["items"][0]["invoice-id"], "i1");
    let (_, v) = api.get("/v1/outbox?status=delivered", &api.acme).await;
    assert_eq!(v["items"], json!([]));
    let (s, v) = api
        .call(Method::GET, "/v1/outbox?status=lost", Some(&api.acme), None)
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid-query"))
    );
    api.refuses_without_a_valid_key(Method::GET, "/v1/outbox", None)
        .await;
}

async fn another_tenants_objects_answer_404_and_never_show(f: Fixture) {
    let api = Api::new(f).await;
    seed_decision(&api).await;
    let (s, v) = api.get("/v1/invoices/i1/explain", &api.beta).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not-found"))
    );
    for path in [
        "/v1/decisions",
        "/v1/decisions?invoice=i1",
        "/v1/decisions?customer=c1",
        "/v1/outbox",
    ] {
        let (s, v) = api.get(path, &api.beta).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(v["items"], json!([]), "{path}: {v}");
    }
    // Beta's invoice naming acme's customer is refused: c1 is not beta's.
    let (s, v) = api
        .call(
            Method::PUT,
            "/v1/invoices/i9",
            Some(&api.beta),
            Some(invoice_row("i9", "c1")),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, v) = api
        .call(Method::POST, "/v1/payments:batch", Some(&api.beta),
              Some(json!([{"id": "p1", "invoice-id": "i1", "amount-minor": 1, "currency": "EUR", "paid-on": "2026-02-01"}])))
        .await;
    assert_eq!((s, v["stored"].as_u64()), (StatusCode::OK, Some(0)), "{v}");
    let acme = TenantId::new("acme").unwrap();
    assert_eq!(
        api.f
            .db
            .invoice(&acme, "i1")
            .await
            .unwrap()
            .unwrap()
            .open_balance
            .minor,
        10_000
    );
    // Beta's own c1 is its own: acme's stays as it was.
    let (s, _) = api
        .call(
            Method::PUT,
            "/v1/customers/c1",
            Some(&api.beta),
            Some(json!({"currency": "USD", "customer-since": "2020-01-01"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        api.f
            .db
            .customer(&acme, "c1")
            .await
            .unwrap()
            .unwrap()
            .contact["email"],
        "c1@example.com"
    );
    let (_, v) = api.get("/v1/decisions?customer=c1", &api.beta).await;
    assert_eq!(v["items"], json!([]));
}
