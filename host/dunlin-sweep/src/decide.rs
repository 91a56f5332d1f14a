//! The decide stage of a page: the policy calls, in batch mode, spread over worker threads
//! (every worker keeps its own instances, one per policy version, of this one tenant), then
//! the guardrails and the encoding of what the store will write.

use std::collections::BTreeMap;

use dunlin_core::guardrails::GuardrailSettings;
use dunlin_runtime::{Mode, Report, WasmPolicy};
use dunlin_store::sweep::{EncodedOutcome, LedgerMark};
use dunlin_store::trial::ShadowOutcome;
use dunlin_store::{DueInvoice, FailureMode, Outcome};

use crate::outcome::{self, Tally};
use crate::{CancellationToken, SweepError, Versions};

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
    /// The shadow version's answer, if the tenant has one in shadow.
    pub(crate) shadow: Option<Attempt>,
}

/// What the decide stage carries from page to page: the loaded versions, the workers' policy
/// instances, the tenant's rules and the contacts made so far in this sweep.
pub(crate) struct Stage {
    pub(crate) versions: Versions,
    /// Per worker, its instance of each version it has asked, kept from page to page (batch
    /// mode: one instance answers many invoices of this tenant). Making and freeing them per
    /// page cost about 1.1 M instructions a worker and page, in freeing the memory alone.
    pub(crate) handles: Vec<Handles>,
    pub(crate) mode: FailureMode,
    pub(crate) guardrails: GuardrailSettings,
    pub(crate) tally: Tally,
    pub(crate) workers: usize,
    /// Shutdown's token: once cancelled, the workers take no further invoice of the page, so
    /// a stop waits for one policy call per worker (bounded by the call limits), not a page.
    pub(crate) stop: CancellationToken,
}

/// A worker's instances, by policy version.
pub(crate) type Handles = BTreeMap<u32, WasmPolicy>;

/// A page decided, guarded and encoded, ready for the store.
#[derive(Default)]
pub(crate) struct PageDone {
    pub(crate) outcomes: Vec<EncodedOutcome>,
    /// Where the tenant's ledger stood when the page was read, for the store to drop the
    /// outcomes of invoices changed since.
    pub(crate) read_at: Option<LedgerMark>,
    pub(crate) reviewed: usize,
    pub(crate) failures: usize,
    pub(crate) shadow_failures: usize,
    pub(crate) blocked: usize,
    pub(crate) actions: usize,
    /// The page's decisions for `/metrics`, recorded by the writer (on the sweep's task, not
    /// on the worker threads).
    pub(crate) figures: crate::figures::PageFigures,
}

/// Decides every invoice of a page on the worker threads, applies the guardrails in page
/// order (they count contacts across the sweep), and encodes the outcomes on the worker
/// threads again, so the writer only binds. The guardrails run on one thread while the
/// workers encode what they have passed so far: applied first and encoded after, they left
/// the workers idle for a ninth of the stage (callgrind: 6.4 k instructions per invoice
/// against 55 k deciding and 39 k encoding).
pub(crate) async fn page(
    mut stage: Stage,
    invoices: Vec<DueInvoice>,
) -> Result<(Stage, PageDone), SweepError> {
    // The sweep's span (tenant, as-of) is the parent of the page's and of each decision's,
    // on whatever thread they run.
    let sweep = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        let page = tracing::debug_span!(parent: &sweep, "page", invoices = invoices.len());
        let _page = page.enter();
        let workers = stage.workers.max(1);
        stage.handles.resize_with(workers, Handles::new);
        let stop = &stage.stop;
        let decided =
            decide_in_parallel(&stage.versions, &mut stage.handles, invoices, stop, &page)?;
        let mut done = PageDone::default();
        let Stage {
            mode,
            guardrails,
            versions,
            tally,
            ..
        } = &mut stage;
        let built = decided.into_iter().map(|d| {
            let mut b = outcome::build(mode, guardrails, versions, d, tally);
            let shadow = b.shadow.take();
            done.shadow_failures +=
                usize::from(shadow.as_ref().is_some_and(|s| s.failure.is_some()));
            done.reviewed += 1;
            done.failures += usize::from(b.failure_code.is_some());
            done.figures.add(&b);
            done.blocked += b.blocked;
            done.actions += b.outcome.actions.len() - b.blocked;
            (b.outcome, shadow)
        });
        done.outcomes = encode_as_built(workers, built)?;
        Ok((stage, done))
    })
    .await
    .map_err(|e| SweepError::Worker(e.to_string()))?
}

/// Items mapped in runs of this many, handed to the workers in turn: one chunk of contexts
/// each, so every run is compressed as one.
const RUN: usize = dunlin_store::sweep::CONTEXTS_PER_CHUNK;

/// Encodes `built` (each outcome with the shadow version's answer, if any) on `workers`
/// threads while this thread draws it (applying the guardrails).
fn encode_as_built(
    workers: usize,
    built: impl Iterator<Item = (Outcome, Option<ShadowOutcome>)>,
) -> Result<Vec<EncodedOutcome>, SweepError> {
    Ok(map_as_drawn(
        workers,
        built,
        EncodedOutcome::encode_with_shadows,
    )??)
}

/// Maps `items` with `f` on `workers` threads while this thread draws the items: runs of
/// [`RUN`] go to the workers in turn, `f` maps each run whole, and the mapped runs come back
/// in their original order. A worker stops at its first error, which is returned (the first
/// worker's first, if several fail).
fn map_as_drawn<T: Send, U: Send, E: Send>(
    workers: usize,
    items: impl Iterator<Item = T>,
    f: impl Fn(Vec<T>) -> Result<Vec<U>, E> + Sync,
) -> Result<Result<Vec<U>, E>, SweepError> {
    let workers = workers.max(1);
    std::thread::scope(|s| {
        let f = &f;
        let (runs, handles): (Vec<_>, Vec<_>) = (0..workers)
            .map(|_| {
                let (tx, rx) = std::sync::mpsc::channel::<Vec<T>>();
                let handle =
                    s.spawn(move || rx.into_iter().map(f).collect::<Result<Vec<Vec<U>>, E>>());
                (tx, handle)
            })
            .unzip();
        let mut run = Vec::with_capacity(RUN);
        let mut sent = 0;
        for item in items {
            run.push(item);
            if run.len() == RUN {
                let full = std::mem::replace(&mut run, Vec::with_capacity(RUN));
                // A worker that stopped on an error has dropped its end; its error is
                // reported when it is joined.
                let _ = runs[sent % workers].send(full);
                sent += 1;
            }
        }
        if !run.is_empty() {
            let _ = runs[sent % workers].send(run);
        }
        drop(runs);
        // Worker w holds runs w, w + workers, w + 2 * workers, …: deal them back in turn.
        let mut mapped = Vec::with_capacity(workers);
        for h in handles {
            match h.join() {
                Ok(Ok(worker)) => mapped.push(worker.into_iter()),
                Ok(Err(e)) => return Ok(Err(e)),
                Err(_) => return Err(SweepError::Worker("panicked".into())),
            }
        }
        let mut out =
            Vec::with_capacity(mapped.iter().flat_map(|w| w.as_slice()).map(Vec::len).sum());
        for i in 0.. {
            match mapped[i % workers].next() {
                Some(run) => out.extend(run),
                None => break,
            }
        }
        Ok(Ok(out))
    })
}

/// Splits `invoices` into one run per worker (one per entry of `handles`), decides each run on
/// its own thread with that worker's instances and joins the results in page order.
fn decide_in_parallel(
    versions: &Versions,
    handles: &mut [Handles],
    invoices: Vec<DueInvoice>,
    stop: &CancellationToken,
    page: &tracing::Span,
) -> Result<Vec<Decided>, SweepError> {
    let total = invoices.len();
    let chunk = total.div_ceil(handles.len().max(1)).max(1);
    let mut rest = invoices.into_iter();
    std::thread::scope(|s| {
        let threads: Vec<_> = handles
            .iter_mut()
            .map(|worker| {
                let run: Vec<DueInvoice> = rest.by_ref().take(chunk).collect();
                s.spawn(move || decide_all(versions, worker, run, stop, page))
            })
            .collect();
        let mut out = Vec::with_capacity(total);
        for t in threads {
            out.extend(
                t.join()
                    .map_err(|_| SweepError::Worker("panicked".into()))?,
            );
        }
        Ok(out)
    })
}

/// Decides `part` in order until `stop` is cancelled; the invoices left are not decided (nothing of
/// them is recorded, so the next sweep picks them up).
fn decide_all(
    versions: &Versions,
    handles: &mut Handles,
    part: Vec<DueInvoice>,
    stop: &CancellationToken,
    page: &tracing::Span,
) -> Vec<Decided> {
    let mut ask = |version: u32, due: &DueInvoice| -> Attempt {
        let handle = handles
            .entry(version)
            .or_insert_with(|| versions.loaded[&version].policy.handle(Mode::Batch));
        let span = tracing::debug_span!(
            parent: page,
            "decide",
            invoice_id = due.context.invoice.id.as_str(),
            policy_version = version
        );
        let _enter = span.enter();
        let report = handle.decide_with_report(&due.context);
        if let Err(failure) = &report.outcome {
            // One line per failed decision, at debug: a hostile tenant fails on every
            // invoice, and the sweep's own line counts the failures at info.
            tracing::debug!(
                failure_code = failure.code(),
                fuel_used = report.fuel_used,
                "policy failed"
            );
        }
        Attempt { version, report }
    };
    part.into_iter()
        .take_while(|_| !stop.is_cancelled())
        .map(|due| {
            let pinned = due
                .state
                .as_ref()
                .and_then(|s| s.policy_version)
                .filter(|v| versions.loaded.contains_key(v))
                .unwrap_or_else(|| versions.start_for(&due.context.customer.id));
            let first = ask(pinned, &due);
            let fallback = match (first.report.outcome.is_err(), versions.previous) {
                (true, Some(previous)) if previous != pinned => Some(ask(previous, &due)),
                _ => None,
            };
            // The same context, already built, goes to the shadow version.
            let shadow = versions.shadow.map(|v| ask(v, &due));
            Decided {
                due,
                pinned,
                first,
                fallback,
                shadow,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{map_as_drawn, RUN};

    #[test]
    fn mapping_as_drawn_keeps_the_order_for_any_count_and_workers() {
        for workers in [1, 2, 3] {
            for n in [0, 1, RUN - 1, RUN, RUN + 1, 5 * RUN + 7, 1000] {
                let out = map_as_drawn(workers, 0..n, |run| {
                    assert!(
                        !run.is_empty() && run.len() <= RUN,
                        "a run of {}",
                        run.len()
                    );
                    Ok::<_, ()>(run.into_iter().map(|x| x * 2).collect())
                })
                .expect("no panic")
                .expect("no error");
                assert_eq!(
                    out,
                    (0..n).map(|x| x * 2).collect::<Vec<_>>(),
                    "{workers} workers, {n} items"
                );
            }
        }
    }

    #[test]
    fn mapping_as_drawn_returns_the_error() {
        let out = map_as_drawn(2, 0..1000, |run: Vec<i32>| {
            run.into_iter()
                .map(|x| if x == 700 { Err(x) } else { Ok(x) })
                .collect()
        });
        assert_eq!(out.expect("no panic"), Err(700));
    }
}
