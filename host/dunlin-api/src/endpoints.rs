//! A tenant's webhook endpoints: add (with a new secret, shown once), list (never a
//! secret), remove, and rotate the secret (the new one shown once), through the same calls
//! as `dunlin endpoint`.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{Duration, Utc};
use dunlin_core::text::truncate;
use dunlin_delivery::webhook::{new_endpoint, RegisterError, WebhookSecret};
use dunlin_store::{EndpointRow, StoreError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{ApiError, AppState, Json, Path, Tenant};

/// The longest overlap a rotation may give the previous secret, in hours (as the CLI).
const MAX_OVERLAP_HOURS: u32 = 24 * 30;

/// An endpoint to add.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointRequest {
    /// A handle (a-z, 0-9, '-', '_'); default: a random `ep-…`.
    pub id: Option<String>,
    /// Where events are posted: https (http, private and loopback addresses only where the
    /// operator allows them).
    pub url: String,
    /// The event types it receives, e.g. `invoice.escalated`; none: every event.
    #[serde(default)]
    pub events: Vec<String>,
}

/// An endpoint as listed: never a secret.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct EndpointView {
    /// Its id.
    pub id: String,
    /// Where events are posted.
    pub url: String,
    /// The event types it receives; empty: every event.
    pub events: Vec<String>,
    /// Until when the secret before the last rotation also signs, if it still does.
    pub previous_secret_until: Option<chrono::DateTime<Utc>>,
    /// When it was added.
    pub created_at: chrono::DateTime<Utc>,
}

impl From<EndpointRow> for EndpointView {
    fn from(r: EndpointRow) -> Self {
        EndpointView {
            previous_secret_until: r.previous_until.filter(|until| *until > Utc::now()),
            id: r.id,
            url: r.url,
            events: r.events,
            created_at: r.created_at,
        }
    }
}

/// An endpoint with its new secret: the only time the secret is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndpointWithSecret {
    /// The signing secret, `whsec_…`: store it with the receiver now.
    pub secret: String,
    /// The endpoint as it will be listed.
    #[serde(flatten)]
    pub endpoint: EndpointView,
}

fn with_secret(row: EndpointRow, secret: &WebhookSecret) -> EndpointWithSecret {
    EndpointWithSecret {
        secret: secret.expose_whsec(),
        endpoint: row.into(),
    }
}

fn no_endpoint(id: &str) -> ApiError {
    ApiError::NotFound {
        what: "endpoint",
        id: truncate(id, 64).into_owned(),
    }
}

/// Adds an endpoint; the answer is the only time its secret is shown.
#[utoipa::path(post, path = "/v1/webhook-endpoints", tag = "delivery",
    request_body = EndpointRequest,
    responses(
        (status = 201, description = "Added", body = EndpointWithSecret),
        (status = 400, description = "A refused URL, an unknown event type or a bad id", body = crate::ErrorBody),
        (status = 409, description = "The tenant has an endpoint of this id", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn add(
    State(state): State<AppState>,
    tenant: Tenant,
    Json(request): Json<EndpointRequest>,
) -> Result<(StatusCode, Json<EndpointWithSecret>), ApiError> {
    let (endpoint, secret) = new_endpoint(
        request.id.as_deref(),
        &request.url,
        &request.events,
        &state.delivery.webhook_policy,
    )
    .map_err(|e| match e {
        RegisterError::Secret(e) => ApiError::Internal(Box::new(e)),
        e => ApiError::bad("invalid-endpoint", error_chain(&e)),
    })?;
    match state.db.add_endpoint(&tenant.0, &endpoint).await {
        Ok(row) => Ok((StatusCode::CREATED, Json(with_secret(row, &secret)))),
        Err(StoreError::EndpointExists { .. }) => Err(ApiError::Conflict {
            code: "endpoint-exists",
            message: format!(
                "an endpoint {:?} exists already",
                truncate(&endpoint.id, 64)
            ),
        }),
        Err(StoreError::Invalid { problem, .. }) => {
            Err(ApiError::bad("invalid-endpoint", problem.to_string()))
        }
        Err(e) => Err(e.into()),
    }
}

/// An error and its causes, one after the other: an endpoint refusal says why in its source.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The tenant's endpoints, by id (never a secret).
#[utoipa::path(get, path = "/v1/webhook-endpoints", tag = "delivery",
    responses((status = 200, description = "The endpoints", body = Vec<EndpointView>)),
    security(("tenant_key" = [])))]
pub(crate) async fn list(
    State(state): State<AppState>,
    tenant: Tenant,
) -> Result<Json<Vec<EndpointView>>, ApiError> {
    let rows = state.db.endpoints(&tenant.0).await?;
    Ok(Json(rows.into_iter().map(EndpointView::from).collect()))
}

/// Removes an endpoint.
#[utoipa::path(delete, path = "/v1/webhook-endpoints/{id}", tag = "delivery",
    params(("id" = String, Path, description = "The endpoint's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such endpoint", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn remove(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.db.remove_endpoint(&tenant.0, &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(no_endpoint(&id))
    }
}

/// How long the previous secret keeps signing after a rotation.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RotateRequest {
    /// Hours, 0 to 720 (default 24).
    pub overlap_hours: Option<u32>,
}

/// Gives an endpoint a new secret, shown this once; the previous one keeps signing beside
/// it for the overlap, so the receiver can switch.
#[utoipa::path(post, path = "/v1/webhook-endpoints/{id}/rotate-secret", tag = "delivery",
    params(("id" = String, Path, description = "The endpoint's id")),
    request_body(content = RotateRequest, description = "Optional: the overlap"),
    responses(
        (status = 200, description = "Rotated", body = EndpointWithSecret),
        (status = 400, description = "An overlap out of range", body = crate::ErrorBody),
        (status = 404, description = "No such endpoint", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn rotate(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    crate::Bytes(body): crate::Bytes,
) -> Result<Json<EndpointWithSecret>, ApiError> {
    let request: RotateRequest = crate::delivery::optional_json(&body)?;
    let hours = request.overlap_hours.unwrap_or(24);
    if hours > MAX_OVERLAP_HOURS {
        return Err(ApiError::bad(
            "invalid-body",
            format!("overlap-hours is out of range: 0 to {MAX_OVERLAP_HOURS}"),
        ));
    }
    let secret = WebhookSecret::generate().map_err(|e| ApiError::Internal(Box::new(e)))?;
    let until = Utc::now() + Duration::hours(i64::from(hours));
    match state
        .db
        .rotate_endpoint_secret(&tenant.0, &id, &secret.expose_whsec(), until)
        .await?
    {
        Some(row) => Ok(Json(with_secret(row, &secret))),
        None => Err(no_endpoint(&id)),
    }
}
