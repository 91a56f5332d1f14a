//! What a delivery round reports through the `metrics` facade (the exporter is the binary's):
//! actions by the result written for them, and attempts by channel and outcome with their
//! latency. Label values are the tenant's id (made by the operator) and the host's own names,
//! never a target, an error text or anything else a tenant or a receiver wrote.

use std::collections::BTreeMap;

use dunlin_store::outbox::{Finished, Next};
use dunlin_store::TenantId;

/// The label of a result: the action's fate after this round.
fn result_name(next: &Next) -> &'static str {
    match next {
        Next::Delivered => "delivered",
        Next::Retry { .. } => "retry",
        Next::Dead { .. } => "dead",
        Next::Failed { .. } => "failed",
        Next::Wait { .. } => "wait",
        Next::Cancelled { .. } => "cancelled",
        Next::Blocked { .. } => "blocked",
        Next::Release => "released",
    }
}

/// Records the results of one round of `tenant`'s, once they are written.
pub(crate) fn record(tenant: &TenantId, results: &[Finished]) {
    let mut by_result: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut attempts: BTreeMap<(&'static str, &'static str), Vec<f64>> = BTreeMap::new();
    for result in results {
        *by_result.entry(result_name(&result.next)).or_default() += 1;
        for a in &result.attempts {
            attempts
                .entry((a.channel.as_str(), a.outcome.as_str()))
                .or_default()
                .push(a.latency_us as f64 / 1e6);
        }
    }
    let tenant = tenant.as_str().to_owned();
    for (result, n) in by_result {
        metrics::counter!("dunlin_deliveries_total", "tenant" => tenant.clone(), "result" => result)
            .increment(n);
    }
    for ((channel, outcome), latencies) in attempts {
        metrics::counter!("dunlin_delivery_attempts_total",
            "tenant" => tenant.clone(), "channel" => channel, "outcome" => outcome)
        .increment(latencies.len() as u64);
        let histogram = metrics::histogram!("dunlin_delivery_attempt_seconds",
            "tenant" => tenant.clone(), "channel" => channel);
        for seconds in latencies {
            histogram.record(seconds);
        }
    }
}
