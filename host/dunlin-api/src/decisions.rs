//! The decision log: a filtered, paginated list, and `explain` (one invoice's ladder with what
//! delivery made of each action). The same store calls as `dunlin decisions` and
//! `dunlin explain`.

use axum::extract::State;
use chrono::{DateTime, Utc};
use dunlin_core::Date;
use dunlin_store::outbox::AttemptRecord;
use dunlin_store::{ActionRecord, DecisionOutcome, DecisionQuery, DecisionRecord};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::page::{self, Page};
use crate::{ApiError, AppState, Json, Path, Query, Tenant};

/// Which decisions to list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
#[into_params(parameter_in = Query, rename_all = "kebab-case")]
pub struct DecisionFilter {
    /// Only this invoice's.
    invoice: Option<String>,
    /// Only decisions about this customer's invoices.
    customer: Option<String>,
    /// Only decisions for this as-of day or later (YYYY-MM-DD).
    #[param(value_type = Option<String>, format = Date)]
    from: Option<Date>,
    /// Only decisions for this as-of day or earlier (YYYY-MM-DD).
    #[param(value_type = Option<String>, format = Date)]
    to: Option<Date>,
    /// Only decisions that ended this way: decided, failed or no-policy.
    #[param(value_type = Option<String>)]
    outcome: Option<DecisionOutcome>,
    /// Only decisions whose policy failed with this code (e.g. out-of-fuel, trap, timeout).
    failure_code: Option<String>,
    /// The `next-cursor` of the page before.
    cursor: Option<String>,
    /// Decisions per page, 1 to 1000 (default 100).
    limit: Option<u32>,
}

/// A policy version, as a decision names it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyView {
    /// Its number.
    pub version: u32,
    /// Hex sha256 of its component.
    pub sha256: String,
}

/// One entry of the decision log.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct DecisionView {
    /// Its id (increasing).
    pub id: i64,
    /// The invoice.
    pub invoice_id: String,
    /// The day decided for.
    #[schema(value_type = String, format = Date)]
    pub as_of: Date,
    /// The policy version that decided; absent when none ran.
    pub policy: Option<PolicyView>,
    /// The segment the policy put the invoice in.
    pub segment: Option<String>,
    /// The next review day; absent when the ladder ended or the policy failed.
    #[schema(value_type = Option<String>, format = Date)]
    pub review_on: Option<Date>,
    /// Why, in the policy's words.
    pub reason: String,
    /// What the guardrails changed (rule, effect, action index, detail).
    #[schema(value_type = Vec<Object>)]
    pub interventions: Vec<Value>,
    /// The actions put in the outbox.
    pub actions: Vec<ActionView>,
    /// The policy failure (code, message), if any.
    #[schema(value_type = Option<Object>)]
    pub failure: Option<Value>,
    /// Fuel the policy used.
    pub fuel_used: Option<u64>,
    /// How long the policy took, in microseconds.
    pub duration_us: Option<u64>,
    /// When it was written.
    pub created_at: DateTime<Utc>,
}

/// An action of a decision and what delivery made of it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct ActionView {
    /// Its id in the outbox.
    pub id: i64,
    /// The action in the contract's JSON form (kebab-case, money in minor units).
    #[schema(value_type = Object)]
    pub action: Value,
    /// Where it stands: pending, delivered, failed, dead, blocked, cancelled, ….
    pub status: String,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// When the next attempt is due, while pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The last delivery error.
    pub last_error: Option<String>,
    /// Why it waits or was withheld at send time.
    pub note: Option<String>,
    /// What the tenant reported its own systems made of it (outcome, on, code, kind, note,
    /// reported-at), if it did.
    #[schema(value_type = Option<Object>)]
    pub reported: Option<Value>,
    /// Each logged attempt (only in `explain`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub attempt_log: Option<Vec<Value>>,
}

fn json<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("the log's types serialise to JSON")
}

fn action_view(a: &ActionRecord, attempts: Option<&[AttemptRecord]>) -> ActionView {
    ActionView {
        id: a.id,
        action: json(&a.action),
        status: a.status.as_str().to_owned(),
        attempts: a.attempts,
        next_attempt_at: a.next_attempt_at,
        last_error: a.last_error.clone(),
        note: a.note.clone(),
        reported: a.reported.as_ref().map(json),
        attempt_log: attempts.map(|all| {
            all.iter()
                .filter(|t| t.action_id == a.id)
                .map(json)
                .collect()
        }),
    }
}

fn decision_view(r: &DecisionRecord, attempts: Option<&[AttemptRecord]>) -> DecisionView {
    DecisionView {
        id: r.id,
        invoice_id: r.invoice_id.clone(),
        as_of: r.as_of,
        policy: r.policy.as_ref().map(|p| PolicyView {
            version: p.version,
            sha256: p.sha256.clone(),
        }),
        segment: r.decision.as_ref().map(|d| d.segment.clone()),
        review_on: r.decision.as_ref().and_then(|d| d.review_on),
        reason: r.reason.clone(),
        interventions: r.interventions.iter().map(json).collect(),
        actions: r.actions.iter().map(|a| action_view(a, attempts)).collect(),
        failure: r.failure.as_ref().map(json),
        fuel_used: r.fuel_used,
        duration_us: r.duration_us,
        created_at: r.created_at,
    }
}

/// The tenant's decisions, oldest first, filtered and a page at a time.
#[utoipa::path(get, path = "/v1/decisions", tag = "decisions",
    params(DecisionFilter),
    responses(
        (status = 200, description = "A page of decisions", body = Page<DecisionView>),
        (status = 400, description = "A bad filter", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn list(
    State(state): State<AppState>,
    tenant: Tenant,
    Query(filter): Query<DecisionFilter>,
) -> Result<Json<Page<DecisionView>>, ApiError> {
    let limit = page::limit(filter.limit)?;
    let query = DecisionQuery {
        invoice: filter.invoice,
        customer: filter.customer,
        from: filter.from,
        to: filter.to,
        after_id: page::after(filter.cursor.as_deref())?,
        limit: limit + 1,
        outcome: filter.outcome,
        failure_code: filter.failure_code,
    };
    let log = state.db.decisions(&tenant.0, &query).await?;
    let views = log.iter().map(|r| decision_view(r, None)).collect();
    Ok(Json(Page::from_fetched(
        views,
        limit,
        |d: &DecisionView| d.id,
    )))
}

/// One invoice's ladder.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct Explanation {
    /// The invoice.
    pub invoice_id: String,
    /// Every decision about it, oldest first, each action with its logged attempts.
    pub decisions: Vec<DecisionView>,
}

/// The most decisions one explanation holds: a ladder reviewed daily for years stays under it.
const EXPLAIN_DECISIONS: u32 = 10_000;

/// An invoice's ladder: each decision's reason, policy version, guardrail interventions and
/// actions, with each action's delivery notes and attempts.
#[utoipa::path(get, path = "/v1/invoices/{id}/explain", tag = "decisions",
    params(("id" = String, Path, description = "The tenant's own invoice id")),
    responses(
        (status = 200, description = "The ladder", body = Explanation),
        (status = 404, description = "The tenant has no such invoice", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn explain(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
) -> Result<Json<Explanation>, ApiError> {
    if state.db.invoice(&tenant.0, &id).await?.is_none() {
        return Err(ApiError::NotFound {
            what: "invoice",
            id,
        });
    }
    let query = DecisionQuery {
        limit: EXPLAIN_DECISIONS,
        ..DecisionQuery::invoice(id.clone())
    };
    let log = state.db.decisions(&tenant.0, &query).await?;
    let ids: Vec<i64> = log
        .iter()
        .flat_map(|r| r.actions.iter().map(|a| a.id))
        .collect();
    let attempts = state.db.delivery_attempts(&tenant.0, &ids).await?;
    Ok(Json(Explanation {
        invoice_id: id,
        decisions: log
            .iter()
            .map(|r| decision_view(r, Some(&attempts)))
            .collect(),
    }))
}
