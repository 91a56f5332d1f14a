//! The contract's shared cases (`wit/policy@0.1.0/cases/`) against the host's JSON form and
//! contract checks. The guest SDK keeps its own copies of both (it must not depend on the
//! host) and checks the same files in `guest-sdk/src/testing/contract_cases.rs`, so the two
//! copies cannot drift apart unnoticed: a case both sides do not answer alike fails one of
//! the two tests.

use std::collections::BTreeSet;
use std::path::PathBuf;

use dunlin_core::{Context, Decision, InvalidDecision};
use serde_json::Value;

fn cases_file(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../wit/policy@0.1.0/cases")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn cases(name: &str) -> Value {
    serde_json::from_str(&cases_file(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn list<'a>(file: &'a Value, key: &str) -> &'a [Value] {
    file[key]
        .as_array()
        .unwrap_or_else(|| panic!("no list {key:?}"))
}

fn name(case: &Value) -> &str {
    case["name"].as_str().expect("every case has a name")
}

/// The error kind the cases name, one per [`InvalidDecision`] variant.
fn kind(e: &InvalidDecision) -> &'static str {
    match e {
        InvalidDecision::Empty { .. } => "empty",
        InvalidDecision::TooLong { .. } => "too-long",
        InvalidDecision::BadIdentifier { .. } => "bad-identifier",
        InvalidDecision::ControlCharacter { .. } => "control-character",
        InvalidDecision::Level { .. } => "level",
        InvalidDecision::TooMany { .. } => "too-many",
        InvalidDecision::DuplicateVar { .. } => "duplicate-var",
        InvalidDecision::NotInFuture { .. } => "not-in-future",
        InvalidDecision::BadDate { .. } => "bad-date",
        InvalidDecision::Other(_) => "other",
    }
}

/// Every kind [`kind`] names (its `match` fails to compile when a variant is added, which
/// then belongs here too).
const KINDS: &[&str] = &[
    "empty",
    "too-long",
    "bad-identifier",
    "control-character",
    "level",
    "too-many",
    "duplicate-var",
    "not-in-future",
    "bad-date",
    "other",
];

/// The kinds no JSON decision can reach: a JSON object names each variable once, the reader
/// refuses a date that is no calendar date (an `unreadable` case), and `other` is for values
/// the bindings of a contract version cannot convert.
const NOT_IN_JSON: &[&str] = &["duplicate-var", "bad-date", "other"];

#[test]
fn shared_contexts_are_read_and_written_as_the_contract_says() {
    let file = cases("contexts.json");
    for case in list(&file, "valid") {
        let ctx: Context = serde_json::from_value(case["context"].clone())
            .unwrap_or_else(|e| panic!("{}: refused: {e}", name(case)));
        let written = serde_json::to_value(&ctx).expect("a context serialises");
        if let Some(expected) = case.get("written-as") {
            assert_eq!(&written, expected, "{}", name(case));
        }
        let again: Context = serde_json::from_value(written).expect("what is written reads");
        assert_eq!(again, ctx, "{}", name(case));
    }
    let accepted: Vec<&str> = list(&file, "invalid")
        .iter()
        .filter(|case| serde_json::from_value::<Context>(case["context"].clone()).is_ok())
        .map(name)
        .collect();
    assert!(
        accepted.is_empty(),
        "invalid contexts accepted: {accepted:#?}"
    );
}

#[test]
fn shared_decisions_are_read_and_checked_as_the_contract_says() {
    let file = cases("decisions.json");
    let ctx: Context = serde_json::from_value(file["context"].clone()).expect("the context reads");
    for case in list(&file, "valid") {
        let decision: Decision = serde_json::from_value(case["decision"].clone())
            .unwrap_or_else(|e| panic!("{}: unreadable: {e}", name(case)));
        assert_eq!(decision.validate(&ctx), Ok(()), "{}", name(case));
        let written = serde_json::to_value(&decision).expect("a decision serialises");
        let expected = case.get("written-as").unwrap_or(&case["decision"]);
        assert_eq!(&written, expected, "{}", name(case));
    }
    let mut kinds = BTreeSet::new();
    for case in list(&file, "refused") {
        let decision: Decision = serde_json::from_value(case["decision"].clone())
            .unwrap_or_else(|e| panic!("{}: unreadable: {e}", name(case)));
        let err = decision
            .validate(&ctx)
            .expect_err(&format!("{}: accepted", name(case)));
        let expected = &case["refused"];
        assert_eq!(kind(&err), expected["kind"], "{}", name(case));
        assert_eq!(err.to_string(), expected["message"], "{}", name(case));
        kinds.insert(kind(&err));
    }
    let read: Vec<&str> = list(&file, "unreadable")
        .iter()
        .filter(|case| serde_json::from_value::<Decision>(case["decision"].clone()).is_ok())
        .map(name)
        .collect();
    assert!(read.is_empty(), "unreadable decisions read: {read:#?}");
    // Every rule a decision in JSON can break has a case.
    let uncovered: Vec<_> = KINDS
        .iter()
        .filter(|k| !kinds.contains(*k) && !NOT_IN_JSON.contains(k))
        .collect();
    assert!(uncovered.is_empty(), "no refused case of {uncovered:?}");
}

/// The decision log keeps contexts in this form, and replays read them back: reading and
/// writing gives the same bytes.
#[test]
fn written_contexts_and_decisions_keep_their_bytes() {
    for line in cases_file("contexts.written.jsonl").lines() {
        let ctx: Context = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(serde_json::to_string(&ctx).unwrap(), line);
    }
    for line in cases_file("decisions.written.jsonl").lines() {
        let decision: Decision =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(serde_json::to_string(&decision).unwrap(), line);
    }
}
