//! `Idempotency-Key` on every POST, once for all routes: the first response to a key (per
//! tenant and route) is kept in the store, and a repeat with the same body gets it back
//! without the work being done again. The same key with another body is refused
//! (`idempotency-key-reused`, 422); a repeat while the first is still under way is
//! `idempotency-key-in-progress` (409), since the store lets only one request take a key.
//! A response the server failed to produce (5xx, a timeout) frees the key for a retry.

use axum::body::{to_bytes, Body};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use dunlin_store::idempotency::MAX_KEY_BYTES;
use dunlin_store::{IdempotencyClaim, IdempotentRequest, TenantId};
use sha2::{Digest, Sha256};

use crate::{ApiError, AppState, Tenant};

/// The request header.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// The header on a replayed response.
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The key of a request, checked: 1 to 255 visible ASCII characters.
fn key_of(request: &Request) -> Option<Result<String, ApiError>> {
    let value = request.headers().get(&IDEMPOTENCY_KEY)?;
    let key = value
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= MAX_KEY_BYTES)
        .filter(|k| k.bytes().all(|b| b.is_ascii_graphic()));
    Some(key.map(str::to_owned).ok_or_else(|| {
        ApiError::bad(
            "invalid-idempotency-key",
            format!("an Idempotency-Key is 1 to {MAX_KEY_BYTES} visible ASCII characters"),
        )
    }))
}

/// Frees the key if the request is dropped before its response is kept (the request
/// timed out or the client went away), so that a retry may run.
struct Held {
    state: AppState,
    tenant: TenantId,
    route: String,
    key: String,
    settled: bool,
}

impl Held {
    async fn settle(mut self, response: Option<(u16, &str)>) {
        self.settled = true;
        let db = &self.state.db;
        let kept = match response {
            Some((status, body)) => {
                db.finish_idempotency_key(&self.tenant, &self.route, &self.key, status, body)
                    .await
            }
            None => {
                db.release_idempotency_key(&self.tenant, &self.route, &self.key)
                    .await
            }
        };
        if let Err(e) = kept {
            tracing::error!(tenant_id = %self.tenant, error = %e, "idempotency key not settled");
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let db = self.state.db.clone();
        let (tenant, route, key) = (
            self.tenant.clone(),
            std::mem::take(&mut self.route),
            std::mem::take(&mut self.key),
        );
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = db.release_idempotency_key(&tenant, &route, &key).await {
                    tracing::error!(tenant_id = %tenant, error = %e, "idempotency key not freed");
                }
            });
        }
    }
}

/// The middleware (a route layer, so it sees only requests a route takes).
pub(crate) async fn layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let key = match key_of(&request) {
        None => return next.run(request).await,
        Some(Ok(key)) => key,
        Some(Err(e)) => return e.into_response(),
    };
    match run(state, key, request, next).await {
        Ok(response) | Err(response) => response,
    }
}

async fn run(
    state: AppState,
    key: String,
    request: Request,
    next: Next,
) -> Result<Response, Response> {
    let (mut parts, body) = request.into_parts();
    let Tenant(tenant) = Tenant::from_request_parts(&mut parts, &state)
        .await
        .map_err(IntoResponse::into_response)?;
    // The route's own cap (the JSON routes' or the policy uploads') wraps the body already.
    let body = to_bytes(body, usize::MAX)
        .await
        .map_err(|_| ApiError::TooLarge.into_response())?;
    let mut digest = Sha256::new();
    if let Some(content_type) = parts.headers.get(CONTENT_TYPE) {
        digest.update(content_type.as_bytes());
    }
    digest.update(b"\n");
    digest.update(&body);
    let sha = hex::encode(digest.finalize());
    let route = format!(
        "POST {}",
        dunlin_core::text::truncate(parts.uri.path(), 512)
    );
    let claim = state
        .db
        .claim_idempotency_key(
            &tenant,
            &IdempotentRequest {
                route: &route,
                key: &key,
                request_sha256: &sha,
                now: Utc::now(),
                ttl: state.config.idempotency_ttl,
            },
        )
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    let reused = || {
        ApiError::Unprocessable {
            code: "idempotency-key-reused",
            message: "this Idempotency-Key was used for another request on this route".into(),
            details: serde_json::Value::Null,
        }
        .into_response()
    };
    match claim {
        IdempotencyClaim::Done {
            same_request: true,
            status,
            body,
        } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let mut response = (status, body).into_response();
            let headers = response.headers_mut();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            headers.insert(REPLAYED, HeaderValue::from_static("true"));
            Ok(response)
        }
        IdempotencyClaim::Done { .. }
        | IdempotencyClaim::InProgress {
            same_request: false,
        } => Err(reused()),
        IdempotencyClaim::InProgress { same_request: true } => Err(ApiError::Conflict {
            code: "idempotency-key-in-progress",
            message: "a request with this Idempotency-Key is still under way; retry later".into(),
        }
        .into_response()),
        IdempotencyClaim::Claimed => {
            let held = Held {
                state,
                tenant,
                route,
                key,
                settled: false,
            };
            let response = next.run(Request::from_parts(parts, Body::from(body))).await;
            let (parts, body) = response.into_parts();
            let Ok(bytes) = to_bytes(body, usize::MAX).await else {
                held.settle(None).await;
                return Err(ApiError::Internal("the response body failed".into()).into_response());
            };
            match std::str::from_utf8(&bytes) {
                Ok(text) if !parts.status.is_server_error() => {
                    held.settle(Some((parts.status.as_u16(), text))).await;
                }
                _ => held.settle(None).await,
            }
            Ok(Response::from_parts(parts, Body::from(bytes)))
        }
    }
}
