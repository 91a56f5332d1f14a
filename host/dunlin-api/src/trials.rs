//! Trying a policy version beside the active one: shadow on and off, the canary started,
//! promoted or aborted, and both reports, as `dunlin policy shadow|canary|…` do them
//! (`dunlin_lab` makes the reports for both). Every route names the tenant's own
//! versions only: another tenant's version numbers find nothing (404).

use axum::extract::State;
use dunlin_core::Date;
use dunlin_lab::shadow::{self, ShadowReport};
use dunlin_store::{CanaryShare, PolicyTrials, StoreError};

use crate::backtest::MAX_LISTED;
use dunlin_lab::canary::{canary_report as report_of, CanaryReport};
use dunlin_lab::Range;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::policies::policy_error;
use crate::{ApiError, AppState, Json, Path, Query, Tenant};

/// A refusal of a trial (the active version, another canary running, no canary) as 409.
fn trial_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Invalid { what, id, problem } => ApiError::Conflict {
            code: "trial-refused",
            message: format!("{what} {id}: {problem}"),
        },
        e => policy_error(e),
    }
}

/// Which as-of days a report covers.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct RangeQuery {
    /// The first as-of day (default: the day the trial started).
    #[param(value_type = Option<String>, format = Date)]
    from: Option<Date>,
    /// The last as-of day.
    #[param(value_type = Option<String>, format = Date)]
    to: Option<Date>,
}

/// The days a shadow report covers, and how many disagreements it lists.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ShadowReportQuery {
    /// The first as-of day (default: the day shadow was turned on).
    #[param(value_type = Option<String>, format = Date)]
    from: Option<Date>,
    /// The last as-of day.
    #[param(value_type = Option<String>, format = Date)]
    to: Option<Date>,
    /// Disagreements listed (default 20, at most 100); all are counted.
    listed: Option<usize>,
}

impl RangeQuery {
    fn range(&self) -> Range {
        Range {
            from: self.from,
            to: self.to,
        }
    }
}

/// Runs the version in shadow: every sweep also asks it on the same contexts and records
/// its answers apart, never delivered. 409 `trial-refused` for the active version.
#[utoipa::path(put, path = "/v1/policies/{version}/shadow", tag = "policies",
    params(("version" = u32, Path, description = "The version number")),
    responses(
        (status = 200, description = "The tenant's trials", body = Object),
        (status = 404, description = "The tenant has no such version", body = crate::ErrorBody),
        (status = 409, description = "Refused", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn shadow_on(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(version): Path<u32>,
) -> Result<Json<PolicyTrials>, ApiError> {
    let trials = state.db.set_shadow(&tenant.0, Some(version)).await;
    trials.map(Json).map_err(trial_error)
}

/// Turns shadow off, if this version is the one in shadow (409 `trial-refused` otherwise).
#[utoipa::path(delete, path = "/v1/policies/{version}/shadow", tag = "policies",
    params(("version" = u32, Path, description = "The version number")),
    responses(
        (status = 200, description = "The tenant's trials", body = Object),
        (status = 409, description = "The version is not in shadow", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn shadow_off(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(version): Path<u32>,
) -> Result<Json<PolicyTrials>, ApiError> {
    let now = state.db.policy_trials(&tenant.0).await?;
    if now.shadow.as_ref().map(|s| s.version) != Some(version) {
        return Err(ApiError::Conflict {
            code: "trial-refused",
            message: format!("version {version} is not in shadow"),
        });
    }
    let trials = state.db.set_shadow(&tenant.0, None).await;
    trials.map(Json).map_err(trial_error)
}

/// The live decisions against the shadow version's answers, compared as a backtest compares:
/// agreement overall and per segment, each side's actions by kind, level, channel and tone,
/// escalations, guardrail interventions and failures, the open balance treated differently
/// by direction, and the disagreements with both reasons.
#[utoipa::path(get, path = "/v1/shadow/report", tag = "policies",
    params(ShadowReportQuery),
    responses(
        (status = 200, description = "The report", body = Object),
        (status = 400, description = "A bad range or listed count", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn shadow_report(
    State(state): State<AppState>,
    tenant: Tenant,
    Query(query): Query<ShadowReportQuery>,
) -> Result<Json<ShadowReport>, ApiError> {
    let listed = query.listed.unwrap_or(20);
    if listed > MAX_LISTED {
        return Err(ApiError::bad(
            "bad-listed",
            format!("listed must be at most {MAX_LISTED}"),
        ));
    }
    let range = Range {
        from: query.from,
        to: query.to,
    };
    let report = shadow::shadow_report(state.db.as_ref(), &tenant.0, range, listed).await?;
    Ok(Json(report))
}

/// A canary's share of customers.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub(crate) struct CanaryBody {
    /// A percentage above 0 and below 100, at most two decimals: `10%`, `0.5%`.
    share: String,
}

/// Starts the version as the canary for a share of customers (a stable hash of the
/// customer id), or changes the share of the running canary of that version.
#[utoipa::path(put, path = "/v1/policies/{version}/canary", tag = "policies",
    params(("version" = u32, Path, description = "The version number")),
    request_body = CanaryBody,
    responses(
        (status = 200, description = "The tenant's trials", body = Object),
        (status = 400, description = "A share that does not parse", body = crate::ErrorBody),
        (status = 404, description = "The tenant has no such version", body = crate::ErrorBody),
        (status = 409, description = "Refused", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn canary(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(version): Path<u32>,
    Json(body): Json<CanaryBody>,
) -> Result<Json<PolicyTrials>, ApiError> {
    let share: CanaryShare = body
        .share
        .parse()
        .map_err(|e: dunlin_store::trial::BadShare| ApiError::bad("invalid-body", e.to_string()))?;
    let trials = state.db.start_canary(&tenant.0, version, share).await;
    trials.map(Json).map_err(trial_error)
}

/// What a promotion or an abort did.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct CanaryEnd {
    /// The active version now.
    pub active: Option<u32>,
    /// Ladders in progress moved back to the active version (abort only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub migrated_ladders: Option<u64>,
}

/// Makes the canary the active version for every customer, in one transaction.
#[utoipa::path(post, path = "/v1/canary/promote", tag = "policies",
    responses(
        (status = 200, description = "Promoted", body = CanaryEnd),
        (status = 409, description = "No canary runs", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn promote(
    State(state): State<AppState>,
    tenant: Tenant,
) -> Result<Json<CanaryEnd>, ApiError> {
    let v = state
        .db
        .promote_canary(&tenant.0)
        .await
        .map_err(trial_error)?;
    Ok(Json(CanaryEnd {
        active: Some(v.version),
        migrated_ladders: None,
    }))
}

/// Ends the canary; the ladders in progress it started go back to the active version, in
/// the same transaction.
#[utoipa::path(post, path = "/v1/canary/abort", tag = "policies",
    responses(
        (status = 200, description = "Aborted", body = CanaryEnd),
        (status = 409, description = "No canary runs", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn abort(
    State(state): State<AppState>,
    tenant: Tenant,
) -> Result<Json<CanaryEnd>, ApiError> {
    let moved = state
        .db
        .abort_canary(&tenant.0)
        .await
        .map_err(trial_error)?;
    let report = report_of(state.db.as_ref(), &tenant.0, Range::default()).await?;
    Ok(Json(CanaryEnd {
        active: report.active,
        migrated_ladders: Some(moved),
    }))
}

/// The canary's arm beside the active version's: decisions, failures, actions by kind and
/// level, escalations, blocked actions per version.
#[utoipa::path(get, path = "/v1/canary/report", tag = "policies",
    params(RangeQuery),
    responses((status = 200, description = "The report", body = Object)),
    security(("tenant_key" = [])))]
pub(crate) async fn canary_report(
    State(state): State<AppState>,
    tenant: Tenant,
    Query(query): Query<RangeQuery>,
) -> Result<Json<CanaryReport>, ApiError> {
    let report = report_of(state.db.as_ref(), &tenant.0, query.range()).await?;
    Ok(Json(report))
}
