//! A tenant's policy versions and settings: upload (validated by the sandbox exactly as
//! `dunlin policy upload` validates, through `dunlin_sweep::lifecycle`), list, activate,
//! roll back, delete an unused upload; the tenant's parameters and guardrail settings,
//! checked against the operator's limits as `dunlin tenant set` checks them.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use dunlin_core::text::{truncate, Escaped};
use dunlin_runtime::{Fit, LoadError};
use dunlin_store::{PolicyStatus, PolicyVersion, StoreError, TenantSettings};
use dunlin_sweep::lifecycle::{self, LifecycleError};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Digest as _;
use utoipa::{IntoParams, ToSchema};

use crate::page::{self, Page, PageQuery};
use crate::{ApiError, AppState, Json, Path, Query, Tenant};

/// The most bytes of the sandbox's reason quoted back: it may quote the component's own
/// names.
const REASON_BYTES: usize = 1024;

/// A policy version.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct PolicyView {
    /// 1, 2, 3… per tenant.
    pub version: u32,
    /// Hex sha256 of the component.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// `uploaded` (never active), `active` (new ladders use it) or `retired` (was active).
    #[schema(value_type = String)]
    pub status: PolicyStatus,
    /// When it was uploaded.
    pub created_at: DateTime<Utc>,
    /// When it was last activated.
    pub activated_at: Option<DateTime<Utc>>,
    /// Ladders in progress pinned to it.
    pub open_ladders: u64,
}

impl PolicyView {
    fn new(v: PolicyVersion, open_ladders: u64) -> Self {
        PolicyView {
            version: v.version,
            sha256: v.sha256,
            size: v.size,
            status: v.status,
            created_at: v.created_at,
            activated_at: v.activated_at,
            open_ladders,
        }
    }
}

/// The answer to an upload or an activation.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct PolicyChange {
    /// The version as it now stands.
    pub policy: PolicyView,
    /// The contract the component targets, e.g. `0.1.0` (uploads only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contract: Option<String>,
    /// Ladders in progress moved to this version, when asked to move them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migrated_ladders: Option<u64>,
    /// How the component did on the rich sample invoice under the tenant's sandbox limits
    /// (uploads only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fit: Option<FitView>,
}

/// What an uploaded component used on the rich sample invoice, against the limits it runs
/// under. A component that fails on it is refused (`does-not-fit`); one that uses more than
/// half of a limit is stored, with a warning.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct FitView {
    /// What the sample holds.
    pub sample: &'static str,
    /// Fuel the decision used.
    pub fuel_used: u64,
    /// The tenant's fuel limit per decision.
    pub fuel_limit: u64,
    /// The largest the instance's linear memory grew to, in bytes.
    pub peak_memory_bytes: u64,
    /// The tenant's memory limit per instance, in bytes.
    pub memory_limit_bytes: u64,
    /// Wall time of the decision, in milliseconds.
    pub elapsed_ms: u64,
    /// The tenant's deadline per decision, in milliseconds.
    pub deadline_ms: u64,
    /// What comes near a limit.
    pub warnings: Vec<String>,
}

impl From<&Fit> for FitView {
    fn from(fit: &Fit) -> Self {
        FitView {
            sample: Fit::SAMPLE,
            fuel_used: fit.fuel_used,
            fuel_limit: fit.limits.fuel,
            peak_memory_bytes: fit.peak_memory_bytes,
            memory_limit_bytes: fit.limits.memory_bytes as u64,
            elapsed_ms: fit.elapsed.as_millis() as u64,
            deadline_ms: fit.limits.deadline.as_millis() as u64,
            warnings: fit.warnings(),
        }
    }
}

/// How an upload or an activation treats ladders in progress.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct Activation {
    /// Make the upload the active version at once (uploads only).
    #[serde(default)]
    #[param(rename = "activate")]
    activate: Option<bool>,
    /// Move ladders in progress to the version too (by default they stay on the version
    /// that started them).
    #[serde(default)]
    #[param(rename = "migrate-ladders")]
    migrate_ladders: Option<bool>,
}

impl From<LifecycleError> for ApiError {
    fn from(e: LifecycleError) -> Self {
        match e {
            // The cache's error names a host path: the log's, not the tenant's.
            LifecycleError::Rejected(LoadError::Cache { .. }) | LifecycleError::Worker(_) => {
                ApiError::Internal(Box::new(e))
            }
            LifecycleError::Rejected(load) => ApiError::Unprocessable {
                code: "policy-rejected",
                message: format!(
                    "the sandbox refused the component: {}",
                    Escaped(&truncate(&load.to_string(), REASON_BYTES))
                ),
                details: json!({ "reason": rejection(&load) }),
            },
            LifecycleError::NoPreviousVersion(_) => ApiError::Conflict {
                code: "no-previous-version",
                message: "there is no previously active version to roll back to".into(),
            },
            LifecycleError::Store(e) => policy_error(e),
        }
    }
}

/// Why the sandbox refused a component, as a stable code.
fn rejection(e: &LoadError) -> &'static str {
    match e {
        LoadError::NotWasm => "not-wasm",
        LoadError::NotAComponent => "not-a-component",
        LoadError::TooLarge { .. } => "too-large",
        LoadError::Incompatible { .. } => "incompatible-contract",
        LoadError::WrongWorld { .. } => "wrong-world",
        LoadError::ImportNotAllowed { .. } => "import-not-allowed",
        LoadError::AsyncBuilt { .. } => "async-built",
        LoadError::InitialMemory { .. } => "initial-memory",
        LoadError::Malformed(_) => "malformed",
        LoadError::FunctionTooLarge { .. } => "function-too-large",
        LoadError::CompileMemory { .. } => "compile-memory",
        LoadError::Start(_) => "start-failed",
        LoadError::Trial(_) => "trial-failed",
        LoadError::DoesNotFit(_) => "does-not-fit",
        LoadError::Compile(_) => "compile-failed",
        LoadError::CompileTimeout { .. } => "compile-timeout",
        LoadError::Mismatch { .. } => "contract-mismatch",
        LoadError::Cache { .. } => "internal",
    }
}

/// A store refusal of a policy request as the API answers it.
pub(crate) fn policy_error(e: StoreError) -> ApiError {
    match e {
        StoreError::UnknownPolicyVersion { version, .. } => ApiError::NotFound {
            what: "policy version",
            id: version.to_string(),
        },
        StoreError::PolicyVersionInUse { version, why, .. } => ApiError::Conflict {
            code: "policy-in-use",
            message: format!(
                "policy version {version} {why}; only an unused upload can be deleted"
            ),
        },
        e => e.into(),
    }
}

/// The tenant's versions with their open ladders, oldest first.
async fn views(state: &AppState, tenant: &Tenant) -> Result<Vec<PolicyView>, ApiError> {
    let ladders = state.db.open_ladders_by_version(&tenant.0).await?;
    Ok(state
        .db
        .policy_versions(&tenant.0)
        .await?
        .into_iter()
        .map(|v| {
            let open = ladders.get(&v.version).copied().unwrap_or(0);
            PolicyView::new(v, open)
        })
        .collect())
}

async fn view(state: &AppState, tenant: &Tenant, version: u32) -> Result<PolicyView, ApiError> {
    views(state, tenant)
        .await?
        .into_iter()
        .find(|v| v.version == version)
        .ok_or_else(|| ApiError::NotFound {
            what: "policy version",
            id: version.to_string(),
        })
}

/// Uploads a policy component. The sandbox checks it as the daemon will run it (a
/// component of a supported contract, only allowed imports, within the size limit,
/// compiles, decides a sample invoice under the call limits); a refused component is
/// stored nowhere. Uploading bytes the tenant has already answers that version (200).
#[utoipa::path(post, path = "/v1/policies", tag = "policies",
    params(Activation),
    request_body(content = Vec<u8>, content_type = "application/wasm",
        description = "The component (wasm32-wasip2), within the upload cap"),
    responses(
        (status = 201, description = "Stored as a new version", body = PolicyChange),
        (status = 200, description = "The tenant had these bytes already", body = PolicyChange),
        (status = 400, description = "Bad query", body = crate::ErrorBody),
        (status = 413, description = "Over the upload cap", body = crate::ErrorBody),
        (status = 415, description = "Not `application/wasm`", body = crate::ErrorBody),
        (status = 422, description = "The sandbox refused the component (`policy-rejected`, \
            `details.reason` says why)", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn upload(
    State(state): State<AppState>,
    tenant: Tenant,
    Query(query): Query<Activation>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<PolicyChange>), ApiError> {
    let wasm = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/wasm"));
    if !wasm {
        return Err(ApiError::WasmExpected);
    }
    let activate = query.activate.unwrap_or(false);
    let migrate = query.migrate_ladders.unwrap_or(false);
    if migrate && !activate {
        return Err(ApiError::bad(
            "invalid-query",
            "migrate-ladders needs activate=true",
        ));
    }
    let bytes = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge,
        _ => ApiError::bad("invalid-body", e.body_text()),
    })?;
    let sha256 = hex::encode(sha2::Sha256::digest(&bytes));
    let known = state
        .db
        .policy_versions(&tenant.0)
        .await?
        .iter()
        .any(|v| v.sha256 == sha256);
    let up =
        lifecycle::upload(state.db.as_ref(), &state.runtime, &tenant.0, bytes.to_vec()).await?;
    let status = if known {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let migrated = if activate {
        lifecycle::activate(state.db.as_ref(), &tenant.0, up.version.version, migrate)
            .await?
            .migrated
    } else {
        None
    };
    Ok((
        status,
        Json(PolicyChange {
            policy: view(&state, &tenant, up.version.version).await?,
            contract: Some(up.contract),
            migrated_ladders: migrated,
            fit: Some(FitView::from(&up.fit)),
        }),
    ))
}

/// The tenant's policy versions, oldest first, each with its status and the ladders in
/// progress pinned to it.
#[utoipa::path(get, path = "/v1/policies", tag = "policies",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of versions", body = Page<PolicyView>),
        (status = 400, description = "Bad query", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn list(
    State(state): State<AppState>,
    tenant: Tenant,
    Query(query): Query<PageQuery>,
) -> Result<Json<Page<PolicyView>>, ApiError> {
    let limit = page::limit(query.limit)?;
    let after = page::after(query.cursor.as_deref())?.unwrap_or(0);
    let items: Vec<PolicyView> = views(&state, &tenant)
        .await?
        .into_iter()
        .filter(|v| i64::from(v.version) > after)
        .take(limit as usize + 1)
        .collect();
    Ok(Json(Page::from_fetched(items, limit, |v| {
        i64::from(v.version)
    })))
}

/// One policy version.
#[utoipa::path(get, path = "/v1/policies/{version}", tag = "policies",
    params(("version" = u32, Path, description = "The version number")),
    responses(
        (status = 200, description = "The version", body = PolicyView),
        (status = 404, description = "The tenant has no such version", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn get(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(version): Path<u32>,
) -> Result<Json<PolicyView>, ApiError> {
    view(&state, &tenant, version).await.map(Json)
}

/// Makes a version the active one: new ladders use it; with `migrate-ladders=true`, ladders
/// in progress move to it too (by default they stay on the version that started them).
#[utoipa::path(post, path = "/v1/policies/{version}/activate", tag = "policies",
    params(("version" = u32, Path, description = "The version number"), Activation),
    responses(
        (status = 200, description = "Active", body = PolicyChange),
        (status = 400, description = "Bad query", body = crate::ErrorBody),
        (status = 404, description = "The tenant has no such version", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn activate(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(version): Path<u32>,
    Query(query): Query<Activation>,
) -> Result<Json<PolicyChange>, ApiError> {
    if query.activate.is_some() {
        return Err(ApiError::bad(
            "invalid-query",
            "activate is for uploads; this route activates",
        ));
    }
    let done = lifecycle::activate(
        state.db.as_ref(),
        &tenant.0,
        version,
        query.migrate_ladders.unwrap_or(false),
    )
    .await?;
    Ok(Json(PolicyChange {
        policy: view(&state, &tenant, version).await?,
        contract: None,
        migrated_ladders: done.migrated,
        fit: None,
    }))
}

/// Makes the previously active version (the retired one activated most recently) active
/// again; 409 `no-previous-version` if no version was active before the current one.
#[utoipa::path(post, path = "/v1/policies/rollback", tag = "policies",
    responses(
        (status = 200, description = "The version now active again", body = PolicyView),
        (status = 409, description = "No previously active version", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn rollback(
    State(state): State<AppState>,
    tenant: Tenant,
) -> Result<Json<PolicyView>, ApiError> {
    let version = lifecycle::rollback(state.db.as_ref(), &tenant.0).await?;
    view(&state, &tenant, version.version).await.map(Json)
}

/// Deletes an upload nothing uses; a version that is or was active, or that a decision or
/// a ladder names, is refused (409 `policy-in-use`).
#[utoipa::path(delete, path = "/v1/policies/{version}", tag = "policies",
    params(("version" = u32, Path, description = "The version number")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "The tenant has no such version", body = crate::ErrorBody),
        (status = 409, description = "The version is in use", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(version): Path<u32>,
) -> Result<StatusCode, ApiError> {
    state
        .db
        .delete_policy_version(&tenant.0, version)
        .await
        .map_err(policy_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The tenant's settings: display name, time zone and schedule of its sweeps, guardrail
/// settings, failure mode, policy parameters, lead days, delivery settings.
#[utoipa::path(get, path = "/v1/settings", tag = "policies",
    responses((status = 200, description = "The settings", body = Object)),
    security(("tenant_key" = [])))]
pub(crate) async fn get_settings(
    State(state): State<AppState>,
    tenant: Tenant,
) -> Result<Json<TenantSettings>, ApiError> {
    let t = state
        .db
        .tenant(&tenant.0)
        .await?
        .ok_or_else(|| ApiError::Internal("the key's tenant is gone".into()))?;
    Ok(Json(t.settings))
}

/// Replaces the tenant's settings with the whole object given (every key, as `GET` answers
/// them), checked against the operator's limits; a refused setting names its key and the
/// limit (400 `invalid-settings`) and nothing changes.
#[utoipa::path(put, path = "/v1/settings", tag = "policies",
    request_body(content = Object, description = "The settings, every key (as GET /v1/settings answers)"),
    responses(
        (status = 200, description = "Stored", body = Object),
        (status = 400, description = "Refused, naming the setting", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn put_settings(
    State(state): State<AppState>,
    tenant: Tenant,
    Json(given): Json<Value>,
) -> Result<Json<TenantSettings>, ApiError> {
    // The store's account of a refused setting is bounded and escaped already.
    let refused = |e: dunlin_store::SettingsError| ApiError::bad("invalid-settings", e.to_string());
    let settings = TenantSettings::from_json(&given).map_err(refused)?;
    settings.validate(&state.operator_limits).map_err(refused)?;
    let t = state.db.update_tenant(&tenant.0, &settings).await?;
    Ok(Json(t.settings))
}
