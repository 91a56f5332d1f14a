//! The SQLite backend: one file, WAL, foreign keys on. The default.

mod checkpoint;
mod direct;
mod recorded;

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::codec;
use crate::error::{redact, QueryContext};
use crate::replay::{RecordedDecision, RecordedQuery};
use crate::sweep::{EncodedOutcome, LedgerMark, Written};
use crate::{DuePage, DueQuery, Result, StoreError, TenantId};
use direct::Direct;

/// The sqlx database `sql.rs` is compiled for here.
type Driver = sqlx::Sqlite;
/// The handle `sql.rs` implements [`crate::Db`] for here.
type This = SqliteDb;

/// The schema's migrations, embedded: run on open, compared by `Db::ready`.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
const BACKEND: crate::Backend = crate::Backend::Sqlite;
/// [`crate::Db::write_lanes`]: SQLite has one writer at a time, so a second batch would only
/// wait for the lock.
const WRITE_LANES: usize = 1;

/// The page size of a new database file; a file keeps the size it was made with (older files
/// have 4 KiB). Larger pages mean fewer B-tree pages to find, split and log per row: the
/// sweep's three rows per invoice cost a standalone writer 5.7 to 6.1 µs with 16 KiB pages
/// against 6.6 to 7.0 µs with 4 KiB, and a sweep of 1M invoices took 5 to 9 % less time
/// (docs/benchmarks.md#16-kib-pages).
const PAGE_SIZE: u32 = 16384;

/// How long a statement waits for another connection's lock before it fails as busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Sets a pool connection's `wal_autocheckpoint` to
/// [`checkpoint::POOL_AUTOCHECKPOINT_BYTES`] in the file's own pages, as the sweep's
/// connections do with theirs: a file made before 16 KiB pages keeps its 4 KiB ones.
async fn bound_the_wal(conn: &mut sqlx::SqliteConnection) -> sqlx::Result<()> {
    let page_size: i64 = sqlx::query_scalar("PRAGMA page_size")
        .fetch_one(&mut *conn)
        .await?;
    let page_size = u64::try_from(page_size)
        .map_err(|_| sqlx::Error::Protocol(format!("SQLite reports a page size of {page_size}")))?;
    let pages = checkpoint::autocheckpoint_pages(checkpoint::POOL_AUTOCHECKPOINT_BYTES, page_size);
    sqlx::query(&format!("PRAGMA wal_autocheckpoint = {pages}"))
        .execute(conn)
        .await?;
    Ok(())
}

/// Reads a page on the sweep's own connections (see [`direct`]).
async fn due_for_review(db: &SqliteDb, tenant: &TenantId, query: &DueQuery) -> Result<DuePage> {
    let (tenant, query, store) = (tenant.clone(), query.clone(), db.direct.id());
    db.direct
        .run("select invoices due for review", move |conn| {
            direct::due_page(conn, store, &tenant, &query)
        })
        .await
}

/// Records a batch on the sweep's own connections (see [`direct`]).
///
/// The batch is freed on a thread of its own: freeing 2,000 outcomes (each with its whole
/// context: history, maps, strings) took 0.46 to 0.50 s of the single writer's 3.5 s per
/// 200,000 invoices, time in which it could have started on the next batch.
async fn record_encoded(
    db: &SqliteDb,
    tenant: &TenantId,
    outcomes: Vec<EncodedOutcome>,
    read_at: Option<LedgerMark>,
) -> Result<Written> {
    let (tenant, store) = (tenant.clone(), db.direct.id());
    let writing = db.direct.writing().await;
    let at = codec::now();
    let (summary, outcomes) = db
        .direct
        .run("record decisions", move |conn| {
            let seen = read_at.and_then(|m| m.seq_of(&tenant));
            direct::record(conn, store, &tenant, &outcomes, seen, at)
                .map(|summary| (summary, outcomes))
        })
        .await?;
    drop(writing);
    db.direct.committed();
    drop(tokio::task::spawn_blocking(move || drop(outcomes)));
    Ok(summary)
}

/// Reads a page of the decision log on the sweep's own connections (see [`recorded`]).
async fn recorded_decisions(
    db: &SqliteDb,
    tenant: &TenantId,
    query: &RecordedQuery,
) -> Result<Vec<RecordedDecision>> {
    let (tenant, query) = (tenant.clone(), query.clone());
    db.direct
        .run("read recorded decisions", move |conn| {
            recorded::recorded_decisions(conn, &tenant, &query)
        })
        .await
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
    /// The sweep's own connections to the same file.
    direct: Arc<Direct>,
}

impl SqliteDb {
    /// Opens (creating if missing) and migrates the database at `url`: `sqlite://PATH`.
    pub async fn connect(url: &str) -> Result<Self> {
        let connect_err = |source| StoreError::Connect {
            url: redact(url),
            source,
        };
        // The sweep's connections open the file by name, so an in-memory database, which
        // lives inside one connection, cannot work.
        if url.contains(":memory:") || url.contains("mode=memory") {
            return Err(StoreError::UnsupportedUrl { url: redact(url) });
        }
        // WAL lets readers (the API, the dashboard) run beside the sweep's writes; NORMAL
        // sync is durable across process crashes, which is what WAL needs.
        let options = SqliteConnectOptions::from_str(url)
            .map_err(connect_err)?
            .create_if_missing(true)
            .page_size(PAGE_SIZE)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal);
        let path = options.get_filename().to_path_buf();
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .after_connect(|conn, _| Box::pin(bound_the_wal(conn)))
            .connect_with(options)
            .await
            .map_err(connect_err)?;
        MIGRATOR.run(&pool).await.map_err(StoreError::Migrate)?;
        Ok(SqliteDb {
            pool,
            direct: Arc::new(Direct::new(path)),
        })
    }

    /// Copies everything in the WAL into the database file and empties the WAL, waiting for
    /// readers and writers as needed: afterwards the database file alone holds all committed
    /// data (e.g. to copy it). [`StoreError::CheckpointBlocked`] if a reader or writer kept the
    /// WAL in use for longer than the busy timeout.
    pub async fn checkpoint(&self) -> Result<()> {
        // A reader or writer in the way makes SQLite wait on the busy timeout, then report
        // busy; another checkpoint under way (the checkpoint thread's, or another process's)
        // makes it report busy at once, without waiting. So try again, as long as the first
        // would have waited.
        let deadline = Instant::now() + BUSY_TIMEOUT;
        loop {
            let (busy, pages, copied): (i64, i64, i64) =
                sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                    .fetch_one(&self.pool)
                    .await
                    .ctx("checkpoint")?;
            if busy == 0 {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(StoreError::CheckpointBlocked { pages, copied });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
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

    /// The sweep's write turn ([`direct::Direct::writing`]), for a write a sweep makes
    /// through sqlx beside its batches (the shadow answers): taking it in turn keeps the two
    /// from meeting in SQLite's busy handler, which sleeps for milliseconds.
    async fn sweep_write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        Some(self.direct.writing().await)
    }

    /// [`crate::Db::close`]: the sqlx pool and the sweep's own connections.
    async fn close_connections(&self) {
        self.pool.close().await;
        if let Some(thread) = self.direct.close() {
            // The thread may be finishing a checkpoint: wait for it off the runtime.
            if tokio::task::spawn_blocking(move || checkpoint::join(thread))
                .await
                .is_err()
            {
                tracing::warn!("the runtime stopped before the checkpoint thread was joined");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{checkpoint, direct, SqliteDb};
    use crate::Db;

    /// Each kind of connection's `wal_autocheckpoint`, in pages: the sqlx pool's and the
    /// sweep's own.
    async fn bounds(db: &SqliteDb, path: &std::path::Path) -> (i64, i64) {
        let pool: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        let conn = direct::open(path).unwrap();
        let sweep: i64 = conn
            .pragma_query_value(None, "wal_autocheckpoint", |r| r.get(0))
            .unwrap();
        // The sweep's connections also read the file through a memory map.
        let mapped: i64 = conn
            .pragma_query_value(None, "mmap_size", |r| r.get(0))
            .unwrap();
        assert!(mapped >= 1 << 30, "mmap_size {mapped}");
        (pool, sweep)
    }

    /// `.cargo/config.toml` builds SQLite without `SQLITE_ENABLE_MEMORY_MANAGEMENT`; both
    /// drivers link that one library.
    #[tokio::test]
    async fn sqlite_is_built_without_the_shared_page_cache() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("options.db");
        let db = SqliteDb::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        let from_sqlx: Vec<String> = sqlx::query_scalar("PRAGMA compile_options")
            .fetch_all(&db.pool)
            .await
            .unwrap();
        let conn = direct::open(&path).unwrap();
        let mut stmt = conn.prepare("PRAGMA compile_options").unwrap();
        let from_rusqlite: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(from_sqlx, from_rusqlite, "two SQLite libraries are linked");
        assert!(
            from_sqlx.iter().any(|o| o.starts_with("THREADSAFE=")),
            "no compile options read: {from_sqlx:?}"
        );
        assert!(
            !from_sqlx.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"),
            "SQLite was built with SQLITE_ENABLE_MEMORY_MANAGEMENT: build inside the repository \
             so that .cargo/config.toml applies, and without a LIBSQLITE3_FLAGS of your own \
             (it was {:?})",
            option_env!("LIBSQLITE3_FLAGS")
        );
        drop(stmt);
        drop(conn);
        db.close().await;
    }

    #[tokio::test]
    async fn both_kinds_of_connection_bound_the_wal_in_bytes_of_the_files_own_pages() {
        let dir = tempfile::tempdir().unwrap();
        let pages = |bytes: u64, page: u64| (bytes / page) as i64;
        // A new file gets 16 KiB pages; one made with 4 KiB pages before Dunlin chose 16 KiB
        // keeps them, and the same bytes are four times the pages.
        let old = dir.path().join("old.db");
        rusqlite::Connection::open(&old)
            .unwrap()
            .execute_batch("PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; CREATE TABLE t (x)")
            .unwrap();
        for (path, page) in [(dir.path().join("new.db"), 16384), (old, 4096)] {
            let db = SqliteDb::connect(&format!("sqlite://{}", path.display()))
                .await
                .unwrap();
            assert_eq!(
                bounds(&db, &path).await,
                (
                    pages(checkpoint::POOL_AUTOCHECKPOINT_BYTES, page),
                    pages(checkpoint::WRITER_AUTOCHECKPOINT_BYTES, page)
                ),
                "{path:?}"
            );
            db.close().await;
        }
    }
}
