//! The contract of the API as a whole: health, unknown routes, and the OpenAPI document against the router.

use crate::support::*;

dunlin_store::conformance!(
    health_and_readiness_need_no_key,
    every_route_is_documented_and_every_documented_route_exists,
);

async fn health_and_readiness_need_no_key(f: Fixture) {
    let api = Api::new(f).await;
    let (s, v) = api.call(Method::GET, "/healthz", None, None).await;
    assert_eq!((s, v["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (s, v) = api.call(Method::GET, "/readyz", None, None).await;
    assert_eq!((s, v["status"].as_str()), (StatusCode::OK, Some("ready")));
    let (s, v) = api
        .call(Method::GET, "/nowhere", Some(&api.acme), None)
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("unknown-route"))
    );
    let (s, v) = api
        .call(Method::DELETE, "/v1/decisions", Some(&api.acme), None)
        .await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED, "{v}");
    assert_eq!(v["error"]["code"], "method-not-allowed");
}

async fn every_route_is_documented_and_every_documented_route_exists(f: Fixture) {
    let api = Api::new(f).await;
    let (s, doc) = api.call(Method::GET, "/v1/openapi.json", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let mut documented = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    documented.sort();
    let expected = [
        "DELETE /v1/admin/tenants/{tenant}/keys/{id}",
        "DELETE /v1/policies/{version}",
        "DELETE /v1/policies/{version}/shadow",
        "DELETE /v1/templates/{id}/{locale}",
        "DELETE /v1/webhook-endpoints/{id}",
        "GET /healthz",
        "GET /metrics",
        "GET /readyz",
        "GET /v1/actions",
        "GET /v1/admin/health",
        "GET /v1/admin/limits",
        "GET /v1/admin/replicas",
        "GET /v1/admin/tenants",
        "GET /v1/admin/tenants/{tenant}",
        "GET /v1/admin/tenants/{tenant}/keys",
        "GET /v1/canary/report",
        "GET /v1/decisions",
        "GET /v1/delivery-settings",
        "GET /v1/invoices/{id}/explain",
        "GET /v1/openapi.json",
        "GET /v1/outbox",
        "GET /v1/outbox/{id}",
        "GET /v1/policies",
        "GET /v1/policies/{version}",
        "GET /v1/settings",
        "GET /v1/shadow/report",
        "GET /v1/sweeps",
        "GET /v1/sweeps/{id}",
        "GET /v1/templates",
        "GET /v1/templates/{id}/{locale}",
        "GET /v1/unsubscribe/{token}",
        "GET /v1/webhook-endpoints",
        "POST /v1/actions/{id}/outcome",
        "POST /v1/admin/tenants",
        "POST /v1/admin/tenants/{tenant}/keys",
        "POST /v1/canary/abort",
        "POST /v1/canary/promote",
        "POST /v1/customers:batch",
        "POST /v1/disputes:batch",
        "POST /v1/invoices:batch",
        "POST /v1/outbox/{id}/retry",
        "POST /v1/outbox:retry-dead",
        "POST /v1/payments:batch",
        "POST /v1/plans:batch",
        "POST /v1/policies",
        "POST /v1/policies/rollback",
        "POST /v1/policies/{version}/activate",
        "POST /v1/policies/{version}/backtest",
        "POST /v1/replays",
        "POST /v1/sweeps",
        "POST /v1/templates/{id}/{locale}/preview",
        "POST /v1/unsubscribe/{token}",
        "POST /v1/webhook-endpoints",
        "POST /v1/webhook-endpoints/{id}/rotate-secret",
        "PUT /v1/customers/{id}",
        "PUT /v1/delivery-settings",
        "PUT /v1/disputes/{id}",
        "PUT /v1/invoices/{id}",
        "PUT /v1/payments/{id}",
        "PUT /v1/plans/{id}",
        "PUT /v1/policies/{version}/canary",
        "PUT /v1/policies/{version}/shadow",
        "PUT /v1/settings",
        "PUT /v1/templates/{id}/{locale}",
    ];
    assert_eq!(documented, expected);
    // Each documented operation reaches a handler: neither the router's fallback nor its
    // answer to a method the path lacks.
    for operation in &documented {
        let (method, path) = operation.split_once(' ').unwrap();
        let path = path
            .replace("{tenant}", "acme")
            .replace("{id}", "x")
            .replace("{locale}", "en")
            .replace("{token}", "x");
        // Raw: the unsubscribe pages are HTML, not JSON.
        let request = Request::builder()
            .method(method)
            .uri(&path)
            .body(Body::empty())
            .unwrap();
        let (s, text) = api.raw(request).await;
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert_ne!(v["error"]["code"], "unknown-route", "{operation}");
        assert_ne!(s, StatusCode::METHOD_NOT_ALLOWED, "{operation}");
    }
    // And what the router serves beyond those answers as no route.
    for operation in [
        "GET /v1/customers",
        "GET /v1/customers/x",
        "POST /v1/decisions",
        "DELETE /v1/admin/tenants/acme",
    ] {
        let (method, path) = operation.split_once(' ').unwrap();
        let (s, _) = api
            .call(method.parse().unwrap(), path, Some(OPERATOR), None)
            .await;
        assert!(
            s == StatusCode::NOT_FOUND || s == StatusCode::METHOD_NOT_ALLOWED,
            "{operation}: {s}"
        );
    }
    // The ledger's row schemas name the import's fields.
    let row = &doc["components"]["schemas"]["InvoiceRow"];
    assert!(
        row["required"]
            .as_array()
            .unwrap()
            .contains(&json!("amount-minor")),
        "{row}"
    );
}
