//! Cases files, run natively: the same file `dunlin policy test` runs against the component.
//!
//! ```json
//! { "base": { <a full context in the host's JSON format> },
//!   "cases": [
//!     { "name": "friendly reminder 3 days after due",
//!       "context": { <JSON merge patch (RFC 7386) applied to base> },
//!       "expect": { <partial decision> } },
//!     { "name": "refuses a malformed parameter",
//!       "context": { "params": { "firm-days": "soon" } },
//!       "expect-failure": "refused" } ] }
//! ```
//!
//! `expect` matches when it is a JSON subset of the decision's JSON (see
//! [`subset_mismatches`]). `expect-failure` names the failure code: natively a refusal is
//! `refused`, a panic is `trap` and a decision that breaks the contract is
//! `invalid-decision`, as the host reports them.

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::path::Path;

use serde_json::{Map, Value};

use super::{context_from_json, contract_violation, decision_to_json, policy_error_to_json};
use crate::{Context, Policy};

/// Runs the cases file at `path` (relative paths start at the crate being tested) against
/// `P` and panics with a per-case report if the file is malformed or any case fails.
///
/// ```no_run
/// # use dunlin_guest_sdk::{decision, Context, Decision, Policy, PolicyError};
/// # struct MyPolicy;
/// # impl Policy for MyPolicy {
/// #     fn decide(_: &Context) -> Result<Decision, PolicyError> { Ok(decision("").because("x")) }
/// # }
/// #[test]
/// fn cases_file_passes() {
///     dunlin_guest_sdk::testing::run_cases::<MyPolicy>("cases.json");
/// }
/// ```
#[track_caller]
pub fn run_cases<P: Policy>(path: impl AsRef<Path>) {
    let path = path.as_ref();
    let file = std::fs::read_to_string(path)
        .map_err(|err| format!("cannot read {}: {err}", path.display()))
        .and_then(|text| {
            serde_json::from_str::<Value>(&text)
                .map_err(|err| format!("{} is not JSON: {err}", path.display()))
        });
    let report = file.and_then(|json| {
        check_cases::<P>(&json).map_err(|err| format!("{}: {err}", path.display()))
    });
    match report {
        Err(err) => panic!("{err}"),
        Ok(report) if !report.failures.is_empty() => {
            panic!("{}: {report}", path.display())
        }
        Ok(_) => {}
    }
}

/// Runs the cases in `file` against `P` and reports which failed; `Err` if the file itself is
/// malformed (not a cases file, unknown keys, duplicate names, no expectation).
pub fn check_cases<P: Policy>(file: &Value) -> Result<CasesReport, String> {
    let top = object(file, "the cases file")?;
    only_keys(top, &["base", "cases"], "the cases file")?;
    let base = top
        .get("base")
        .ok_or("the cases file has no \"base\" context")?;
    let cases = match top.get("cases") {
        Some(Value::Array(cases)) if !cases.is_empty() => cases,
        Some(Value::Array(_)) => return Err("\"cases\" is empty".into()),
        _ => return Err("the cases file has no \"cases\" array".into()),
    };
    let mut report = CasesReport {
        total: cases.len(),
        failures: Vec::new(),
    };
    let mut names = std::collections::BTreeSet::new();
    for (i, case) in cases.iter().enumerate() {
        let case = parse_case(case, i)?;
        if !names.insert(case.name.clone()) {
            return Err(format!("two cases are named {:?}", case.name));
        }
        if let Some(failure) = run_case::<P>(base, &case) {
            report.failures.push(failure);
        }
    }
    Ok(report)
}

/// The outcome of a cases file: how many cases ran and the ones that failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CasesReport {
    /// How many cases ran.
    pub total: usize,
    /// The failed cases, in file order.
    pub failures: Vec<CaseFailure>,
}

/// One failed case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaseFailure {
    /// The case's name.
    pub name: String,
    /// What did not match, one line each, e.g.
    /// `actions[0].template: expected "reminder-firm", got "reminder-friendly"`.
    pub problems: Vec<String>,
    /// What the policy answered: the decision's JSON, or the failure.
    pub got: String,
}

impl fmt::Display for CasesReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} of {} cases failed", self.failures.len(), self.total)?;
        for failure in &self.failures {
            writeln!(f, "\ncase {:?}:", failure.name)?;
            for problem in &failure.problems {
                writeln!(f, "    {problem}")?;
            }
            writeln!(f, "    got: {}", failure.got)?;
        }
        Ok(())
    }
}

/// Applies `patch` to `target` as a JSON merge patch (RFC 7386): objects merge key by key,
/// `null` removes a key, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(target) = target {
        for (key, value) in patch {
            if value.is_null() {
                target.remove(key);
            } else {
                merge_patch(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// Where `actual` fails to contain `expected`, one line per difference (empty: it matches).
///
/// Every key of an expected object must be present in the actual object and match
/// recursively; arrays must have the same length and match element by element; anything else
/// must be equal.
pub fn subset_mismatches(expected: &Value, actual: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    compare(expected, actual, "", &mut problems);
    problems
}

fn compare(expected: &Value, actual: &Value, path: &str, problems: &mut Vec<String>) {
    let at = if path.is_empty() { "decision" } else { path };
    match (expected, actual) {
        (Value::Object(want), Value::Object(got)) => {
            for (key, want) in want {
                let path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match got.get(key) {
                    Some(got) => compare(want, got, &path, problems),
                    None => problems.push(format!("{path}: expected {want}, but it is missing")),
                }
            }
        }
        (Value::Array(want), Value::Array(got)) => {
            if want.len() != got.len() {
                problems.push(format!(
                    "{at}: expected {} element(s), got {}: {actual}",
                    want.len(),
                    got.len()
                ));
                return;
            }
            for (i, (want, got)) in want.iter().zip(got).enumerate() {
                compare(want, got, &format!("{path}[{i}]"), problems);
            }
        }
        _ if expected == actual => {}
        _ => problems.push(format!("{at}: expected {expected}, got {actual}")),
    }
}

struct Case {
    name: String,
    context: Value,
    expect: Expect,
}

enum Expect {
    Decision(Value),
    Failure(String),
}

fn parse_case(case: &Value, i: usize) -> Result<Case, String> {
    let what = format!("cases[{i}]");
    let fields = object(case, &what)?;
    only_keys(
        fields,
        &["name", "context", "expect", "expect-failure"],
        &what,
    )?;
    let name = match fields.get("name") {
        Some(Value::String(name)) if !name.trim().is_empty() => name.clone(),
        _ => return Err(format!("{what} has no \"name\"")),
    };
    let context = fields.get("context").cloned().unwrap_or(Value::Null);
    if !(context.is_object() || context.is_null()) {
        return Err(format!(
            "case {name:?}: \"context\" must be an object (a merge patch)"
        ));
    }
    let expect = match (fields.get("expect"), fields.get("expect-failure")) {
        (Some(expect), None) => Expect::Decision(expect.clone()),
        (None, Some(Value::String(code))) => Expect::Failure(code.clone()),
        (None, Some(_)) => {
            return Err(format!(
                "case {name:?}: \"expect-failure\" must be a failure code such as \"refused\""
            ))
        }
        _ => {
            return Err(format!(
                "case {name:?} needs exactly one of \"expect\" and \"expect-failure\""
            ))
        }
    };
    Ok(Case {
        name,
        context,
        expect,
    })
}

/// What a policy call came to, natively.
enum Outcome {
    Decided(Value),
    Failed { code: &'static str, detail: String },
}

fn run_case<P: Policy>(base: &Value, case: &Case) -> Option<CaseFailure> {
    let mut json = base.clone();
    if !case.context.is_null() {
        merge_patch(&mut json, &case.context);
    }
    let fail = |problems: Vec<String>, got: String| CaseFailure {
        name: case.name.clone(),
        problems,
        got,
    };
    let ctx = match context_from_json(&json) {
        Ok(ctx) => ctx,
        Err(err) => {
            return Some(fail(
                vec![format!("the patched context is not a valid context: {err}")],
                "nothing: the policy was not called".into(),
            ))
        }
    };
    let (outcome, got) = match decide::<P>(&ctx) {
        Outcome::Decided(json) => {
            let got = json.to_string();
            (Outcome::Decided(json), got)
        }
        Outcome::Failed { code, detail } => {
            let got = format!("failure {code:?}: {detail}");
            (Outcome::Failed { code, detail }, got)
        }
    };
    let problems = match (&case.expect, &outcome) {
        (Expect::Decision(want), Outcome::Decided(json)) => subset_mismatches(want, json),
        (Expect::Decision(_), Outcome::Failed { code, .. }) => {
            vec![format!("expected a decision, got failure {code:?}")]
        }
        (Expect::Failure(want), Outcome::Decided(_)) => {
            vec![format!("expected failure {want:?}, got a decision")]
        }
        (Expect::Failure(want), Outcome::Failed { code, .. }) if want != code => {
            vec![format!("expected failure {want:?}, got failure {code:?}")]
        }
        (Expect::Failure(_), Outcome::Failed { .. }) => Vec::new(),
    };
    (!problems.is_empty()).then(|| fail(problems, got))
}

fn decide<P: Policy>(ctx: &Context) -> Outcome {
    // A panic is what becomes a trap in the sandbox; report it the same way.
    match panic::catch_unwind(AssertUnwindSafe(|| P::decide(ctx))) {
        Ok(Ok(decision)) => match contract_violation(ctx, &decision) {
            None => Outcome::Decided(decision_to_json(&decision)),
            Some(violation) => Outcome::Failed {
                code: "invalid-decision",
                detail: format!("{violation}; decision: {}", decision_to_json(&decision)),
            },
        },
        Ok(Err(refusal)) => Outcome::Failed {
            code: "refused",
            detail: policy_error_to_json(&refusal).to_string(),
        },
        Err(payload) => Outcome::Failed {
            code: "trap",
            detail: payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "the policy panicked".into()),
        },
    }
}

fn object<'a>(value: &'a Value, what: &str) -> Result<&'a Map<String, Value>, String> {
    value
        .as_object()
        .ok_or_else(|| format!("{what} must be a JSON object"))
}

fn only_keys(fields: &Map<String, Value>, allowed: &[&str], what: &str) -> Result<(), String> {
    match fields.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => Err(format!(
            "{what} has an unknown key {key:?}; allowed: {}",
            allowed.join(", ")
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::testing::{context, context_to_json};
    use crate::{decision, notice, Decision, PolicyError};

    /// Reminds from the due date on, refuses a bad "level" parameter, panics on "explode".
    struct Toy;

    impl Policy for Toy {
        fn decide(ctx: &Context) -> Result<Decision, PolicyError> {
            if ctx.param("explode").is_some() {
                panic!("boom");
            }
            let level: u8 = ctx.param_or("level", 1)?;
            let d = decision("toy").because("toy");
            Ok(if ctx.is_overdue() {
                d.act(notice(level).template("reminder"))
                    .review_on(ctx.as_of.add_days(7))
            } else {
                d.review_on(ctx.as_of)
            })
        }
    }

    fn file(cases: Value) -> Value {
        json!({ "base": context_to_json(&context().build()), "cases": cases })
    }

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let mut doc = json!({"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]});
        merge_patch(
            &mut doc,
            &json!({"a": "z", "c": {"f": null, "h": 1}, "l": [3], "n": {"x": 1}}),
        );
        assert_eq!(
            doc,
            json!({"a": "z", "c": {"d": "e", "h": 1}, "l": [3], "n": {"x": 1}})
        );
        let mut doc = json!([1]);
        merge_patch(&mut doc, &json!({"a": 1}));
        assert_eq!(doc, json!({"a": 1}));
    }

    #[test]
    fn subset_matching_reports_paths() {
        let actual =
            json!({"segment": "s", "actions": [{"kind": "notify", "level": 1}], "review-on": null});
        assert!(subset_mismatches(&json!({"actions": [{"level": 1}]}), &actual).is_empty());
        assert!(subset_mismatches(&json!({"review-on": null}), &actual).is_empty());
        assert_eq!(
            subset_mismatches(&json!({"actions": [{"level": 2}], "reason": "x"}), &actual),
            vec![
                "actions[0].level: expected 2, got 1".to_owned(),
                "reason: expected \"x\", but it is missing".to_owned()
            ]
        );
        assert_eq!(
            subset_mismatches(&json!({"actions": []}), &actual),
            vec!["actions: expected 0 element(s), got 1: [{\"kind\":\"notify\",\"level\":1}]"]
        );
    }

    #[test]
    fn passing_and_failing_cases_are_reported() {
        let report = check_cases::<Toy>(&file(json!([
            {"name": "reminds", "expect": {"actions": [{"kind": "notify", "template": "reminder"}]}},
            {"name": "refuses", "context": {"params": {"level": "high"}}, "expect-failure": "refused"},
            {"name": "wrong level", "context": {"params": {"level": "2"}},
             "expect": {"actions": [{"level": 1}]}},
            {"name": "panics", "context": {"params": {"explode": "1"}}, "expect-failure": "refused"},
            {"name": "invalid", "context": {"as-of": "2026-01-15"}, "expect": {}},
            {"name": "bad context", "context": {"invoice": {"payment-method": "cash"}}, "expect": {}}
        ])))
        .unwrap();
        assert_eq!(report.total, 6);
        let names: Vec<_> = report.failures.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["wrong level", "panics", "invalid", "bad context"]);
        let text = report.to_string();
        assert!(text.starts_with("4 of 6 cases failed"), "{text}");
        assert!(
            text.contains("actions[0].level: expected 1, got 2"),
            "{text}"
        );
        assert!(
            text.contains("expected failure \"refused\", got failure \"trap\""),
            "{text}"
        );
        assert!(text.contains("got: failure \"trap\": boom"), "{text}");
        assert!(text.contains("got failure \"invalid-decision\""), "{text}");
        assert!(text.contains("review-on 2026-01-15 is not after"), "{text}");
        assert!(text.contains("unknown payment method \"cash\""), "{text}");
    }

    #[test]
    fn malformed_files_are_rejected() {
        let bad = [
            (json!([]), "must be a JSON object"),
            (json!({"base": {}}), "no \"cases\" array"),
            (file(json!([])), "\"cases\" is empty"),
            (file(json!([{"expect": {}}])), "cases[0] has no \"name\""),
            (file(json!([{"name": "a"}])), "exactly one of"),
            (
                file(json!([{"name": "a", "expect": {}, "expect-failure": "trap"}])),
                "exactly one of",
            ),
            (
                file(json!([{"name": "a", "expcet": {}}])),
                "unknown key \"expcet\"",
            ),
            (
                file(json!([{"name": "a", "expect": {}}, {"name": "a", "expect": {}}])),
                "two cases",
            ),
        ];
        for (json, expected) in bad {
            let err = check_cases::<Toy>(&json).unwrap_err();
            assert!(
                err.contains(expected),
                "{err:?} should mention {expected:?}"
            );
        }
    }

    #[test]
    #[should_panic(expected = "1 of 1 cases failed")]
    fn run_cases_panics_with_the_report() {
        let dir = std::env::temp_dir().join(format!("dunlin-sdk-cases-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cases.json");
        let cases = file(json!([{"name": "x", "expect": {"segment": "other"}}]));
        std::fs::write(&path, cases.to_string()).unwrap();
        run_cases::<Toy>(&path);
    }
}
