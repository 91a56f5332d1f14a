//! Batching rows into the store, and finding the bad rows of a batch it rejects.
//!
//! The store's batch writes are all or nothing and stop at the first row they reject (an
//! invoice whose customer is unknown, a payment in the wrong currency). Such a batch is split in
//! halves, each retried in order, until every rejected row stands alone and can be named: a
//! batch of 1000 with one bad row costs about 20 calls instead of 1000. Rows keep their order,
//! so two rows about the same invoice apply as they appear in the file.

use std::collections::hash_map::{Entry, HashMap};
use std::future::Future;
use std::io::Read;
use std::pin::Pin;

use dunlin_core::json_shape::SHOWN_BYTES;
use dunlin_core::text::quoted;
use dunlin_store::{
    CustomerRecord, Db, NewDispute, NewInvoice, NewPayment, NewPaymentPlan, StoreError, TenantId,
};

use crate::fields::Fields;
use crate::read::Rows;
use crate::schema::FromFields;
use crate::{ImportError, ImportReport, Kind, Progress, RowError};

type Upsert<'a> = Pin<Box<dyn Future<Output = Result<usize, StoreError>> + Send + 'a>>;

/// A record type with its store upsert.
trait Load: FromFields + Send + Sync {
    fn upsert<'a>(db: &'a dyn Db, tenant: &'a TenantId, rows: &'a [Self]) -> Upsert<'a>;
}

impl Load for CustomerRecord {
    fn upsert<'a>(db: &'a dyn Db, tenant: &'a TenantId, rows: &'a [Self]) -> Upsert<'a> {
        db.upsert_customers(tenant, rows)
    }
}

impl Load for NewInvoice {
    fn upsert<'a>(db: &'a dyn Db, tenant: &'a TenantId, rows: &'a [Self]) -> Upsert<'a> {
        db.upsert_invoices(tenant, rows)
    }
}

impl Load for NewPayment {
    fn upsert<'a>(db: &'a dyn Db, tenant: &'a TenantId, rows: &'a [Self]) -> Upsert<'a> {
        db.upsert_payments(tenant, rows)
    }
}

impl Load for NewDispute {
    fn upsert<'a>(db: &'a dyn Db, tenant: &'a TenantId, rows: &'a [Self]) -> Upsert<'a> {
        db.upsert_disputes(tenant, rows)
    }
}

impl Load for NewPaymentPlan {
    fn upsert<'a>(db: &'a dyn Db, tenant: &'a TenantId, rows: &'a [Self]) -> Upsert<'a> {
        db.upsert_payment_plans(tenant, rows)
    }
}

pub(crate) async fn run<R: Read + Send>(
    db: &dyn Db,
    tenant: &TenantId,
    kind: Kind,
    rows: Rows<R>,
    batch_size: usize,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<ImportReport, ImportError> {
    let loader = Loader {
        db,
        tenant,
        report: ImportReport {
            kind,
            read: 0,
            loaded: 0,
            errors: Vec::new(),
        },
        batch_size,
    };
    let mut report = match kind {
        Kind::Customers => loader.run::<CustomerRecord, R>(rows, progress).await?,
        Kind::Invoices => loader.run::<NewInvoice, R>(rows, progress).await?,
        Kind::Payments => loader.run::<NewPayment, R>(rows, progress).await?,
        Kind::Disputes => loader.run::<NewDispute, R>(rows, progress).await?,
        Kind::Plans => loader.run::<NewPaymentPlan, R>(rows, progress).await?,
    };
    // Rows the store rejected are found after later rows failed to parse; report by line.
    report.errors.sort_by_key(|e| e.line);
    Ok(report)
}

struct Loader<'a> {
    db: &'a dyn Db,
    tenant: &'a TenantId,
    report: ImportReport,
    batch_size: usize,
}

impl Loader<'_> {
    async fn run<T: Load, R: Read + Send>(
        mut self,
        mut rows: Rows<R>,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<ImportReport, ImportError> {
        let mut lines = Vec::with_capacity(self.batch_size);
        let mut records: Vec<T> = Vec::with_capacity(self.batch_size);
        // Each id read so far and the line of its row. A second row with the same id would
        // silently replace the first: it is an error instead. Ids are at most 256 bytes, so
        // this stays bounded per row: a million 10-byte ids take about 80 MB, a million
        // 256-byte ids about 310 MB (see docs/import.md).
        let mut first_lines: HashMap<Box<str>, u64> = HashMap::new();
        while let Some(row) = rows.next_row()? {
            self.report.read += 1;
            match row {
                Err(e) => self.report.errors.push(e),
                Ok(raw) => {
                    let mut fields = Fields::new(raw.fields);
                    match T::from_fields(&mut fields) {
                        Some(record) if fields.errors.is_empty() => {
                            match first_lines.entry(record.id().into()) {
                                Entry::Occupied(first) => {
                                    self.report.errors.push(RowError {
                                        line: raw.line,
                                        message: format!(
                                            "id {} appears again: its first row is line {}; \
                                             an id may appear once per file",
                                            quoted(record.id(), SHOWN_BYTES),
                                            first.get()
                                        ),
                                    });
                                }
                                Entry::Vacant(slot) => {
                                    slot.insert(raw.line);
                                    lines.push(raw.line);
                                    records.push(record);
                                }
                            }
                        }
                        _ => {
                            if fields.errors.is_empty() {
                                fields.errors.push("the row could not be read".to_owned());
                            }
                            self.report
                                .errors
                                .extend(fields.errors.into_iter().map(|message| RowError {
                                    line: raw.line,
                                    message,
                                }));
                        }
                    }
                }
            }
            if records.len() >= self.batch_size {
                self.flush(&mut lines, &mut records).await?;
                progress(Progress {
                    bytes_read: rows.bytes_read(),
                    rows_read: self.report.read,
                });
            }
        }
        self.flush(&mut lines, &mut records).await?;
        progress(Progress {
            bytes_read: rows.bytes_read(),
            rows_read: self.report.read,
        });
        Ok(self.report)
    }

    /// Writes the batch, splitting it where the store rejects it, and empties it.
    async fn flush<T: Load>(
        &mut self,
        lines: &mut Vec<u64>,
        records: &mut Vec<T>,
    ) -> Result<(), ImportError> {
        // A stack of ranges still to write; the left half is on top so order is kept.
        let mut pending = vec![(0, records.len())];
        while let Some((lo, hi)) = pending.pop() {
            if lo == hi {
                continue;
            }
            match T::upsert(self.db, self.tenant, &records[lo..hi]).await {
                Ok(_) => self.report.loaded += (hi - lo) as u64,
                Err(e) if blames_a_row(&e) => {
                    if hi - lo == 1 {
                        self.report.errors.push(RowError {
                            line: lines[lo],
                            message: e.to_string(),
                        });
                    } else {
                        let mid = lo + (hi - lo) / 2;
                        pending.push((mid, hi));
                        pending.push((lo, mid));
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        lines.clear();
        records.clear();
        Ok(())
    }
}

/// Whether the store rejected a row's content (rather than failing itself).
fn blames_a_row(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::Invalid { .. }
            | StoreError::UnknownCustomer { .. }
            | StoreError::UnknownInvoice { .. }
    )
}
