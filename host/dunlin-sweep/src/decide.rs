//! The decide phase of a page: the policy calls, in batch mode, spread over worker threads.
//! Every worker keeps its own instances (one per policy version) of this one tenant.

use std::collections::BTreeMap;

use dunlin_runtime::{Mode, Report, WasmPolicy};
use dunlin_store::DueInvoice;

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

/// Decides every invoice of a page, keeping the page's order.
pub(crate) async fn page(
    versions: &Versions,
    invoices: Vec<DueInvoice>,
    workers: usize,
) -> Result<Vec<Decided>, SweepError> {
    let versions = versions.clone();
    let workers = workers.max(1);
    tokio::task::spawn_blocking(move || {
        let chunk = invoices.len().div_ceil(workers).max(1);
        let mut chunks: Vec<Vec<DueInvoice>> = Vec::new();
        let mut rest = invoices.into_iter();
        loop {
            let part: Vec<_> = rest.by_ref().take(chunk).collect();
            if part.is_empty() {
                break;
            }
            chunks.push(part);
        }
        std::thread::scope(|s| {
            let handles: Vec<_> = chunks
                .into_iter()
                .map(|part| {
                    let versions = &versions;
                    s.spawn(move || decide_all(versions, part))
                })
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
    })
    .await
    .map_err(|e| SweepError::Worker(e.to_string()))?
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
