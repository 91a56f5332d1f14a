//! Whether a component fits the limits it will run under: at upload, it decides a rich
//! sample invoice (a long history, many metadata pairs, tags and parameters, built here)
//! and the fuel, memory and time it took are reported against its limits. Interpreted
//! guests spend most of their fuel reading the context, so the sample is large on purpose:
//! what fails or comes near a limit here would fail on the tenant's bigger invoices.

use std::collections::BTreeMap;
use std::time::Duration;

use dunlin_core::context::{
    ActionKind, ActionOutcome, Customer, Invoice, OtherOverdue, PastAction,
};
use dunlin_core::{Channel, Context, Date, PaymentMethod, PolicyFailure, Tone};

use crate::limits::CallLimits;
use crate::policy::Report;

/// The rich sample's shape, as the upload's report names it.
pub(crate) const RICH_SAMPLE: &str = Fit::SAMPLE;

/// Above this share of a limit, the report warns that a larger invoice may not fit.
const WARN_PERCENT: u64 = 50;

/// How a component did on the rich sample invoice, against the limits it runs under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fit {
    /// Why it gave no decision, if it did not (a refusal for want of the tenant's own
    /// parameters is a decision here: the policy ran to its end).
    pub failure: Option<PolicyFailure>,
    /// Fuel the decision used, start code included in a fresh instance.
    pub fuel_used: u64,
    /// The largest the instance's linear memory grew to, in bytes.
    pub peak_memory_bytes: u64,
    /// Wall time of the decision, instantiation included.
    pub elapsed: Duration,
    /// The limits it ran under.
    pub limits: CallLimits,
}

impl Fit {
    /// What the rich sample invoice holds, for reports.
    pub const SAMPLE: &'static str = "40 history entries, 30 metadata pairs, 10 tags, 20 params";

    pub(crate) fn new(report: &Report, limits: CallLimits) -> Self {
        Fit {
            failure: match &report.outcome {
                Ok(_) | Err(PolicyFailure::Refused(_)) => None,
                Err(failure) => Some(failure.clone()),
            },
            fuel_used: report.fuel_used,
            peak_memory_bytes: report.peak_memory_bytes,
            elapsed: report.elapsed,
            limits,
        }
    }

    /// Whether it decided within its limits.
    pub fn fits(&self) -> bool {
        self.failure.is_none()
    }

    /// What comes near a limit: more than half of the fuel or memory limit on the sample.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        let mut near = |what: &str, used: u64, limit: u64, raise: &str| {
            let share = percent(used, limit);
            if share > WARN_PERCENT {
                warnings.push(format!(
                    "it used {share}% of its {what} limit on the rich sample invoice: a \
                     larger invoice may exceed it (raise the tenant's sandbox.{raise})"
                ));
            }
        };
        near("fuel", self.fuel_used, self.limits.fuel, "fuel");
        near(
            "memory",
            self.peak_memory_bytes,
            self.limits.memory_bytes as u64,
            "memory-mib",
        );
        warnings
    }
}

impl std::fmt::Display for Fit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mib = |bytes: u64| bytes as f64 / f64::from(1 << 20);
        write!(
            f,
            "fuel {} of {} ({}%), memory {:.1} of {:.0} MiB ({}%), {} ms of {} ms",
            self.fuel_used,
            self.limits.fuel,
            percent(self.fuel_used, self.limits.fuel),
            mib(self.peak_memory_bytes),
            mib(self.limits.memory_bytes as u64),
            percent(self.peak_memory_bytes, self.limits.memory_bytes as u64),
            self.elapsed.as_millis(),
            self.limits.deadline.as_millis(),
        )
    }
}

/// `used` as a whole percentage of `limit`, rounded up (so any use of a limit shows).
fn percent(used: u64, limit: u64) -> u64 {
    let share = u128::from(used) * 100;
    u64::try_from(share.div_ceil(u128::from(limit.max(1)))).unwrap_or(u64::MAX)
}

/// The rich sample invoice: 90 days overdue after 40 notices and declined retries, with
/// 30 metadata pairs, 10 customer tags and 20 parameters.
pub(crate) fn rich_context() -> Context {
    let day = |iso: &str| iso.parse::<Date>().expect("a fixed date is valid");
    let as_of = day("2026-03-30");
    // The days before as-of, the latest first.
    let days_back: Vec<Date> = std::iter::successors(as_of.pred_opt(), |d| d.pred_opt())
        .take(80)
        .collect();
    let history = (0..40u32)
        .map(|i| {
            // Every other day, oldest first, up to the day before as-of.
            let on = days_back[(79 - 2 * i) as usize];
            if i % 4 == 3 {
                PastAction {
                    on,
                    kind: ActionKind::RetryPayment,
                    level: None,
                    channel: None,
                    tone: None,
                    outcome: ActionOutcome::Declined,
                }
            } else {
                PastAction {
                    on,
                    kind: ActionKind::Notify,
                    level: Some((i % 3 + 1) as u8),
                    channel: Some(if i % 2 == 0 {
                        Channel::Email
                    } else {
                        Channel::Sms
                    }),
                    tone: Some([Tone::Friendly, Tone::Neutral, Tone::Firm][(i % 3) as usize]),
                    outcome: ActionOutcome::Delivered,
                }
            }
        })
        .collect();
    let pairs = |prefix: &str, n: u32| -> BTreeMap<String, String> {
        (0..n)
            .map(|i| {
                (
                    format!("{prefix}-{i:02}"),
                    format!("sample value {i} of {prefix}"),
                )
            })
            .collect()
    };
    let mut invoice: Invoice = serde_json::from_value(serde_json::json!({
        "id": "rich-sample-invoice", "number": "SAMPLE-2",
        "issued-on": "2025-11-30", "due-on": "2025-12-30",
        "amount": {"minor": 1_234_567, "currency": "EUR"},
        "open-balance": {"minor": 734_567, "currency": "EUR"},
        "payment-method": "card", "failed-attempts": 10
    }))
    .expect("the rich sample invoice is valid");
    invoice.metadata = pairs("meta", 30);
    invoice.payment_method = PaymentMethod::Card;
    let mut customer: Customer = serde_json::from_value(serde_json::json!({
        "id": "rich-sample-customer", "lifetime-value": {"minor": 25_000_000, "currency": "EUR"},
        "customer-since": "2019-05-01", "reachable-on": ["email", "sms", "letter"]
    }))
    .expect("the rich sample customer is valid");
    customer.tags = (0..10).map(|i| format!("sample-tag-{i}")).collect();
    Context {
        as_of,
        invoice,
        customer,
        history,
        other_overdue: OtherOverdue {
            count: 3,
            total_minor: 450_000,
        },
        params: pairs("param", 20),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rich_sample_has_the_shape_it_is_reported_with() {
        let ctx = rich_context();
        assert_eq!(ctx.history.len(), 40);
        assert_eq!(ctx.invoice.metadata.len(), 30);
        assert_eq!(ctx.customer.tags.len(), 10);
        assert_eq!(ctx.params.len(), 20);
        assert!(ctx.history.iter().all(|a| a.on < ctx.as_of));
        assert_eq!(
            RICH_SAMPLE,
            "40 history entries, 30 metadata pairs, 10 tags, 20 params"
        );
    }

    #[test]
    fn near_a_limit_is_a_warning_and_the_report_reads_against_the_limits() {
        let fit = |fuel_used, peak_memory_bytes| Fit {
            failure: None,
            fuel_used,
            peak_memory_bytes,
            elapsed: Duration::from_millis(3),
            limits: CallLimits {
                fuel: 1_000,
                memory_bytes: 4 << 20,
                deadline: Duration::from_millis(500),
            },
        };
        assert!(fit(500, 2 << 20).warnings().is_empty());
        let near = fit(501, 3 << 20).warnings();
        assert_eq!(near.len(), 2, "{near:?}");
        assert!(near[0].contains("51% of its fuel limit"), "{}", near[0]);
        assert!(near[1].contains("sandbox.memory-mib"), "{}", near[1]);
        assert_eq!(
            fit(1, 1 << 20).to_string(),
            "fuel 1 of 1000 (1%), memory 1.0 of 4 MiB (25%), 3 ms of 500 ms"
        );
    }
}
