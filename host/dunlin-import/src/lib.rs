//! Bulk import of a tenant's ledger: customers, invoices, payments, disputes and payment plans
//! from CSV or JSON Lines, into any [`dunlin_store::Db`].
//!
//! Each kind has one flat row schema, the same field names in both formats (kebab-case, see
//! `docs/import.md`). Rows are read and checked one at a time ([`schema`]), then written in
//! batches through the store's upserts, keyed by the tenant's own ids, so importing a file
//! twice changes nothing. A bad row never stops the good ones: it becomes a [`RowError`] with
//! its line number. A batch the store rejects is all or nothing, so the loader splits it in
//! halves until the rejected rows stand alone and can be named.
//!
//! The crate draws nothing: progress is reported to a callback with the bytes read so far.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use dunlin_store::{Db, TenantId};

mod error;
mod fields;
mod load;
mod read;
pub mod schema;

pub use error::ImportError;

/// What a file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Customer profiles and contact details.
    Customers,
    /// Invoices; each names a customer imported before.
    Invoices,
    /// Payments; each names an invoice, and one that clears it marks it paid.
    Payments,
    /// Disputes about invoices.
    Disputes,
    /// Payment plans and promises to pay.
    Plans,
}

impl Kind {
    /// Every kind, in the order a full import should load them (each names rows of the ones
    /// before it).
    pub const ALL: [Kind; 5] = [
        Kind::Customers,
        Kind::Invoices,
        Kind::Payments,
        Kind::Disputes,
        Kind::Plans,
    ];

    /// The name used on the command line and in reports, e.g. `invoices`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::Customers => "customers",
            Kind::Invoices => "invoices",
            Kind::Payments => "payments",
            Kind::Disputes => "disputes",
            Kind::Plans => "plans",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Kind {
    type Err = ImportError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| ImportError::UnknownKind(s.to_owned()))
    }
}

/// How a file is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON object per line.
    JsonLines,
}

impl Format {
    /// The format a file's extension implies: `.csv`, `.jsonl` or `.ndjson` (any case).
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(Format::Csv),
            "jsonl" | "ndjson" => Some(Format::JsonLines),
            _ => None,
        }
    }

    /// The name used on the command line: `csv` or `jsonl`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::JsonLines => "jsonl",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = ImportError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "csv" => Ok(Format::Csv),
            "jsonl" | "ndjson" => Ok(Format::JsonLines),
            other => Err(ImportError::UnknownFormat(other.to_owned())),
        }
    }
}

/// A row that was not loaded, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowError {
    /// The line it starts on, counting from 1 (in a CSV file the header is line 1).
    pub line: u64,
    /// What is wrong, naming the field, e.g. `amount-minor -5 is negative`.
    pub message: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// What an import did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportReport {
    /// What was imported.
    pub kind: Kind,
    /// Rows read (blank lines of a JSON Lines file are not rows).
    pub read: u64,
    /// Rows the store accepted.
    pub loaded: u64,
    /// The rows that were not loaded, by line; a row with several bad fields appears once per
    /// field.
    pub errors: Vec<RowError>,
}

/// How far an import has got, for a progress display.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Bytes of the input consumed so far.
    pub bytes_read: u64,
    /// Rows read so far.
    pub rows_read: u64,
}

/// Tuning for an import.
#[derive(Clone, Debug)]
pub struct Options {
    /// Rows per call to the store (one transaction each).
    pub batch_size: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options { batch_size: 1000 }
    }
}

/// Imports the file at `path` into the tenant's ledger. The format comes from `format`, or else
/// from the file's extension.
///
/// `progress` is called after each batch and at the end. Reading is synchronous between the
/// store's calls; the file is never held in memory as a whole.
pub async fn import_file(
    db: &dyn Db,
    tenant: &TenantId,
    kind: Kind,
    path: &Path,
    format: Option<Format>,
    options: &Options,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<ImportReport, ImportError> {
    let format = match format.or_else(|| Format::from_path(path)) {
        Some(f) => f,
        None => {
            return Err(ImportError::FormatNotImplied {
                path: path.to_owned(),
            })
        }
    };
    let file = std::fs::File::open(path).map_err(|source| ImportError::Open {
        path: path.to_owned(),
        source,
    })?;
    import_reader(db, tenant, kind, format, file, options, progress).await
}

/// Imports rows of `kind` read from `input` in `format` into the tenant's ledger.
///
/// Fails as a whole (with rows of earlier batches already loaded, which a re-run simply
/// rewrites) for an unknown tenant, a CSV header that does not fit the kind, an unreadable
/// input or a database failure. Everything a single row can get wrong is a [`RowError`] in
/// the report instead.
pub async fn import_reader<R: std::io::Read + Send>(
    db: &dyn Db,
    tenant: &TenantId,
    kind: Kind,
    format: Format,
    input: R,
    options: &Options,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<ImportReport, ImportError> {
    let report = load_reader(db, tenant, kind, format, input, options, progress).await?;
    if report.loaded > 0 {
        // A bulk load changes the tables' shape; fresh statistics keep the sweep's plans good.
        db.refresh_statistics().await?;
    }
    Ok(report)
}

/// Imports rows of `kind` given as JSON values, one row each in the JSON Lines row format
/// (the HTTP API's batches): the same checks and the same upserts as a file, and a row's
/// [`RowError::line`] is its position counting from 1. The planner's statistics are left to
/// bulk imports: a request's rows are few beside the tables.
pub async fn import_values(
    db: &dyn Db,
    tenant: &TenantId,
    kind: Kind,
    rows: &[serde_json::Value],
    options: &Options,
) -> Result<ImportReport, ImportError> {
    // One line per row: serde_json writes a line break inside a string as `\n`.
    let mut lines = Vec::new();
    for row in rows {
        serde_json::to_writer(&mut lines, row).expect("a JSON value writes to memory");
        lines.push(b'\n');
    }
    load_reader(
        db,
        tenant,
        kind,
        Format::JsonLines,
        &lines[..],
        options,
        &mut |_| {},
    )
    .await
}

async fn load_reader<R: std::io::Read + Send>(
    db: &dyn Db,
    tenant: &TenantId,
    kind: Kind,
    format: Format,
    input: R,
    options: &Options,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<ImportReport, ImportError> {
    if db.tenant(tenant).await?.is_none() {
        return Err(ImportError::UnknownTenant(tenant.clone()));
    }
    let rows = read::Rows::new(format, kind, input)?;
    load::run(db, tenant, kind, rows, options.batch_size.max(1), progress).await
}
