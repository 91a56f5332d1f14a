//! The operator's routes (operator key only): tenants (through the same store calls and
//! settings checks as `dunlin tenant`), their API keys (as `dunlin tenant key`), the limits
//! in effect and every tenant's health.

use axum::extract::State;
use axum::http::StatusCode;
use dunlin_core::guardrails::OperatorLimits;
use dunlin_store::outbox::Backlog;
use dunlin_store::{ApiKeyRow, PolicyStatus, PolicyVersion, StoreError, TenantId, TenantSettings};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::page::{self, Page};
use crate::{ApiError, AppState, Json, Operator, Path, Query, RateLimit};

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

/// Which page of tenants, by id.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TenantPage {
    /// The `next-cursor` of the page before (the last tenant id of that page).
    cursor: Option<String>,
    /// Tenants per page, 1 to 1000 (default 100).
    limit: Option<u32>,
}

/// A page of tenants in id order.
async fn tenant_page(
    state: &AppState,
    query: &TenantPage,
) -> Result<Page<dunlin_store::Tenant>, ApiError> {
    let limit = page::limit(query.limit)? as usize;
    let after = query.cursor.as_deref().unwrap_or("");
    let mut tenants: Vec<_> = state
        .db
        .tenants()
        .await?
        .into_iter()
        .filter(|t| t.id.as_str() > after)
        .collect();
    tenants.sort_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
    let more = tenants.len() > limit;
    tenants.truncate(limit);
    let next_cursor = more
        .then(|| tenants.last().map(|t| t.id.as_str().to_owned()))
        .flatten();
    Ok(Page {
        items: tenants,
        next_cursor,
    })
}

/// Every tenant with its settings, by id.
#[utoipa::path(get, path = "/v1/admin/tenants", tag = "admin",
    params(TenantPage),
    responses(
        (status = 200, description = "A page of tenants (items are tenants with their settings)", body = Page<Object>),
        (status = 400, description = "A bad cursor or limit", body = crate::ErrorBody)),
    security(("operator_key" = [])))]
pub(crate) async fn list_tenants(
    State(state): State<AppState>,
    _: Operator,
    Query(query): Query<TenantPage>,
) -> Result<Json<Page<Value>>, ApiError> {
    let page = tenant_page(&state, &query).await?;
    Ok(Json(Page {
        items: page.items.iter().map(to_value).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// A new tenant: its id and the settings that differ from the defaults.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    /// Lower-case letters, digits, '-' and '_'.
    pub id: String,
    /// Settings by their kebab-case names (`name`, `time-zone`, `schedule`, `guardrails`,
    /// `failure-mode`, `params`, `lead-days`, `delivery`); those left out keep their
    /// defaults (the name is the id).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub settings: serde_json::Map<String, Value>,
}

/// A tenant as shown: its settings and its policy versions.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct TenantView {
    /// The tenant: id, settings, last tick, created.
    #[schema(value_type = Object)]
    #[serde(flatten)]
    pub tenant: Value,
    /// Its policy versions, oldest first.
    #[schema(value_type = Vec<Object>)]
    pub policy_versions: Vec<PolicyVersion>,
}

fn to_value<T: Serialize>(v: &T) -> Value {
    serde_json::to_value(v).expect("store rows serialise")
}

/// Makes a tenant, its settings checked against the operator's limits as `dunlin tenant
/// create` checks them.
#[utoipa::path(post, path = "/v1/admin/tenants", tag = "admin",
    request_body = NewTenant,
    responses(
        (status = 201, description = "Made", body = TenantView),
        (status = 400, description = "A bad id or settings", body = crate::ErrorBody),
        (status = 409, description = "The tenant exists", body = crate::ErrorBody)),
    security(("operator_key" = [])))]
pub(crate) async fn create_tenant(
    State(state): State<AppState>,
    _: Operator,
    Json(request): Json<NewTenant>,
) -> Result<(StatusCode, Json<TenantView>), ApiError> {
    let id =
        TenantId::new(&request.id).map_err(|e| ApiError::bad("invalid-body", e.to_string()))?;
    let settings = TenantSettings::named(&id)
        .overlaid(request.settings)
        .map_err(|e| ApiError::bad("invalid-settings", e.to_string()))?;
    settings
        .validate(&state.operator_limits)
        .map_err(|e| ApiError::bad("invalid-settings", e.to_string()))?;
    match state.db.create_tenant(&id, &settings).await {
        Ok(tenant) => Ok((
            StatusCode::CREATED,
            Json(TenantView {
                tenant: to_value(&tenant),
                policy_versions: vec![],
            }),
        )),
        Err(StoreError::TenantExists(_)) => Err(ApiError::Conflict {
            code: "tenant-exists",
            message: format!("tenant {id} exists already"),
        }),
        Err(e) => Err(e.into()),
    }
}

/// One tenant with its settings and policy versions (what `dunlin tenant show` prints).
#[utoipa::path(get, path = "/v1/admin/tenants/{tenant}", tag = "admin",
    params(("tenant" = String, Path, description = "The tenant's id")),
    responses(
        (status = 200, description = "The tenant", body = TenantView),
        (status = 404, description = "No such tenant", body = crate::ErrorBody)),
    security(("operator_key" = [])))]
pub(crate) async fn show_tenant(
    State(state): State<AppState>,
    _: Operator,
    Path(id): Path<String>,
) -> Result<Json<TenantView>, ApiError> {
    let id = tenant(&state, &id).await?;
    let found = state
        .db
        .tenant(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound {
            what: "tenant",
            id: id.as_str().to_owned(),
        })?;
    Ok(Json(TenantView {
        tenant: to_value(&found),
        policy_versions: state.db.policy_versions(&id).await?,
    }))
}

/// The limits in effect.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct Limits {
    /// The bounds on tenants' guardrail settings (`--operator-limits`).
    #[schema(value_type = Object)]
    pub guardrails: OperatorLimits,
    /// Each tenant key's rate limit, or null for none.
    pub key_rate: Option<RateLimit>,
    /// The operator key's rate limit, or null for none.
    pub operator_rate: Option<RateLimit>,
    /// The largest request body, in bytes.
    pub body_limit: usize,
    /// The longest a request may take, in milliseconds.
    pub timeout_ms: u64,
    /// The most rows one batch may carry.
    pub max_batch_rows: usize,
}

/// The operator's limits and the API's own.
#[utoipa::path(get, path = "/v1/admin/limits", tag = "admin",
    responses((status = 200, description = "The limits", body = Limits)),
    security(("operator_key" = [])))]
pub(crate) async fn limits(State(state): State<AppState>, _: Operator) -> Json<Limits> {
    let c = &state.config;
    Json(Limits {
        guardrails: state.operator_limits.clone(),
        key_rate: c.key_rate,
        operator_rate: c.operator_rate,
        body_limit: c.body_limit,
        timeout_ms: u64::try_from(c.timeout.as_millis()).unwrap_or(u64::MAX),
        max_batch_rows: c.max_batch_rows,
    })
}

/// How one tenant stands.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct TenantHealth {
    /// The tenant's id.
    pub tenant: String,
    /// The active policy version, if any.
    pub active_policy_version: Option<u32>,
    /// When the scheduler last started a sweep for it.
    pub last_tick_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Pending actions, the oldest one's time and dead letters.
    #[schema(value_type = Object)]
    pub outbox: Backlog,
    /// How long the oldest pending action has waited, in seconds (0 when none waits).
    pub oldest_pending_age_seconds: i64,
}

/// Every tenant's health: active policy version, last tick, outbox depth, the oldest pending
/// action's age and dead letters.
#[utoipa::path(get, path = "/v1/admin/health", tag = "admin",
    params(TenantPage),
    responses(
        (status = 200, description = "A page of tenants' health", body = Page<TenantHealth>),
        (status = 400, description = "A bad cursor or limit", body = crate::ErrorBody)),
    security(("operator_key" = [])))]
pub(crate) async fn health(
    State(state): State<AppState>,
    _: Operator,
    Query(query): Query<TenantPage>,
) -> Result<Json<Page<TenantHealth>>, ApiError> {
    let now = chrono::Utc::now();
    let db = &state.db;
    let page = tenant_page(&state, &query).await?;
    let mut items = Vec::with_capacity(page.items.len());
    for t in page.items {
        let active = db
            .policy_versions(&t.id)
            .await?
            .into_iter()
            .find(|v| v.status == PolicyStatus::Active)
            .map(|v| v.version);
        let outbox = db.outbox_backlog(&t.id).await?;
        items.push(TenantHealth {
            tenant: t.id.as_str().to_owned(),
            active_policy_version: active,
            last_tick_at: t.last_tick_at,
            oldest_pending_age_seconds: outbox
                .oldest_pending_at
                .map_or(0, |at| (now - at).num_seconds().max(0)),
            outbox,
        });
    }
    Ok(Json(Page {
        items,
        next_cursor: page.next_cursor,
    }))
}
