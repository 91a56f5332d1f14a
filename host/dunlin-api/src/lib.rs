//! Dunlin's tenant HTTP API: the only crate that knows HTTP, with its wire types.
//!
//! [`router`] builds the axum router over a [`dunlin_store::Db`]; [`serve`] runs it on a
//! listener until a cancellation token fires (the daemon's, so `dunlin serve` stops it with
//! the sweep and the outbox worker). Tenants authenticate with `Authorization: Bearer <key>`
//! (keys from `dunlin tenant key create` or the admin routes); every handler calls the store
//! or a library crate with that tenant, never another, so another tenant's object answers
//! 404 as if it did not exist. Errors have one shape ([`ApiError`]); bodies are capped and
//! requests time out ([`ApiConfig`]). The routes and their OpenAPI 3.1 document come from the
//! same annotations ([`openapi`]).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::body::HttpBody as _;
use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use dunlin_core::guardrails::OperatorLimits;
use dunlin_store::Db;
use metrics_exporter_prometheus::PrometheusHandle;
use tokio_util::sync::CancellationToken;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

mod admin;
mod auth;
mod decisions;
mod error;
mod health;
mod ledger;
pub mod openapi;
mod outbox;
mod page;
mod rate;
pub mod telemetry;

pub use auth::{Operator, OperatorKey, Tenant};
pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use rate::{Limiters, RateLimit};

/// Limits on requests.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    /// The largest request body, in bytes.
    pub body_limit: usize,
    /// The longest a request may take, from its headers to its response.
    pub timeout: Duration,
    /// The most rows one batch request may carry.
    pub max_batch_rows: usize,
    /// Each tenant key's rate limit (`None`: none).
    pub key_rate: Option<RateLimit>,
    /// The operator key's rate limit (`None`: none).
    pub operator_rate: Option<RateLimit>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        // 10,000 invoice rows of about 400 bytes each fit the body cap.
        ApiConfig {
            body_limit: 8 << 20,
            timeout: Duration::from_secs(30),
            max_batch_rows: 10_000,
            // An integration syncing in batches needs few requests; a runaway loop is cut
            // off at 100 a second. The operator's tools get ten times that.
            key_rate: Some(RateLimit::per_second(
                NonZeroU32::new(100).expect("not zero"),
            )),
            operator_rate: Some(RateLimit::per_second(
                NonZeroU32::new(1000).expect("not zero"),
            )),
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The store.
    pub db: Arc<dyn Db>,
    /// The operator's key; without one the admin routes refuse every request.
    pub operator: Option<OperatorKey>,
    /// The limits.
    pub config: ApiConfig,
    /// The rate limits' buckets, built from `config` ([`Limiters::new`]).
    pub limits: Arc<Limiters>,
    /// The guardrail limits the operator set (`--operator-limits`), which tenants' settings
    /// are checked against.
    pub operator_limits: OperatorLimits,
    /// The process's metrics recorder, rendered at `/metrics` (`None`: no `/metrics`).
    pub metrics: Option<PrometheusHandle>,
}

impl AppState {
    /// The state for `db` with `config`'s rate limits, no metrics and the default operator
    /// limits.
    pub fn new(db: Arc<dyn Db>, operator: Option<OperatorKey>, config: ApiConfig) -> Self {
        AppState {
            db,
            operator,
            limits: Arc::new(Limiters::new(&config)),
            config,
            operator_limits: OperatorLimits::default(),
            metrics: None,
        }
    }
}

/// A JSON body whose rejection (not JSON, malformed, the wrong shape, over the cap) is an
/// [`ApiError`] in the one shape, never axum's plain-text answer.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub(crate) struct Json<T>(pub T);

/// A query string whose rejection is an [`ApiError`] (`invalid-query`).
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub(crate) struct Query<T>(pub T);

/// Path parameters whose rejection is an [`ApiError`] (`invalid-path`).
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub(crate) struct Path<T>(pub T);

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// The API's router with its state and layers.
pub fn router(state: AppState) -> Router {
    let config = state.config.clone();
    let (routes, _) = openapi::routes().split_for_parts();
    routes
        .fallback(|uri: axum::http::Uri| async move {
            ApiError::UnknownRoute(dunlin_core::text::truncate(uri.path(), 200).into_owned())
        })
        .with_state(state)
        .layer(DefaultBodyLimit::max(config.body_limit))
        .layer(RequestBodyLimitLayer::new(config.body_limit))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            config.timeout,
        ))
        // Outermost, so that the answers of the layers above get the one shape too.
        .layer(axum::middleware::from_fn(error_shape))
        // Around everything, so each request is counted with the status it was answered.
        .layer(axum::middleware::from_fn(telemetry::track))
}

/// Gives an error status that a layer or axum answered with no body (the body cap, the
/// timeout, a method the route lacks) the one error shape.
async fn error_shape(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if (status.is_client_error() || status.is_server_error())
        && response.body().size_hint().exact() == Some(0)
    {
        if let Some(error) = ApiError::for_status(status) {
            return error.into_response();
        }
    }
    response
}

/// Serves the API on `listener` until `shutdown` is cancelled, then stops taking connections
/// and lets requests under way finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}
