//! The tenant's actions, filtered (invoice, customer, kind, status, as-of days) and a page at
//! a time: what each decision put in the outbox and where it stands.

use axum::extract::State;
use dunlin_core::{ActionKind, Date};
use dunlin_store::outbox::{ActionQuery, OutboxEntry};
use dunlin_store::ActionStatus;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::page::{self, Page};
use crate::{ApiError, AppState, Json, Query, Tenant};

/// Which actions to list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
#[into_params(parameter_in = Query, rename_all = "kebab-case")]
pub struct ActionFilter {
    /// Only this invoice's.
    invoice: Option<String>,
    /// Only this customer's.
    customer: Option<String>,
    /// Only this kind: notify, retry-payment, pause, escalate, close.
    #[param(value_type = Option<String>)]
    kind: Option<ActionKind>,
    /// Only actions in this status: pending, delivered, failed, dead, opened, succeeded,
    /// declined, blocked, cancelled.
    #[param(value_type = Option<String>)]
    status: Option<ActionStatus>,
    /// Only actions decided for this as-of day or later (YYYY-MM-DD).
    #[param(value_type = Option<String>, format = Date)]
    from: Option<Date>,
    /// Only actions decided for this as-of day or earlier (YYYY-MM-DD).
    #[param(value_type = Option<String>, format = Date)]
    to: Option<Date>,
    /// The `next-cursor` of the page before.
    cursor: Option<String>,
    /// Actions per page, 1 to 1000 (default 100).
    limit: Option<u32>,
}

/// The tenant's actions, oldest first, filtered and a page at a time.
#[utoipa::path(get, path = "/v1/actions", tag = "decisions",
    params(ActionFilter),
    responses(
        (status = 200, description = "A page of actions (items as in the outbox list)", body = Page<Object>),
        (status = 400, description = "A bad filter", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn list(
    State(state): State<AppState>,
    tenant: Tenant,
    Query(filter): Query<ActionFilter>,
) -> Result<Json<Page<OutboxEntry>>, ApiError> {
    let limit = page::limit(filter.limit)?;
    let query = ActionQuery {
        status: filter.status,
        invoice: filter.invoice,
        customer: filter.customer,
        kind: filter.kind,
        from: filter.from,
        to: filter.to,
        after_id: page::after(filter.cursor.as_deref())?,
        limit: limit + 1,
    };
    let actions = state.db.actions(&tenant.0, &query).await?;
    Ok(Json(Page::from_fetched(actions, limit, |a| a.id)))
}
