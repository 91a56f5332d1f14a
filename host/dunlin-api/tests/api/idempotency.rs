//! `Idempotency-Key` on POSTs: a repeat gets the first response without the work done again,
//! a reused key is refused, keys are each tenant's and each route's, and of two concurrent
//! requests with one key only one does the work.

use crate::support::*;

dunlin_store::conformance!(
    a_repeat_gets_the_first_response_without_the_work_done_again,
    a_key_is_each_tenants_and_each_routes_own,
    of_two_concurrent_requests_with_one_key_one_does_the_work,
);

/// A POST with an idempotency key: status, replayed or not, body.
async fn post(
    api: &Api,
    path: &str,
    key: &str,
    idem: &str,
    body: &Value,
) -> (StatusCode, bool, Value) {
    let request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .header("idempotency-key", idem)
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = tower::ServiceExt::oneshot(dunlin_api::router(api.state.clone()), request)
        .await
        .unwrap();
    let status = response.status();
    let replayed = response.headers().get("idempotent-replayed").is_some();
    let bytes = http_body_util::BodyExt::collect(response.into_body())
        .await
        .unwrap()
        .to_bytes();
    (status, replayed, serde_json::from_slice(&bytes).unwrap())
}

async fn a_repeat_gets_the_first_response_without_the_work_done_again(f: Fixture) {
    let api = Api::new(f).await;
    let acme = TenantId::new("acme").unwrap();
    let customers = json!([customer_row("c1")]);
    let (s, replayed, first) =
        post(&api, "/v1/customers:batch", &api.acme, "k-1", &customers).await;
    assert_eq!((s, replayed), (StatusCode::OK, false), "{first}");
    let invoices = json!([invoice_row("i1", "c1"), invoice_row("i2", "ghost")]);
    let (s, _, first) = post(&api, "/v1/invoices:batch", &api.acme, "k-2", &invoices).await;
    assert_eq!(
        (s, first["stored"].as_u64()),
        (StatusCode::OK, Some(1)),
        "{first}"
    );
    // The invoice changes; the repeat answers as the first time and does not write it back.
    let mut changed = invoice_row("i1", "c1");
    changed["amount-minor"] = json!(20_000);
    let (s, v) = api
        .call(
            Method::PUT,
            "/v1/invoices/i1",
            Some(&api.acme),
            Some(changed),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, replayed, again) = post(&api, "/v1/invoices:batch", &api.acme, "k-2", &invoices).await;
    assert_eq!((s, replayed, &again), (StatusCode::OK, true, &first));
    let stored = api.f.db.invoice(&acme, "i1").await.unwrap().unwrap();
    assert_eq!(stored.amount.minor, 20_000);
    // The same key with another body is refused, and does nothing.
    let other = json!([invoice_row("i3", "c1")]);
    let (s, _, v) = post(&api, "/v1/invoices:batch", &api.acme, "k-2", &other).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("idempotency-key-reused")
        ),
        "{v}"
    );
    assert!(api.f.db.invoice(&acme, "i3").await.unwrap().is_none());
    // A refused request is kept too: its repeat is the same 400.
    let bad = json!({"not": "an array"});
    let (s, _, v1) = post(&api, "/v1/invoices:batch", &api.acme, "k-3", &bad).await;
    let (s2, replayed, v2) = post(&api, "/v1/invoices:batch", &api.acme, "k-3", &bad).await;
    assert_eq!(
        (s, s2, replayed, &v1),
        (StatusCode::BAD_REQUEST, StatusCode::BAD_REQUEST, true, &v2)
    );
    for bad_key in ["", &"k".repeat(256), "two words"] {
        let (s, _, v) = post(&api, "/v1/invoices:batch", &api.acme, bad_key, &other).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid-idempotency-key")),
            "{bad_key:?}: {v}"
        );
    }
    for key in ["dk_wrong", OPERATOR] {
        let (s, _, v) = post(&api, "/v1/invoices:batch", key, "k-2", &invoices).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid-key"))
        );
    }
}

async fn a_key_is_each_tenants_and_each_routes_own(f: Fixture) {
    let api = Api::new(f).await;
    let rows = json!([customer_row("c1")]);
    let (s, _, acme) = post(&api, "/v1/customers:batch", &api.acme, "k", &rows).await;
    assert_eq!(s, StatusCode::OK, "{acme}");
    // Beta's "k" is its own: its request runs (and stores beta's c1), nothing of acme's shows.
    let (s, replayed, beta) = post(&api, "/v1/customers:batch", &api.beta, "k", &rows).await;
    assert_eq!(
        (s, replayed, beta["stored"].as_u64()),
        (StatusCode::OK, false, Some(1))
    );
    let beta_id = TenantId::new("beta").unwrap();
    assert!(api.f.db.customer(&beta_id, "c1").await.unwrap().is_some());
    // Another route's "k" is another key.
    let invoices = json!([invoice_row("i1", "c1")]);
    let (s, replayed, v) = post(&api, "/v1/invoices:batch", &api.acme, "k", &invoices).await;
    assert_eq!(
        (s, replayed, v["stored"].as_u64()),
        (StatusCode::OK, false, Some(1)),
        "{v}"
    );
}

async fn of_two_concurrent_requests_with_one_key_one_does_the_work(f: Fixture) {
    let api = Api::new(f).await;
    let rows = Value::Array((0..50).map(|i| customer_row(&format!("c{i}"))).collect());
    for round in 0..5 {
        let idem = format!("race-{round}");
        let (a, b) = tokio::join!(
            post(&api, "/v1/customers:batch", &api.acme, &idem, &rows),
            post(&api, "/v1/customers:batch", &api.acme, &idem, &rows)
        );
        let mut fresh = 0;
        for (s, replayed, v) in [a, b] {
            match (s, replayed) {
                (StatusCode::OK, false) => fresh += 1,
                (StatusCode::OK, true) => assert_eq!(v["stored"], 50),
                (StatusCode::CONFLICT, _) => {
                    assert_eq!(v["error"]["code"], "idempotency-key-in-progress")
                }
                other => panic!("{other:?}: {v}"),
            }
        }
        assert_eq!(fresh, 1, "round {round}");
    }
}
