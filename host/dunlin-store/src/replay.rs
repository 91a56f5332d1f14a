//! The decision log as replay and export read it: each decision with its context and the
//! exact JSON text the host wrote for it, a page at a time.

use std::collections::HashMap;
use std::sync::Arc;

use dunlin_core::guardrails::Intervention;
use dunlin_core::{Context, Date};

use crate::codec::{self, ChunkText};
use crate::review::PolicyRef;
use crate::StoreError;

/// Which recorded decisions to read: one by id, or a window of as-of days, a page at a time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedQuery {
    /// Only this decision.
    pub id: Option<i64>,
    /// Only decisions for this as-of day or later.
    pub from: Option<Date>,
    /// Only decisions for this as-of day or earlier.
    pub to: Option<Date>,
    /// Only decisions with a larger id (the previous page's last).
    pub after_id: Option<i64>,
    /// At most this many (clamped to 1..=[`RecordedQuery::MAX_LIMIT`]), oldest first.
    pub limit: u32,
    /// Also read the blocked actions of the decisions the guardrails changed
    /// ([`RecordedDecision::blocked`]): a replay compares them; a backtest and an export do
    /// not, and skip the read (one more query a page).
    pub blocked_actions: bool,
}

impl RecordedQuery {
    /// The most decisions one page may hold.
    pub const MAX_LIMIT: u32 = 10_000;

    /// A window of as-of days (either end open), 1,000 decisions a page.
    pub fn window(from: Option<Date>, to: Option<Date>) -> Self {
        RecordedQuery {
            id: None,
            from,
            to,
            after_id: None,
            limit: 1000,
            blocked_actions: true,
        }
    }

    /// The one decision `id`.
    pub fn decision(id: i64) -> Self {
        RecordedQuery {
            id: Some(id),
            ..RecordedQuery::window(None, None)
        }
    }

    /// The same query, for the page after the decision `id`.
    pub fn after(&self, id: i64) -> Self {
        RecordedQuery {
            after_id: Some(id),
            ..self.clone()
        }
    }
}

/// One decision as the log holds it, with the text the host wrote rather than its parse, so
/// that a replay compares bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedDecision {
    /// Its id.
    pub id: i64,
    /// The invoice.
    pub invoice_id: String,
    /// The day decided for.
    pub as_of: Date,
    /// The version whose answer counts; `None` when no policy ran.
    pub policy: Option<PolicyRef>,
    /// The exact context the policy was given, as stored: [`RecordedContext::parse`] it.
    pub context: RecordedContext,
    /// The decision's JSON as written (after the guardrails); `None` when there was none.
    pub decision: Option<String>,
    /// What the guardrails changed, in action order.
    pub interventions: Vec<Intervention>,
    /// The JSON of each action the guardrails blocked, as written, in outbox order (the
    /// order of the policy's own list); empty when the query did not ask for them
    /// ([`RecordedQuery::blocked_actions`]).
    pub blocked: Vec<String>,
    /// The stable code of the policy's failure, if it failed.
    pub failure_code: Option<String>,
}

/// A recorded decision's context, decompressed but not parsed: its line of the chunk it was
/// stored in, the text shared with the chunk's other decisions. Parsing the JSON is most of
/// the cost of reading the log (about 24 k of the 50 k instructions a decision), so a reader
/// that decides on several threads parses there, not on the one task reading the pages
/// (docs/benchmarks.md#backtest).
#[derive(Clone)]
pub struct RecordedContext {
    chunk: Arc<ChunkText>,
    /// A line the chunk has.
    line: usize,
}

impl RecordedContext {
    /// Line `line` of `chunk`, which the caller has checked the chunk has.
    pub(crate) fn new(chunk: Arc<ChunkText>, line: usize) -> Self {
        RecordedContext { chunk, line }
    }

    /// `context` as the log would hold it (for tests and tools that make records by hand).
    pub fn of(context: &Context) -> Self {
        RecordedContext::new(Arc::new(ChunkText::of_one(codec::json(context))), 0)
    }

    /// The context's JSON text as stored; `None` only if the chunk lacks the line, which
    /// its reader checks before it makes a record.
    pub fn text(&self) -> Option<&[u8]> {
        self.chunk.line(self.line)
    }

    /// Parses the context.
    pub fn parse(&self) -> Result<Context, StoreError> {
        self.chunk.context(self.line)
    }
}

/// Equal when the texts are: two records of one context are equal whichever chunk holds it.
impl PartialEq for RecordedContext {
    fn eq(&self, other: &Self) -> bool {
        self.text() == other.text()
    }
}

impl std::fmt::Debug for RecordedContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RecordedContext")
            .field(&self.text().map(String::from_utf8_lossy))
            .finish()
    }
}

/// The invoices whose blocked actions a page of records needs, sorted and without repeats:
/// only decisions the guardrails changed can have any, so most pages need none.
pub(crate) fn invoices_with_interventions(records: &[RecordedDecision]) -> Vec<&str> {
    let mut invoices: Vec<&str> = records
        .iter()
        .filter(|r| !r.interventions.is_empty())
        .map(|r| r.invoice_id.as_str())
        .collect();
    invoices.sort_unstable();
    invoices.dedup();
    invoices
}

/// Puts each blocked action (`(invoice, as-of day, payload)`, in outbox order) on its record;
/// an action of a decision that is not on the page (another day's) is skipped.
pub(crate) fn attach_blocked(
    records: &mut [RecordedDecision],
    blocked: impl IntoIterator<Item = (String, Date, String)>,
) {
    let keys: HashMap<(String, Date), usize> = records
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.interventions.is_empty())
        .map(|(i, r)| ((r.invoice_id.clone(), r.as_of), i))
        .collect();
    for (invoice, as_of, payload) in blocked {
        if let Some(&i) = keys.get(&(invoice, as_of)) {
            records[i].blocked.push(payload);
        }
    }
}
