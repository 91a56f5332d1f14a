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
        "GET /healthz",
        "GET /metrics",
        "GET /readyz",
        "GET /v1/admin/health",
        "GET /v1/admin/limits",
        "GET /v1/admin/tenants",
        "GET /v1/admin/tenants/{tenant}",
        "GET /v1/admin/tenants/{tenant}/keys",
        "GET /v1/decisions",
        "GET /v1/invoices/{id}/explain",
        "GET /v1/openapi.json",
        "GET /v1/outbox",
        "POST /v1/admin/tenants",
        "POST /v1/admin/tenants/{tenant}/keys",
        "POST /v1/customers:batch",
        "POST /v1/invoices:batch",
        "POST /v1/payments:batch",
        "PUT /v1/customers/{id}",
        "PUT /v1/invoices/{id}",
    ];
    assert_eq!(documented, expected);
    // Each documented operation reaches a handler: neither the router's fallback nor its
    // answer to a method the path lacks.
    for operation in &documented {
        let (method, path) = operation.split_once(' ').unwrap();
        let path = path.replace("{tenant}", "acme").replace("{id}", "x");
        let (s, v) = api.call(method.parse().unwrap(), &path, None, None).await;
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
