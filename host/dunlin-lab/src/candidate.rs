//! A policy version's answer to a recorded (or offline) context, after the host's
//! guardrails and the tenant's failure mode, as a comparison [`Outcome`]; and the worker
//! threads that ask it for many contexts at once, in batch mode.

use dunlin_core::guardrails::{self, ContactCounts, GuardrailSettings, InvoiceFacts};
use dunlin_core::{ActionKind, ActionOutcome, Context};
use dunlin_runtime::{LoadedPolicy, Mode, WasmPolicy};
use dunlin_store::FailureMode;

use crate::compare::Outcome;

/// What a candidate needs to answer as the sweep would: the tenant's guardrails and
/// failure mode.
#[derive(Clone, Debug)]
pub struct Rules {
    /// The tenant's guardrails (validated against the operator's limits).
    pub guardrails: GuardrailSettings,
    /// What a policy failure turns into.
    pub failure_mode: FailureMode,
}

impl Default for Rules {
    /// The default guardrails, and a failure left as a failure.
    fn default() -> Self {
        Rules {
            guardrails: GuardrailSettings::default(),
            failure_mode: FailureMode::RetryNextTick,
        }
    }
}

/// Asks `policy` about `ctx` and guards the answer.
///
/// The contact counts the caps need are rebuilt from the context's own history (this
/// invoice's notices that went out): a recorded context does not carry the customer's
/// contacts about other invoices, so the per-customer cap sees this invoice's only. A
/// failure under `safe-default` gets the host's safe default, guarded; under
/// `previous-version` it stays a failure (the previous version is the baseline's concern).
pub fn answer(policy: &mut WasmPolicy, ctx: &Context, rules: &Rules) -> Outcome {
    let report = policy.decide_with_report(ctx);
    let (decision, failure) = match report.outcome {
        Ok(decision) => (decision, None),
        Err(failure) => match rules.failure_mode {
            FailureMode::SafeDefault => {
                let level = ctx.history.iter().filter_map(|h| h.level).max();
                let code = failure.code().to_owned();
                (
                    dunlin_sweep::safe_default(ctx, level.unwrap_or(0)),
                    Some(code),
                )
            }
            FailureMode::RetryNextTick | FailureMode::PreviousVersion => {
                return Outcome::failed(failure.code())
            }
        },
    };
    let facts = InvoiceFacts {
        status: guardrails::InvoiceStatus::Open,
        disputed: ctx.invoice.disputed,
        plan_in_good_standing_until: ctx.invoice.on_payment_plan.then_some(ctx.as_of),
    };
    let guarded = guardrails::apply(&rules.guardrails, ctx, &facts, &counts(ctx), decision);
    Outcome {
        decision: Some(guarded.decision),
        interventions: guarded.interventions,
        failure,
        dropped: guarded.dropped,
    }
}

/// This invoice's notices that went out (not blocked): on the as-of day, and in the seven
/// days ending on it.
fn counts(ctx: &Context) -> ContactCounts {
    let sent = ctx
        .history
        .iter()
        .filter(|h| h.kind == ActionKind::Notify && h.outcome != ActionOutcome::Blocked);
    let mut counts = ContactCounts::default();
    for h in sent {
        let age = (ctx.as_of - h.on).num_days();
        if age == 0 {
            counts.invoice_today += 1;
        }
        if (0..7).contains(&age) {
            counts.customer_last_7_days += 1;
        }
    }
    counts
}

/// One batch-mode instance per worker thread, kept across pages.
pub(crate) struct Workers {
    handles: Vec<WasmPolicy>,
}

impl Workers {
    pub(crate) fn new(policy: &LoadedPolicy, workers: usize) -> Self {
        Workers {
            handles: (0..workers.max(1))
                .map(|_| policy.handle(Mode::Batch))
                .collect(),
        }
    }

    /// `f(worker's instance, item)` for every item, the items split into one run per
    /// worker, each on its own thread; the results in the items' order. Blocks: call it
    /// from a blocking thread.
    pub(crate) fn map<T: Sync, U: Send>(
        &mut self,
        items: &[T],
        f: impl Fn(&mut WasmPolicy, &T) -> U + Sync,
    ) -> Vec<U> {
        let chunk = items.len().div_ceil(self.handles.len()).max(1);
        let f = &f;
        std::thread::scope(|s| {
            let threads: Vec<_> = self
                .handles
                .iter_mut()
                .zip(items.chunks(chunk))
                .map(|(handle, run)| {
                    s.spawn(move || run.iter().map(|item| f(handle, item)).collect::<Vec<U>>())
                })
                .collect();
            threads
                .into_iter()
                .flat_map(|t| {
                    // A policy failure is a value; a panic here is a host bug, passed on.
                    t.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                })
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::counts;
    use dunlin_core::{ActionKind, ActionOutcome, Context, PastAction};

    #[test]
    fn counts_take_this_invoices_notices_that_went_out_in_the_last_seven_days() {
        let mut ctx: Context = serde_json::from_value(serde_json::json!({
            "as-of": "2026-03-10",
            "invoice": {"id": "i", "number": "N", "issued-on": "2026-01-01",
                        "due-on": "2026-02-01", "amount": {"minor": 1, "currency": "EUR"},
                        "open-balance": {"minor": 1, "currency": "EUR"},
                        "payment-method": "card"},
            "customer": {"id": "c", "lifetime-value": {"minor": 0, "currency": "EUR"},
                         "customer-since": "2025-01-01"}
        }))
        .expect("a context");
        let past = |day: u32, kind, outcome| PastAction {
            on: dunlin_core::Date::from_ymd_opt(2026, 3, day).expect("a day"),
            kind,
            level: Some(1),
            channel: None,
            tone: None,
            outcome,
        };
        ctx.history = vec![
            past(3, ActionKind::Notify, ActionOutcome::Delivered), // eight days before
            past(4, ActionKind::Notify, ActionOutcome::Delivered),
            past(8, ActionKind::Notify, ActionOutcome::Blocked),
            past(9, ActionKind::Pause, ActionOutcome::Delivered),
            past(10, ActionKind::Notify, ActionOutcome::Pending),
        ];
        let c = counts(&ctx);
        assert_eq!((c.invoice_today, c.customer_last_7_days), (1, 2));
    }
}
