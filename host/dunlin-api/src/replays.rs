//! Replay over HTTP: the tenant's recorded decisions run again through the exact component
//! that made each, compared byte for byte with the log (`dunlin_lab::replay`, the library
//! `dunlin policy replay` calls). The request waits for the report, so one request replays
//! at most [`MAX_DECISIONS`]; the report says when it stopped there and where to go on.

use axum::extract::State;
use dunlin_core::Date;
use dunlin_lab::replay::{replay, ReplayError, ReplayOptions, ReplayReport, Scope};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::{ApiError, AppState, Json, Tenant};

/// The most decisions one request replays: about a second of deciding on two cores.
pub const MAX_DECISIONS: usize = 20_000;

/// What to replay: one decision, or a window of as-of days (either end open). With neither,
/// the tenant's whole log from its oldest decision.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ReplayRequest {
    /// One decision's id.
    pub decision_id: Option<i64>,
    /// The first as-of day, YYYY-MM-DD.
    #[schema(value_type = Option<String>, format = Date)]
    pub from: Option<Date>,
    /// The last as-of day, YYYY-MM-DD.
    #[schema(value_type = Option<String>, format = Date)]
    pub to: Option<Date>,
    /// Only decisions after this id: a report's `last-id`, to go on where it stopped.
    pub after_id: Option<i64>,
}

/// What a replay found: `replayed`, `identical`, every `mismatches` entry (decision-id,
/// invoice-id, as-of, policy-version, the byte `at` which the two sides first differ, and
/// both sides from just before it, `recorded` and `replayed`, each at most 600 bytes),
/// `missing` (decisions whose component is gone, with `why`), `without-policy`, and
/// `truncated` with `last-id` when the request's bound stopped it.
#[derive(Debug, ToSchema)]
#[schema(value_type = Object)]
pub struct ReplayView(#[allow(dead_code)] ReplayReport);

/// Replays the tenant's recorded decisions (one, or a window) and returns the report.
#[utoipa::path(post, path = "/v1/replays", tag = "policies",
    request_body = ReplayRequest,
    responses(
        (status = 200, description = "The report", body = ReplayView),
        (status = 400, description = "Bad body: a decision id with a window, or `from` after `to`",
            body = crate::ErrorBody),
        (status = 404, description = "The tenant has no such decision", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn start(
    State(state): State<AppState>,
    tenant: Tenant,
    Json(request): Json<ReplayRequest>,
) -> Result<Json<ReplayReport>, ApiError> {
    let bad = |message: &str| ApiError::BadRequest {
        code: "bad-replay",
        message: message.into(),
        details: serde_json::Value::Null,
    };
    let window = request.from.is_some() || request.to.is_some() || request.after_id.is_some();
    let scope = match (request.decision_id, window) {
        (Some(_), true) => return Err(bad("give decision-id or a window, not both")),
        (Some(id), false) => Scope::Decision(id),
        (None, _) => {
            if let (Some(from), Some(to)) = (request.from, request.to) {
                if from > to {
                    return Err(bad("from is after to"));
                }
            }
            Scope::Window {
                from: request.from,
                to: request.to,
                after_id: request.after_id,
            }
        }
    };
    let opts = ReplayOptions {
        max_decisions: Some(MAX_DECISIONS),
        ..ReplayOptions::default()
    };
    let report = replay(
        state.db.as_ref(),
        &state.runtime,
        &tenant.0,
        scope,
        &opts,
        &|_| {},
    )
    .await
    .map_err(|e| match e {
        ReplayError::UnknownDecision(id) => ApiError::NotFound {
            what: "decision",
            id: id.to_string(),
        },
        ReplayError::Store(e) => e.into(),
        other => ApiError::Internal(Box::new(other)),
    })?;
    Ok(Json(report))
}
