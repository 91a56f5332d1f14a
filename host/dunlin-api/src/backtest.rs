//! Backtest over HTTP: one of the tenant's stored policy versions tried over its recorded
//! decisions in a window (`dunlin_lab::backtest`, as `dunlin policy backtest` runs it),
//! answered with the same report as `--json`.
//!
//! The work is bounded so that one request cannot hold the server: the window is at most
//! [`MAX_WINDOW_DAYS`] days, at most [`MAX_DECISIONS`] recorded decisions are compared (the
//! oldest first; `truncated` says when more were left), and at most [`MAX_LISTED`]
//! disagreements are listed. A longer history is backtested window by window, or with the CLI.
//!
//! With `forward`, the answer also carries the forward look (`dunlin_lab::forward`): the
//! invoices open on its start day played through the active version and the candidate for at
//! most [`MAX_FORWARD_DAYS`] days, ladders compared. Nothing is written either way.

use axum::extract::State;
use dunlin_core::Date;
use dunlin_lab::backtest::{backtest, BacktestError, BacktestOptions, BacktestReport};
use dunlin_lab::forward::{forward, ForwardOptions, ForwardReport};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use crate::{ApiError, AppState, Json, Path, Tenant};

/// The longest window one request may ask for, in days (both ends included).
pub const MAX_WINDOW_DAYS: i64 = 92;
/// The most recorded decisions one request compares.
pub const MAX_DECISIONS: u64 = 200_000;
/// The most disagreements one answer lists.
pub const MAX_LISTED: usize = 100;
/// The longest forward look one request may ask for, in days.
pub const MAX_FORWARD_DAYS: u32 = 92;

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
    /// Disagreements listed (default 20, at most 100); all are counted. The forward look
    /// lists as many differing ladders.
    #[serde(default = "twenty")]
    pub listed: usize,
    /// Also play the invoices open on `start` forward `days` days through the active
    /// version and this one, and compare the ladders (nobody pays).
    #[serde(default)]
    pub forward: Option<ForwardRequest>,
}

/// The forward look's window.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ForwardRequest {
    /// The first day played, YYYY-MM-DD (normally the tenant's today).
    #[schema(value_type = String, format = Date)]
    pub start: Date,
    /// Days played, `start` included: 1 to 92.
    pub days: u32,
}

/// The backtest's report, and the forward look's when one was asked for.
#[derive(Debug, Serialize)]
pub(crate) struct BacktestAnswer {
    #[serde(flatten)]
    report: BacktestReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    forward: Option<ForwardReport>,
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
        (status = 200, description = "The comparison (the same report as `dunlin policy backtest --json`, \
            with `--forward`)",
            body = Object),
        (status = 400, description = "Bad body or window (`bad-window`)", body = crate::ErrorBody),
        (status = 404, description = "The tenant has no such version", body = crate::ErrorBody),
        (status = 422, description = "The version does not load (`policy-does-not-load`), the \
            tenant's guardrail settings are invalid (`invalid-guardrails`), or a forward look has \
            no active version to compare with (`no-active-version`) or too many invoices \
            (`too-many-invoices`)", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn run(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(version): Path<u32>,
    Json(request): Json<BacktestRequest>,
) -> Result<Json<BacktestAnswer>, ApiError> {
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
    if let Some(f) = &request.forward {
        if !(1..=MAX_FORWARD_DAYS).contains(&f.days) {
            return Err(refusal(BacktestError::Days {
                days: f.days,
                max: MAX_FORWARD_DAYS,
            }));
        }
    }
    let opts = BacktestOptions {
        from: Some(request.from),
        to: Some(request.to),
        limits: state.operator_limits.clone(),
        listed: request.listed,
        max_decisions: Some(MAX_DECISIONS),
        ..BacktestOptions::new(version)
    };
    let report = backtest(
        state.db.as_ref(),
        &state.runtime,
        &tenant.0,
        &opts,
        &mut |_| {},
    )
    .await
    .map_err(refusal)?;
    let forward = match request.forward {
        Some(f) => {
            let opts = ForwardOptions {
                limits: state.operator_limits.clone(),
                listed: request.listed,
                ..ForwardOptions::new(version, f.start, f.days)
            };
            let report = forward(
                state.db.as_ref(),
                &state.runtime,
                &tenant.0,
                &opts,
                &mut |_| {},
            )
            .await
            .map_err(refusal)?;
            Some(report)
        }
        None => None,
    };
    Ok(Json(BacktestAnswer { report, forward }))
}

fn refusal(e: BacktestError) -> ApiError {
    match e {
        BacktestError::UnknownVersion { version, .. } => ApiError::NotFound {
            what: "policy version",
            id: version.to_string(),
        },
        BacktestError::UnknownTenant(id) => ApiError::NotFound { what: "tenant", id },
        BacktestError::Window { .. } => bad_window(e.to_string()),
        BacktestError::Days { max, .. } => ApiError::BadRequest {
            code: "bad-forward-days",
            message: e.to_string(),
            details: json!({ "max": max }),
        },
        BacktestError::Policy { .. } => unprocessable("policy-does-not-load", &e),
        BacktestError::Guardrails(_) => unprocessable("invalid-guardrails", &e),
        BacktestError::NoActiveVersion(_) => unprocessable("no-active-version", &e),
        BacktestError::TooManyInvoices(_) => unprocessable("too-many-invoices", &e),
        BacktestError::Store(e) => e.into(),
        BacktestError::Worker(_) => ApiError::Internal(Box::new(e)),
    }
}

fn unprocessable(code: &'static str, e: &BacktestError) -> ApiError {
    ApiError::Unprocessable {
        code,
        message: e.to_string(),
        details: json!({}),
    }
}

fn bad_window(message: String) -> ApiError {
    ApiError::BadRequest {
        code: "bad-window",
        message,
        details: json!({ "max-days": MAX_WINDOW_DAYS }),
    }
}
