//! The contract's shared cases (`wit/policy@0.1.0/cases/`) against this crate's copies of
//! the host's JSON format and contract checks. The host checks the same files in
//! `host/dunlin-core/tests/contract_cases.rs`; a case the two sides do not answer alike
//! (a verdict, a default, a written byte or a message) fails one of the two tests.

use std::path::PathBuf;

use serde_json::Value;

use super::json::{context_to_text, decision_to_text};
use super::{
    context_from_json, context_to_json, contract_violation, decision_from_json, decision_to_json,
};
use crate::CONTRACT_VERSION;

fn cases_file(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../wit/policy@{CONTRACT_VERSION}/cases"))
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn cases(name: &str) -> Value {
    serde_json::from_str(&cases_file(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn each<'a>(file: &'a Value, key: &str) -> impl Iterator<Item = (&'a str, &'a Value)> {
    file[key]
        .as_array()
        .unwrap_or_else(|| panic!("no list {key:?}"))
        .iter()
        .map(|case| (case["name"].as_str().expect("every case has a name"), case))
}

#[test]
fn shared_contexts_are_read_and_written_as_the_host_does() {
    let file = cases("contexts.json");
    for (name, case) in each(&file, "valid") {
        let ctx =
            context_from_json(&case["context"]).unwrap_or_else(|e| panic!("{name}: refused: {e}"));
        let written = context_to_json(&ctx);
        if let Some(expected) = case.get("written-as") {
            assert_eq!(&written, expected, "{name}");
        }
        assert_eq!(context_from_json(&written).as_ref(), Ok(&ctx), "{name}");
    }
    let accepted: Vec<&str> = each(&file, "invalid")
        .filter(|(_, case)| context_from_json(&case["context"]).is_ok())
        .map(|(name, _)| name)
        .collect();
    assert!(
        accepted.is_empty(),
        "invalid contexts accepted: {accepted:#?}"
    );
}

#[test]
fn shared_decisions_are_read_and_checked_as_the_host_does() {
    let file = cases("decisions.json");
    let ctx = context_from_json(&file["context"]).expect("the context reads");
    for (name, case) in each(&file, "valid") {
        let decision = decision_from_json(&case["decision"])
            .unwrap_or_else(|e| panic!("{name}: unreadable: {e}"));
        assert_eq!(contract_violation(&ctx, &decision), None, "{name}");
        let expected = case.get("written-as").unwrap_or(&case["decision"]);
        assert_eq!(&decision_to_json(&decision), expected, "{name}");
    }
    for (name, case) in each(&file, "refused") {
        let decision = decision_from_json(&case["decision"])
            .unwrap_or_else(|e| panic!("{name}: unreadable: {e}"));
        let message = contract_violation(&ctx, &decision);
        assert_eq!(
            message.as_deref(),
            case["refused"]["message"].as_str(),
            "{name}"
        );
    }
    let read: Vec<&str> = each(&file, "unreadable")
        .filter(|(_, case)| decision_from_json(&case["decision"]).is_ok())
        .map(|(name, _)| name)
        .collect();
    assert!(read.is_empty(), "unreadable decisions read: {read:#?}");
}

#[test]
fn written_contexts_and_decisions_keep_the_host_bytes() {
    for line in cases_file("contexts.written.jsonl").lines() {
        let value: Value = serde_json::from_str(line).expect("a JSON line");
        let ctx = context_from_json(&value).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(context_to_text(&ctx), line);
    }
    for line in cases_file("decisions.written.jsonl").lines() {
        let value: Value = serde_json::from_str(line).expect("a JSON line");
        let decision = decision_from_json(&value).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(decision_to_text(&decision), line);
    }
}
