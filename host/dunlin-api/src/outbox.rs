//! The outbox as a tenant sees it: its actions and where each stands, a page at a time (what
//! `dunlin deliveries` lists), one action with its attempts, and retries of failed and dead
//! actions (`dunlin deliveries retry`).

use axum::extract::State;
use dunlin_store::outbox::{AttemptRecord, OutboxEntry, OutboxQuery, Requeue};
use dunlin_store::{ActionStatus, TenantId};
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;

use crate::page::{self, Page};
use crate::{ApiError, AppState, Json, Path, Query};

/// Which actions to list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
#[into_params(parameter_in = Query, rename_all = "kebab-case")]
pub struct OutboxFilter {
    /// Only actions in this status: pending, delivered, failed, dead, opened, succeeded,
    /// declined, blocked, cancelled.
    #[param(value_type = Option<String>)]
    status: Option<ActionStatus>,
    /// Only this invoice's.
    invoice: Option<String>,
    /// The `next-cursor` of the page before.
    cursor: Option<String>,
    /// Actions per page, 1 to 1000 (default 100).
    limit: Option<u32>,
}

/// The tenant's outbox, by id: each action with its status, attempts, next attempt, last
/// error, note and lease.
#[utoipa::path(get, path = "/v1/outbox", tag = "outbox",
    params(OutboxFilter),
    responses(
        (status = 200, description = "A page of actions (items are outbox entries)", body = Page<Object>),
        (status = 400, description = "A bad filter", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn list(
    State(state): State<AppState>,
    tenant: crate::Tenant,
    Query(filter): Query<OutboxFilter>,
) -> Result<Json<Page<Value>>, ApiError> {
    let limit = page::limit(filter.limit)?;
    let query = OutboxQuery {
        status: filter.status,
        invoice: filter.invoice,
        after_id: page::after(filter.cursor.as_deref())?,
        limit: limit + 1,
    };
    let entries: Vec<OutboxEntry> = state.db.outbox(&tenant.0, &query).await?;
    let page = Page::from_fetched(entries, limit, |e| e.id);
    Ok(Json(Page {
        items: page
            .items
            .iter()
            .map(|e| serde_json::to_value(e).expect("outbox entries serialise"))
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

/// One action with its delivery attempts.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ActionView {
    /// The action as the outbox lists it.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub action: OutboxEntry,
    /// Every attempt at it, oldest first.
    #[serde(rename = "delivery-attempts")]
    #[schema(value_type = Vec<Object>)]
    pub attempts: Vec<AttemptRecord>,
}

/// The tenant's action `id`, or 404. The outbox is read from just below `id` for one row, so
/// the query names the tenant as every outbox read does.
async fn entry(state: &AppState, tenant: &TenantId, id: i64) -> Result<OutboxEntry, ApiError> {
    let query = OutboxQuery {
        after_id: Some(id.saturating_sub(1)),
        limit: 1,
        ..OutboxQuery::default()
    };
    let found = state.db.outbox(tenant, &query).await?;
    found
        .into_iter()
        .find(|e| e.id == id)
        .ok_or_else(|| ApiError::NotFound {
            what: "action",
            id: id.to_string(),
        })
}

/// One action of the outbox with its attempts (what `dunlin deliveries --attempts` shows).
#[utoipa::path(get, path = "/v1/outbox/{id}", tag = "outbox",
    params(("id" = i64, Path, description = "The action's id")),
    responses(
        (status = 200, description = "The action and its attempts", body = ActionView),
        (status = 404, description = "No such action", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn get(
    State(state): State<AppState>,
    tenant: crate::Tenant,
    Path(id): Path<i64>,
) -> Result<Json<ActionView>, ApiError> {
    let action = entry(&state, &tenant.0, id).await?;
    let attempts = state.db.delivery_attempts(&tenant.0, &[id]).await?;
    Ok(Json(ActionView { action, attempts }))
}

/// How many actions a retry put back in the queue.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Requeued {
    /// The count.
    pub requeued: u64,
}

/// Puts a failed or dead action back in the queue, its attempts reset (as `dunlin
/// deliveries retry`).
#[utoipa::path(post, path = "/v1/outbox/{id}/retry", tag = "outbox",
    params(("id" = i64, Path, description = "The action's id")),
    responses(
        (status = 200, description = "Requeued", body = Requeued),
        (status = 404, description = "No such action", body = crate::ErrorBody),
        (status = 409, description = "The action is neither failed nor dead", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn retry(
    State(state): State<AppState>,
    tenant: crate::Tenant,
    Path(id): Path<i64>,
) -> Result<Json<Requeued>, ApiError> {
    let requeued = state
        .db
        .requeue_actions(&tenant.0, &Requeue::One(id))
        .await?;
    if requeued == 0 {
        let action = entry(&state, &tenant.0, id).await?;
        let message = match action.status {
            ActionStatus::Failed => format!(
                "action {id} failed as your systems reported it: only a delivery of the \
                 host's that failed or died is retried"
            ),
            status => format!(
                "action {id} is {}: only a failed or dead action is retried",
                status.as_str()
            ),
        };
        return Err(ApiError::Conflict {
            code: "not-retryable",
            message,
        });
    }
    Ok(Json(Requeued { requeued }))
}

/// Puts every dead action of the tenant back in the queue (as `dunlin deliveries retry
/// --dead`).
#[utoipa::path(post, path = "/v1/outbox:retry-dead", tag = "outbox",
    responses((status = 200, description = "How many were requeued", body = Requeued)),
    security(("tenant_key" = [])))]
pub(crate) async fn retry_dead(
    State(state): State<AppState>,
    tenant: crate::Tenant,
) -> Result<Json<Requeued>, ApiError> {
    let requeued = state.db.requeue_actions(&tenant.0, &Requeue::Dead).await?;
    Ok(Json(Requeued { requeued }))
}
