//! The SQLite backend: one file, WAL, foreign keys on. The default.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::error::{redact, QueryContext};
use crate::{Result, StoreError};

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
