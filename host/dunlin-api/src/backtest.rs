//! Backtest over HTTP: one of the tenant's stored policy versions tried over its recorded
//! decisions in a window (`dunlin_lab::backtest`, as `dunlin policy backtest` runs it),
//! answered with the same report as `--json`.
//!
//! The work is bounded so that one request cannot hold the server: the window is at most
//! [`MAX_WINDOW_DAYS`] days, at most [`MAX_DECISIONS`] recorded decisions are compared (the
//! oldest first; `truncated` says when more were left), and at most [`MAX_LISTED`]
//! disagreements are listed. A longer history is backtested window by window, or with the CLI.

use axum::extract::State;
use dunlin_core::Date;
use dunlin_lab::backtest::{backtest, BacktestError, BacktestOptions, BacktestReport};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::{ApiError, AppState, Json, Path, Tenant};

/// The longest window one request may ask for, in days (both ends included).
pub const MAX_WINDOW_DAYS: i64 = 92;
/// The most recorded decisions one request compares.
pub const MAX_DECISIONS: u64 = 200_000;
/// The most disagreements one answer lists.
pub const MAX_LISTED: usize = 100;

/// The window to backtest over.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct BacktestRequest {
    /// Recorded decisions of this as-of day or later, YYYY-MM-DD.
    #[schema(value_type = String, format = Date)]
    pub from: Date,
    /// Recorded decisions of this as-of day or earlier, YYYY-MM-DD; at most 92 days after
    /// `from`.
    #[schema(value_type = String, format = Date)]
    pub to: Date,
    /// Disagreements listed (default 20, at most 100); all are counted.
    #[serde(default = "twenty")]
    pub listed: usize,
}

fn twenty() -> usize {
    20
}

/// Backtests a stored version over the tenant's recorded decisions in the window: each
/// recorded context decided again by the version (guarded by the tenant's guardrails) and
/// compared with what was decided. Writes nothing.
#[utoipa::path(post, path = "/v1/policies/{version}/backtest", tag = "policies",
    params(("version" = u32, Path, description = "The version number")),
    request_body = BacktestRequest,
    responses(
        (status = 200, description = "The comparison (the same report as `dunlin policy backtest --json`)",
            body = Object),
        (status = 400, description = "Bad body or window (`bad-window`)", body = crate::ErrorBody),
        (status = 404, description = "The tenant has no such version", body = crate::ErrorBody),
        (status = 422, description = "The version does not load (`policy-does-not-load`) or the \
            tenant's guardrail settings are invalid (`invalid-guardrails`)", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn run(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(version): Path<u32>,
    Json(request): Json<BacktestRequest>,
) -> Result<Json<BacktestReport>, ApiError> {
    let days = (request.to - request.from).num_days() + 1;
    if !(1..=MAX_WINDOW_DAYS).contains(&days) {
        return Err(bad_window(format!(
            "the window must run forward and span at most {MAX_WINDOW_DAYS} days; it spans {days}"
        )));
    }
    if request.listed > MAX_LISTED {
        return Err(ApiError::BadRequest {
            code: "bad-listed",
            message: format!("listed must be at most {MAX_LISTED}"),
            details: json!({ "max": MAX_LISTED }),
        });
    }
    let opts = BacktestOptions {
        from: Some(request.from),
        to: Some(request.to),
        limits: state.operator_limits.clone(),
        listed: request.listed,
        max_decisions: Some(MAX_DECISIONS),
        ..BacktestOptions::new(version)
    };
    backtest(
        state.db.as_ref(),
        &state.runtime,
        &tenant.0,
        &opts,
        &mut |_| {},
    )
    .await
    .map(Json)
    .map_err(|e| match e {
        BacktestError::UnknownVersion { version, .. } => ApiError::NotFound {
            what: "policy version",
            id: version.to_string(),
        },
        BacktestError::UnknownTenant(id) => ApiError::NotFound { what: "tenant", id },
        BacktestError::Window { .. } => bad_window(e.to_string()),
        BacktestError::Policy { .. } => ApiError::Unprocessable {
            code: "policy-does-not-load",
            message: e.to_string(),
            details: json!({}),
        },
        BacktestError::Guardrails(_) => ApiError::Unprocessable {
            code: "invalid-guardrails",
            message: e.to_string(),
            details: json!({}),
        },
        BacktestError::Store(e) => e.into(),
        BacktestError::Worker(_) => ApiError::Internal(Box::new(e)),
    })
}

fn bad_window(message: String) -> ApiError {
    ApiError::BadRequest {
        code: "bad-window",
        message,
        details: json!({ "max-days": MAX_WINDOW_DAYS }),
    }
}
