//! The SQL behind [`Db`], written once and compiled once per backend.
//!
//! `sqlite.rs` and `postgres.rs` each include this file as their `sql` module, with
//! `super::Driver` naming their sqlx database and `super::This` their handle. It is compiled
//! per backend, not written generic over sqlx's `Database`, because concrete types keep
//! sqlx's trait bounds (`for<'q> Encode<'q, DB>` on every bound value, `IntoArguments` on every
//! query) out of every signature. The statements use only what both databases understand:
//! `$N` placeholders, `ON CONFLICT`, `RETURNING`, `CAST(… AS BIGINT)`, dates and timestamps
//! bound as chrono values. Every statement names `tenant_id`.
//!
//! What names no sqlx type is not here but in ordinary modules, compiled once: the sweep's
//! page and batch rules in [`crate::sweep`], the runs of imported rows in [`crate::ledger`],
//! the column layout in [`crate::codec`].
//!
//! One file per concern holds the bodies: `sql/tenant.rs` (tenants, API keys, policy
//! versions), `sql/ledger.rs` (imported rows), `sql/review.rs` (reading the decision log),
//! `sql/outbox.rs` (the delivery worker's claims and results), `sql/delivery_config.rs`
//! (tenants' email templates and webhook endpoints);
//! `impl Db` below forwards to them. The sweep's two hot calls, `due_for_review` and
//! `record_encoded`, are each backend's own (`super::due_for_review`, `super::record_encoded`;
//! on SQLite over rusqlite, in `sqlite/direct.rs`), and so is the read of the decision log
//! that replay and backtest page through (`super::recorded_decisions`; on SQLite in
//! `sqlite/recorded.rs`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dunlin_core::Date;
use sqlx::Row as _;

use super::{Driver, This, BACKEND};
use crate::api_key::ApiKeyRow;
use crate::delivery::{EndpointRow, NewEndpoint, TemplateRow};
use crate::error::QueryContext;
use crate::idempotency::{IdempotencyClaim, IdempotentRequest};
use crate::ledger::{InvoiceRecord, NewDispute, NewInvoice, NewPayment, NewPaymentPlan};
use crate::outbox::{
    ActionQuery, AttemptRecord, Backlog, Claim, ClaimedAction, FinishSummary, Finished,
    OutboxEntry, OutboxQuery, Requeue,
};
use crate::outcome::{OutcomeReport, ReportResult};
use crate::replay::{RecordedDecision, RecordedQuery};
use crate::replica::{Leases, Registered, ReplicaRow};
use crate::review::{Contact, DecisionQuery, DecisionRecord, DuePage, DueQuery, DunningState};
use crate::sweep::{EncodedOutcome, LedgerMark, Written};
use crate::sweep_run::{NewSweepRun, SweepFigures, SweepRun, SweepStatus};
use crate::tenant::{PolicyBlob, PolicyVersion, Tenant, TenantId, TenantSettings};
use crate::trial::{CanaryShare, PolicyTrials, ShadowOutcome, ShadowPage, ShadowQuery};
use crate::{Backend, CustomerRecord, Db, Result, StoreError};

// The concern modules are compiled once per backend with this file; their paths are
// spelled out because a file included by `#[path]` looks for its modules beside itself.
#[allow(clippy::duplicate_mod)]
#[path = "sql/delivery_config.rs"]
mod delivery_config;
#[allow(clippy::duplicate_mod)]
#[path = "sql/idempotency.rs"]
mod idempotency;
#[allow(clippy::duplicate_mod)]
#[path = "sql/ledger.rs"]
mod ledger;
#[allow(clippy::duplicate_mod)]
#[path = "sql/outbox.rs"]
mod outbox;
#[allow(clippy::duplicate_mod)]
#[path = "sql/outcome.rs"]
mod outcome;
#[allow(clippy::duplicate_mod)]
#[path = "sql/replica.rs"]
mod replica;
#[allow(clippy::duplicate_mod)]
#[path = "sql/review.rs"]
pub(super) mod review;
#[allow(clippy::duplicate_mod)]
#[path = "sql/sweep_run.rs"]
mod sweep_run;
#[allow(clippy::duplicate_mod)]
#[path = "sql/tenant.rs"]
mod tenant;
#[allow(clippy::duplicate_mod)]
#[path = "sql/trial.rs"]
mod trial;

type Row = <Driver as sqlx::Database>::Row;
type Tx = sqlx::Transaction<'static, Driver>;

pub(super) fn get<'r, T>(row: &'r Row, column: &str) -> Result<T>
where
    T: sqlx::Decode<'r, Driver> + sqlx::Type<Driver>,
{
    row.try_get(column).ctx("decode a row")
}

/// Narrows a list read to the as-of days `from` to `to` (either end open).
pub(super) fn push_as_of_window(
    qb: &mut sqlx::QueryBuilder<'_, Driver>,
    from: Option<Date>,
    to: Option<Date>,
) {
    if let Some(from) = from {
        qb.push(" AND as_of >= ").push_bind(from);
    }
    if let Some(to) = to {
        qb.push(" AND as_of <= ").push_bind(to);
    }
}

/// Fails with `UnknownTenant` unless the tenant exists; batch writes check this first so
/// that the error names the real problem.
pub(super) async fn require_tenant(tx: &mut Tx, tenant: &TenantId) -> Result<()> {
    let found = sqlx::query("SELECT 1 FROM tenants WHERE id = $1")
        .bind(tenant.as_str())
        .fetch_optional(&mut **tx)
        .await
        .ctx("look up tenant")?;
    match found {
        Some(_) => Ok(()),
        None => Err(StoreError::UnknownTenant(tenant.clone())),
    }
}

#[async_trait]
impl Db for This {
    fn backend(&self) -> Backend {
        BACKEND
    }

    async fn close(&self) {
        self.close_connections().await;
    }

    async fn refresh_statistics(&self) -> Result<()> {
        sqlx::query(super::REFRESH_STATISTICS)
            .execute(&self.pool)
            .await
            .ctx("refresh statistics")?;
        Ok(())
    }

    async fn create_tenant(&self, id: &TenantId, settings: &TenantSettings) -> Result<Tenant> {
        tenant::create_tenant(self, id, settings).await
    }

    async fn tenant(&self, id: &TenantId) -> Result<Option<Tenant>> {
        tenant::tenant(self, id).await
    }

    async fn tenants(&self) -> Result<Vec<Tenant>> {
        tenant::tenants(self).await
    }

    async fn update_tenant(&self, id: &TenantId, settings: &TenantSettings) -> Result<Tenant> {
        tenant::update_tenant(self, id, settings).await
    }

    async fn mark_tick(&self, id: &TenantId, at: DateTime<Utc>) -> Result<()> {
        tenant::mark_tick(self, id, at).await
    }

    async fn add_api_key(&self, tenant: &TenantId, key: &str, label: &str) -> Result<()> {
        tenant::add_api_key(self, tenant, key, label).await
    }

    async fn tenant_for_api_key(&self, key: &str) -> Result<Option<TenantId>> {
        tenant::tenant_for_api_key(self, key).await
    }

    async fn api_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKeyRow>> {
        tenant::api_keys(self, tenant).await
    }

    async fn revoke_api_key(&self, tenant: &TenantId, id: &str) -> Result<bool> {
        tenant::revoke_api_key(self, tenant, id).await
    }

    async fn claim_idempotency_key(
        &self,
        tenant: &TenantId,
        request: &IdempotentRequest<'_>,
    ) -> Result<IdempotencyClaim> {
        idempotency::claim(self, tenant, request).await
    }

    async fn finish_idempotency_key(
        &self,
        tenant: &TenantId,
        route: &str,
        key: &str,
        status: u16,
        body: &str,
    ) -> Result<()> {
        idempotency::finish(self, tenant, route, key, status, body).await
    }

    async fn release_idempotency_key(
        &self,
        tenant: &TenantId,
        route: &str,
        key: &str,
    ) -> Result<()> {
        idempotency::release(self, tenant, route, key).await
    }

    async fn ready(&self) -> Result<bool> {
        tenant::migrations_current(self, &super::MIGRATOR).await
    }

    async fn add_policy_version(&self, tenant: &TenantId, bytes: &[u8]) -> Result<PolicyVersion> {
        tenant::add_policy_version(self, tenant, bytes).await
    }

    async fn activate_policy_version(
        &self,
        tenant: &TenantId,
        version: u32,
    ) -> Result<PolicyVersion> {
        tenant::activate_policy_version(self, tenant, version).await
    }

    async fn migrate_ladders(&self, tenant: &TenantId, version: u32) -> Result<u64> {
        tenant::migrate_ladders(self, tenant, version).await
    }

    async fn policy_versions(&self, tenant: &TenantId) -> Result<Vec<PolicyVersion>> {
        tenant::policy_versions(self, tenant).await
    }

    async fn active_policy(&self, tenant: &TenantId) -> Result<Option<PolicyBlob>> {
        tenant::policy_blob(self, tenant, tenant::Which::Active).await
    }

    async fn policy_blob(&self, tenant: &TenantId, version: u32) -> Result<Option<PolicyBlob>> {
        tenant::policy_blob(self, tenant, tenant::Which::Version(version)).await
    }

    async fn delete_policy_version(&self, tenant: &TenantId, version: u32) -> Result<()> {
        tenant::delete_policy_version(self, tenant, version).await
    }

    async fn open_ladders_by_version(
        &self,
        tenant: &TenantId,
    ) -> Result<std::collections::BTreeMap<u32, u64>> {
        tenant::open_ladders_by_version(self, tenant).await
    }

    async fn policy_trials(&self, tenant: &TenantId) -> Result<PolicyTrials> {
        trial::policy_trials(self, tenant).await
    }

    async fn set_shadow(&self, tenant: &TenantId, version: Option<u32>) -> Result<PolicyTrials> {
        trial::set_shadow(self, tenant, version).await
    }

    async fn start_canary(
        &self,
        tenant: &TenantId,
        version: u32,
        share: CanaryShare,
    ) -> Result<PolicyTrials> {
        trial::start_canary(self, tenant, version, share).await
    }

    async fn promote_canary(&self, tenant: &TenantId) -> Result<PolicyVersion> {
        trial::promote_canary(self, tenant).await
    }

    async fn abort_canary(&self, tenant: &TenantId) -> Result<u64> {
        trial::abort_canary(self, tenant).await
    }

    async fn record_shadow(&self, tenant: &TenantId, rows: &[ShadowOutcome]) -> Result<usize> {
        let _turn = self.sweep_write_turn().await;
        trial::record_shadow(self, tenant, rows).await
    }

    async fn shadow_pairs(&self, tenant: &TenantId, query: &ShadowQuery) -> Result<ShadowPage> {
        trial::shadow_pairs(self, tenant, query).await
    }

    async fn start_sweep_run_as(
        &self,
        tenant: &TenantId,
        run: &NewSweepRun,
        stale_before: DateTime<Utc>,
        replica: Option<&str>,
    ) -> Result<Option<SweepRun>> {
        sweep_run::start_sweep_run(self, tenant, run, stale_before, replica).await
    }

    async fn register_replica(&self, id: &str, exclusive: bool) -> Result<Registered> {
        replica::register_replica(self, id, exclusive).await
    }

    async fn heartbeat_replica(&self, id: &str, doing: &str) -> Result<()> {
        replica::heartbeat_replica(self, id, doing).await
    }

    async fn stop_replica(&self, id: &str) -> Result<()> {
        replica::stop_replica(self, id).await
    }

    async fn replicas(&self, since: DateTime<Utc>) -> Result<Vec<ReplicaRow>> {
        replica::replicas(self, since).await
    }

    async fn leases(&self) -> Result<Leases> {
        replica::leases(self).await
    }

    async fn heartbeat_sweep_run(&self, tenant: &TenantId, id: i64) -> Result<()> {
        sweep_run::heartbeat_sweep_run(self, tenant, id).await
    }

    async fn finish_sweep_run(
        &self,
        tenant: &TenantId,
        id: i64,
        status: SweepStatus,
        figures: &SweepFigures,
        error: Option<&str>,
    ) -> Result<()> {
        sweep_run::finish_sweep_run(self, tenant, id, status, figures, error).await
    }

    async fn sweep_runs(
        &self,
        tenant: &TenantId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<SweepRun>> {
        sweep_run::sweep_runs(self, tenant, before, limit).await
    }

    async fn sweep_run(&self, tenant: &TenantId, id: i64) -> Result<Option<SweepRun>> {
        sweep_run::sweep_run(self, tenant, id).await
    }

    async fn upsert_customers(&self, tenant: &TenantId, rows: &[CustomerRecord]) -> Result<usize> {
        ledger::upsert_customers(self, tenant, rows).await
    }

    async fn upsert_invoices(&self, tenant: &TenantId, rows: &[NewInvoice]) -> Result<usize> {
        ledger::upsert_invoices(self, tenant, rows).await
    }

    async fn upsert_payments(&self, tenant: &TenantId, rows: &[NewPayment]) -> Result<usize> {
        ledger::upsert_payments(self, tenant, rows).await
    }

    async fn upsert_disputes(&self, tenant: &TenantId, rows: &[NewDispute]) -> Result<usize> {
        ledger::upsert_disputes(self, tenant, rows).await
    }

    async fn upsert_payment_plans(
        &self,
        tenant: &TenantId,
        rows: &[NewPaymentPlan],
    ) -> Result<usize> {
        ledger::upsert_payment_plans(self, tenant, rows).await
    }

    async fn customer(&self, tenant: &TenantId, id: &str) -> Result<Option<CustomerRecord>> {
        ledger::customer(self, tenant, id).await
    }

    async fn invoice(&self, tenant: &TenantId, id: &str) -> Result<Option<InvoiceRecord>> {
        ledger::invoice(self, tenant, id).await
    }

    async fn opt_out(
        &self,
        tenant: &TenantId,
        customer: &str,
        channel: dunlin_core::Channel,
    ) -> Result<bool> {
        ledger::opt_out(self, tenant, customer, channel).await
    }

    async fn dunning_state(
        &self,
        tenant: &TenantId,
        invoice: &str,
    ) -> Result<Option<DunningState>> {
        review::dunning_state(self, tenant, invoice).await
    }

    async fn due_for_review(&self, tenant: &TenantId, query: &DueQuery) -> Result<DuePage> {
        // Each backend reads a page its fastest way, from the rules in `crate::sweep::page`.
        super::due_for_review(self, tenant, query).await
    }

    async fn decisions(
        &self,
        tenant: &TenantId,
        query: &DecisionQuery,
    ) -> Result<Vec<DecisionRecord>> {
        review::decisions(self, tenant, query).await
    }

    async fn recorded_decisions(
        &self,
        tenant: &TenantId,
        query: &RecordedQuery,
    ) -> Result<Vec<RecordedDecision>> {
        super::recorded_decisions(self, tenant, query).await
    }

    async fn recent_contacts(
        &self,
        tenant: &TenantId,
        customer: &str,
        since: Date,
    ) -> Result<Vec<Contact>> {
        review::recent_contacts(self, tenant, customer, since).await
    }

    async fn open_invoices(&self, tenant: &TenantId, customer: &str) -> Result<Vec<InvoiceRecord>> {
        ledger::open_invoices(self, tenant, customer).await
    }

    async fn claim_actions(&self, tenant: &TenantId, claim: &Claim) -> Result<Vec<ClaimedAction>> {
        outbox::claim(self, tenant, claim).await
    }

    async fn finish_actions(
        &self,
        tenant: &TenantId,
        worker: &str,
        at: DateTime<Utc>,
        results: &[Finished],
    ) -> Result<FinishSummary> {
        outbox::finish(self, tenant, worker, at, results).await
    }

    async fn outbox(&self, tenant: &TenantId, query: &OutboxQuery) -> Result<Vec<OutboxEntry>> {
        outbox::actions(self, tenant, &query.into()).await
    }

    async fn actions(&self, tenant: &TenantId, query: &ActionQuery) -> Result<Vec<OutboxEntry>> {
        outbox::actions(self, tenant, query).await
    }

    async fn delivery_attempts(
        &self,
        tenant: &TenantId,
        ids: &[i64],
    ) -> Result<Vec<AttemptRecord>> {
        outbox::attempts(self, tenant, ids).await
    }

    async fn report_outcome(
        &self,
        tenant: &TenantId,
        id: i64,
        report: &OutcomeReport,
    ) -> Result<ReportResult> {
        outcome::report(self, tenant, id, report).await
    }

    async fn requeue_actions(&self, tenant: &TenantId, which: &Requeue) -> Result<u64> {
        outbox::requeue(self, tenant, which).await
    }

    async fn outbox_backlog(&self, tenant: &TenantId) -> Result<Backlog> {
        outbox::backlog(self, tenant).await
    }

    fn write_lanes(&self) -> usize {
        super::WRITE_LANES
    }

    async fn ledger_mark(&self, tenant: &TenantId) -> Result<LedgerMark> {
        ledger::ledger_mark(self, tenant).await
    }

    async fn record_encoded(
        &self,
        tenant: &TenantId,
        outcomes: Vec<EncodedOutcome>,
        read_at: Option<LedgerMark>,
    ) -> Result<Written> {
        // Each backend writes a batch its fastest way, by the rules in `crate::sweep::batch`.
        super::record_encoded(self, tenant, outcomes, read_at).await
    }

    // Delivery configuration: settings, templates, webhook endpoints.

    async fn put_templates(&self, tenant: &TenantId, rows: &[TemplateRow]) -> Result<usize> {
        delivery_config::put_templates(self, tenant, rows).await
    }

    async fn templates(&self, tenant: &TenantId) -> Result<Vec<TemplateRow>> {
        delivery_config::templates(self, tenant).await
    }

    async fn template(
        &self,
        tenant: &TenantId,
        id: &str,
        locale: &str,
    ) -> Result<Option<TemplateRow>> {
        delivery_config::template(self, tenant, id, locale).await
    }

    async fn delete_template(&self, tenant: &TenantId, id: &str, locale: &str) -> Result<bool> {
        delivery_config::delete_template(self, tenant, id, locale).await
    }

    async fn add_endpoint(&self, tenant: &TenantId, endpoint: &NewEndpoint) -> Result<EndpointRow> {
        delivery_config::add_endpoint(self, tenant, endpoint).await
    }

    async fn endpoints(&self, tenant: &TenantId) -> Result<Vec<EndpointRow>> {
        delivery_config::endpoints(self, tenant, None).await
    }

    async fn endpoint(&self, tenant: &TenantId, id: &str) -> Result<Option<EndpointRow>> {
        Ok(delivery_config::endpoints(self, tenant, Some(id))
            .await?
            .pop())
    }

    async fn remove_endpoint(&self, tenant: &TenantId, id: &str) -> Result<bool> {
        delivery_config::remove_endpoint(self, tenant, id).await
    }

    async fn rotate_endpoint_secret(
        &self,
        tenant: &TenantId,
        id: &str,
        new_secret: &str,
        previous_until: DateTime<Utc>,
    ) -> Result<Option<EndpointRow>> {
        delivery_config::rotate_endpoint_secret(self, tenant, id, new_secret, previous_until).await
    }
}
