//! Cases files: a base context and named cases, each a JSON merge patch on the base and the
//! expected (part of the) decision or failure. `dunlin policy test` runs them in the sandbox;
//! the guest SDK's native harness reads the same files.
//!
//! ```json
//! { "base": { "as-of": "2026-02-01", "invoice": {}, "customer": {} },
//!   "cases": [
//!     { "name": "first reminder", "context": { "as-of": "2026-02-04" },
//!       "expect": { "actions": [ { "kind": "notify", "level": 1 } ] } },
//!     { "name": "bad parameter", "context": { "params": { "grace-days": "x" } },
//!       "expect-failure": "refused" } ] }
//! ```

use serde::Deserialize;
use serde_json::Value;

use crate::{Context, Policy};

/// A parsed cases file.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct CasesFile {
    /// The context every case starts from.
    #[serde(default)]
    pub base: Value,
    /// The cases, run in order.
    pub cases: Vec<Case>,
}

/// One case.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Case {
    /// A name that says what is being checked.
    pub name: String,
    /// A JSON merge patch (RFC 7386) applied to the base context; absent means the base.
    #[serde(default)]
    pub context: Value,
    /// The expected decision, or part of it: every key given must match.
    #[serde(default)]
    pub expect: Option<Value>,
    /// The expected failure code instead (`refused`, `trap`, `out-of-fuel`, ...).
    #[serde(default)]
    pub expect_failure: Option<String>,
}

/// What became of one case.
#[derive(Debug)]
pub struct CaseResult {
    /// The case's name.
    pub name: String,
    /// `None` if it passed; otherwise what differed.
    pub problem: Option<String>,
}

/// A cases file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CasesError {
    /// Not JSON of the right shape.
    #[error("the cases file is not valid: {0}")]
    Parse(#[from] serde_json::Error),
    /// A case has neither or both of `expect` and `expect-failure`.
    #[error("case {0:?} must have exactly one of \"expect\" and \"expect-failure\"")]
    NoExpectation(String),
}

impl CasesFile {
    /// Parses and checks a cases file.
    pub fn parse(text: &str) -> Result<Self, CasesError> {
        let file: CasesFile = serde_json::from_str(text)?;
        for case in &file.cases {
            if case.expect.is_some() == case.expect_failure.is_some() {
                return Err(CasesError::NoExpectation(case.name.clone()));
            }
        }
        Ok(file)
    }

    /// Runs every case through `policy`.
    pub fn run(&self, policy: &mut dyn Policy) -> Vec<CaseResult> {
        self.cases
            .iter()
            .map(|case| CaseResult {
                name: case.name.clone(),
                problem: self.run_case(case, policy).err(),
            })
            .collect()
    }

    /// The context of `case`: the base with the case's patch applied.
    pub fn context(&self, case: &Case) -> Result<Context, String> {
        let mut ctx = self.base.clone();
        if !case.context.is_null() {
            merge_patch(&mut ctx, &case.context);
        }
        serde_json::from_value(ctx).map_err(|e| format!("the case's context is not valid: {e}"))
    }

    fn run_case(&self, case: &Case, policy: &mut dyn Policy) -> Result<(), String> {
        let ctx = self.context(case)?;
        match (policy.decide(&ctx), &case.expect, &case.expect_failure) {
            (Ok(decision), Some(expected), _) => {
                let got = serde_json::to_value(&decision).map_err(|e| e.to_string())?;
                match subset_mismatch(expected, &got, "decision") {
                    None => Ok(()),
                    Some(diff) => Err(format!("{diff}\n    decision: {got}")),
                }
            }
            (Ok(decision), None, Some(code)) => Err(format!(
                "expected failure {code:?}, got a decision: {}",
                serde_json::to_string(&decision).unwrap_or_default()
            )),
            (Err(failure), _, Some(code)) if failure.code() == code => Ok(()),
            (Err(failure), _, _) => Err(format!("failed: {failure} [{}]", failure.code())),
            (Ok(_), None, None) => unreachable!("checked by CasesFile::parse"),
        }
    }
}

/// Applies an RFC 7386 JSON merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    let Value::Object(map) = target else {
        unreachable!("made an object above")
    };
    for (key, value) in patch {
        if value.is_null() {
            map.remove(key);
        } else {
            merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// Where `got` fails to contain `expected`: objects need every expected key (recursively),
/// arrays the same length and element-wise containment, scalars equality.
pub fn subset_mismatch(expected: &Value, got: &Value, path: &str) -> Option<String> {
    match (expected, got) {
        (Value::Object(e), Value::Object(g)) => e.iter().find_map(|(k, ev)| match g.get(k) {
            Some(gv) => subset_mismatch(ev, gv, &format!("{path}.{k}")),
            None => Some(format!("{path}.{k}: expected {ev}, but it is absent")),
        }),
        (Value::Array(e), Value::Array(g)) if e.len() == g.len() => e
            .iter()
            .zip(g)
            .enumerate()
            .find_map(|(i, (ev, gv))| subset_mismatch(ev, gv, &format!("{path}[{i}]"))),
        (Value::Array(e), Value::Array(g)) => Some(format!(
            "{path}: expected {} items, got {}: {got}",
            e.len(),
            g.len()
        )),
        _ if expected == got => None,
        _ => Some(format!("{path}: expected {expected}, got {got}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let mut doc = json!({"a": {"b": 1, "c": 2}, "d": [1, 2]});
        merge_patch(&mut doc, &json!({"a": {"b": null, "e": 3}, "d": [9]}));
        assert_eq!(doc, json!({"a": {"c": 2, "e": 3}, "d": [9]}));
    }

    #[test]
    fn subset_reports_the_first_difference_with_its_path() {
        let got = json!({"segment": "s", "actions": [{"kind": "notify", "level": 2}]});
        assert_eq!(subset_mismatch(&json!({"segment": "s"}), &got, "d"), None);
        assert_eq!(
            subset_mismatch(&json!({"actions": [{"level": 1}]}), &got, "d").unwrap(),
            "d.actions[0].level: expected 1, got 2"
        );
        assert!(subset_mismatch(&json!({"actions": []}), &got, "d")
            .unwrap()
            .contains("expected 0 items, got 1"));
        assert!(subset_mismatch(&json!({"review-on": null}), &got, "d")
            .unwrap()
            .contains("absent"));
    }

    #[test]
    fn a_case_needs_exactly_one_expectation() {
        let err = CasesFile::parse(r#"{"cases": [{"name": "x"}]}"#).unwrap_err();
        assert!(err.to_string().contains("exactly one"), "{err}");
    }
}
