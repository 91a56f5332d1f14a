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

mod actions;
mod admin;
mod auth;
mod backtest;
mod decisions;
mod delivery;
mod endpoints;
mod error;
mod health;
mod idempotency;
mod ledger;
pub mod openapi;
mod outbox;
mod outcomes;
mod page;
mod policies;
mod rate;
mod replays;
mod replicas;
mod sweeps;
pub mod telemetry;
mod trials;
mod unsubscribe;

pub use auth::{Operator, OperatorKey, Tenant};
pub use delivery::DeliveryConfig;
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
    /// The largest policy upload, in bytes: components are far larger than JSON bodies, so
    /// `POST /v1/policies` has this cap instead of `body_limit`.
    pub upload_limit: usize,
    /// How long an `Idempotency-Key`'s first response is kept.
    pub idempotency_ttl: chrono::Duration,
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
            // A Python or JavaScript policy component is 12 to 19 MB.
            upload_limit: 32 << 20,
            idempotency_ttl: chrono::Duration::hours(24),
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
    /// The operator's delivery settings: webhook URL policy, unsubscribe keys.
    pub delivery: DeliveryConfig,
    /// The sandbox: validates policy uploads and runs the sweeps the API starts.
    pub runtime: dunlin_runtime::Runtime,
    /// Cancelled when the server stops: sweeps started through the API stop with it (what
    /// they decided is written; the rest is left for the next sweep).
    pub shutdown: CancellationToken,
    /// The rate limits' buckets, built from `config` ([`Limiters::new`]).
    pub rate_limits: Arc<Limiters>,
    /// The guardrail limits the operator set (`--operator-limits`), which tenants' settings
    /// are checked against.
    pub operator_limits: OperatorLimits,
    /// The process's metrics recorder, rendered at `/metrics` (`None`: no `/metrics`).
    pub metrics: Option<PrometheusHandle>,
    /// The `serve` replica this API runs in: the sweeps it starts are its own, named on
    /// their runs and shown in its heartbeat (`None` outside a daemon).
    pub replica: Option<Arc<dunlin_sweep::replica::Replica>>,
}

impl AppState {
    /// The state for `db` with `config`'s rate limits and `runtime`: no delivery settings
    /// (no unsubscribe keys, webhooks to public https URLs only), no metrics, the default
    /// operator limits, and a shutdown token of its own.
    pub fn new(
        db: Arc<dyn Db>,
        operator: Option<OperatorKey>,
        config: ApiConfig,
        runtime: dunlin_runtime::Runtime,
    ) -> Self {
        AppState {
            db,
            operator,
            rate_limits: Arc::new(Limiters::new(&config)),
            config,
            delivery: DeliveryConfig::default(),
            runtime,
            shutdown: CancellationToken::new(),
            operator_limits: OperatorLimits::default(),
            metrics: None,
            replica: None,
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

/// A raw body whose rejection (over the cap, cut short) is an [`ApiError`].
pub(crate) struct Bytes(pub axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for Bytes {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        Ok(Bytes(
            axum::body::Bytes::from_request(request, state).await?,
        ))
    }
}

/// Path parameters whose rejection is an [`ApiError`] (`invalid-path`). Every parameter is
/// an id or a number: one longer than any stored id, or holding a control character (which
/// PostgreSQL would refuse to compare, a NUL above all), names nothing and is refused before
/// it reaches the store.
pub(crate) struct Path<T>(pub T);

impl<S, T> axum::extract::FromRequestParts<S> for Path<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        let raw = axum::extract::RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad("invalid-path", e.body_text()))?;
        for (name, value) in &raw {
            if value.len() > dunlin_store::validate::MAX_ID_LEN
                || value.chars().any(char::is_control)
            {
                return Err(ApiError::bad(
                    "invalid-path",
                    format!(
                        "{} must be at most {} bytes with no control characters",
                        dunlin_core::text::truncate(name, 64),
                        dunlin_store::validate::MAX_ID_LEN
                    ),
                ));
            }
        }
        let axum::extract::Path(value) =
            axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(Path(value))
    }
}

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// The API's router with its state and layers.
pub fn router(state: AppState) -> Router {
    let config = state.config.clone();
    let (routes, _) = openapi::routes().split_for_parts();
    let (uploads, _) = openapi::upload_routes().split_for_parts();
    routes
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            idempotency::layer,
        ))
        .layer(DefaultBodyLimit::max(config.body_limit))
        .layer(RequestBodyLimitLayer::new(config.body_limit))
        .merge(
            uploads
                .route_layer(axum::middleware::from_fn_with_state(
                    state.clone(),
                    idempotency::layer,
                ))
                .layer(DefaultBodyLimit::max(config.upload_limit))
                .layer(RequestBodyLimitLayer::new(config.upload_limit)),
        )
        .fallback(|uri: axum::http::Uri| async move {
            ApiError::UnknownRoute(dunlin_core::text::truncate(uri.path(), 200).into_owned())
        })
        .with_state(state)
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            config.timeout,
        ))
        // Outermost, so that the answers of the layers above get the one shape too.
        .layer(axum::middleware::from_fn(error_shape))
        // Around everything, so each request is counted with the status it was answered.
        .layer(axum::middleware::from_fn(telemetry::track))
}

/// Gives an error that a layer or axum answered with no body or in plain text (the body cap,
/// the timeout, a method the route lacks, an extractor's rejection) the one error shape.
/// Answers a handler shaped itself (JSON, or the unsubscribe pages' HTML) pass as they are.
async fn error_shape(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let plain = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_none_or(|t| t.as_bytes().starts_with(b"text/plain"));
    if plain || response.body().size_hint().exact() == Some(0) {
        return ApiError::for_status(status).into_response();
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
