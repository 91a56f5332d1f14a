//! Same context, same decision: in strict mode, in batch mode (one instance reused across
//! every case, in order), and natively through the guest SDK's harness.

use dunlin_core::cases::CasesFile;
use dunlin_core::{Context, Policy, PolicyFailure};
use dunlin_guest_sdk::testing::{context_from_json, decision_to_json};
use dunlin_guest_sdk::Policy as GuestPolicy;
use dunlin_runtime::Mode;
use dunlin_tests::{reference_policy, repo, runtime};
use serde_json::Value;

/// A decision or failure as comparable JSON.
pub(crate) fn host_answer(outcome: Result<dunlin_core::Decision, PolicyFailure>) -> Value {
    match outcome {
        Ok(d) => serde_json::to_value(d).unwrap(),
        Err(PolicyFailure::Refused(r)) => serde_json::json!({"refused": r}),
        Err(other) => panic!("sandbox failure on a reference policy: {other}"),
    }
}

fn native_answer<P: GuestPolicy>(ctx: &Context) -> Value {
    let guest_ctx = context_from_json(&serde_json::to_value(ctx).unwrap()).unwrap();
    match P::decide(&guest_ctx) {
        Ok(d) => decision_to_json(&d),
        Err(e) => {
            // The host's JSON for a refusal, built from the guest's variant.
            let refusal = match e {
                dunlin_guest_sdk::PolicyError::BadParam(m) => dunlin_core::Refusal::BadParam(m),
                dunlin_guest_sdk::PolicyError::Unsupported(m) => {
                    dunlin_core::Refusal::Unsupported(m)
                }
            };
            serde_json::json!({"refused": refusal})
        }
    }
}

fn check<P: GuestPolicy>(name: &str) {
    let text =
        std::fs::read_to_string(repo().join("policies").join(name).join("cases.json")).unwrap();
    let cases = CasesFile::parse(&text).unwrap();
    let loaded = runtime().load(&reference_policy(name)).unwrap();
    let mut batch = loaded.handle(Mode::Batch);
    assert!(
        cases.cases.len() >= 5,
        "{name} has too few cases to mean much"
    );
    for case in &cases.cases {
        let ctx = cases.context(case).unwrap();
        let strict = host_answer(loaded.handle(Mode::Strict).decide(&ctx));
        let batched = host_answer(batch.decide(&ctx));
        let native = native_answer::<P>(&ctx);
        assert_eq!(strict, batched, "{name} / {}: strict vs batch", case.name);
        assert_eq!(strict, native, "{name} / {}: sandbox vs native", case.name);
        // And again: nothing carried over from the previous calls.
        assert_eq!(
            host_answer(batch.decide(&ctx)),
            strict,
            "{name} / {}",
            case.name
        );
    }
}

#[test]
fn standard_is_deterministic_across_modes_and_native() {
    check::<policy_standard::Standard>("standard");
}

#[test]
fn saas_card_is_deterministic_across_modes_and_native() {
    check::<policy_saas_card::SaasCard>("saas-card");
}

#[test]
fn b2b_segmented_is_deterministic_across_modes_and_native() {
    check::<policy_b2b_segmented::B2bSegmented>("b2b-segmented");
}
