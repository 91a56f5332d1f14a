//! The ledger: customers, invoices, payments, disputes, and payment plans and promises to
//! pay, upserted one at a time by the tenant's own id or in batches with an answer per row.
//!
//! Rows have the import format (`docs/import.md`: flat, kebab-case, minor units and an ISO
//! 4217 code, `YYYY-MM-DD` dates) and go through `dunlin_import::import_values`, the code
//! behind `dunlin import`: the same checks, the same idempotent upserts, and a batch the store
//! refuses split until each bad row is named. A batch is a JSON array or NDJSON
//! (`Content-Type: application/x-ndjson`, one row per line), where a line that is not JSON is
//! that row's error and the others go on.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::header::CONTENT_TYPE;
use dunlin_import::{import_values, Kind, Options};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::{ApiError, AppState, Json, Path, Tenant};

/// The media type of a batch with one JSON row per line.
const NDJSON: &str = "application/x-ndjson";

/// One row of a batch as it came: its line in an NDJSON body, and the row or why the line is
/// not one.
struct Item {
    line: Option<u64>,
    row: Result<Value, String>,
}

/// A batch's rows, from a JSON array or an NDJSON body (blank lines are not rows).
pub(crate) struct Rows(Vec<Item>);

impl<S: Send + Sync> FromRequest<S> for Rows {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let ndjson = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case(NDJSON));
        if !ndjson {
            let Json(rows) = Json::<Vec<Value>>::from_request(request, state).await?;
            return Ok(Rows(
                rows.into_iter()
                    .map(|row| Item {
                        line: None,
                        row: Ok(row),
                    })
                    .collect(),
            ));
        }
        let body = Bytes::from_request(request, state)
            .await
            .map_err(ApiError::from)?;
        let items = body
            .split(|b| *b == b'\n')
            .zip(1u64..)
            .filter(|(line, _)| !line.trim_ascii().is_empty())
            .map(|(line, number)| Item {
                line: Some(number),
                row: serde_json::from_slice(line).map_err(|e| format!("not JSON: {e}")),
            })
            .collect();
        Ok(Rows(items))
    }
}

/// The answer to a batch: how many rows came and were stored, and each refused row.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub struct BatchReport {
    /// Rows in the request.
    pub received: u64,
    /// Rows stored (inserted or updated).
    pub stored: u64,
    /// The rows refused; the others were stored.
    pub errors: Vec<RowError>,
}

/// A refused row.
#[derive(Debug, Serialize, ToSchema)]
pub struct RowError {
    /// Its position in the request's array (or among the NDJSON body's rows), from 0.
    pub index: u64,
    /// Its line in an NDJSON body, from 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// What is wrong with it, naming the field.
    pub message: String,
}

/// The answer to a single upsert.
#[derive(Debug, Serialize, ToSchema)]
pub struct Stored {
    /// The id stored.
    pub id: String,
}

async fn batch(
    state: &AppState,
    tenant: &Tenant,
    kind: Kind,
    Rows(items): Rows,
) -> Result<BatchReport, ApiError> {
    let max = state.config.max_batch_rows;
    if items.len() > max {
        return Err(ApiError::bad(
            "too-many-rows",
            format!(
                "a batch holds at most {max} rows; this one has {}",
                items.len()
            ),
        ));
    }
    let mut errors = Vec::new();
    // The position in the request of each row handed to the import.
    let mut positions = Vec::with_capacity(items.len());
    let mut rows = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        match &item.row {
            Ok(row) => {
                positions.push(index);
                rows.push(row.clone());
            }
            Err(message) => errors.push(RowError {
                index: index as u64,
                line: item.line,
                message: message.clone(),
            }),
        }
    }
    let report = import_values(
        state.db.as_ref(),
        &tenant.0,
        kind,
        &rows,
        &Options::default(),
    )
    .await?;
    for e in report.errors {
        // The import counts its rows from 1.
        let index = usize::try_from(e.line.saturating_sub(1))
            .ok()
            .and_then(|i| positions.get(i).copied())
            .unwrap_or_default();
        errors.push(RowError {
            index: index as u64,
            line: items.get(index).and_then(|item| item.line),
            message: e.message,
        });
    }
    errors.sort_by_key(|e| e.index);
    Ok(BatchReport {
        received: items.len() as u64,
        stored: report.loaded,
        errors,
    })
}

/// One row stored under the id of its path: the body's `id` may be left out, but if given must
/// be the same.
async fn single(
    state: &AppState,
    tenant: &Tenant,
    kind: Kind,
    id: String,
    row: Value,
) -> Result<Stored, ApiError> {
    let Value::Object(mut fields) = row else {
        return Err(ApiError::bad(
            "invalid-body",
            "the body must be a JSON object",
        ));
    };
    match fields.get("id") {
        None => {
            fields.insert("id".to_owned(), Value::String(id.clone()));
        }
        Some(Value::String(given)) if *given == id => {}
        Some(_) => {
            return Err(ApiError::bad(
                "id-mismatch",
                "the body's id is not the id in the path",
            ))
        }
    }
    let item = Item {
        line: None,
        row: Ok(Value::Object(fields)),
    };
    let report = batch(state, tenant, kind, Rows(vec![item])).await?;
    if report.errors.is_empty() {
        return Ok(Stored { id });
    }
    let message = report.errors[0].message.clone();
    Err(ApiError::BadRequest {
        code: "invalid-row",
        message,
        details: serde_json::to_value(&report.errors).expect("row errors serialise"),
    })
}

/// Inserts or replaces a customer by the tenant's own id.
#[utoipa::path(put, path = "/v1/customers/{id}", tag = "ledger",
    params(("id" = String, Path, description = "The tenant's own customer id")),
    request_body = ref("#/components/schemas/CustomerRow"),
    responses(
        (status = 200, description = "Stored", body = Stored),
        (status = 400, description = "Refused", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn put_customer(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    Json(row): Json<Value>,
) -> Result<Json<Stored>, ApiError> {
    single(&state, &tenant, Kind::Customers, id, row)
        .await
        .map(Json)
}

/// Inserts or replaces customers; each row stands alone.
#[utoipa::path(post, path = "/v1/customers:batch", tag = "ledger",
    request_body(content(
        (Vec<Object> = "application/json"), (String = "application/x-ndjson")),
        description = "An array of customer rows (CustomerRow), or one per line"),
    responses(
        (status = 200, description = "Each row stored or refused", body = BatchReport),
        (status = 400, description = "Not an array, or too many rows", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn batch_customers(
    State(state): State<AppState>,
    tenant: Tenant,
    rows: Rows,
) -> Result<Json<BatchReport>, ApiError> {
    batch(&state, &tenant, Kind::Customers, rows)
        .await
        .map(Json)
}

/// Inserts or updates an invoice by the tenant's own id; its customer must exist.
#[utoipa::path(put, path = "/v1/invoices/{id}", tag = "ledger",
    params(("id" = String, Path, description = "The tenant's own invoice id")),
    request_body = ref("#/components/schemas/InvoiceRow"),
    responses(
        (status = 200, description = "Stored", body = Stored),
        (status = 400, description = "Refused", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn put_invoice(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    Json(row): Json<Value>,
) -> Result<Json<Stored>, ApiError> {
    single(&state, &tenant, Kind::Invoices, id, row)
        .await
        .map(Json)
}

/// Inserts or updates invoices; each row stands alone.
#[utoipa::path(post, path = "/v1/invoices:batch", tag = "ledger",
    request_body(content(
        (Vec<Object> = "application/json"), (String = "application/x-ndjson")),
        description = "An array of invoice rows (InvoiceRow), or one per line"),
    responses(
        (status = 200, description = "Each row stored or refused", body = BatchReport),
        (status = 400, description = "Not an array, or too many rows", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn batch_invoices(
    State(state): State<AppState>,
    tenant: Tenant,
    rows: Rows,
) -> Result<Json<BatchReport>, ApiError> {
    batch(&state, &tenant, Kind::Invoices, rows).await.map(Json)
}

/// Records payments, in order; recording one again changes nothing.
#[utoipa::path(post, path = "/v1/payments:batch", tag = "ledger",
    request_body(content(
        (Vec<Object> = "application/json"), (String = "application/x-ndjson")),
        description = "An array of payment rows (PaymentRow), or one per line"),
    responses(
        (status = 200, description = "Each row stored or refused", body = BatchReport),
        (status = 400, description = "Not an array, or too many rows", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn batch_payments(
    State(state): State<AppState>,
    tenant: Tenant,
    rows: Rows,
) -> Result<Json<BatchReport>, ApiError> {
    batch(&state, &tenant, Kind::Payments, rows).await.map(Json)
}

/// Records one payment by the tenant's own id; recording it again changes nothing.
#[utoipa::path(put, path = "/v1/payments/{id}", tag = "ledger",
    params(("id" = String, Path, description = "The tenant's own payment id")),
    request_body = ref("#/components/schemas/PaymentRow"),
    responses(
        (status = 200, description = "Stored", body = Stored),
        (status = 400, description = "Refused", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn put_payment(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    Json(row): Json<Value>,
) -> Result<Json<Stored>, ApiError> {
    single(&state, &tenant, Kind::Payments, id, row)
        .await
        .map(Json)
}

/// Opens, updates or resolves a dispute by the tenant's own id (`status` open or resolved);
/// opening one withdraws the invoice's pending actions.
#[utoipa::path(put, path = "/v1/disputes/{id}", tag = "ledger",
    params(("id" = String, Path, description = "The tenant's own dispute id")),
    request_body = ref("#/components/schemas/DisputeRow"),
    responses(
        (status = 200, description = "Stored", body = Stored),
        (status = 400, description = "Refused", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn put_dispute(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    Json(row): Json<Value>,
) -> Result<Json<Stored>, ApiError> {
    single(&state, &tenant, Kind::Disputes, id, row)
        .await
        .map(Json)
}

/// Opens, updates or resolves disputes; each row stands alone.
#[utoipa::path(post, path = "/v1/disputes:batch", tag = "ledger",
    request_body(content(
        (Vec<Object> = "application/json"), (String = "application/x-ndjson")),
        description = "An array of dispute rows (DisputeRow), or one per line"),
    responses(
        (status = 200, description = "Each row stored or refused", body = BatchReport),
        (status = 400, description = "Not an array, or too many rows", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn batch_disputes(
    State(state): State<AppState>,
    tenant: Tenant,
    rows: Rows,
) -> Result<Json<BatchReport>, ApiError> {
    batch(&state, &tenant, Kind::Disputes, rows).await.map(Json)
}

/// Stores a payment plan or a promise to pay (`kind` plan or promise) by the tenant's own id;
/// one in good standing holds the invoice's ladder.
#[utoipa::path(put, path = "/v1/plans/{id}", tag = "ledger",
    params(("id" = String, Path, description = "The tenant's own plan id")),
    request_body = ref("#/components/schemas/PlanRow"),
    responses(
        (status = 200, description = "Stored", body = Stored),
        (status = 400, description = "Refused", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn put_plan(
    State(state): State<AppState>,
    tenant: Tenant,
    Path(id): Path<String>,
    Json(row): Json<Value>,
) -> Result<Json<Stored>, ApiError> {
    single(&state, &tenant, Kind::Plans, id, row)
        .await
        .map(Json)
}

/// Stores payment plans and promises to pay; each row stands alone.
#[utoipa::path(post, path = "/v1/plans:batch", tag = "ledger",
    request_body(content(
        (Vec<Object> = "application/json"), (String = "application/x-ndjson")),
        description = "An array of plan rows (PlanRow), or one per line"),
    responses(
        (status = 200, description = "Each row stored or refused", body = BatchReport),
        (status = 400, description = "Not an array, or too many rows", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn batch_plans(
    State(state): State<AppState>,
    tenant: Tenant,
    rows: Rows,
) -> Result<Json<BatchReport>, ApiError> {
    batch(&state, &tenant, Kind::Plans, rows).await.map(Json)
}
