//! Dunlin's storage: the only crate that knows SQL.
//!
//! [`connect`] opens SQLite (`sqlite://dunlin.db`, created on first use, WAL) or PostgreSQL
//! (`postgres://…`), brings the schema up to date and returns a [`Db`]. Both backends run the
//! same SQL (see `sql.rs`) and pass the same conformance suite (`tests/conformance/`).
//!
//! The root exports the API for everyone; [`sweep`] holds what only the sweep's fast path
//! needs.
//!
//! Every query is scoped to one tenant; money is integer minor units with a currency.

use std::sync::Arc;

pub mod api_key;
pub mod codec;
mod db;
pub mod delivery;
mod error;
pub mod idempotency;
pub mod ledger;
pub mod outbox;
pub mod outcome;
mod postgres;
pub mod replay;
pub mod replica;
pub mod review;
mod sqlite;
pub mod sweep;
pub mod sweep_run;
pub mod tenant;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod trial;
pub mod validate;

pub use api_key::ApiKeyRow;
pub use codec::{compress_context, decompress_context};
pub use db::{Backend, Db};
pub use delivery::{DeliverySettings, EndpointRow, NewEndpoint, TemplateRow, Weekday};
pub use error::{Result, StoreError};
pub use idempotency::{IdempotencyClaim, IdempotentRequest};
pub use ledger::{
    CustomerRecord, DisputeStatus, InvoiceRecord, InvoiceStatus, NewDispute, NewInvoice,
    NewPayment, NewPaymentPlan, PlanKind, PlanStatus,
};
pub use postgres::PgDb;
pub use replay::{RecordedContext, RecordedDecision, RecordedQuery};
pub use review::{
    ActionRecord, ActionStatus, Contact, DecisionOutcome, DecisionQuery, DecisionRecord,
    DueInvoice, DuePage, DueQuery, DunningState, FailureRecord, Outcome, PlannedAction, PolicyRef,
    RecordSummary,
};
pub use sqlite::SqliteDb;
pub use sweep_run::{NewSweepRun, SweepFigures, SweepRun, SweepStatus, SweepTrigger};
pub use tenant::{
    previously_active, CheckedSettings, FailureMode, PolicyBlob, PolicyStatus, PolicyVersion,
    SettingsError, Tenant, TenantId, TenantSettings,
};
pub use trial::{CanaryShare, PolicyTrials};

/// Opens the database at `url` and migrates it: `sqlite://PATH` (the file is created if
/// missing) or `postgres://…`.
pub async fn connect(url: &str) -> Result<Arc<dyn Db>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteDb::connect(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgDb::connect(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl {
            url: error::redact(url),
        })
    }
}
