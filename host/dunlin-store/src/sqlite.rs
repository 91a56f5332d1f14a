//! The SQLite backend: one file, WAL, foreign keys on. The default.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

use crate::error::{redact, QueryContext};
use crate::{EncodedOutcome, Outcome, Result, StoreError, TenantId};

/// The sqlx database `sql.rs` is compiled for here.
type Driver = sqlx::Sqlite;
/// The handle `sql.rs` implements [`crate::Db`] for here.
type This = SqliteDb;
const BACKEND: crate::Backend = crate::Backend::Sqlite;

/// The aggregate that turns a query's rows into one JSON array of arrays, ordered by
/// `order_by`, in a column named `rows` (`[]` when there are none).
fn json_rows(fields: &str, order_by: &str) -> String {
    format!("json_group_array(json_array({fields}) ORDER BY {order_by}) AS rows")
}

/// Rows per multi-row `INSERT` when recording a batch: well under SQLite's limit on bound
/// parameters (14 per row), large enough that a statement carries real work.
const CHUNK: usize = 500;

type Tx = sqlx::Transaction<'static, Driver>;

/// Decisions of a batch as multi-row `INSERT`s.
async fn insert_decisions(
    tx: &mut Tx,
    tenant: &TenantId,
    rows: &[&EncodedOutcome],
    at: DateTime<Utc>,
) -> Result<()> {
    for chunk in rows.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Driver>::new(
            "INSERT INTO decisions (tenant_id, invoice_id, as_of, policy_version, \
             policy_sha256, context, decision, reason, interventions, fuel_used, duration_us, \
             failure_code, failure_message, created_at) ",
        );
        qb.push_values(chunk, |mut b, e| {
            let o = &e.outcome;
            b.push_bind(tenant.as_str())
                .push_bind(o.context.invoice.id.as_str())
                .push_bind(o.context.as_of)
                .push_bind(o.policy.as_ref().map(|p| i64::from(p.version)))
                .push_bind(o.policy.as_ref().map(|p| p.sha256.as_str()))
                .push_bind(e.context.as_slice())
                .push_bind(e.decision.as_deref())
                .push_bind(o.reason.as_str())
                .push_bind(e.interventions.as_str())
                .push_bind(o.fuel_used.map(sql::to_i64))
                .push_bind(o.duration_us.map(sql::to_i64))
                .push_bind(o.failure.as_ref().map(|f| f.code.as_str()))
                .push_bind(o.failure.as_ref().map(|f| f.message.as_str()))
                .push_bind(at);
        });
        qb.build()
            .execute(&mut **tx)
            .await
            .ctx("record decisions")?;
    }
    Ok(())
}

/// Actions of a batch as multi-row `INSERT`s.
async fn insert_actions(
    tx: &mut Tx,
    tenant: &TenantId,
    rows: &[sql::NewAction<'_>],
    at: DateTime<Utc>,
) -> Result<()> {
    for chunk in rows.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Driver>::new(
            "INSERT INTO actions (tenant_id, invoice_id, as_of, ordinal, customer_id, kind, \
             channel, level, tone, payload, status, attempts, created_at, updated_at) ",
        );
        qb.push_values(chunk, |mut b, a| {
            let notice = a.notice();
            b.push_bind(tenant.as_str())
                .push_bind(a.outcome.context.invoice.id.as_str())
                .push_bind(a.outcome.context.as_of)
                .push_bind(a.ordinal)
                .push_bind(a.outcome.context.customer.id.as_str())
                .push_bind(a.kind())
                .push_bind(notice.map(|n| n.channel.as_str()))
                .push_bind(notice.map(|n| i64::from(n.level)))
                .push_bind(notice.map(|n| n.tone.as_str()))
                .push_bind(a.payload)
                .push_bind(a.status.as_str())
                .push_bind(0_i64)
                .push_bind(at)
                .push_bind(at);
        });
        qb.build().execute(&mut **tx).await.ctx("record actions")?;
    }
    Ok(())
}

/// New ladder states of a batch as multi-row upserts.
async fn upsert_states(
    tx: &mut Tx,
    tenant: &TenantId,
    rows: &[&Outcome],
    at: DateTime<Utc>,
) -> Result<()> {
    for chunk in rows.chunks(CHUNK) {
        let mut qb = QueryBuilder::<Driver>::new(
            "INSERT INTO dunning_state (tenant_id, invoice_id, level, last_action_on, \
             next_review_on, policy_version, paused_until, paused_why, ended, updated_at) ",
        );
        qb.push_values(chunk, |mut b, o| {
            let s = &o.state;
            b.push_bind(tenant.as_str())
                .push_bind(o.context.invoice.id.as_str())
                .push_bind(i64::from(s.level))
                .push_bind(s.last_action_on)
                .push_bind(s.next_review_on)
                .push_bind(s.policy_version.map(i64::from))
                .push_bind(s.paused_until)
                .push_bind(s.paused_why.as_deref())
                .push_bind(s.ended)
                .push_bind(at);
        });
        qb.push(sql::STATE_CONFLICT);
        qb.build()
            .execute(&mut **tx)
            .await
            .ctx("record dunning state")?;
    }
    Ok(())
}

/// Refreshes the planner's statistics after a bulk load.
const REFRESH_STATISTICS: &str = "PRAGMA optimize";

// Deliberately compiled once per backend: see the top of sql.rs.
#[allow(clippy::duplicate_mod)]
#[path = "sql.rs"]
mod sql;

/// [`crate::Db`] on an embedded SQLite database.
#[derive(Clone, Debug)]
pub struct SqliteDb {
    pool: SqlitePool,
}

impl SqliteDb {
    /// Opens (creating if missing) and migrates the database at `url`: `sqlite://PATH` or
    /// `sqlite::memory:`.
    pub async fn connect(url: &str) -> Result<Self> {
        let connect_err = |source| StoreError::Connect {
            url: redact(url),
            source,
        };
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let options = SqliteConnectOptions::from_str(url)
            .map_err(connect_err)?
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let options = if in_memory {
            options
        } else {
            // WAL lets readers (the API, the dashboard) run beside the sweep's writes;
            // NORMAL sync is durable across process crashes, which is what WAL needs.
            options
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .pragma("wal_autocheckpoint", "10000")
        };
        // An in-memory database lives as long as its one connection: never let it go.
        let pool = if in_memory {
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            SqlitePoolOptions::new().max_connections(4)
        }
        .connect_with(options)
        .await
        .map_err(connect_err)?;
        sqlx::migrate!("migrations/sqlite")
            .run(&pool)
            .await
            .map_err(StoreError::Migrate)?;
        Ok(SqliteDb { pool })
    }

    /// Copies everything in the WAL into the database file and empties the WAL, waiting for
    /// readers and writers as needed: afterwards the database file alone holds all committed
    /// data (e.g. to copy it).
    pub async fn checkpoint(&self) -> Result<()> {
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await
            .ctx("checkpoint")?;
        Ok(())
    }

    /// The connection pool, for tools and benchmarks that need raw access.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Starts a write transaction. `BEGIN IMMEDIATE` takes the write lock up front, so two
    /// writers queue on the busy timeout instead of one failing when it upgrades its lock.
    async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Driver>> {
        self.pool.begin_with("BEGIN IMMEDIATE").await.ctx("begin")
    }
}
