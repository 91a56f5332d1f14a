//! [`ImportError`]: what stops an import as a whole. A single bad row is never one of these;
//! it is a [`crate::RowError`] in the report.

use std::path::PathBuf;

use dunlin_store::{StoreError, TenantId};

/// An import that could not run or could not finish.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// No such tenant; nothing was read.
    #[error("unknown tenant {0}")]
    UnknownTenant(TenantId),
    /// Not one of `customers`, `invoices`, `payments`, `disputes`, `plans`.
    #[error("unknown kind {0:?}: expected customers, invoices, payments, disputes or plans")]
    UnknownKind(String),
    /// Not one of `csv`, `jsonl`.
    #[error("unknown format {0:?}: expected csv or jsonl")]
    UnknownFormat(String),
    /// The file's extension says nothing about its format.
    #[error(
        "cannot tell the format of {path}: name it .csv, .jsonl or .ndjson, or give the format"
    )]
    FormatNotImplied {
        /// The file.
        path: PathBuf,
    },
    /// The file could not be opened.
    #[error("cannot open {path}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Reading the input failed part way.
    #[error("cannot read the input")]
    Read(#[source] std::io::Error),
    /// The CSV header does not fit the kind: unknown, repeated or missing columns.
    #[error("line 1: {problem}")]
    Header {
        /// What is wrong with it.
        problem: String,
    },
    /// The store failed for a reason no row can be blamed for (the database is unreachable,
    /// the tenant vanished). Batches before it are loaded; importing again is safe.
    #[error("the store failed")]
    Store(#[from] StoreError),
}
