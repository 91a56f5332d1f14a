//! The PostgreSQL backend, for shared deployments with several `dunlin serve` replicas.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use chrono::{DateTime, Utc};
use dunlin_core::Date;

use crate::error::{redact, QueryContext};
use crate::{EncodedOutcome, Outcome, Result, StoreError, TenantId};

/// The sqlx database `sql.rs` is compiled for here.
type Driver = sqlx::Postgres;
/// The handle `sql.rs` implements [`crate::Db`] for here.
type This = PgDb;
const BACKEND: crate::Backend = crate::Backend::Postgres;

/// The aggregate that turns a query's rows into one JSON array of arrays, ordered by
/// `order_by`, in a column named `rows` (`[]` when there are none).
fn json_rows(fields: &str, order_by: &str) -> String {
    format!(
        "COALESCE(json_agg(json_build_array({fields}) ORDER BY {order_by})::text, '[]') AS rows"
    )
}

type Tx = sqlx::Transaction<'static, Driver>;

/// Decisions of a batch as one `INSERT … SELECT FROM UNNEST`: one array per column, so the
/// statement has 14 parameters whatever the batch size.
async fn insert_decisions(
    tx: &mut Tx,
    tenant: &TenantId,
    rows: &[&EncodedOutcome],
    at: DateTime<Utc>,
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let col = |f: &dyn for<'e> Fn(&'e EncodedOutcome) -> Option<&'e str>| -> Vec<Option<&str>> {
        rows.iter().map(|e| f(e)).collect()
    };
    let invoice: Vec<&str> = rows
        .iter()
        .map(|e| e.outcome.context.invoice.id.as_str())
        .collect();
    let as_of: Vec<Date> = rows.iter().map(|e| e.outcome.context.as_of).collect();
    let version: Vec<Option<i64>> = rows
        .iter()
        .map(|e| e.outcome.policy.as_ref().map(|p| i64::from(p.version)))
        .collect();
    let sha = col(&|e| e.outcome.policy.as_ref().map(|p| p.sha256.as_str()));
    let context: Vec<&[u8]> = rows.iter().map(|e| e.context.as_slice()).collect();
    let decision = col(&|e| e.decision.as_deref());
    let reason: Vec<&str> = rows.iter().map(|e| e.outcome.reason.as_str()).collect();
    let interventions: Vec<&str> = rows.iter().map(|e| e.interventions.as_str()).collect();
    let fuel: Vec<Option<i64>> = rows
        .iter()
        .map(|e| e.outcome.fuel_used.map(sql::to_i64))
        .collect();
    let duration: Vec<Option<i64>> = rows
        .iter()
        .map(|e| e.outcome.duration_us.map(sql::to_i64))
        .collect();
    let code = col(&|e| e.outcome.failure.as_ref().map(|f| f.code.as_str()));
    let message = col(&|e| e.outcome.failure.as_ref().map(|f| f.message.as_str()));
    sqlx::query(
        "INSERT INTO decisions (tenant_id, invoice_id, as_of, policy_version, policy_sha256, \
         context, decision, reason, interventions, fuel_used, duration_us, failure_code, \
         failure_message, created_at) \
         SELECT $1, * , $14 FROM UNNEST($2::text[], $3::date[], $4::int8[], $5::text[], \
         $6::bytea[], $7::text[], $8::text[], $9::text[], $10::int8[], $11::int8[], $12::text[], \
         $13::text[])",
    )
    .bind(tenant.as_str())
    .bind(invoice)
    .bind(as_of)
    .bind(version)
    .bind(sha)
    .bind(context)
    .bind(decision)
    .bind(reason)
    .bind(interventions)
    .bind(fuel)
    .bind(duration)
    .bind(code)
    .bind(message)
    .bind(at)
    .execute(&mut **tx)
    .await
    .ctx("record decisions")?;
    Ok(())
}

/// Actions of a batch as one `INSERT … SELECT FROM UNNEST`.
async fn insert_actions(
    tx: &mut Tx,
    tenant: &TenantId,
    rows: &[sql::NewAction<'_>],
    at: DateTime<Utc>,
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let invoice: Vec<&str> = rows
        .iter()
        .map(|a| a.outcome.context.invoice.id.as_str())
        .collect();
    let as_of: Vec<Date> = rows.iter().map(|a| a.outcome.context.as_of).collect();
    let ordinal: Vec<i64> = rows.iter().map(|a| a.ordinal).collect();
    let customer: Vec<&str> = rows
        .iter()
        .map(|a| a.outcome.context.customer.id.as_str())
        .collect();
    let kind: Vec<String> = rows.iter().map(|a| a.kind()).collect();
    let channel: Vec<Option<&str>> = rows
        .iter()
        .map(|a| a.notice().map(|n| n.channel.as_str()))
        .collect();
    let level: Vec<Option<i64>> = rows
        .iter()
        .map(|a| a.notice().map(|n| i64::from(n.level)))
        .collect();
    let tone: Vec<Option<&str>> = rows
        .iter()
        .map(|a| a.notice().map(|n| n.tone.as_str()))
        .collect();
    let payload: Vec<&str> = rows.iter().map(|a| a.payload).collect();
    let status: Vec<&str> = rows.iter().map(|a| a.status.as_str()).collect();
    sqlx::query(
        "INSERT INTO actions (tenant_id, invoice_id, as_of, ordinal, customer_id, kind, channel, \
         level, tone, payload, status, attempts, created_at, updated_at) \
         SELECT $1, *, 0, $12, $12 FROM UNNEST($2::text[], $3::date[], $4::int8[], $5::text[], \
         $6::text[], $7::text[], $8::int8[], $9::text[], $10::text[], $11::text[])",
    )
    .bind(tenant.as_str())
    .bind(invoice)
    .bind(as_of)
    .bind(ordinal)
    .bind(customer)
    .bind(kind)
    .bind(channel)
    .bind(level)
    .bind(tone)
    .bind(payload)
    .bind(status)
    .bind(at)
    .execute(&mut **tx)
    .await
    .ctx("record actions")?;
    Ok(())
}

/// New ladder states of a batch as one upsert from `UNNEST`.
async fn upsert_states(
    tx: &mut Tx,
    tenant: &TenantId,
    rows: &[&Outcome],
    at: DateTime<Utc>,
) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let invoice: Vec<&str> = rows.iter().map(|o| o.context.invoice.id.as_str()).collect();
    let level: Vec<i64> = rows.iter().map(|o| i64::from(o.state.level)).collect();
    let last: Vec<Option<Date>> = rows.iter().map(|o| o.state.last_action_on).collect();
    let next: Vec<Option<Date>> = rows.iter().map(|o| o.state.next_review_on).collect();
    let version: Vec<Option<i64>> = rows
        .iter()
        .map(|o| o.state.policy_version.map(i64::from))
        .collect();
    let paused: Vec<Option<Date>> = rows.iter().map(|o| o.state.paused_until).collect();
    let why: Vec<Option<&str>> = rows.iter().map(|o| o.state.paused_why.as_deref()).collect();
    let ended: Vec<bool> = rows.iter().map(|o| o.state.ended).collect();
    let statement = format!(
        "INSERT INTO dunning_state (tenant_id, invoice_id, level, last_action_on, \
         next_review_on, policy_version, paused_until, paused_why, ended, updated_at) \
         SELECT $1, *, $10 FROM UNNEST($2::text[], $3::int8[], $4::date[], $5::date[], \
         $6::int8[], $7::date[], $8::text[], $9::bool[]){}",
        sql::STATE_CONFLICT
    );
    sqlx::query(&statement)
        .bind(tenant.as_str())
        .bind(invoice)
        .bind(level)
        .bind(last)
        .bind(next)
        .bind(version)
        .bind(paused)
        .bind(why)
        .bind(ended)
        .bind(at)
        .execute(&mut **tx)
        .await
        .ctx("record dunning state")?;
    Ok(())
}

/// Refreshes the planner's statistics after a bulk load, on every table of ours, the
/// decision log included even when it is empty: a table that was never analysed gets the
/// planner's default guesses, and with those the first sweeps after a load chose plans that
/// scanned the growing `decisions` table for every page (1M invoices: 217 s). `VACUUM` as
/// well: a freshly loaded table's rows are not yet marked visible to all, and the first sweep
/// then pays for that, beside autovacuum doing it (1M invoices right after a load: 98 and
/// 102 s a sweep; 87 s with this; 64 s on a load vacuumed long before).
const REFRESH_STATISTICS: &str = "VACUUM (ANALYZE) tenants, policy_versions, customers, \
     invoices, payments, disputes, payment_plans, dunning_state, decisions, actions";

// Deliberately compiled once per backend: see the top of sql.rs.
#[allow(clippy::duplicate_mod)]
#[path = "sql.rs"]
mod sql;

/// [`crate::Db`] on a PostgreSQL database.
#[derive(Clone, Debug)]
pub struct PgDb {
    pool: PgPool,
}

impl PgDb {
    /// Connects to and migrates the database at `url` (`postgres://user:pass@host/db`).
    pub async fn connect(url: &str) -> Result<Self> {
        let options = PgConnectOptions::from_str(url).map_err(|source| StoreError::Connect {
            url: redact(url),
            source,
        })?;
        Self::connect_with(options, url).await
    }

    /// Connects with ready-made options; `url` is only for error messages.
    pub async fn connect_with(options: PgConnectOptions, url: &str) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Connect {
                url: redact(url),
                source,
            })?;
        // sqlx takes an advisory lock while migrating, so replicas starting together are safe.
        sqlx::migrate!("migrations/postgres")
            .run(&pool)
            .await
            .map_err(StoreError::Migrate)?;
        Ok(PgDb { pool })
    }

    /// The connection pool, for tools and benchmarks that need raw access.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Driver>> {
        self.pool.begin().await.ctx("begin")
    }
}
