//! The API over its router (`tower::ServiceExt::oneshot`), on SQLite and PostgreSQL: every
//! route with success, bad input, no key, a wrong key and another tenant's key.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use dunlin_api::{router, ApiConfig, AppState, OperatorKey};
use dunlin_core::{Action, Channel, Decision, Notice, Tone};
use dunlin_store::testing::{date, Fixture};
use dunlin_store::{
    ActionStatus, DueQuery, DunningState, Outcome, PlannedAction, PolicyRef, TenantId,
    TenantSettings,
};
use http_body_util::BodyExt as _;
use serde_json::{json, Value};
use tower::ServiceExt as _;

const OPERATOR: &str = "operator-secret";

struct Api {
    f: Fixture,
    state: AppState,
    acme: String,
    beta: String,
}

impl Api {
    async fn new(f: Fixture) -> Api {
        let mut keys = Vec::new();
        for t in ["acme", "beta"] {
            let id = TenantId::new(t).unwrap();
            f.db.create_tenant(&id, &TenantSettings::default())
                .await
                .unwrap();
            keys.push(f.db.create_api_key(&id, "test").await.unwrap().0);
        }
        let state = AppState {
            db: f.db.clone(),
            operator: OperatorKey::new(OPERATOR),
            config: ApiConfig {
                body_limit: 64 * 1024,
                max_batch_rows: 50,
                ..ApiConfig::default()
            },
        };
        let beta = keys.pop().unwrap();
        let acme = keys.pop().unwrap();
        Api {
            f,
            state,
            acme,
            beta,
        }
    }

    async fn raw(&self, request: Request<Body>) -> (StatusCode, String) {
        let response = router(self.state.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(key) = key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        let body = match body {
            Some(body) => {
                request = request.header("content-type", "application/json");
                Body::from(body.to_string())
            }
            None => Body::empty(),
        };
        let (status, text) = self.raw(request.body(body).unwrap()).await;
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
        };
        (status, value)
    }

    /// The request with no key, a wrong key, a revoked-looking key and a malformed header:
    /// each 401 in the error shape.
    async fn refuses_without_a_valid_key(&self, method: Method, path: &str, body: Option<Value>) {
        for key in [None, Some("dk_wrong"), Some(OPERATOR)] {
            let (status, v) = self.call(method.clone(), path, key, body.clone()).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {key:?}: {v}"
            );
            let code = v["error"]["code"].as_str().unwrap();
            assert_eq!(
                code,
                if key.is_none() {
                    "missing-key"
                } else {
                    "invalid-key"
                }
            );
        }
        let request = Request::builder()
            .method(method.clone())
            .uri(path)
            .header("authorization", format!("Basic {}", self.acme))
            .body(Body::empty())
            .unwrap();
        assert_eq!(
            self.raw(request).await.0,
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
    }
}

fn customer_row(id: &str) -> Value {
    json!({"id": id, "currency": "EUR", "customer-since": "2024-01-01", "email": format!("{id}@example.com")})
}

fn invoice_row(id: &str, customer: &str) -> Value {
    json!({"id": id, "customer-id": customer, "issued-on": "2026-01-01", "due-on": "2026-01-31",
           "amount-minor": 10_000, "currency": "EUR", "payment-method": "bank-transfer"})
}

/// Acme's customer c1 with invoice i1, and a first reminder recorded for it on 2026-02-10.
async fn seed_decision(api: &Api) {
    let (s, v) = api
        .call(
            Method::PUT,
            "/v1/customers/c1",
            Some(&api.acme),
            Some(customer_row("c1")),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = api
        .call(
            Method::PUT,
            "/v1/invoices/i1",
            Some(&api.acme),
            Some(invoice_row("i1", "c1")),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let acme = TenantId::new("acme").unwrap();
    let page = api
        .f
        .db
        .due_for_review(&acme, &DueQuery::new(date("2026-02-10")))
        .await
        .unwrap();
    assert_eq!(page.invoices.len(), 1);
    let ctx = &page.invoices[0].context;
    let notice = Action::Notify(Notice {
        level: 1,
        channel: Channel::Email,
        tone: Tone::Friendly,
        template: "reminder".into(),
        vars: BTreeMap::new(),
    });
    let review_on = date("2026-02-17");
    let outcome = Outcome {
        context: ctx.clone(),
        policy: Some(PolicyRef {
            version: 1,
            sha256: "ab".repeat(32),
        }),
        decision: Some(Decision {
            segment: "smb".into(),
            actions: vec![notice.clone()],
            review_on: Some(review_on),
            reason: "first reminder".into(),
        }),
        reason: "first reminder".into(),
        interventions: vec![],
        actions: vec![PlannedAction {
            action: notice,
            status: ActionStatus::Pending,
        }],
        fuel_used: Some(6_000),
        duration_us: Some(25),
        failure: None,
        state: DunningState {
            level: 1,
            last_action_on: Some(ctx.as_of),
            next_review_on: Some(review_on),
            policy_version: Some(1),
            paused_until: None,
            paused_why: None,
            ended: false,
        },
        receipt: None,
    };
    api.f.db.record_batch(&acme, &[outcome]).await.unwrap();
}

dunlin_store::conformance!(
    health_and_readiness_need_no_key,
    customers_and_invoices_are_upserted_one_at_a_time,
    batches_answer_per_row,
    bad_bodies_are_4xx_in_the_error_shape,
    decisions_are_filtered_and_paged,
    explain_shows_the_ladder_with_deliveries,
    the_outbox_is_listed_by_status,
    another_tenants_objects_answer_404_and_never_show,
    operator_routes_make_list_and_revoke_keys,
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

async fn customers_and_invoices_are_upserted_one_at_a_time(f: Fixture) {
    let api = Api::new(f).await;
    let acme = TenantId::new("acme").unwrap();
    let (s, v) = api
        .call(
            Method::PUT,
            "/v1/customers/c1",
            Some(&api.acme),
            Some(customer_row("c1")),
        )
        .await;
    assert_eq!((s, &v), (StatusCode::OK, &json!({"id": "c1"})));
    // The id may come from the path alone; the same row again changes nothing.
    let mut row = customer_row("c2");
    row.as_object_mut().unwrap().remove("id");
    let (s, _) = api
        .call(Method::PUT, "/v1/customers/c2", Some(&api.acme), Some(row))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        api.f
            .db
            .customer(&acme, "c2")
            .await
            .unwrap()
            .unwrap()
            .contact["email"],
        "c2@example.com"
    );
    let (s, v) = api
        .call(
            Method::PUT,
            "/v1/customers/c3",
            Some(&api.acme),
            Some(customer_row("c1")),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("id-mismatch"))
    );
    let mut bad = customer_row("c4");
    bad["currency"] = json!("EURO");
    let (s, v) = api
        .call(Method::PUT, "/v1/customers/c4", Some(&api.acme), Some(bad))
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid-row")),
        "{v}"
    );
    assert!(
        v["error"]["message"].as_str().unwrap().contains("currency"),
        "{v}"
    );
    assert!(api.f.db.customer(&acme, "c4").await.unwrap().is_none());

    let (s, v) = api
        .call(
            Method::PUT,
            "/v1/invoices/i1",
            Some(&api.acme),
            Some(invoice_row("i1", "c1")),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let stored = api.f.db.invoice(&acme, "i1").await.unwrap().unwrap();
    assert_eq!(stored.amount.minor, 10_000);
    // An invoice of a customer the tenant lacks is refused and names the customer.
    let (s, v) = api
        .call(
            Method::PUT,
            "/v1/invoices/i2",
            Some(&api.acme),
            Some(invoice_row("i2", "ghost")),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("ghost"),
        "{v}"
    );
    api.refuses_without_a_valid_key(Method::PUT, "/v1/customers/c1", Some(customer_row("c1")))
        .await;
    api.refuses_without_a_valid_key(
        Method::PUT,
        "/v1/invoices/i1",
        Some(invoice_row("i1", "c1")),
    )
    .await;
}

async fn batches_answer_per_row(f: Fixture) {
    let api = Api::new(f).await;
    let acme = TenantId::new("acme").unwrap();
    let customers = json!([customer_row("c1"), {"id": "c2"}, customer_row("c3"), 7]);
    let (s, v) = api
        .call(
            Method::POST,
            "/v1/customers:batch",
            Some(&api.acme),
            Some(customers),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (v["received"].as_u64(), v["stored"].as_u64()),
        (Some(4), Some(2)),
        "{v}"
    );
    let indexes: Vec<u64> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["index"].as_u64().unwrap())
        .collect();
    // A row with several bad fields has one error per field.
    assert_eq!(indexes, [1, 1, 3], "{v}");
    assert!(api.f.db.customer(&acme, "c3").await.unwrap().is_some());

    let invoices = json!([
        invoice_row("i1", "c1"),
        invoice_row("i2", "c2"),
        invoice_row("i3", "c3")
    ]);
    let (s, v) = api
        .call(
            Method::POST,
            "/v1/invoices:batch",
            Some(&api.acme),
            Some(invoices),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["stored"], 2, "{v}");
    assert_eq!(v["errors"][0]["index"], 1, "c2 was refused: {v}");

    let payments = json!([
        {"id": "p1", "invoice-id": "i1", "amount-minor": 10_000, "currency": "EUR", "paid-on": "2026-02-01"},
        {"id": "p2", "invoice-id": "i3", "amount-minor": 1, "currency": "USD", "paid-on": "2026-02-01"},
    ]);
    let (s, v) = api
        .call(
            Method::POST,
            "/v1/payments:batch",
            Some(&api.acme),
            Some(payments),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (v["stored"].as_u64(), v["errors"][0]["index"].as_u64()),
        (Some(1), Some(1)),
        "{v}"
    );
    let paid = api.f.db.invoice(&acme, "i1").await.unwrap().unwrap();
    assert_eq!(paid.status.as_str(), "paid");

    let too_many = Value::Array((0..51).map(|i| customer_row(&format!("x{i}"))).collect());
    let (s, v) = api
        .call(
            Method::POST,
            "/v1/customers:batch",
            Some(&api.acme),
            Some(too_many),
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("too-many-rows"))
    );
    for path in [
        "/v1/customers:batch",
        "/v1/invoices:batch",
        "/v1/payments:batch",
    ] {
        let (s, v) = api
            .call(
                Method::POST,
                path,
                Some(&api.acme),
                Some(json!({"not": "an array"})),
            )
            .await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid-body")),
            "{path}"
        );
        api.refuses_without_a_valid_key(Method::POST, path, Some(json!([])))
            .await;
    }
}

async fn bad_bodies_are_4xx_in_the_error_shape(f: Fixture) {
    let api = Api::new(f).await;
    let put = |body: Body, content_type: &'static str| {
        Request::builder()
            .method(Method::POST)
            .uri("/v1/customers:batch")
            .header("authorization", format!("Bearer {}", api.acme))
            .header("content-type", content_type)
            .body(body)
            .unwrap()
    };
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let cases: Vec<(Body, &str, StatusCode, &str)> = vec![
        (
            Body::from("{not json"),
            "application/json",
            StatusCode::BAD_REQUEST,
            "invalid-body",
        ),
        (
            Body::from(deep),
            "application/json",
            StatusCode::BAD_REQUEST,
            "invalid-body",
        ),
        (
            Body::from("[]"),
            "text/plain",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
        ),
        (
            Body::from(vec![b' '; 65 * 1024]),
            "application/json",
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
        ),
    ];
    for (body, content_type, status, code) in cases {
        let (s, text) = api.raw(put(body, content_type)).await;
        assert_eq!(s, status, "{text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["error"]["code"], code, "{text}");
        assert!(v["error"]["message"].is_string() && v["error"].get("details").is_some());
    }
    let (s, v) = api
        .call(Method::GET, "/v1/decisions?limit=0", Some(&api.acme), None)
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid-query"))
    );
    let (s, v) = api
        .call(
            Method::GET,
            "/v1/decisions?from=yesterday",
            Some(&api.acme),
            None,
        )
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid-query"))
    );
}

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
    let (s, v) = api.call(Method::GET, &after, Some(&api.acme), None).await;
    assert_eq!((s, &v["items"]), (StatusCode::OK, &json!([])));
    let before = format!("/v1/decisions?limit=1&cursor={}", id - 1);
    let (s, v) = api.call(Method::GET, &before, Some(&api.acme), None).await;
    assert_eq!((s, &v["items"][0]["id"]), (StatusCode::OK, &json!(id)));
    let (s, v) = api
        .call(
            Method::GET,
            "/v1/decisions?cursor=-3",
            Some(&api.acme),
            None,
        )
        .await;
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
    let (s, v) = api
        .call(
            Method::GET,
            "/v1/invoices/i1/explain",
            Some(&api.acme),
            None,
        )
        .await;
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
    let (s, v) = api
        .call(
            Method::GET,
            "/v1/invoices/nope/explain",
            Some(&api.acme),
            None,
        )
        .await;
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
    let (s, v) = api
        .call(
            Method::GET,
            "/v1/outbox?status=pending",
            Some(&api.acme),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["items"][0]["invoice-id"], "i1");
    let (_, v) = api
        .call(
            Method::GET,
            "/v1/outbox?status=delivered",
            Some(&api.acme),
            None,
        )
        .await;
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
    let (s, v) = api
        .call(
            Method::GET,
            "/v1/invoices/i1/explain",
            Some(&api.beta),
            None,
        )
        .await;
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
        let (s, v) = api.call(Method::GET, path, Some(&api.beta), None).await;
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
    let (_, v) = api
        .call(
            Method::GET,
            "/v1/decisions?customer=c1",
            Some(&api.beta),
            None,
        )
        .await;
    assert_eq!(v["items"], json!([]));
}

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
    let (s, v) = api.call(Method::GET, path, Some(OPERATOR), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert!(
        !v.to_string().contains(&key[3..]),
        "a list never shows a key"
    );
    // A tenant's key is not the operator's.
    let (s, _) = api.call(Method::GET, path, Some(&api.acme), None).await;
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
        "GET /readyz",
        "GET /v1/admin/tenants/{tenant}/keys",
        "GET /v1/decisions",
        "GET /v1/invoices/{id}/explain",
        "GET /v1/openapi.json",
        "GET /v1/outbox",
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
        "GET /v1/admin/tenants",
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
