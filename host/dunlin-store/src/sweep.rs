//! The sweep's fast path: what only a sweep needs from the store, beside the general API.
//!
//! A sweep reads pages with [`crate::Db::due_for_review`] as anyone may, then encodes its
//! outcomes on its own threads ([`EncodedOutcome::encode_all`], in runs of
//! [`CONTEXTS_PER_CHUNK`]) and writes them with [`crate::Db::record_encoded`], up to
//! [`crate::Db::write_lanes`] batches at once. Each invoice of a page carries an
//! [`InvoiceReceipt`], which its outcome hands back so the writer need not look the invoice up
//! again. Everyone else records with [`crate::Db::record_batch`] and never sees these types.
//!
//! The backend-neutral rules of both hot calls live here too, compiled once: `page` (the
//! page query and how a page is put together) and `batch` (which rows a batch of outcomes
//! writes).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::review::{ActionStatus, FailureRecord, Outcome, RecordSummary};
use crate::trial::ShadowOutcome;
use crate::{codec, StoreError, TenantId};

pub(crate) mod batch;
pub(crate) mod page;

/// A store's word that it read this invoice of this tenant from its database, handed out with
/// each invoice due for review. An [`Outcome`] carrying its invoice's receipt spares the
/// writer from looking the invoice up again before it records the decision; without
/// one (or with another store's, tenant's or invoice's) the writer looks it up. Invoices are
/// never deleted (void, written off and paid are statuses; the schema refuses a `DELETE`), so
/// an invoice once read stays. Only the store makes receipts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvoiceReceipt {
    /// Who issued it, shared by the receipts of one page.
    issuer: Arc<Issuer>,
    invoice: String,
}

/// A store reading one tenant's invoices.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Issuer {
    /// The store's number: no other store in the process has it.
    pub(crate) store: u64,
    pub(crate) tenant: TenantId,
}

impl Issuer {
    /// A number for a new store, shared by both backends' stores in the process, so that no
    /// two stores ever vouch with the same one.
    pub(crate) fn next_store() -> u64 {
        static STORES: AtomicU64 = AtomicU64::new(0);
        STORES.fetch_add(1, Ordering::Relaxed)
    }
}

impl InvoiceReceipt {
    /// `issuer`'s receipt for `invoice`.
    pub(crate) fn new(issuer: &Arc<Issuer>, invoice: &str) -> Self {
        InvoiceReceipt {
            issuer: Arc::clone(issuer),
            invoice: invoice.to_owned(),
        }
    }

    /// Whether this is store `store`'s receipt for `invoice` of `tenant`.
    pub(crate) fn vouches_for(&self, store: u64, tenant: &TenantId, invoice: &str) -> bool {
        self.issuer.store == store && self.issuer.tenant == *tenant && self.invoice == invoice
    }
}

/// How many shadow rows a batch wrote: `written`'s count, or 0 with a warning when their
/// savepoint failed, since a shadow answer is derived data and never holds up the live rows.
pub(crate) fn shadows_written(tenant: &TenantId, written: crate::Result<usize>) -> usize {
    written.unwrap_or_else(|error| {
        tracing::warn!(
            tenant_id = tenant.as_str(),
            error = %dunlin_core::text::Escaped(&error.to_string()),
            "shadow decisions not recorded; the live decisions are"
        );
        0
    })
}

/// The invoices of `outcomes` that no receipt of store `store` vouches for: those a writer
/// looks up before it writes (the rest came from this store's own due pages, and invoices
/// are never deleted).
pub(crate) fn unvouched<'a>(
    outcomes: impl IntoIterator<Item = &'a EncodedOutcome>,
    store: u64,
    tenant: &TenantId,
) -> Vec<&'a str> {
    outcomes
        .into_iter()
        .map(|e| (&e.outcome.receipt, e.outcome.context.invoice.id.as_str()))
        .filter(|(receipt, invoice)| {
            !receipt
                .as_ref()
                .is_some_and(|r| r.vouches_for(store, tenant, invoice))
        })
        .map(|(_, invoice)| invoice)
        .collect()
}

/// An [`Outcome`] with its columns already encoded: the compressed context and the JSON texts.
/// Encoding is the CPU-heavy part of recording, so a sweep does it on its worker threads and
/// hands the store only what it must bind ([`crate::Db::record_encoded`]).
#[derive(Clone, Debug)]
pub struct EncodedOutcome {
    /// The outcome.
    pub outcome: Outcome,
    /// The chunk its context was compressed into, shared with the outcomes beside it.
    pub(crate) chunk: Arc<Vec<u8>>,
    /// The context's line in the chunk.
    pub(crate) line: u16,
    pub(crate) decision: Option<String>,
    pub(crate) interventions: String,
    /// One JSON payload per action, in order.
    pub(crate) payloads: Vec<String>,
    /// The shadow version's answer for the same context, written in the same transaction
    /// right after the decision it shadows, and only if that decision was written.
    pub(crate) shadow: Option<Box<EncodedShadow>>,
}

/// A shadow version's answer ([`ShadowOutcome`]) with its JSON columns encoded; its invoice
/// and day are those of the [`EncodedOutcome`] carrying it.
#[derive(Clone, Debug)]
pub(crate) struct EncodedShadow {
    pub(crate) version: u32,
    /// The guarded decision, its reason and the interventions are the live decision's: they
    /// are not stored again (`decision` is `None`, `reason` and `interventions` are empty)
    /// and the readers take them from the live decision the row names.
    pub(crate) as_live: bool,
    pub(crate) decision: Option<String>,
    pub(crate) reason: String,
    pub(crate) interventions: String,
    pub(crate) blocked: String,
    pub(crate) fuel_used: Option<u64>,
    pub(crate) duration_us: Option<u64>,
    pub(crate) failure: Option<FailureRecord>,
}

impl EncodedShadow {
    /// `shadow` encoded for the live `outcome` it shadows; `None`, with a warning, when it
    /// names another invoice or day: a shadow answer is derived data, and one that does not
    /// fit its live decision is dropped rather than fail the live batch.
    fn encode(outcome: &Outcome, shadow: ShadowOutcome) -> Option<Box<Self>> {
        let ctx = &outcome.context;
        if shadow.invoice_id != ctx.invoice.id || shadow.as_of != ctx.as_of {
            tracing::warn!(
                invoice_id = ctx.invoice.id.as_str(),
                shadow_invoice_id = shadow.invoice_id.as_str(),
                "a shadow answer for another invoice or day is not recorded"
            );
            return None;
        }
        // Most shadow answers agree with the live one: their row then names the live
        // decision instead of holding a second copy of it (about 550 bytes a row less).
        // The blocked actions are kept either way: the live ones are read from the outbox.
        let as_live = shadow.failure.is_none()
            && shadow.decision.is_some()
            && shadow.decision == outcome.decision
            && outcome
                .decision
                .as_ref()
                .is_some_and(|d| d.reason == shadow.reason)
            && shadow.interventions == outcome.interventions;
        let (decision, reason, interventions) = if as_live {
            (None, String::new(), String::new())
        } else {
            (
                shadow.decision.as_ref().map(codec::json),
                shadow.reason,
                codec::json(&shadow.interventions),
            )
        };
        Some(Box::new(EncodedShadow {
            version: shadow.version,
            as_live,
            decision,
            interventions,
            blocked: if shadow.blocked.is_empty() {
                "[]".to_owned()
            } else {
                codec::json(&shadow.blocked)
            },
            reason,
            fuel_used: shadow.fuel_used,
            duration_us: shadow.duration_us,
            failure: shadow.failure,
        }))
    }
}

/// At most this many contexts are compressed into one chunk. A chunk is written once and read
/// whole to replay any one of its decisions (about 60 KB of JSON at 64), and larger chunks
/// compress only a little better.
pub const CONTEXTS_PER_CHUNK: usize = 64;

// A context's line in its chunk is a u16.
const _: () = assert!(CONTEXTS_PER_CHUNK <= u16::MAX as usize);

impl EncodedOutcome {
    /// Encodes `outcomes` for the store, in order, their contexts compressed together in
    /// chunks of up to [`CONTEXTS_PER_CHUNK`].
    pub fn encode_all(outcomes: Vec<Outcome>) -> Result<Vec<Self>, StoreError> {
        Self::encode_with_shadows(outcomes.into_iter().map(|o| (o, None)).collect())
    }

    /// [`EncodedOutcome::encode_all`] for outcomes each with the shadow version's answer on
    /// the same context, if any: [`crate::Db::record_encoded`] writes each answer beside its
    /// live decision, in the same transaction, as [`crate::Db::record_shadow`] would. An
    /// answer for another invoice or day than its outcome's is dropped with a warning.
    pub fn encode_with_shadows(
        outcomes: Vec<(Outcome, Option<ShadowOutcome>)>,
    ) -> Result<Vec<Self>, StoreError> {
        let mut encoded = Vec::with_capacity(outcomes.len());
        let mut outcomes = outcomes.into_iter().peekable();
        while outcomes.peek().is_some() {
            let run: Vec<(Outcome, Option<ShadowOutcome>)> =
                outcomes.by_ref().take(CONTEXTS_PER_CHUNK).collect();
            let chunk = Arc::new(codec::compress_contexts(
                run.iter().map(|(o, _)| &*o.context),
            )?);
            for (line, (outcome, shadow)) in (0u16..).zip(run) {
                encoded.push(EncodedOutcome {
                    chunk: Arc::clone(&chunk),
                    line,
                    decision: outcome.decision.as_ref().map(codec::json),
                    interventions: codec::json(&outcome.interventions),
                    payloads: outcome
                        .actions
                        .iter()
                        .map(|a| codec::json(&a.action))
                        .collect(),
                    shadow: shadow.and_then(|s| EncodedShadow::encode(&outcome, s)),
                    outcome,
                });
            }
        }
        Ok(encoded)
    }

    /// Names the outcome's chunk: equal for the outcomes encoded into one chunk (the chunk's
    /// address, stable while any of them lives).
    pub(crate) fn chunk_key(&self) -> usize {
        Arc::as_ptr(&self.chunk) as usize
    }
}

/// Where a tenant's ledger stood before a page was read ([`crate::Db::ledger_mark`]). Every
/// ledger write (invoices, payments, disputes, payment plans) takes the tenant's next
/// sequence number and stamps the invoices it touches with it; recording a page's outcomes
/// with its mark drops each outcome whose invoice was stamped after the mark, since its
/// decision was made on data the ledger has changed since (a reminder for an invoice paid
/// meanwhile). A write that lands between the mark and the page is in both, and its
/// invoices' outcomes are dropped too: safe, and rare. Only the store makes marks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerMark {
    tenant: TenantId,
    seq: i64,
}

impl LedgerMark {
    /// The mark of `tenant`'s ledger at sequence number `seq`.
    pub(crate) fn new(tenant: &TenantId, seq: i64) -> Self {
        LedgerMark {
            tenant: tenant.clone(),
            seq,
        }
    }

    /// The sequence number the mark holds, if it is `tenant`'s: a mark of another tenant's
    /// ledger says nothing of this one's.
    pub(crate) fn seq_of(&self, tenant: &TenantId) -> Option<i64> {
        (self.tenant == *tenant).then_some(self.seq)
    }
}

/// What [`crate::Db::record_encoded`] did with a page's outcomes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Written {
    /// Decisions written.
    pub recorded: usize,
    /// Outcomes skipped because a decision for that invoice and day exists already.
    pub skipped: usize,
    /// Outcomes dropped because their invoice's ledger changed after the page was read:
    /// nothing of them is written, so the invoice stays due for review.
    pub stale: usize,
    /// Actions of the decisions written that went into the outbox to be delivered.
    pub actions: usize,
    /// Actions of the decisions written that the guardrails blocked.
    pub blocked: usize,
    /// Shadow answers written beside the decisions written. A failure to write them is
    /// logged and leaves this 0; the live decisions are written all the same.
    pub shadowed: usize,
}

impl Written {
    /// What `recorded` (the outcomes whose decision was written) wrote, out of `total`
    /// outcomes of which `stale` were dropped.
    pub(crate) fn of(recorded: &[&EncodedOutcome], total: usize, stale: usize) -> Self {
        let statuses = recorded.iter().flat_map(|e| &e.outcome.actions);
        let (blocked, actions) = statuses.fold((0, 0), |(b, a), p| match p.status {
            ActionStatus::Blocked => (b + 1, a),
            _ => (b, a + 1),
        });
        Written {
            recorded: recorded.len(),
            skipped: total - recorded.len() - stale,
            stale,
            actions,
            blocked,
            shadowed: 0,
        }
    }

    /// The summary [`crate::Db::record_batch`] returns: a stale outcome was not written
    /// either.
    pub fn summary(&self) -> RecordSummary {
        RecordSummary {
            recorded: self.recorded,
            skipped: self.skipped + self.stale,
        }
    }
}
