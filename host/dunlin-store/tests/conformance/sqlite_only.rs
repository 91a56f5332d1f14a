//! Tests of what only SQLite has: the sweep's receipts, the WAL and its checkpoints, page
//! sizes and the migrations of its own schema. Each opens its own files.

use dunlin_core::Context;
use dunlin_store::testing::{date as d, Fixture};
use dunlin_store::{
    ActionStatus, DecisionQuery, DueQuery, Outcome, PlannedAction, StoreError, TenantSettings,
};

use crate::data::{
    first_reminders, first_reminders_with_receipts, notice, outcome, seed, settings, tid,
};

/// SQLite only: a receipt vouches only in the store that issued it. Another store with the
/// same tenant but not the invoice refuses the outcome.
#[tokio::test]
async fn sqlite_a_receipt_from_another_store_vouches_for_nothing() {
    use dunlin_store::Db as _;
    let dir = tempfile::tempdir().expect("temp dir");
    let (_first, page) = sqlite_with_a_due_page(&dir.path().join("first.db")).await;
    let other = dunlin_store::SqliteDb::connect(&format!(
        "sqlite://{}",
        dir.path().join("other.db").display()
    ))
    .await
    .expect("open");
    other
        .create_tenant(&tid("acme"), &settings())
        .await
        .expect("tenant");
    let outcomes = first_reminders_with_receipts(&page);
    assert!(outcomes.iter().all(|o| o.receipt.is_some()));
    let err = other
        .record_batch(&tid("acme"), &outcomes)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::UnknownInvoice { invoice, .. } if invoice == "i1"),
        "{err:?}"
    );
}

/// SQLite only: a checkpoint leaves every committed row in the database file and the WAL
/// empty, so the file alone can be copied.
#[tokio::test]
async fn sqlite_checkpoint_empties_the_wal_into_the_database_file() {
    use dunlin_store::Db as _;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("dunlin.db");
    let db = dunlin_store::SqliteDb::connect(&format!("sqlite://{}", file.display()))
        .await
        .expect("open");
    let acme = tid("acme");
    db.create_tenant(&acme, &TenantSettings::default())
        .await
        .expect("tenant");
    let wal = dir.path().join("dunlin.db-wal");
    assert!(std::fs::metadata(&wal).expect("WAL").len() > 0);
    db.checkpoint().await.expect("checkpoint");
    assert_eq!(std::fs::metadata(&wal).expect("WAL").len(), 0);
    db.close().await;

    let copy = dir.path().join("copy.db");
    std::fs::copy(&file, &copy).expect("copy the file alone");
    let db = dunlin_store::SqliteDb::connect(&format!("sqlite://{}", copy.display()))
        .await
        .expect("open the copy");
    assert!(db.tenant(&acme).await.expect("read").is_some());
}

/// SQLite only: a checkpoint that cannot empty the WAL says so. A reader in the middle of a
/// transaction keeps the WAL in use: after the busy timeout (10 s) the checkpoint fails with
/// `CheckpointBlocked`, not as if the file alone were complete; once the reader is done, the
/// checkpoint empties the WAL.
#[tokio::test]
async fn sqlite_checkpoint_fails_while_a_reader_keeps_the_wal() {
    use dunlin_store::Db as _;
    use sqlx::{Connection, Executor};
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("dunlin.db").display());
    let db = dunlin_store::SqliteDb::connect(&url).await.expect("open");
    db.create_tenant(&tid("acme"), &TenantSettings::default())
        .await
        .expect("tenant");
    let mut reader = sqlx::SqliteConnection::connect(&url).await.expect("reader");
    reader.execute("BEGIN").await.expect("begin");
    let tenants: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tenants")
        .fetch_one(&mut reader)
        .await
        .expect("read");
    assert_eq!(tenants, 1);
    db.create_tenant(&tid("bolt"), &TenantSettings::default())
        .await
        .expect("tenant");

    let blocked = db.checkpoint().await;
    assert!(
        matches!(blocked, Err(StoreError::CheckpointBlocked { .. })),
        "{blocked:?}"
    );
    reader.execute("ROLLBACK").await.expect("end the read");
    db.checkpoint().await.expect("checkpoint");
    let wal = dir.path().join("dunlin.db-wal");
    assert_eq!(std::fs::metadata(&wal).expect("WAL").len(), 0);
    db.close().await;
}

/// SQLite only: a new file is made with 16 KiB pages; a file made before with 4 KiB pages
/// keeps them, and the sweep's own connections (which size the WAL's bound by the file's
/// page size) still read and record in it.
#[tokio::test]
async fn sqlite_new_files_get_16k_pages_and_older_files_keep_theirs() {
    use dunlin_store::Db as _;
    use sqlx::{Connection, Executor};
    let dir = tempfile::tempdir().expect("temp dir");
    let page_size = |path: std::path::PathBuf| async move {
        let url = format!("sqlite://{}", path.display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("open");
        sqlx::query_scalar::<_, i64>("PRAGMA page_size")
            .fetch_one(&mut conn)
            .await
            .expect("page size")
    };

    let new = dir.path().join("new.db");
    let (db, _) = sqlite_with_a_due_page(&new).await;
    db.close().await;
    assert_eq!(page_size(new).await, 16384);

    // An older file: 4 KiB pages, in WAL mode, before Dunlin ever opened it.
    let old = dir.path().join("old.db");
    let url = format!("sqlite://{}?mode=rwc", old.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("create");
    conn.execute("PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; CREATE TABLE t (x)")
        .await
        .expect("a 4 KiB file");
    conn.close().await.expect("close");
    let (db, page) = sqlite_with_a_due_page(&old).await;
    let acme = tid("acme");
    let outcomes = first_reminders_with_receipts(&page);
    let summary = db.record_batch(&acme, &outcomes).await.expect("record");
    assert_eq!(summary.recorded, outcomes.len());
    assert_eq!(
        db.decisions(&acme, &DecisionQuery::default())
            .await
            .expect("read")
            .len(),
        outcomes.len()
    );
    db.close().await;
    assert_eq!(page_size(old).await, 4096);
}

/// SQLite only: a seeded store in the file at `path` and its first due page (2026-02-10).
async fn sqlite_with_a_due_page(
    path: &std::path::Path,
) -> (dunlin_store::SqliteDb, dunlin_store::DuePage) {
    use dunlin_store::Db as _;
    let db = dunlin_store::SqliteDb::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("open");
    let f = Fixture {
        db: std::sync::Arc::new(db.clone()),
        url: String::new(),
    };
    seed(&f, &tid("acme")).await;
    let page = db
        .due_for_review(&tid("acme"), &DueQuery::new(d("2026-02-10")))
        .await
        .expect("due");
    (db, page)
}

/// SQLite only: migration 3 rebuilds the decision log and the outbox (dropping
/// AUTOINCREMENT) and drops an unused index. A database written under migration 2 keeps every
/// decision and action with its id, new ids continue after the largest, and actions still
/// need their decision. Its decisions hold their own compressed contexts, as every decision
/// did before migration 5 put a sweep's contexts in chunks, and still read back the same.
#[tokio::test]
async fn sqlite_migration_3_keeps_the_log_its_ids_and_its_references() {
    use dunlin_store::Db as _;
    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
    use std::str::FromStr as _;

    let dir = tempfile::tempdir().expect("temp dir");
    let (written, old) = (dir.path().join("written.db"), dir.path().join("old.db"));

    // A ladder recorded through the store (latest schema): three decisions, four actions.
    let (db, page) = sqlite_with_a_due_page(&written).await;
    let acme = tid("acme");
    let mut outcomes: Vec<Outcome> = first_reminders(&page);
    outcomes[0].actions.push(PlannedAction {
        action: notice(2),
        status: ActionStatus::Blocked,
    });
    db.record_batch(&acme, &outcomes).await.expect("record");
    let a_week_on = |ctx: &Context| {
        let mut later = ctx.clone();
        later.as_of = d("2026-02-17");
        [outcome(&later, 2)]
    };
    db.record_batch(&acme, &a_week_on(&page.invoices[0].context))
        .await
        .expect("record a later day");
    let before = db
        .decisions(&acme, &DecisionQuery::default())
        .await
        .expect("log");
    assert_eq!(before.len(), 3);
    db.close().await;

    // The same rows in a database that has only the first two migrations (same columns but
    // for the decisions' chunk columns: there each decision holds its own compressed
    // context, as before migration 5).
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", old.display()))
        .expect("url")
        .create_if_missing(true)
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await
        .expect("open old");
    let mut first_two = sqlx::migrate!("migrations/sqlite");
    first_two.migrations = first_two.migrations[..2].to_vec().into();
    first_two.run(&pool).await.expect("migrations 1 and 2");
    sqlx::query("ATTACH DATABASE ? AS src")
        .bind(written.display().to_string())
        .execute(&pool)
        .await
        .expect("attach");
    for table in ["tenants", "customers", "invoices", "dunning_state"] {
        copy_old_columns(&pool, table).await;
    }
    sqlx::query(
        "INSERT INTO main.decisions SELECT id, tenant_id, invoice_id, as_of, policy_version, \
         policy_sha256, X'00', decision, reason, interventions, fuel_used, duration_us, \
         failure_code, failure_message, created_at FROM src.decisions",
    )
    .execute(&pool)
    .await
    .expect("decisions");
    for r in &before {
        let own = dunlin_store::compress_context(&r.context).expect("compress");
        sqlx::query("UPDATE main.decisions SET context = ? WHERE id = ?")
            .bind(own)
            .bind(r.id)
            .execute(&pool)
            .await
            .expect("a decision's own context");
    }
    copy_old_columns(&pool, "actions").await;
    sqlx::query("DETACH DATABASE src")
        .execute(&pool)
        .await
        .expect("detach");
    pool.close().await;

    // Migrated to the latest schema: the same log, ids and all.
    let db = dunlin_store::SqliteDb::connect(&format!("sqlite://{}", old.display()))
        .await
        .expect("migrate");
    let after = db
        .decisions(&acme, &DecisionQuery::default())
        .await
        .expect("log");
    assert_eq!(after, before);
    let (indexes,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM sqlite_master WHERE name = 'dunning_state_review' \
         OR sql LIKE '%AUTOINCREMENT%'",
    )
    .fetch_one(db.pool())
    .await
    .expect("schema");
    assert_eq!(indexes, 0, "the index and AUTOINCREMENT are gone");

    // New rows continue after the largest ids.
    db.record_batch(&acme, &a_week_on(&page.invoices[1].context))
        .await
        .expect("record after the migration");
    let log = db
        .decisions(&acme, &DecisionQuery::default())
        .await
        .expect("log");
    let newest = log.last().expect("a decision");
    let largest_decision = before.iter().map(|r| r.id).max().expect("ids");
    let largest_action = before
        .iter()
        .flat_map(|r| r.actions.iter().map(|a| a.id))
        .max()
        .expect("ids");
    assert_eq!(newest.id, largest_decision + 1);
    assert_eq!(newest.actions[0].id, largest_action + 1);

    // An action still needs its decision.
    let orphan = sqlx::query(
        "INSERT INTO actions (tenant_id, invoice_id, as_of, ordinal, customer_id, kind, \
         payload, status, created_at, updated_at) \
         VALUES ('acme', 'i1', '2030-01-01', 0, 'c1', 'wait', '{}', 'pending', 'now', 'now')",
    )
    .execute(db.pool())
    .await;
    assert!(
        orphan.is_err(),
        "an action without its decision: {orphan:?}"
    );
}

/// SQLite only: closing the handle closes every connection, the sweep's own included, so
/// SQLite folds the WAL back into the file and removes it.
#[tokio::test]
async fn sqlite_close_leaves_the_database_file_complete() {
    use dunlin_store::Db as _;
    let dir = tempfile::tempdir().expect("temp dir");
    let (db, page) = sqlite_with_a_due_page(&dir.path().join("dunlin.db")).await;
    let acme = tid("acme");
    let outcomes: Vec<Outcome> = first_reminders(&page);
    db.record_batch(&acme, &outcomes).await.expect("record");
    let wal = dir.path().join("dunlin.db-wal");
    assert!(wal.exists(), "a WAL while open");
    db.close().await;
    assert!(
        !wal.exists(),
        "the last connection to close removes the WAL"
    );
}

/// SQLite only: the pages a recorded batch commits reach the database file with nobody
/// asking. The checkpoint thread copies them; the writer's own checkpoint waits for a WAL of
/// 20,000 pages, and nothing here closes a connection (which would checkpoint too).
#[tokio::test]
async fn sqlite_recorded_batches_are_checkpointed_in_the_background() {
    use dunlin_store::Db as _;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("dunlin.db");
    let (db, page) = sqlite_with_a_due_page(&file).await;
    let size = || std::fs::metadata(&file).expect("the database file").len();
    let before = size();
    let summary = db
        .record_batch(&tid("acme"), &first_reminders(&page))
        .await
        .expect("record");
    assert_eq!(summary.recorded, page.invoices.len());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while size() <= before {
        assert!(
            std::time::Instant::now() < deadline,
            "the database file stayed at {before} bytes: nothing copied the WAL into it"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    db.close().await;
}

/// Copies `table` from the attached `src` into `main`, only the columns the older `main`
/// has: later migrations add some (`tenants.delivery`, the leases on `actions`).
async fn copy_old_columns(pool: &sqlx::SqlitePool, table: &str) {
    let columns: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info(?, 'main')")
        .bind(table)
        .fetch_all(pool)
        .await
        .expect(table);
    let columns = columns.join(", ");
    sqlx::query(&format!(
        "INSERT INTO main.{table} ({columns}) SELECT {columns} FROM src.{table}"
    ))
    .execute(pool)
    .await
    .expect(table);
}

/// SQLite only: a page of the decision log in id order walks `decisions_by_tenant_and_id`
/// (no sort of the tenant's whole log), and a read by invoice, ordered by `+id`, keeps the
/// (tenant, invoice, as-of) key. SQLite's planner has no statistics here, so which index
/// serves is decided by the query's shape; these are the shapes `decisions` and
/// `recorded_decisions` write.
#[tokio::test]
async fn sqlite_decision_pages_walk_ids_and_reads_by_invoice_keep_the_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dunlin_store::SqliteDb::connect(&format!(
        "sqlite://{}",
        dir.path().join("plan.db").display()
    ))
    .await
    .expect("open");
    let plan = |sql: &'static str| {
        let pool = db.pool().clone();
        async move {
            let rows: Vec<(i64, i64, i64, String)> =
                sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}"))
                    .fetch_all(&pool)
                    .await
                    .expect("a plan");
            rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join("; ")
        }
    };
    let page = plan(
        "SELECT id FROM decisions WHERE tenant_id = ?1 AND as_of >= ?2 AND as_of <= ?3 \
         AND id > ?4 ORDER BY id LIMIT 101",
    )
    .await;
    assert!(
        page.contains("decisions_by_tenant_and_id") && !page.contains("TEMP B-TREE"),
        "{page}"
    );
    let by_invoice = plan(
        "SELECT id FROM decisions WHERE tenant_id = ?1 AND invoice_id = ?2 ORDER BY +id LIMIT 101",
    )
    .await;
    assert!(
        by_invoice.contains("sqlite_autoindex_decisions_1 (tenant_id=? AND invoice_id=?)"),
        "{by_invoice}"
    );
}
