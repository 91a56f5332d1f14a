//! Sweeps over HTTP: start one for an as-of date (the same recorded sweep as the daemon's
//! tick and `dunlin sweep`, through `dunlin_sweep::recorded`), list the tenant's recent
//! sweeps with their figures, read one.
//!
//! A sweep of a large tenant can outlast any sensible request, so `POST /v1/sweeps` answers
//! at once: 202 with the run (`running`) and its `Location`, the sweep going on in the
//! background; `GET /v1/sweeps/{id}` shows it running, then its figures. One sweep per
//! tenant at a time: while the daemon's tick or an earlier request sweeps the tenant,
//! another is refused with 409 `sweep-running`.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use dunlin_core::text::{truncate, Escaped};
use dunlin_core::Date;
use dunlin_store::{SweepFigures, SweepRun, SweepStatus, SweepTrigger};
use dunlin_sweep::{recorded, SweepOptions};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::page::{self, Page, PageQuery};
use crate::{ApiError, AppState, Json, Path, Query, Tenant};

/// A sweep to start.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct SweepRequest {
    /// The day under review, YYYY-MM-DD (a date ahead plays the ladder forward).
    #[schema(value_type = String, format = Date)]
    pub as_of: Date,
    /// Decide and guard, but write nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// A sweep run.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct SweepView {
    /// Its id.
    pub id: i64,
    /// The day under review.
    #[schema(value_type = String, format = Date)]
    pub as_of: Date,
    /// Whether it wrote nothing.
    pub dry_run: bool,
    /// `schedule` (the daemon's tick), `cli` (`dunlin sweep`) or `api`.
    #[schema(value_type = String)]
    pub started_by: SweepTrigger,
    /// `running`, `done`, `interrupted` (stopped by a shutdown; the next sweep does the
    /// rest), `failed` (see `error`) or `abandoned` (its process stopped while it ran).
    #[schema(value_type = String)]
    pub status: SweepStatus,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// How long it took, in milliseconds, once ended.
    pub duration_ms: Option<i64>,
    /// What it did (zeros while running): invoices reviewed, decisions recorded, reviews
    /// skipped (decided that day already) or stale (the ledger changed meanwhile), policy
    /// failures, actions put in the outbox, actions the guardrails blocked.
    #[schema(value_type = Object)]
    pub figures: SweepFigures,
    /// Why it failed.
    pub error: Option<String>,
}

impl From<SweepRun> for SweepView {
    fn from(r: SweepRun) -> Self {
        SweepView {
            id: r.id,
            as_of: r.as_of,
            dry_run: r.dry_run,
            started_by: r.started_by,
            status: r.status,
            started_at: r.started_at,
            finished_at: r.finished_at,
            duration_ms: r
                .finished_at
                .map(|end| (end - r.started_at).num_milliseconds()),
            figures: r.figures,
            error: r.error,
        }
    }
}

/// Starts a sweep of the tenant and answers at once with the run; the sweep goes on in the
/// background (poll `GET /v1/sweeps/{id}`). Refused while another of the tenant's sweeps
/// runs.
#[utoipa::path(post, path = "/v1/sweeps", tag = "sweeps",
    request_body = SweepRequest,
    responses(
        (status = 202, description = "Started; `Location` is the run", body = SweepView),
        (status = 400, description = "Bad body", body = crate::ErrorBody),
        (status = 409, description = "A sweep of the tenant is running (`sweep-running`)",
            body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn start(
    State(state): State<AppState>,
    tenant: Tenant,
    Json(request): Json<SweepRequest>,
) -> Result<Response, ApiError> {
    let opts = SweepOptions {
        dry_run: request.dry_run,
        limits: state.operator_limits.clone(),
        stop: state.shutdown.child_token(),
        replica: state.replica.clone(),
        ..SweepOptions::new(request.as_of)
    };
    let run = recorded::claim(state.db.as_ref(), &tenant.0, &opts, SweepTrigger::Api)
        .await?
        .ok_or_else(|| ApiError::Conflict {
            code: "sweep-running",
            message: "a sweep of this tenant is running; see GET /v1/sweeps".into(),
        })?;
    let (db, runtime, id) = (state.db.clone(), state.runtime.clone(), tenant.0.clone());
    let claimed = run.clone();
    // Its end (figures or error) is written to the run, where the tenant reads it.
    tokio::spawn(async move {
        if let Err(e) = recorded::run_claimed(db.as_ref(), &runtime, &id, &claimed, &opts).await {
            // The error may quote the tenant's component.
            let error = truncate(&e.to_string(), 1024).into_owned();
            tracing::warn!(tenant_id = id.as_str(), run_id = claimed.id, error = %Escaped(&error), "sweep started through the API failed");
        }
    });
    let location = HeaderValue::from_str(&format!("/v1/sweeps/{}", run.id))
        .expect("a path of digits is a header value");
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(SweepView::from(run)),
    )
        .into_response())
}

/// The tenant's sweeps, newest first: scheduled, by hand and through the API.
#[utoipa::path(get, path = "/v1/sweeps", tag = "sweeps",
    params(PageQuery),
    responses(
        (status = 200, description = "A page of sweeps, newest first", body = Page<SweepView>),
        (status = 400, description = "Bad query", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn list(
    State(state): State<AppState>,
    tenant: Tenant,
    Query(query): Query<PageQuery>,
) -> Result<Json<Page<SweepView>>, ApiError> {
    let limit = page::limit(query.limit)?;
    let before = page::after(query.cursor.as_deref())?;
    let runs = state.db.sweep_runs(&tenant.0, before, limit + 1).await?;
    let views = runs.into_iter().map(SweepView::from).collect();
    Ok(Json(Page::from_fetched(views, limit, |v| v.id)))
}

/// One sweep.
#[utoipa::path(get, path = "/v1/sweeps/{id}", tag = "sweeps",
    params(("id" = i64, Path, description = "The sweep's id")),
    responses(
        (status = 200, description = "The sweep", body = SweepView),
        (status = 404, description = "The tenant has no such sweep", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn get(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<i64>,
) -> Result<Json<SweepView>, ApiError> {
    state
        .db
        .sweep_run(&tenant.0, id)
        .await?
        .map(|r| Json(SweepView::from(r)))
        .ok_or_else(|| ApiError::NotFound {
            what: "sweep",
            id: id.to_string(),
        })
}
