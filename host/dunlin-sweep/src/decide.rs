//! The decide stage of a page: the policy calls, in batch mode, spread over worker threads
//! (every worker keeps its own instances, one per policy version, of this one tenant), then
//! the guardrails and the encoding of what the store will write.

use std::collections::BTreeMap;

use dunlin_core::guardrails::GuardrailSettings;
use dunlin_runtime::{Mode, Report, WasmPolicy};
use dunlin_store::{DueInvoice, EncodedOutcome, FailureMode};

use crate::outcome::{self, Tally};
use crate::{SweepError, Versions};

/// One policy call.
pub(crate) struct Attempt {
    pub(crate) version: u32,
    pub(crate) report: Report,
}

/// An invoice with what its policy said.
pub(crate) struct Decided {
    pub(crate) due: DueInvoice,
    /// The version the invoice's ladder is pinned to (its first decision pins the active one).
    pub(crate) pinned: u32,
    /// The pinned version's answer.
    pub(crate) first: Attempt,
    /// The previously active version's answer, asked only when the first one failed and the
    /// tenant's failure mode is `previous-version`.
    pub(crate) fallback: Option<Attempt>,
}

/// What the decide stage carries from page to page: the loaded versions, the tenant's rules
/// and the contacts made so far in this sweep.
pub(crate) struct Stage {
    pub(crate) versions: Versions,
    pub(crate) mode: FailureMode,
    pub(crate) guardrails: GuardrailSettings,
    pub(crate) tally: Tally,
    pub(crate) workers: usize,
}

/// A page decided, guarded and encoded, ready for the store.
#[derive(Default)]
pub(crate) struct PageDone {
    pub(crate) outcomes: Vec<EncodedOutcome>,
    pub(crate) reviewed: usize,
    pub(crate) failures: usize,
    pub(crate) blocked: usize,
    pub(crate) actions: usize,
}

/// Decides every invoice of a page on the worker threads, applies the guardrails in page
/// order (they count contacts across the sweep), and encodes the outcomes on the worker
/// threads again, so the writer only binds.
pub(crate) async fn page(
    mut stage: Stage,
    invoices: Vec<DueInvoice>,
) -> Result<(Stage, PageDone), SweepError> {
    tokio::task::spawn_blocking(move || {
        let workers = stage.workers.max(1);
        let decided = in_parallel(workers, invoices, |part| decide_all(&stage.versions, part))?;
        let mut done = PageDone::default();
        let mut built = Vec::with_capacity(decided.len());
        for d in decided {
            let b = outcome::build(
                &stage.mode,
                &stage.guardrails,
                &stage.versions,
                d,
                &mut stage.tally,
            );
            done.reviewed += 1;
            done.failures += usize::from(b.failed);
            done.blocked += b.blocked;
            done.actions += b.outcome.actions.len() - b.blocked;
            built.push(b.outcome);
        }
        done.outcomes = in_parallel(workers, built, |part| {
            part.into_iter()
                .map(EncodedOutcome::new)
                .collect::<Vec<_>>()
        })?
        .into_iter()
        .collect::<Result<_, _>>()?;
        Ok((stage, done))
    })
    .await
    .map_err(|e| SweepError::Worker(e.to_string()))?
}

/// Splits `items` into one run per worker, maps each run on its own thread and joins the
/// results in the original order.
fn in_parallel<T: Send, U: Send>(
    workers: usize,
    items: Vec<T>,
    f: impl Fn(Vec<T>) -> Vec<U> + Sync,
) -> Result<Vec<U>, SweepError> {
    let chunk = items.len().div_ceil(workers).max(1);
    let mut runs: Vec<Vec<T>> = Vec::with_capacity(workers);
    let mut rest = items.into_iter();
    loop {
        let run: Vec<T> = rest.by_ref().take(chunk).collect();
        if run.is_empty() {
            break;
        }
        runs.push(run);
    }
    std::thread::scope(|s| {
        let f = &f;
        let handles: Vec<_> = runs
            .into_iter()
            .map(|run| s.spawn(move || f(run)))
            .collect();
        let mut out = Vec::new();
        for h in handles {
            out.extend(
                h.join()
                    .map_err(|_| SweepError::Worker("panicked".into()))?,
            );
        }
        Ok(out)
    })
}

fn decide_all(versions: &Versions, part: Vec<DueInvoice>) -> Vec<Decided> {
    let mut handles: BTreeMap<u32, WasmPolicy> = BTreeMap::new();
    let mut ask = |version: u32, due: &DueInvoice| -> Attempt {
        let handle = handles
            .entry(version)
            .or_insert_with(|| versions.loaded[&version].policy.handle(Mode::Batch));
        let span = tracing::trace_span!(
            "decide",
            invoice_id = due.context.invoice.id.as_str(),
            policy_version = version
        );
        let _enter = span.enter();
        Attempt {
            version,
            report: handle.decide_with_report(&due.context),
        }
    };
    part.into_iter()
        .map(|due| {
            let pinned = due
                .state
                .as_ref()
                .and_then(|s| s.policy_version)
                .filter(|v| versions.loaded.contains_key(v))
                .unwrap_or(versions.active);
            let first = ask(pinned, &due);
            let fallback = match (first.report.outcome.is_err(), versions.previous) {
                (true, Some(previous)) if previous != pinned => Some(ask(previous, &due)),
                _ => None,
            };
            Decided {
                due,
                pinned,
                first,
                fallback,
            }
        })
        .collect()
}
