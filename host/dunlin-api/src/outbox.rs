//! The outbox as a tenant sees it: its actions and where each stands, a page at a time (what
//! `dunlin deliveries` lists).

use axum::extract::State;
use dunlin_store::outbox::{OutboxEntry, OutboxQuery};
use dunlin_store::ActionStatus;
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;

use crate::page::{self, Page};
use crate::{ApiError, AppState, Json, Query};

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
