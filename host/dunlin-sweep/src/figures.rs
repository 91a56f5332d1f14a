//! What sweeps report through the `metrics` facade (the exporter is the binary's): decisions
//! by outcome and failure code, each policy call's latency and fuel, and each sweep's
//! duration and size. Label values are the tenant's id (made by the operator) and the host's
//! stable failure codes, never text a tenant or a policy wrote.
//!
//! The worker threads only count into a page's [`PageFigures`]; the sweep's own task records
//! them, once per page, so that recording costs a page one registry look-up per series
//! instead of one per invoice.

use std::collections::BTreeMap;
use std::time::Duration;

use dunlin_store::TenantId;

use crate::outcome::Built;
use crate::SweepReport;

/// One page's decisions, counted where they are made.
#[derive(Default)]
pub(crate) struct PageFigures {
    /// Reviews by failure code (`None`: the policy answered).
    by_failure: BTreeMap<Option<&'static str>, u64>,
    /// Each review's policy call: seconds and fuel.
    calls: Vec<(f64, f64)>,
}

impl PageFigures {
    pub(crate) fn add(&mut self, built: &Built) {
        *self.by_failure.entry(built.failure_code).or_default() += 1;
        if let (Some(us), Some(fuel)) = (built.outcome.duration_us, built.outcome.fuel_used) {
            self.calls.push((us as f64 / 1e6, fuel as f64));
        }
    }

    /// Records the page's figures for `tenant`.
    pub(crate) fn record(self, tenant: &TenantId) {
        let tenant = tenant.as_str().to_owned();
        for (code, n) in self.by_failure {
            let (outcome, code) = match code {
                None => ("decided", ""),
                Some(code) => ("failed", code),
            };
            metrics::counter!("dunlin_decisions_total",
                "tenant" => tenant.clone(), "outcome" => outcome, "failure_code" => code)
            .increment(n);
        }
        let latency = metrics::histogram!("dunlin_policy_call_seconds", "tenant" => tenant.clone());
        let fuel = metrics::histogram!("dunlin_policy_fuel", "tenant" => tenant);
        for (seconds, used) in self.calls {
            latency.record(seconds);
            fuel.record(used);
        }
    }
}

/// Records a finished sweep of `tenant` that took `took`.
pub(crate) fn record_sweep(tenant: &TenantId, report: &SweepReport, took: Duration) {
    let tenant = tenant.as_str().to_owned();
    metrics::counter!("dunlin_sweeps_total", "tenant" => tenant.clone()).increment(1);
    metrics::histogram!("dunlin_sweep_duration_seconds", "tenant" => tenant.clone())
        .record(took.as_secs_f64());
    metrics::histogram!("dunlin_sweep_invoices", "tenant" => tenant).record(report.reviewed as f64);
}
