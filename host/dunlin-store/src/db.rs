//! The [`Db`] trait: every storage operation the host needs, the same on each backend.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dunlin_core::{Channel, Date};

use crate::api_key::ApiKeyRow;
use crate::delivery::{EndpointRow, NewEndpoint, TemplateRow};
use crate::idempotency::{IdempotencyClaim, IdempotentRequest};
use crate::ledger::{InvoiceRecord, NewDispute, NewInvoice, NewPayment, NewPaymentPlan};
use crate::outbox::{
    ActionQuery, AttemptRecord, Backlog, Claim, ClaimedAction, FinishSummary, Finished,
    OutboxEntry, OutboxQuery, Requeue,
};
use crate::outcome::{OutcomeReport, ReportResult};
use crate::replay::{RecordedDecision, RecordedQuery};
use crate::replica::{Leases, Registered, ReplicaRow};
use crate::review::{
    Contact, DecisionQuery, DecisionRecord, DuePage, DueQuery, DunningState, Outcome, RecordSummary,
};
use crate::sweep::{EncodedOutcome, LedgerMark, Written};
use crate::sweep_run::{NewSweepRun, SweepFigures, SweepRun, SweepStatus};
use crate::tenant::{PolicyBlob, PolicyVersion, Tenant, TenantId, TenantSettings};
use crate::trial::{CanaryShare, PolicyTrials, ShadowOutcome, ShadowPage, ShadowQuery};
use crate::{CustomerRecord, Result, StoreError};

/// Which database a [`Db`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// Dunlin's storage. Implemented by [`crate::SqliteDb`] and [`crate::PgDb`]; open one with
/// [`crate::connect`].
///
/// Every method that reads or writes tenant data takes the tenant and only ever touches that
/// tenant's rows: another tenant's ids find nothing. The exceptions are [`Db::tenants`] (the
/// operator's list), [`Db::tenant_for_api_key`] (which is how a request finds its tenant) and
/// the replicas' group (the operator's, read for the operator only).
/// Batch writes are all or nothing.
///
/// The methods at the end, after `recent_contacts`, are the sweep's fast path
/// ([`Db::write_lanes`], [`Db::record_encoded`]); the rest is for every caller.
#[async_trait]
pub trait Db: Send + Sync {
    /// The backend behind this handle.
    fn backend(&self) -> Backend;
    /// Waits for running queries and closes all connections (graceful shutdown).
    async fn close(&self);
    /// Refreshes the planner's statistics after a bulk load (SQLite `PRAGMA optimize`,
    /// PostgreSQL `VACUUM (ANALYZE)` of our tables). Maintenance, not a query: it reads no
    /// tenant's rows for anyone.
    async fn refresh_statistics(&self) -> Result<()>;

    /// Creates a tenant; fails with `TenantExists` if the id is taken.
    async fn create_tenant(&self, id: &TenantId, settings: &TenantSettings) -> Result<Tenant>;
    /// A tenant, if it exists.
    async fn tenant(&self, id: &TenantId) -> Result<Option<Tenant>>;
    /// All tenants, by id (for the operator and the scheduler).
    async fn tenants(&self) -> Result<Vec<Tenant>>;
    /// Replaces a tenant's settings.
    async fn update_tenant(&self, id: &TenantId, settings: &TenantSettings) -> Result<Tenant>;
    /// Notes that the scheduler started a sweep for the tenant at `at`; a later tick marked
    /// already stays (replicas end their sweeps in any order).
    async fn mark_tick(&self, id: &TenantId, at: DateTime<Utc>) -> Result<()>;

    /// Stores the sha256 of an API key for the tenant; the key itself is never stored.
    async fn add_api_key(&self, tenant: &TenantId, key: &str, label: &str) -> Result<()>;
    /// The tenant an API key belongs to; `None` for an unknown or revoked key. Notes the use
    /// (at most once a minute per key, so reads do not become writes).
    async fn tenant_for_api_key(&self, key: &str) -> Result<Option<TenantId>>;
    /// Makes a new random key for the tenant ([`crate::api_key::generate`]) and stores its
    /// hash. Returns the key, to be shown once (the store cannot show it again), and its row.
    async fn create_api_key(&self, tenant: &TenantId, label: &str) -> Result<(String, ApiKeyRow)> {
        let key = crate::api_key::generate().map_err(StoreError::Random)?;
        self.add_api_key(tenant, &key, label).await?;
        let id = crate::api_key::id_of(&key);
        let row = self
            .api_keys(tenant)
            .await?
            .into_iter()
            .find(|row| row.id == id)
            .ok_or_else(|| StoreError::Corrupt {
                what: "api key",
                detail: format!("key {id} was stored but is not listed"),
            })?;
        Ok((key, row))
    }
    /// The tenant's keys, revoked ones included, oldest first; never a key itself.
    async fn api_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKeyRow>>;
    /// Revokes the tenant's key of this public id; whether it had such a key not yet revoked.
    async fn revoke_api_key(&self, tenant: &TenantId, id: &str) -> Result<bool>;
    /// Takes the tenant's idempotency key for a request, or says what it holds: free or
    /// expired keys are taken (only one of several concurrent requests wins), a taken key
    /// answers with its request's response or that it is still under way.
    async fn claim_idempotency_key(
        &self,
        tenant: &TenantId,
        request: &IdempotentRequest<'_>,
    ) -> Result<IdempotencyClaim>;
    /// Keeps the response of the request that took the key, for its repeats.
    async fn finish_idempotency_key(
        &self,
        tenant: &TenantId,
        route: &str,
        key: &str,
        status: u16,
        body: &str,
    ) -> Result<()>;
    /// Frees a key whose request did not finish (it failed and may be retried).
    async fn release_idempotency_key(
        &self,
        tenant: &TenantId,
        route: &str,
        key: &str,
    ) -> Result<()>;
    /// Whether the database answers and its schema has every migration this build knows
    /// (a replica of an older build finds newer ones applied, which is current too).
    async fn ready(&self) -> Result<bool>;

    /// Stores a policy component as the tenant's next version (status `uploaded`). Uploading
    /// bytes the tenant already has returns the existing version.
    async fn add_policy_version(&self, tenant: &TenantId, bytes: &[u8]) -> Result<PolicyVersion>;
    /// Makes `version` the tenant's active one; the previously active version is retired.
    async fn activate_policy_version(
        &self,
        tenant: &TenantId,
        version: u32,
    ) -> Result<PolicyVersion>;
    /// Re-pins every ladder in progress (not ended) to `version`, for a tenant who chose to
    /// migrate open ladders on activation. Returns how many were re-pinned.
    async fn migrate_ladders(&self, tenant: &TenantId, version: u32) -> Result<u64>;
    /// The tenant's versions, oldest first, without their bytes.
    async fn policy_versions(&self, tenant: &TenantId) -> Result<Vec<PolicyVersion>>;
    /// The active version with its bytes.
    async fn active_policy(&self, tenant: &TenantId) -> Result<Option<PolicyBlob>>;
    /// Any version with its bytes (pinned ladders, fallback to the previous version).
    async fn policy_blob(&self, tenant: &TenantId, version: u32) -> Result<Option<PolicyBlob>>;
    /// Deletes an upload nothing uses. Fails with `PolicyVersionInUse` if the version is or
    /// was active, or a decision or a ladder names it; with `UnknownPolicyVersion` if the
    /// tenant has no such version.
    async fn delete_policy_version(&self, tenant: &TenantId, version: u32) -> Result<()>;
    /// How many ladders in progress (not ended) are pinned to each version; a version with
    /// none is absent.
    async fn open_ladders_by_version(&self, tenant: &TenantId) -> Result<BTreeMap<u32, u64>>;

    /// The tenant's shadow and canary versions (`crate::trial`); none when it runs no trial.
    async fn policy_trials(&self, tenant: &TenantId) -> Result<PolicyTrials>;
    /// Puts `version` in shadow (every sweep also asks it), or turns shadow off with `None`.
    /// The active version is refused; the same version again keeps its start.
    async fn set_shadow(&self, tenant: &TenantId, version: Option<u32>) -> Result<PolicyTrials>;
    /// Starts `version` as the canary for `share` of the customers, or changes the share of
    /// the running canary of that version. Refused for the active version and while another
    /// version is the canary.
    async fn start_canary(
        &self,
        tenant: &TenantId,
        version: u32,
        share: CanaryShare,
    ) -> Result<PolicyTrials>;
    /// Makes the canary the active version for every customer and ends the canary, in one
    /// transaction. Ladders stay pinned to the version that started them.
    async fn promote_canary(&self, tenant: &TenantId) -> Result<PolicyVersion>;
    /// Ends the canary and moves the ladders in progress it started back to the active
    /// version, in one transaction; returns how many moved.
    async fn abort_canary(&self, tenant: &TenantId) -> Result<u64>;
    /// Records the shadow version's answers, each beside the live decision of its invoice
    /// and as-of day; an answer without one, or recorded before, is not written. Returns how
    /// many were written. Nothing here reaches the outbox or the ladder state.
    async fn record_shadow(&self, tenant: &TenantId, rows: &[ShadowOutcome]) -> Result<usize>;
    /// A page of the tenant's live decisions paired with what the shadow version made of
    /// the same context, for a report to compare.
    async fn shadow_pairs(&self, tenant: &TenantId, query: &ShadowQuery) -> Result<ShadowPage>;

    /// Records a sweep starting, unless it is the daemon's or the API's and one of theirs is
    /// running for the tenant: then `None` and nothing is written (`dunlin sweep` by hand,
    /// `SweepTrigger::Cli`, is recorded whatever runs). A running sweep whose heartbeat is older than `stale_before`
    /// (its process died) is marked abandoned first and holds the tenant no longer. Holds
    /// across processes and replicas sharing the database.
    async fn start_sweep_run(
        &self,
        tenant: &TenantId,
        run: &NewSweepRun,
        stale_before: DateTime<Utc>,
    ) -> Result<Option<SweepRun>> {
        self.start_sweep_run_as(tenant, run, stale_before, None)
            .await
    }
    /// [`Db::start_sweep_run`] by the daemon of `replica`, named on the run. A running sweep
    /// of a dead or stopped replica (`crate::replica`) holds the tenant no longer either.
    async fn start_sweep_run_as(
        &self,
        tenant: &TenantId,
        run: &NewSweepRun,
        stale_before: DateTime<Utc>,
        replica: Option<&str>,
    ) -> Result<Option<SweepRun>>;
    /// Notes that the running sweep `id` is alive.
    async fn heartbeat_sweep_run(&self, tenant: &TenantId, id: i64) -> Result<()>;
    /// Records how the sweep `id` ended, with its figures and, if it failed, why (bounded).
    async fn finish_sweep_run(
        &self,
        tenant: &TenantId,
        id: i64,
        status: SweepStatus,
        figures: &SweepFigures,
        error: Option<&str>,
    ) -> Result<()>;
    /// The tenant's sweep runs, newest first, at most `limit`, with ids below `before`.
    async fn sweep_runs(
        &self,
        tenant: &TenantId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<SweepRun>>;
    /// One of the tenant's sweep runs.
    async fn sweep_run(&self, tenant: &TenantId, id: i64) -> Result<Option<SweepRun>>;

    // ---- Replicas: the operator's, across tenants (`crate::replica`) ---------------------

    /// Registers the `serve` process `id`. With `exclusive`, a live replica (not stopped,
    /// beating) refuses it: the database serves one process (SQLite).
    async fn register_replica(&self, id: &str, exclusive: bool) -> Result<Registered>;
    /// Notes that replica `id` is alive and what it is doing (bounded).
    async fn heartbeat_replica(&self, id: &str, doing: &str) -> Result<()>;
    /// Marks replica `id` stopped: its locks and leases are free at once.
    async fn stop_replica(&self, id: &str) -> Result<()>;
    /// Replicas that beat at or after `since` (live ones and those recently dead or
    /// stopped), oldest first.
    async fn replicas(&self, since: DateTime<Utc>) -> Result<Vec<ReplicaRow>>;
    /// Every running sweep and every live outbox lease, all tenants: the operator's view.
    async fn leases(&self) -> Result<Leases>;

    /// Inserts or replaces customers by their id. Returns how many rows were given.
    async fn upsert_customers(&self, tenant: &TenantId, rows: &[CustomerRecord]) -> Result<usize>;
    /// Inserts or updates invoices by their id; each customer must exist.
    async fn upsert_invoices(&self, tenant: &TenantId, rows: &[NewInvoice]) -> Result<usize>;
    /// Records payments (by id; re-recording one changes nothing), in the order given. Each
    /// lowers its invoice's open balance; an invoice paid in full becomes `paid` and its
    /// pending actions are cancelled. All or nothing: the first bad row is the error.
    async fn upsert_payments(&self, tenant: &TenantId, rows: &[NewPayment]) -> Result<usize>;
    /// Inserts or updates disputes by id; opening one cancels the invoice's pending actions.
    async fn upsert_disputes(&self, tenant: &TenantId, rows: &[NewDispute]) -> Result<usize>;
    /// Inserts or updates payment plans and promises to pay by id.
    async fn upsert_payment_plans(
        &self,
        tenant: &TenantId,
        rows: &[NewPaymentPlan],
    ) -> Result<usize>;

    /// A customer.
    async fn customer(&self, tenant: &TenantId, id: &str) -> Result<Option<CustomerRecord>>;
    /// An invoice.
    async fn invoice(&self, tenant: &TenantId, id: &str) -> Result<Option<InvoiceRecord>>;
    /// An invoice's ladder state.
    async fn dunning_state(&self, tenant: &TenantId, invoice: &str)
        -> Result<Option<DunningState>>;

    /// One page of the tenant's invoices due for review on `query.as_of`: open, with a
    /// balance, and either never reviewed (due within the tenant's lead days) or with a next
    /// review on or before as-of, not paused past it and not ended; and not decided on as-of
    /// already (a re-run or resumed sweep picks up only what is left). A handful of set-based
    /// queries per page, whatever its size.
    async fn due_for_review(&self, tenant: &TenantId, query: &DueQuery) -> Result<DuePage>;
    /// Writes decisions, their actions and the new ladder states in one transaction. An
    /// outcome whose (invoice, as-of) already has a decision is skipped whole, so a repeated
    /// or resumed sweep writes nothing twice.
    async fn record_batch(&self, tenant: &TenantId, outcomes: &[Outcome]) -> Result<RecordSummary> {
        let encoded = EncodedOutcome::encode_all(outcomes.to_vec())?;
        Ok(self.record_encoded(tenant, encoded, None).await?.summary())
    }
    /// The decision log, oldest first, with each decision's actions.
    async fn decisions(
        &self,
        tenant: &TenantId,
        query: &DecisionQuery,
    ) -> Result<Vec<DecisionRecord>>;
    /// The decision log as replay and export read it, oldest first: each decision's context
    /// and the JSON text written for its decision and its blocked actions.
    async fn recorded_decisions(
        &self,
        tenant: &TenantId,
        query: &RecordedQuery,
    ) -> Result<Vec<RecordedDecision>>;
    /// A customer's contacts (notices not blocked or cancelled) on or after `since`.
    async fn recent_contacts(
        &self,
        tenant: &TenantId,
        customer: &str,
        since: Date,
    ) -> Result<Vec<Contact>>;

    /// A customer's open invoices, oldest due date first (an email lists the others).
    async fn open_invoices(&self, tenant: &TenantId, customer: &str) -> Result<Vec<InvoiceRecord>>;
    /// Records that the tenant's customer opted out of `channel` (a one-click unsubscribe);
    /// a channel already opted out of stays so, so a repeated request changes nothing.
    /// `false` if the tenant has no such customer.
    async fn opt_out(&self, tenant: &TenantId, customer: &str, channel: Channel) -> Result<bool>;

    // ---- The outbox: the delivery worker's claims and results (`crate::outbox`) ---------

    /// Leases up to `claim.limit` of the tenant's due actions (pending, next attempt due,
    /// not leased by a live worker) in id order, plus, when consolidating, the same
    /// customers' other due email notices of the same day; returns them with their
    /// decision, invoice and customer as they stand now. Safe with several workers on one
    /// database: each action goes to one claim until its lease expires.
    async fn claim_actions(&self, tenant: &TenantId, claim: &Claim) -> Result<Vec<ClaimedAction>>;
    /// Writes the results of claimed actions, stamped `at` (the worker's clock, which the
    /// contact cap counts by), and logs their attempts, in one transaction. A result whose
    /// lease was lost (claimed again after expiry, or the action withdrawn) is not written;
    /// its attempts are logged all the same.
    async fn finish_actions(
        &self,
        tenant: &TenantId,
        worker: &str,
        at: DateTime<Utc>,
        results: &[Finished],
    ) -> Result<FinishSummary>;
    /// The tenant's outbox, by id.
    async fn outbox(&self, tenant: &TenantId, query: &OutboxQuery) -> Result<Vec<OutboxEntry>>;
    /// The tenant's actions, by id, with [`ActionQuery`]'s filters.
    async fn actions(&self, tenant: &TenantId, query: &ActionQuery) -> Result<Vec<OutboxEntry>>;
    /// The logged attempts of the tenant's actions `ids`, oldest first.
    async fn delivery_attempts(&self, tenant: &TenantId, ids: &[i64])
        -> Result<Vec<AttemptRecord>>;
    /// Records what the tenant's systems made of its action `id` ([`crate::outcome`]): the
    /// action's status and reported outcome, and for a declined retry the invoice's failed
    /// collection, in one ledger write. The same report again changes nothing; a report that
    /// does not fit the action or its status is refused with the reason.
    async fn report_outcome(
        &self,
        tenant: &TenantId,
        id: i64,
        report: &OutcomeReport,
    ) -> Result<ReportResult>;
    /// Puts failed or dead actions back in the queue, attempts reset; returns how many.
    async fn requeue_actions(&self, tenant: &TenantId, which: &Requeue) -> Result<u64>;
    /// How the tenant's outbox stands: pending actions, the oldest one's age, dead letters.
    async fn outbox_backlog(&self, tenant: &TenantId) -> Result<Backlog>;

    // ---- The sweep's fast path ---------------------------------------------------------
    // Only a sweep calls these (its types are in `crate::sweep`): it encodes outcomes on its
    // own threads and writes up to `write_lanes` batches at once. Everyone else records with
    // `record_batch`, which encodes and calls `record_encoded`.

    /// How many [`Db::record_encoded`] calls for one tenant may usefully run at once: one
    /// where the database has a single writer (SQLite), more where writers of disjoint rows
    /// proceed side by side (PostgreSQL). Concurrent calls stay correct on every backend;
    /// this only says whether they gain anything.
    fn write_lanes(&self) -> usize {
        1
    }
    /// Where the tenant's ledger stands: read it before [`Db::due_for_review`] and hand it to
    /// [`Db::record_encoded`] with the page's outcomes.
    async fn ledger_mark(&self, tenant: &TenantId) -> Result<LedgerMark>;
    /// [`Db::record_batch`] for outcomes encoded beforehand (on the caller's threads), with
    /// the [`LedgerMark`] of the page they were decided on: an outcome whose invoice's ledger
    /// changed after the mark (a payment, dispute, plan or invoice update written since) is
    /// dropped, nothing of it written, and the invoice stays due. The check and the ledger
    /// writes exclude each other, so no pending action is written for an invoice a ledger
    /// write has closed or disputed. Without a mark, outcomes are recorded as given.
    /// The shadow answers the outcomes carry ([`EncodedOutcome::encode_with_shadows`]) are
    /// written as [`Db::record_shadow`] writes them, beside the decisions this call writes,
    /// in a savepoint of the same transaction: a failure there is logged, writes no shadow
    /// answer of the batch ([`Written::shadowed`] 0) and leaves the live rows to commit.
    async fn record_encoded(
        &self,
        tenant: &TenantId,
        outcomes: Vec<EncodedOutcome>,
        read_at: Option<LedgerMark>,
    ) -> Result<Written>;

    // Delivery configuration: settings, templates, webhook endpoints.
    // The settings are `TenantSettings::delivery`, stored with the tenant; the rest are rows
    // of their own. What a template renders and which URLs and events an endpoint may have
    // are checked by `dunlin-delivery` before these are called; the store checks bounds.

    /// Stores templates, each replacing the tenant's template of its id and locale (all three
    /// parts in one row), in one transaction: every row or none. Returns how many.
    async fn put_templates(&self, tenant: &TenantId, rows: &[TemplateRow]) -> Result<usize>;
    /// Stores one template, replacing the one of its id and locale.
    async fn put_template(&self, tenant: &TenantId, row: &TemplateRow) -> Result<()> {
        self.put_templates(tenant, std::slice::from_ref(row))
            .await
            .map(|_| ())
    }
    /// The tenant's templates, by id and then locale.
    async fn templates(&self, tenant: &TenantId) -> Result<Vec<TemplateRow>>;
    /// The tenant's template of this id and locale.
    async fn template(
        &self,
        tenant: &TenantId,
        id: &str,
        locale: &str,
    ) -> Result<Option<TemplateRow>>;
    /// Deletes the tenant's template of this id and locale; whether there was one.
    async fn delete_template(&self, tenant: &TenantId, id: &str, locale: &str) -> Result<bool>;
    /// Adds a webhook endpoint; fails with `EndpointExists` if the tenant has its id.
    async fn add_endpoint(&self, tenant: &TenantId, endpoint: &NewEndpoint) -> Result<EndpointRow>;
    /// The tenant's webhook endpoints, by id.
    async fn endpoints(&self, tenant: &TenantId) -> Result<Vec<EndpointRow>>;
    /// One of the tenant's webhook endpoints.
    async fn endpoint(&self, tenant: &TenantId, id: &str) -> Result<Option<EndpointRow>>;
    /// Removes a webhook endpoint; whether there was one.
    async fn remove_endpoint(&self, tenant: &TenantId, id: &str) -> Result<bool>;
    /// Makes `new_secret` the endpoint's secret; the current one becomes the previous secret,
    /// which keeps signing until `previous_until`. `None` if the tenant has no such endpoint.
    async fn rotate_endpoint_secret(
        &self,
        tenant: &TenantId,
        id: &str,
        new_secret: &str,
        previous_until: DateTime<Utc>,
    ) -> Result<Option<EndpointRow>>;
}
