//! Outcomes: the tenant reports what became of an action its own systems executed (a payment
//! retry succeeded or was declined, a letter was posted, a call reached the customer). The
//! store keeps the report with the action, so the next decision's history shows it; a
//! successful retry then settles the invoice as a payment does, through the ledger's import
//! path like `POST /v1/payments:batch`.

use axum::extract::State;
use dunlin_core::{Date, DeclineKind};
use dunlin_import::{import_values, Kind, Options};
use dunlin_store::outcome::{OutcomeReport, ReportResult, Reported, ReportedAction};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::{ApiError, AppState, Json, Path, Tenant};

/// A report of what became of an action.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct OutcomeRequest {
    /// `succeeded` or `declined` for a payment retry; `delivered`, `reached` or `failed` for
    /// a notice on a channel the tenant delivers (letter, sms, phone, in-app) or an
    /// escalation.
    #[schema(value_type = String)]
    outcome: Reported,
    /// The day it happened (YYYY-MM-DD).
    #[schema(value_type = String, format = Date)]
    on: Date,
    /// The processor's decline code, for a declined retry.
    code: Option<String>,
    /// `soft` or `hard`, for a declined retry.
    #[schema(value_type = Option<String>)]
    kind: Option<DeclineKind>,
    /// A note for the log.
    note: Option<String>,
    /// What a successful retry collected, in the invoice's minor units (default: its open
    /// balance).
    amount_minor: Option<i64>,
}

/// The action with its reported outcome.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct OutcomeView {
    /// The action: id, invoice, the action itself, status, outcome, on, code, kind, note,
    /// reported-at.
    #[schema(value_type = Object)]
    pub action: Value,
    /// The payment a successful retry recorded (`action-<id>`), if the invoice still owed.
    pub payment_id: Option<String>,
}

/// Reports what became of one of the tenant's actions.
#[utoipa::path(post, path = "/v1/actions/{id}/outcome", tag = "outcomes",
    params(("id" = i64, Path, description = "The action's id (from the decision log or the outbox)")),
    request_body = OutcomeRequest,
    responses(
        (status = 200, description = "Recorded (the same report again changes nothing)", body = OutcomeView),
        (status = 400, description = "A bad report", body = crate::ErrorBody),
        (status = 404, description = "The tenant has no such action", body = crate::ErrorBody),
        (status = 409, description = "The report does not fit the action or where it stands", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn report(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<i64>,
    Json(request): Json<OutcomeRequest>,
) -> Result<Json<OutcomeView>, ApiError> {
    if request.amount_minor.is_some_and(|a| a <= 0)
        || (request.amount_minor.is_some() && request.outcome != Reported::Succeeded)
    {
        return Err(ApiError::bad(
            "invalid-body",
            "amount-minor is a positive amount, for a succeeded retry only",
        ));
    }
    let report = OutcomeReport {
        outcome: request.outcome,
        on: request.on,
        code: request.code,
        kind: request.kind,
        note: request.note,
    };
    if let Err(why) = report.check() {
        return Err(ApiError::bad("invalid-body", why));
    }
    let action = match state.db.report_outcome(&tenant.0, id, &report).await? {
        ReportResult::Recorded(action) => action,
        ReportResult::NotFound => {
            return Err(ApiError::NotFound {
                what: "action",
                id: id.to_string(),
            })
        }
        ReportResult::Refused(why) => {
            return Err(ApiError::Conflict {
                code: "outcome-does-not-fit",
                message: format!("action {id}: {why}"),
            })
        }
    };
    let payment_id = match action.reported.outcome {
        Reported::Succeeded => settle(&state, &tenant, &action, request.amount_minor).await?,
        _ => None,
    };
    Ok(Json(OutcomeView {
        action: serde_json::to_value(&action).expect("an action serialises"),
        payment_id,
    }))
}

/// Records the payment a successful retry collected, if the invoice still owes: the same
/// import as a payment row, so the invoice is settled as any payment settles it.
async fn settle(
    state: &AppState,
    tenant: &Tenant,
    action: &ReportedAction,
    amount_minor: Option<i64>,
) -> Result<Option<String>, ApiError> {
    let Some(invoice) = state.db.invoice(&tenant.0, &action.invoice_id).await? else {
        return Ok(None);
    };
    if invoice.open_balance.minor <= 0 {
        return Ok(None);
    }
    let payment_id = format!("action-{}", action.id);
    let row = json!({
        "id": payment_id,
        "invoice-id": invoice.id,
        "amount-minor": amount_minor.unwrap_or(invoice.open_balance.minor),
        "currency": invoice.open_balance.currency.as_str(),
        "paid-on": action.reported.on.to_string(),
    });
    let report = import_values(
        state.db.as_ref(),
        &tenant.0,
        Kind::Payments,
        &[row],
        &Options::default(),
    )
    .await?;
    match report.errors.into_iter().next() {
        None => Ok(Some(payment_id)),
        Some(e) => Err(ApiError::bad(
            "invalid-row",
            format!("the retry's payment was refused: {}", e.message),
        )),
    }
}
