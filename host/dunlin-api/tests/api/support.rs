//! The test harness: two tenants (acme, beta) with a key each, the operator key, and requests
//! sent through the router (`tower::ServiceExt::oneshot`). The modules take what they need
//! from here with `use crate::support::*`.

use std::collections::BTreeMap;

pub use axum::body::Body;
pub use axum::http::{Method, Request, StatusCode};
use dunlin_api::{router, ApiConfig, AppState, OperatorKey};
pub use dunlin_core::{Action, Channel, Decision, Notice, Tone};
pub use dunlin_store::testing::{date, Fixture};
pub use dunlin_store::{
    ActionStatus, DueQuery, DunningState, Outcome, PlannedAction, PolicyRef, TenantId,
    TenantSettings,
};
use http_body_util::BodyExt as _;
pub use serde_json::{json, Value};
use tower::ServiceExt as _;

pub const OPERATOR: &str = "operator-secret";

pub struct Api {
    pub f: Fixture,
    pub state: AppState,
    pub acme: String,
    pub beta: String,
}

impl Api {
    pub async fn new(f: Fixture) -> Api {
        let mut keys = Vec::new();
        for t in ["acme", "beta"] {
            let id = TenantId::new(t).unwrap();
            f.db.create_tenant(&id, &TenantSettings::default())
                .await
                .unwrap();
            keys.push(f.db.create_api_key(&id, "test").await.unwrap().0);
        }
        // No rate limits here: the tests of a route send requests as fast as they can; the
        // limits have their own test.
        let mut state = AppState::new(
            f.db.clone(),
            OperatorKey::new(OPERATOR),
            ApiConfig {
                body_limit: 64 * 1024,
                max_batch_rows: 50,
                key_rate: None,
                operator_rate: None,
                ..ApiConfig::default()
            },
            dunlin_tests::runtime().clone(),
        );
        state.delivery = crate::delivery::config();
        let beta = keys.pop().unwrap();
        let acme = keys.pop().unwrap();
        Api {
            f,
            state,
            acme,
            beta,
        }
    }

    pub async fn raw(&self, request: Request<Body>) -> (StatusCode, String) {
        let response = router(self.state.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    /// `GET path` with `key`.
    pub async fn get(&self, path: &str, key: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(key), None).await
    }

    pub async fn call(
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
    pub async fn refuses_without_a_valid_key(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) {
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

pub fn customer_row(id: &str) -> Value {
    json!({"id": id, "currency": "EUR", "customer-since": "2024-01-01", "email": format!("{id}@example.com")})
}

pub fn invoice_row(id: &str, customer: &str) -> Value {
    json!({"id": id, "customer-id": customer, "issued-on": "2026-01-01", "due-on": "2026-01-31",
           "amount-minor": 10_000, "currency": "EUR", "payment-method": "bank-transfer"})
}

/// Acme's customer c1 with invoice i1, and a first reminder recorded for it on 2026-02-10.
pub async fn seed_decision(api: &Api) {
    seed_decision_with(api, vec![reminder()]).await;
}

/// Acme's customer c1 with invoice i1, and a decision with `actions` recorded for it on
/// 2026-02-10.
pub async fn seed_decision_with(api: &Api, actions: Vec<Action>) {
    seed_invoice(api).await;
    record_for(api, "acme", "2026-02-10", "first reminder", actions).await;
}

/// The tenant's `customer` and `invoice` (rows as the API takes them; the invoice its only
/// open one due for review on 2026-02-10), and a first reminder recorded for the invoice with
/// `reason`.
pub async fn seed_decision_for(
    api: &Api,
    tenant: &str,
    customer: Value,
    invoice: Value,
    reason: &str,
) {
    put_rows(api, tenant, customer, invoice).await;
    record_for(api, tenant, "2026-02-10", reason, vec![reminder()]).await;
}

/// Acme's customer c1 with invoice i1 (due 2026-01-31), through the API.
pub async fn seed_invoice(api: &Api) {
    put_rows(api, "acme", customer_row("c1"), invoice_row("i1", "c1")).await;
}

/// The tenant's `customer` and `invoice`, through the API.
async fn put_rows(api: &Api, tenant: &str, customer: Value, invoice: Value) {
    let key = if tenant == "acme" {
        &api.acme
    } else {
        &api.beta
    };
    for (kind, row) in [("customers", customer), ("invoices", invoice)] {
        let path = format!("/v1/{kind}/{}", row["id"].as_str().unwrap());
        let (s, v) = api.call(Method::PUT, &path, Some(key), Some(row)).await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
}

/// A first reminder: email, template `reminder`.
fn reminder() -> Action {
    Action::Notify(Notice {
        level: 1,
        channel: Channel::Email,
        tone: Tone::Friendly,
        template: "reminder".into(),
        vars: BTreeMap::new(),
    })
}

/// A first reminder recorded for every invoice of acme's that is due for review on `as_of`.
pub async fn record_notice(api: &Api, as_of: &str) {
    record_for(api, "acme", as_of, "first reminder", vec![reminder()]).await;
}

/// A decision with `reason` and `actions` (all pending) recorded for every invoice of the
/// tenant's that is due for review on `as_of`.
async fn record_for(api: &Api, tenant: &str, as_of: &str, reason: &str, actions: Vec<Action>) {
    let tenant = TenantId::new(tenant).unwrap();
    let page = api
        .f
        .db
        .due_for_review(&tenant, &DueQuery::new(date(as_of)))
        .await
        .unwrap();
    assert!(!page.invoices.is_empty(), "nothing due on {as_of}");
    let review_on = date("2026-02-17");
    let outcomes: Vec<Outcome> = page
        .invoices
        .iter()
        .map(|due| Outcome {
            context: due.context.clone(),
            policy: Some(PolicyRef {
                version: 1,
                sha256: "ab".repeat(32),
            }),
            decision: Some(Decision {
                segment: "smb".into(),
                actions: actions.clone(),
                review_on: Some(review_on),
                reason: reason.into(),
            }),
            reason: reason.into(),
            interventions: vec![],
            actions: actions
                .iter()
                .map(|action| PlannedAction {
                    action: action.clone(),
                    status: ActionStatus::Pending,
                })
                .collect(),
            fuel_used: Some(6_000),
            duration_us: Some(25),
            failure: None,
            state: DunningState {
                level: 1,
                last_action_on: Some(due.context.as_of),
                next_review_on: Some(review_on),
                policy_version: Some(1),
                paused_until: None,
                paused_why: None,
                ended: false,
            },
            receipt: None,
        })
        .collect();
    api.f.db.record_batch(&tenant, &outcomes).await.unwrap();
}
