//! Cross-crate tests: the sandbox against hostile components, determinism across modes and
//! the native harness, the compile cache, and the reference policies' cases in the sandbox.

mod cache;
mod determinism;
mod guest_text;
mod javascript;
mod limits;
mod python;
mod reference;
mod sandbox;

use dunlin_core::cases::CasesFile;
use dunlin_core::{Context, Policy};
use dunlin_runtime::{LoadedPolicy, Mode};
use dunlin_tests::repo;

use crate::determinism::host_answer;

/// A plain overdue card invoice, as JSON in the host's format.
pub fn ctx() -> Context {
    serde_json::from_value(serde_json::json!({
        "as-of": "2026-03-10",
        "invoice": {
            "id": "inv-1", "number": "2026-001",
            "issued-on": "2026-01-31", "due-on": "2026-02-28",
            "amount": {"minor": 12000, "currency": "EUR"},
            "open-balance": {"minor": 12000, "currency": "EUR"},
            "payment-method": "card"
        },
        "customer": {
            "id": "cust-1", "lifetime-value": {"minor": 250000, "currency": "EUR"},
            "customer-since": "2022-05-01", "reachable-on": ["email", "sms"]
        }
    }))
    .expect("the sample context is valid")
}

/// The Rust `standard` policy's cases, which its ports to other languages pass too.
pub fn standard_cases() -> CasesFile {
    let path = repo().join("policies/standard/cases.json");
    CasesFile::parse(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `loaded` passes every case of [`standard_cases`] in strict and in batch mode.
pub fn assert_passes_the_standard_cases(loaded: &LoadedPolicy) {
    let cases = standard_cases();
    for mode in [Mode::Strict, Mode::Batch] {
        let failed: Vec<_> = cases
            .run(&mut loaded.handle(mode))
            .into_iter()
            .filter_map(|r| r.problem.map(|p| format!("{}: {p}", r.name)))
            .collect();
        assert!(failed.is_empty(), "{mode:?}:\n{}", failed.join("\n"));
    }
}

/// `port` answers every context of [`standard_cases`], and refuses malformed parameters with
/// the same words, exactly as the Rust `standard` (`rust`) does: each in a fresh instance, on
/// one instance reused in order, and on that instance once more (nothing carried over
/// between calls).
pub fn assert_decides_as_the_rust_standard(rust: &LoadedPolicy, port: &LoadedPolicy) {
    let cases = standard_cases();
    let mut contexts: Vec<(String, Context)> = cases
        .cases
        .iter()
        .map(|case| (case.name.clone(), cases.context(case).unwrap()))
        .collect();
    for (key, value) in [
        ("channel", "fax"),
        ("firm-days", "soon"),
        ("final-by-letter", "yes"),
    ] {
        let mut ctx = contexts[0].1.clone();
        ctx.params.insert(key.into(), value.into());
        contexts.push((format!("{key} = {value}"), ctx));
    }
    let expected: Vec<_> = contexts
        .iter()
        .map(|(_, ctx)| host_answer(rust.handle(Mode::Strict).decide(ctx)))
        .collect();
    let mut batch = port.handle(Mode::Batch);
    for round in ["", " (again)"] {
        for ((name, ctx), expected) in contexts.iter().zip(&expected) {
            if round.is_empty() {
                let strict = host_answer(port.handle(Mode::Strict).decide(ctx));
                assert_eq!(&strict, expected, "{name}: strict");
            }
            assert_eq!(
                &host_answer(batch.decide(ctx)),
                expected,
                "{name}: batch{round}"
            );
        }
    }
}
