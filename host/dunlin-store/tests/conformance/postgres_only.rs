//! Tests of what only PostgreSQL has: concurrent writers of one tenant's batches.

use dunlin_store::testing::{self, Fixture};
use dunlin_store::RecordSummary;

use crate::data::{many_first_reminders, tid};

/// PostgreSQL only (SQLite has one writer, so its batches never meet mid-write). Another
/// writer, inserting in key order as a batch does, holds `inv-1000` uncommitted when a batch
/// of all 3,000 invoices, handed over in descending order, starts: the batch waits for that
/// key, the other writer then inserts `inv-1500`, commits, and the batch goes on, skipping
/// both. Had the batch been written in the order given, it would have held `inv-1500` by then
/// and the two would have deadlocked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_batches_wait_for_a_concurrent_writer_in_key_order() {
    use sqlx::{ConnectOptions, Connection, Executor};
    testing::on_postgres(|f: Fixture| async move {
        let acme = tid("acme");
        let mut outcomes = many_first_reminders(&f, 3_000, &["c1"]).await;
        outcomes.reverse();

        let options =
            <sqlx::postgres::PgConnectOptions as std::str::FromStr>::from_str(&f.url).unwrap();
        let mut other = options.connect().await.unwrap();
        let insert = |invoice: &str| {
            format!(
                "INSERT INTO decisions (tenant_id, invoice_id, as_of, context, reason, \
                 interventions, created_at) VALUES ('acme', '{invoice}', '2026-02-10', \
                 '\\x00', 'the other writer', '[]', now())"
            )
        };
        other.execute("BEGIN").await.unwrap();
        other.execute(insert("inv-1000").as_str()).await.unwrap();

        let db = f.db.clone();
        let batch = tokio::spawn(async move { db.record_batch(&acme, &outcomes).await });
        // Wait until the batch is blocked on the other writer's key.
        let mut watcher = options.connect().await.unwrap();
        let mut waited = 0;
        loop {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
            )
            .fetch_one(&mut watcher)
            .await
            .unwrap();
            if waiting > 0 {
                break;
            }
            assert!(waited < 200, "the batch never waited for inv-1000");
            waited += 1;
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        other.execute(insert("inv-1500").as_str()).await.unwrap();
        other.execute("COMMIT").await.unwrap();
        other.close().await.unwrap();
        watcher.close().await.unwrap();

        let summary = batch
            .await
            .unwrap()
            .expect("the batch finishes without a deadlock");
        assert_eq!(
            summary,
            RecordSummary {
                recorded: 2_998,
                skipped: 2
            }
        );
        // The other writer's rows hold no real context: read them with SQL, not `decisions`.
        let acme = tid("acme");
        let mut check = options.connect().await.unwrap();
        let reasons: Vec<String> = sqlx::query_scalar(
            "SELECT reason FROM decisions WHERE invoice_id IN ('inv-1000', 'inv-1500')",
        )
        .fetch_all(&mut check)
        .await
        .unwrap();
        assert_eq!(reasons, ["the other writer", "the other writer"]);
        let (decisions, actions): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM decisions), (SELECT count(*) FROM actions)",
        )
        .fetch_one(&mut check)
        .await
        .unwrap();
        assert_eq!((decisions, actions), (3_000, 2_998));
        check.close().await.unwrap();
        assert!(
            f.db.dunning_state(&acme, "inv-1500")
                .await
                .unwrap()
                .is_none(),
            "nor its state"
        );
        assert_eq!(
            f.db.dunning_state(&acme, "inv-1499")
                .await
                .unwrap()
                .unwrap()
                .level,
            1
        );
    })
    .await;
}
