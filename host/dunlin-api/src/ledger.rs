//! The ledger: customers, invoices and payments, upserted one at a time by the tenant's own id
//! or in batches with an answer per row.
//!
//! Rows have the import format (`docs/import.md`: flat, kebab-case, minor units and an ISO
//! 4217 code, `YYYY-MM-DD` dates) and go through `dunlin_import::import_values`, the code
//! behind `dunlin import`: the same checks, the same idempotent upserts, and a batch the store
//! refuses split until each bad row is named.

use axum::extract::State;
use dunlin_import::{import_values, Kind, Options};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::{ApiError, AppState, Json, Path, Tenant};

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
    /// Its position in the request's array, from 0.
    pub index: u64,
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
    rows: &[Value],
) -> Result<BatchReport, ApiError> {
    let max = state.config.max_batch_rows;
    if rows.len() > max {
        return Err(ApiError::bad(
            "too-many-rows",
            format!(
                "a batch holds at most {max} rows; this one has {}",
                rows.len()
            ),
        ));
    }
    let report = import_values(
        state.db.as_ref(),
        &tenant.0,
        kind,
        rows,
        &Options::default(),
    )
    .await?;
    let mut errors: Vec<RowError> = report
        .errors
        .into_iter()
        .map(|e| RowError {
            index: e.line.saturating_sub(1),
            message: e.message,
        })
        .collect();
    errors.sort_by_key(|e| e.index);
    Ok(BatchReport {
        received: rows.len() as u64,
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
    let report = batch(state, tenant, kind, &[Value::Object(fields)]).await?;
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
    request_body(content = Vec<Object>, description = "An array of customer rows (CustomerRow)"),
    responses(
        (status = 200, description = "Each row stored or refused", body = BatchReport),
        (status = 400, description = "Not an array, or too many rows", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn batch_customers(
    State(state): State<AppState>,
    tenant: Tenant,
    Json(rows): Json<Vec<Value>>,
) -> Result<Json<BatchReport>, ApiError> {
    batch(&state, &tenant, Kind::Customers, &rows)
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
    request_body(content = Vec<Object>, description = "An array of invoice rows (InvoiceRow)"),
    responses(
        (status = 200, description = "Each row stored or refused", body = BatchReport),
        (status = 400, description = "Not an array, or too many rows", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn batch_invoices(
    State(state): State<AppState>,
    tenant: Tenant,
    Json(rows): Json<Vec<Value>>,
) -> Result<Json<BatchReport>, ApiError> {
    batch(&state, &tenant, Kind::Invoices, &rows)
        .await
        .map(Json)
}

/// Records payments, in order; recording one again changes nothing.
#[utoipa::path(post, path = "/v1/payments:batch", tag = "ledger",
    request_body(content = Vec<Object>, description = "An array of payment rows (PaymentRow)"),
    responses(
        (status = 200, description = "Each row stored or refused", body = BatchReport),
        (status = 400, description = "Not an array, or too many rows", body = crate::ErrorBody)),
    security(("tenant_key" = [])))]
pub(crate) async fn batch_payments(
    State(state): State<AppState>,
    tenant: Tenant,
    Json(rows): Json<Vec<Value>>,
) -> Result<Json<BatchReport>, ApiError> {
    batch(&state, &tenant, Kind::Payments, &rows)
        .await
        .map(Json)
}
