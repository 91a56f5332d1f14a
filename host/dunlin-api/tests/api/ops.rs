//! What the operator watches: `/metrics` and the per-key rate limits.

use std::num::NonZeroU32;
use std::time::Duration;

use dunlin_api::telemetry;
use dunlin_api::{ApiConfig, AppState, OperatorKey, RateLimit};
use dunlin_tests::metrics::Recorded;

use crate::support::*;

dunlin_store::conformance!(
    metrics_count_requests_by_route_template_and_show_the_outbox,
    a_key_over_its_rate_limit_waits_and_other_keys_do_not,
);

/// The line of `series` (name and labels as rendered) in `scrape`, its value.
fn value(scrape: &str, series: &str) -> Option<f64> {
    scrape
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

async fn metrics_count_requests_by_route_template_and_show_the_outbox(f: Fixture) {
    // A recorder of this test's own: the requests run inside this future.
    let recorder = telemetry::builder().build_recorder();
    let handle = recorder.handle();
    Recorded::new(recorder, scrape_after_requests(f, handle)).await
}

async fn scrape_after_requests(f: Fixture, handle: telemetry::PrometheusHandle) {
    let mut api = Api::new(f).await;
    let (s, v) = api
        .call(Method::GET, "/metrics", Some(OPERATOR), None)
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("unknown-route")),
        "no recorder, no /metrics"
    );
    api.state.metrics = Some(handle);
    seed_decision(&api).await;
    for id in ["i1", "i1", "nope"] {
        api.call(
            Method::GET,
            &format!("/v1/invoices/{id}/explain"),
            Some(&api.acme),
            None,
        )
        .await;
    }
    let request = Request::builder()
        .uri("/metrics")
        .header("authorization", format!("Bearer {OPERATOR}"))
        .body(Body::empty())
        .unwrap();
    let (s, scrape) = api.raw(request).await;
    assert_eq!(s, StatusCode::OK, "{scrape}");
    let explain = r#"dunlin_http_requests_total{route="/v1/invoices/{id}/explain",method="GET""#;
    assert_eq!(
        value(&scrape, &format!(r#"{explain},status="200"}}"#)),
        Some(2.0),
        "{scrape}"
    );
    assert_eq!(
        value(&scrape, &format!(r#"{explain},status="404"}}"#)),
        Some(1.0)
    );
    assert_eq!(
        value(
            &scrape,
            r#"dunlin_http_requests_total{route="/v1/customers/{id}",method="PUT",status="200"}"#
        ),
        Some(1.0)
    );
    assert!(
        !scrape.contains("nope") && !scrape.contains("/v1/invoices/i1"),
        "a raw path is never a label: {scrape}"
    );
    assert!(scrape.contains(
        r#"dunlin_http_request_seconds_bucket{route="/v1/invoices/{id}/explain",method="GET",le="#
    ));
    // Seeded: one pending reminder of acme's, none of beta's.
    assert_eq!(
        value(&scrape, r#"dunlin_outbox_pending{tenant="acme"}"#),
        Some(1.0)
    );
    assert_eq!(
        value(&scrape, r#"dunlin_outbox_pending{tenant="beta"}"#),
        Some(0.0)
    );
    assert_eq!(
        value(&scrape, r#"dunlin_outbox_dead{tenant="acme"}"#),
        Some(0.0)
    );
    let age = value(
        &scrape,
        r#"dunlin_outbox_oldest_pending_seconds{tenant="acme"}"#,
    )
    .unwrap();
    assert!((0.0..60.0).contains(&age), "{age}");
    // Only the operator scrapes.
    for key in [None, Some("wrong"), Some(api.acme.as_str())] {
        let (s, _) = api.call(Method::GET, "/metrics", key, None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{key:?}");
    }
}

async fn a_key_over_its_rate_limit_waits_and_other_keys_do_not(f: Fixture) {
    let mut api = Api::new(f).await;
    // Two requests per 400 ms: a token back every 200 ms.
    let two = NonZeroU32::new(2).unwrap();
    let config = ApiConfig {
        key_rate: Some(RateLimit {
            requests: two,
            per: Duration::from_millis(400),
        }),
        operator_rate: Some(RateLimit {
            requests: NonZeroU32::new(1).unwrap(),
            per: Duration::from_secs(60),
        }),
        ..api.state.config.clone()
    };
    api.state = AppState::new(
        api.f.db.clone(),
        OperatorKey::new(OPERATOR),
        config,
        api.state.runtime.clone(),
    );
    let get = |key: String| {
        let api = &api;
        async move {
            let request = Request::builder()
                .uri("/v1/decisions")
                .header("authorization", format!("Bearer {key}"))
                .body(Body::empty())
                .unwrap();
            let response = router_call(api, request).await;
            (
                response.0,
                response.1,
                serde_json::from_str::<Value>(&response.2).unwrap(),
            )
        }
    };
    for _ in 0..2 {
        assert_eq!(get(api.acme.clone()).await.0, StatusCode::OK);
    }
    let (s, retry_after, v) = get(api.acme.clone()).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("rate-limited")),
        "{v}"
    );
    assert_eq!(
        retry_after.as_deref(),
        Some("1"),
        "whole seconds, rounded up"
    );
    // Beta's key has its own bucket; a wrong key is refused before any bucket.
    assert_eq!(get(api.beta.clone()).await.0, StatusCode::OK);
    assert_eq!(get("dk_wrong".into()).await.0, StatusCode::UNAUTHORIZED);
    // A token is back after 200 ms.
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(get(api.acme.clone()).await.0, StatusCode::OK);
    // Buckets that filled again are dropped: keys that come and go leave nothing. Acme's
    // is full 350 ms after its last request and is dropped one token's time later.
    assert!(api.state.rate_limits.tracked_keys() > 0);
    tokio::time::sleep(Duration::from_millis(650)).await;
    assert_eq!(api.state.rate_limits.tracked_keys(), 0);

    // The operator's bucket is its own.
    let (s, _) = api
        .call(Method::GET, "/v1/admin/limits", Some(OPERATOR), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = api
        .call(Method::GET, "/v1/admin/limits", Some(OPERATOR), None)
        .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("rate-limited"))
    );
    assert_eq!(get(api.beta.clone()).await.0, StatusCode::OK);
}

/// A request through the router: status, `Retry-After` and body.
async fn router_call(api: &Api, request: Request<Body>) -> (StatusCode, Option<String>, String) {
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;
    let response = dunlin_api::router(api.state.clone())
        .oneshot(request)
        .await
        .unwrap();
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        retry_after,
        String::from_utf8(bytes.to_vec()).unwrap(),
    )
}
