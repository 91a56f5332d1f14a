//! The operator's routes (operator key only): a tenant's API keys, through the same store
//! calls as `dunlin tenant key`.

use axum::extract::State;
use axum::http::StatusCode;
use dunlin_store::{ApiKeyRow, StoreError, TenantId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{ApiError, AppState, Json, Operator, Path};

/// A key as listed: never the key itself.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct KeyView {
    /// Its public id.
    pub id: String,
    /// What it is for.
    pub label: String,
    /// When it was made.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When a request last used it (to the minute).
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<ApiKeyRow> for KeyView {
    fn from(k: ApiKeyRow) -> Self {
        KeyView {
            id: k.id,
            label: k.label,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// A key just made: the only time the key is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewKey {
    /// The key, for `Authorization: Bearer <key>`.
    pub key: String,
    /// The key as it will be listed.
    #[serde(flatten)]
    pub listed: KeyView,
}

/// What a new key is for.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyRequest {
    /// A label, at most 100 characters.
    #[serde(default)]
    pub label: String,
}

/// The tenant, which must exist.
async fn tenant(state: &AppState, id: &str) -> Result<TenantId, ApiError> {
    let not_found = || ApiError::NotFound {
        what: "tenant",
        id: dunlin_core::text::truncate(id, 64).into_owned(),
    };
    let id = TenantId::new(id).map_err(|_| not_found())?;
    match state.db.tenant(&id).await? {
        Some(_) => Ok(id),
        None => Err(not_found()),
    }
}

/// A tenant's keys, revoked ones included.
#[utoipa::path(get, path = "/v1/admin/tenants/{tenant}/keys", tag = "admin",
    params(("tenant" = String, Path, description = "The tenant's id")),
    responses(
        (status = 200, description = "The keys", body = Vec<KeyView>),
        (status = 404, description = "No such tenant", body = crate::ErrorBody)),
    security(("operator_key" = [])))]
pub(crate) async fn list_keys(
    State(state): State<AppState>,
    _: Operator,
    Path(id): Path<String>,
) -> Result<Json<Vec<KeyView>>, ApiError> {
    let tenant = tenant(&state, &id).await?;
    let keys = state.db.api_keys(&tenant).await?;
    Ok(Json(keys.into_iter().map(KeyView::from).collect()))
}

/// Makes a key for the tenant; the answer is the only time the key is shown.
#[utoipa::path(post, path = "/v1/admin/tenants/{tenant}/keys", tag = "admin",
    params(("tenant" = String, Path, description = "The tenant's id")),
    request_body = KeyRequest,
    responses(
        (status = 201, description = "Made", body = NewKey),
        (status = 400, description = "A bad label", body = crate::ErrorBody),
        (status = 404, description = "No such tenant", body = crate::ErrorBody)),
    security(("operator_key" = [])))]
pub(crate) async fn create_key(
    State(state): State<AppState>,
    _: Operator,
    Path(id): Path<String>,
    Json(request): Json<KeyRequest>,
) -> Result<(StatusCode, Json<NewKey>), ApiError> {
    let tenant = tenant(&state, &id).await?;
    match state.db.create_api_key(&tenant, &request.label).await {
        Ok((key, row)) => Ok((
            StatusCode::CREATED,
            Json(NewKey {
                key,
                listed: row.into(),
            }),
        )),
        Err(StoreError::Invalid { problem, .. }) => {
            Err(ApiError::bad("invalid-body", format!("label {problem}")))
        }
        Err(e) => Err(e.into()),
    }
}

/// Revokes one of the tenant's keys by its id.
#[utoipa::path(delete, path = "/v1/admin/tenants/{tenant}/keys/{id}", tag = "admin",
    params(
        ("tenant" = String, Path, description = "The tenant's id"),
        ("id" = String, Path, description = "The key's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such tenant, or no such key not yet revoked", body = crate::ErrorBody)),
    security(("operator_key" = [])))]
pub(crate) async fn revoke_key(
    State(state): State<AppState>,
    _: Operator,
    Path((id, key)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let tenant = tenant(&state, &id).await?;
    if state.db.revoke_api_key(&tenant, &key).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound {
            what: "key",
            id: dunlin_core::text::truncate(&key, 64).into_owned(),
        })
    }
}
