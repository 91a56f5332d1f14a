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

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use dunlin_store::outbox::{Attempt, AttemptChannel, AttemptOutcome, Lease};
    use metrics_exporter_prometheus::PrometheusBuilder;

    use super::*;

    fn attempt(channel: AttemptChannel, outcome: AttemptOutcome, ms: u64) -> Attempt {
        Attempt {
            started_at: Utc::now(),
            latency_us: ms * 1000,
            channel,
            // What a tenant or a receiver wrote, which no label may carry.
            target: "https://tenant.example/\"}hook".into(),
            message_key: "key".into(),
            outcome,
            detail: "550 no such user".into(),
        }
    }

    fn finished(id: i64, attempts: Vec<Attempt>, next: Next) -> Finished {
        Finished {
            lease: Lease { id, token: 1 },
            attempt: 1,
            attempts,
            next,
        }
    }

    #[test]
    fn a_round_counts_results_and_attempts_by_channel_and_outcome_with_their_latency() {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let results = [
            finished(
                1,
                vec![attempt(
                    AttemptChannel::Email,
                    AttemptOutcome::Delivered,
                    20,
                )],
                Next::Delivered,
            ),
            finished(
                2,
                vec![
                    attempt(AttemptChannel::Webhook, AttemptOutcome::Delivered, 40),
                    attempt(AttemptChannel::Webhook, AttemptOutcome::Temporary, 60),
                ],
                Next::Retry {
                    at: Utc::now(),
                    error: "503 from tenant.example".into(),
                },
            ),
            finished(
                3,
                Vec::new(),
                Next::Blocked {
                    note: "opted out".into(),
                },
            ),
        ];
        let acme = TenantId::new("acme").expect("an id");
        metrics::with_local_recorder(&recorder, || record(&acme, &results));
        let text = handle.render();
        for line in [
            r#"dunlin_deliveries_total{tenant="acme",result="delivered"} 1"#,
            r#"dunlin_deliveries_total{tenant="acme",result="retry"} 1"#,
            r#"dunlin_deliveries_total{tenant="acme",result="blocked"} 1"#,
            r#"dunlin_delivery_attempts_total{tenant="acme",channel="email",outcome="delivered"} 1"#,
            r#"dunlin_delivery_attempts_total{tenant="acme",channel="webhook",outcome="delivered"} 1"#,
            r#"dunlin_delivery_attempts_total{tenant="acme",channel="webhook",outcome="temporary"} 1"#,
            r#"dunlin_delivery_attempt_seconds_count{tenant="acme",channel="webhook"} 2"#,
            r#"dunlin_delivery_attempt_seconds_sum{tenant="acme",channel="webhook"} 0.1"#,
        ] {
            assert!(text.lines().any(|l| l == line), "no {line} in:\n{text}");
        }
        for written in ["tenant.example", "550", "opted out"] {
            assert!(!text.contains(written), "{written} in:\n{text}");
        }
    }
}
