//! `/metrics` in the Prometheus text format, and the requests' own series.
//!
//! The library crates record through the `metrics` facade (sweeps, policy calls,
//! deliveries); this module builds the Prometheus recorder the binary installs once
//! ([`install`]), renders it for the operator, refreshes the outbox gauges from the store on
//! each scrape, and counts every request by its route template (never the raw path, so no
//! id a client sent becomes a label value), method and status.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
pub use metrics_exporter_prometheus::PrometheusHandle;
use metrics_exporter_prometheus::{BuildError, Matcher, PrometheusBuilder};

use crate::{ApiError, AppState, Operator};

/// Latency buckets, in seconds: a policy call takes microseconds, a sweep or a slow
/// webhook seconds.
const SECONDS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];
/// Fuel buckets: a Rust policy uses about 6,000 per decision, a JavaScript or Python one up
/// to millions.
const FUEL: &[f64] = &[1e3, 3e3, 1e4, 3e4, 1e5, 3e5, 1e6, 3e6, 1e7, 3e7, 1e8];
/// Invoices per sweep.
const INVOICES: &[f64] = &[0.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6, 1e7];

/// The Prometheus recorder with Dunlin's histogram buckets.
pub fn builder() -> PrometheusBuilder {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS)
        .and_then(|b| b.set_buckets_for_metric(Matcher::Full("dunlin_policy_fuel".into()), FUEL))
        .and_then(|b| {
            b.set_buckets_for_metric(Matcher::Full("dunlin_sweep_invoices".into()), INVOICES)
        })
        .expect("the bucket lists are not empty")
}

/// Installs the recorder as the process's, once; the handle renders it. Its owner runs
/// [`PrometheusHandle::run_upkeep`] now and then, so histograms stay bounded between scrapes.
pub fn install() -> Result<PrometheusHandle, BuildError> {
    builder().install_recorder()
}

/// Every series: sweeps, decisions, policy calls, deliveries, the outbox and requests.
#[utoipa::path(get, path = "/metrics", tag = "meta",
    responses(
        (status = 200, description = "The Prometheus text format", content_type = "text/plain"),
        (status = 401, description = "Not the operator key", body = crate::ErrorBody)),
    security(("operator_key" = [])))]
pub(crate) async fn metrics(
    State(state): State<AppState>,
    _: Operator,
) -> Result<Response, ApiError> {
    let Some(handle) = &state.metrics else {
        return Err(ApiError::UnknownRoute("/metrics".into()));
    };
    refresh_outbox(&state).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
        .into_response())
}

/// The outbox gauges, one tenant-scoped query per tenant.
async fn refresh_outbox(state: &AppState) -> Result<(), ApiError> {
    let now = chrono::Utc::now();
    for tenant in state.db.tenants().await? {
        let backlog = state.db.outbox_backlog(&tenant.id).await?;
        let age = backlog
            .oldest_pending_at
            .map_or(0.0, |at| (now - at).as_seconds_f64().max(0.0));
        let id = tenant.id.as_str().to_owned();
        metrics::gauge!("dunlin_outbox_pending", "tenant" => id.clone())
            .set(backlog.pending as f64);
        metrics::gauge!("dunlin_outbox_oldest_pending_seconds", "tenant" => id.clone()).set(age);
        metrics::gauge!("dunlin_outbox_dead", "tenant" => id).set(backlog.dead as f64);
    }
    Ok(())
}

/// A method as a label: the ones the API answers, anything else `other`, so a client's
/// made-up method is no label value.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Counts the request by route template, method and status, and times it.
pub(crate) async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("dunlin_http_requests_total",
        "route" => route.clone(), "method" => method, "status" => status)
    .increment(1);
    metrics::histogram!("dunlin_http_request_seconds", "route" => route, "method" => method)
        .record(started.elapsed().as_secs_f64());
    response
}
