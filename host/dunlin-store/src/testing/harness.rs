//! Runs a test against a fresh database of each backend.
//!
//! SQLite: a file in a temporary directory. PostgreSQL: a database with a random name on the
//! server at `DUNLIN_TEST_POSTGRES_URL`, dropped afterwards. Without that variable the
//! PostgreSQL tests fail when `CI` is set and are skipped (with a note) otherwise.

use std::future::Future;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor};

use crate::{connect, Db};

/// What a test gets: an open, migrated, empty database and its URL.
pub struct Fixture {
    /// The store under test.
    pub db: Arc<dyn Db>,
    /// Where it lives (`sqlite://…` or `postgres://…`), for a second connection beside it.
    pub url: String,
}

/// The variable naming the PostgreSQL server the tests create their databases on.
pub const PG_URL_VAR: &str = "DUNLIN_TEST_POSTGRES_URL";

/// Runs one statement on the fixture's database beside the store (either backend) and
/// returns the first column of its first row, if it has one: for checks the store's API
/// does not offer, such as counting rows of a table.
pub async fn scalar(f: &Fixture, statement: &str) -> Option<i64> {
    use sqlx::Row;
    if f.url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(&f.url).await.expect("open");
        let row = sqlx::query(statement).fetch_optional(&mut conn).await;
        row.expect(statement).map(|r| r.get(0))
    } else {
        let mut conn = sqlx::PgConnection::connect(&f.url).await.expect("open");
        let row = sqlx::query(statement).fetch_optional(&mut conn).await;
        row.expect(statement).map(|r| r.get(0))
    }
}

/// Runs `test` on a new SQLite file, closed afterwards.
pub async fn on_sqlite<F, Fut>(test: F)
where
    F: FnOnce(Fixture) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("dunlin.db").display());
    open_and_run(url, test).await;
}

/// Opens the store at `url`, runs `test` on it and closes it.
async fn open_and_run<F, Fut>(url: String, test: F)
where
    F: FnOnce(Fixture) -> Fut,
    Fut: Future<Output = ()>,
{
    let db = connect(&url).await.expect("open the test database");
    test(Fixture {
        db: db.clone(),
        url,
    })
    .await;
    db.close().await;
}

/// Runs `test` on a new PostgreSQL database, dropped afterwards, even when `test` panics
/// (the panic is then resumed). Without [`PG_URL_VAR`]: a panic when `CI` is set, otherwise
/// a note on stderr and nothing run.
pub async fn on_postgres<F, Fut>(test: F)
where
    F: FnOnce(Fixture) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let Ok(admin_url) = std::env::var(PG_URL_VAR) else {
        if std::env::var_os("CI").is_some() {
            panic!(
                "{PG_URL_VAR} is not set: in CI the PostgreSQL leg must run \
                 (.ci/run starts the local cluster and exports it)"
            );
        }
        eprintln!(
            "note: skipping the PostgreSQL conformance test: set {PG_URL_VAR}, e.g. \
             postgres://dunlin:dunlin@127.0.0.1:5432/postgres"
        );
        return;
    };
    let name = unique_db_name();
    let admin = PgConnectOptions::from_str(&admin_url).expect("parse postgres URL");
    let mut conn = admin.connect().await.expect("connect to postgres");
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create test database");
    let url = with_database(&admin_url, &name);
    // Run the test on its own task so that a failing assertion still lets us drop the
    // database before reporting it.
    let outcome = tokio::spawn(async move { open_and_run(url, test).await }).await;
    conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
        .await
        .expect("drop test database");
    conn.close().await.ok();
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

fn unique_db_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "dunlin_test_{}_{}_{}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The admin URL with its database path replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let authority_start = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

/// Declares each listed test once per backend: `sqlite::name` and `postgres::name`. Each
/// name is an `async fn(Fixture)` in the invoking module; the expansion uses `#[tokio::test]`,
/// so the invoking crate depends on tokio with its `macros` and `rt-multi-thread` features.
#[macro_export]
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::testing::on_sqlite(super::$name).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::testing::on_postgres(super::$name).await;
                }
            )*
        }
    };
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_name_replaces_the_path() {
        assert_eq!(
            with_database("postgres://u:p@127.0.0.1:5432/postgres", "x"),
            "postgres://u:p@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h/postgres?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    }
}
