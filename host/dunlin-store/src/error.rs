//! [`StoreError`]: everything that can go wrong in storage, in Dunlin's terms.

use crate::TenantId;

/// A storage failure. Input errors name the row at fault; database errors keep the driver's cause
/// and say which operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no backend we support.
    #[error("unsupported database URL {url:?}: expected sqlite://PATH or postgres://…")]
    UnsupportedUrl {
        /// The URL, with any password removed.
        url: String,
    },
    /// The database could not be opened or reached.
    #[error("could not open the database at {url}")]
    Connect {
        /// The URL, with any password removed.
        url: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// The schema could not be brought up to date.
    #[error("could not migrate the database schema")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// A statement failed.
    #[error("database operation {op:?} failed")]
    Query {
        /// What we were doing, e.g. "record decisions".
        op: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// A statement on the sweep's own SQLite connections failed.
    #[error("database operation {op:?} failed")]
    Sqlite {
        /// What we were doing, e.g. "record decisions".
        op: &'static str,
        /// The driver's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The runtime shut down while a database call was running on its blocking thread; the
    /// call's transaction, if any, was rolled back.
    #[error("the runtime shut down during database operation {op:?}")]
    Cancelled {
        /// What we were doing.
        op: &'static str,
    },
    /// A tenant id that is not 1 to 64 characters of `a-z`, `0-9`, `-` and `_`.
    #[error("tenant id {0:?} must be 1 to 64 characters of a-z, 0-9, '-' and '_', starting with a letter or digit")]
    BadTenantId(String),
    /// No such tenant.
    #[error("unknown tenant {0}")]
    UnknownTenant(TenantId),
    /// A tenant with this id exists already.
    #[error("tenant {0} already exists")]
    TenantExists(TenantId),
    /// The tenant has a webhook endpoint with this id already.
    #[error("tenant {tenant} has a webhook endpoint {id:?} already")]
    EndpointExists {
        /// The tenant.
        tenant: TenantId,
        /// The endpoint's id.
        id: String,
    },
    /// The tenant has no such policy version.
    #[error("tenant {tenant} has no policy version {version}")]
    UnknownPolicyVersion {
        /// The tenant.
        tenant: TenantId,
        /// The version asked for.
        version: u32,
    },
    /// The policy version is or was active, or a decision or a ladder names it: it stays.
    #[error(
        "policy version {version} of tenant {tenant} {why}; only an unused upload can be deleted"
    )]
    PolicyVersionInUse {
        /// The tenant.
        tenant: TenantId,
        /// The version.
        version: u32,
        /// Why it is in use.
        why: &'static str,
    },
    /// A row names a customer the tenant does not have.
    #[error("{what} {id} names customer {customer:?}, which tenant {tenant} does not have")]
    UnknownCustomer {
        /// The tenant.
        tenant: TenantId,
        /// What kind of row, e.g. "invoice".
        what: &'static str,
        /// The row's own id.
        id: String,
        /// The customer it names.
        customer: String,
    },
    /// A row names an invoice the tenant does not have.
    #[error("{what} {id} names invoice {invoice:?}, which tenant {tenant} does not have")]
    UnknownInvoice {
        /// The tenant.
        tenant: TenantId,
        /// What kind of row, e.g. "payment".
        what: &'static str,
        /// The row's own id.
        id: String,
        /// The invoice it names.
        invoice: String,
    },
    /// A row that breaks a rule of the data model; nothing of its batch was written.
    #[error("{what} {id:?}: {problem}")]
    Invalid {
        /// What kind of row, e.g. "invoice".
        what: &'static str,
        /// The row's own id.
        id: String,
        /// What is wrong, in words a tenant understands.
        problem: String,
    },
    /// Tenant settings that no operator's limits allow; nothing was written.
    #[error("invalid tenant settings: {0}")]
    Settings(#[from] crate::tenant::SettingsError),
    /// A value could not be encoded for storage (e.g. the compressor failed).
    #[error("cannot encode {what} for storage: {detail}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// Why.
        detail: String,
    },
    /// SQLite's WAL could not be emptied into the database file: a reader or writer kept it
    /// in use for longer than the busy timeout.
    #[error("the WAL could not be emptied into the database file: {copied} of its {pages} pages were copied before a reader or writer in use kept the rest")]
    CheckpointBlocked {
        /// Pages in the WAL (-1 when SQLite could not tell).
        pages: i64,
        /// Of those, pages now in the database file.
        copied: i64,
    },
    /// Data read back from the database does not decode; someone wrote it behind our back.
    #[error("stored {what} does not decode: {detail}")]
    Corrupt {
        /// What was being read.
        what: &'static str,
        /// Why it does not decode.
        detail: String,
    },
    /// The operating system's random source failed while making an API key.
    #[error("could not read the operating system's random source for an API key")]
    Random(#[source] getrandom::Error),
}

/// Shorthand for results of this crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Attaches the operation's name to a driver error.
pub(crate) trait QueryContext<T> {
    fn ctx(self, op: &'static str) -> Result<T>;
}

impl<T> QueryContext<T> for std::result::Result<T, sqlx::Error> {
    fn ctx(self, op: &'static str) -> Result<T> {
        self.map_err(|source| StoreError::Query { op, source })
    }
}

impl<T> QueryContext<T> for std::result::Result<T, rusqlite::Error> {
    fn ctx(self, op: &'static str) -> Result<T> {
        self.map_err(|source| StoreError::Sqlite { op, source })
    }
}

/// The URL without its password, for error messages and logs.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}://{user}:***@{}", &url[..scheme_end], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_the_password_only() {
        assert_eq!(
            redact("postgres://dunlin:secret@127.0.0.1:5432/db"),
            "postgres://dunlin:***@127.0.0.1:5432/db"
        );
        assert_eq!(redact("sqlite://dunlin.db"), "sqlite://dunlin.db");
    }
}
