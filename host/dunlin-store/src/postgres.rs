//! The PostgreSQL backend, for shared deployments with several `dunlin serve` replicas.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::error::{redact, QueryContext};
use crate::{Result, StoreError};

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
