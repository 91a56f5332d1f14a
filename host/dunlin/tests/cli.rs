//! The `dunlin` command line as a policy author uses it: build, validate, run, test,
//! simulate. Each test drives the real binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn dunlin(cache: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dunlin"))
        .args(args)
        .arg("--cache-dir")
        .arg(cache)
        .current_dir(repo())
        .output()
        .expect("dunlin runs")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The standard policy built once through `dunlin policy build`, plus a cache dir.
fn standard() -> &'static (tempfile::TempDir, PathBuf) {
    static BUILT: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let wasm = dir.path().join("standard.wasm");
        let out = dunlin(
            &dir.path().join("cache"),
            &[
                "policy",
                "build",
                "policies/standard",
                "--out",
                wasm.to_str().unwrap(),
            ],
        );
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stdout}\n{stderr}");
        assert!(
            stdout.contains("contract:  dunlin:policy@0.1.0"),
            "{stdout}"
        );
        (dir, wasm)
    })
}

#[test]
fn help_explains_the_commands() {
    let out = Command::new(env!("CARGO_BIN_EXE_dunlin"))
        .arg("--help")
        .output()
        .unwrap();
    let (stdout, _) = text(&out);
    for cmd in ["policy", "simulate"] {
        assert!(stdout.contains(cmd), "{stdout}");
    }
}

#[test]
fn validate_reports_version_and_uses_the_cache_the_second_time() {
    let (dir, wasm) = standard();
    let cache = dir.path().join("validate-cache");
    let first = dunlin(&cache, &["policy", "validate", wasm.to_str().unwrap()]);
    let (stdout, stderr) = text(&first);
    assert!(first.status.success(), "{stderr}");
    assert!(stdout.contains("dunlin:policy@0.1.0") && stdout.contains("compiled in"));
    let second = dunlin(&cache, &["policy", "validate", wasm.to_str().unwrap()]);
    assert!(text(&second).0.contains("loaded from the compile cache"));
}

#[test]
fn validate_rejects_a_file_that_is_not_a_component_with_one_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, b"\0asm\x01\0\0\0").unwrap();
    let out = dunlin(dir.path(), &["policy", "validate", junk.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let (_, stderr) = text(&out);
    assert!(stderr.contains("not a component"), "{stderr}");
}

#[test]
fn run_prints_the_decision_as_json() {
    let (dir, wasm) = standard();
    let ctx = dir.path().join("ctx.json");
    std::fs::write(
        &ctx,
        r#"{"as-of": "2026-03-20",
            "invoice": {"id": "i1", "number": "A-1", "issued-on": "2026-02-01",
                        "due-on": "2026-03-01", "amount": {"minor": 9900, "currency": "EUR"},
                        "open-balance": {"minor": 9900, "currency": "EUR"},
                        "payment-method": "bank-transfer"},
            "customer": {"id": "c1", "lifetime-value": {"minor": 0, "currency": "EUR"},
                         "customer-since": "2024-01-01"}}"#,
    )
    .unwrap();
    let cache = dir.path().join("cache");
    for mode in ["strict", "batch"] {
        let out = dunlin(
            &cache,
            &[
                "policy",
                "run",
                wasm.to_str().unwrap(),
                "--context",
                ctx.to_str().unwrap(),
                "--mode",
                mode,
            ],
        );
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stderr}");
        let decision: serde_json::Value = serde_json::from_str(&stdout).expect("JSON on stdout");
        assert!(decision["reason"].as_str().is_some_and(|r| !r.is_empty()));
        assert!(stderr.contains("fuel used"), "{stderr}");
    }
}

#[test]
fn run_rejects_a_malformed_context_with_the_field_named() {
    let (dir, wasm) = standard();
    let ctx = dir.path().join("bad-ctx.json");
    std::fs::write(&ctx, r#"{"as-of": "2026-02-30"}"#).unwrap();
    let out = dunlin(
        &dir.path().join("cache"),
        &[
            "policy",
            "run",
            wasm.to_str().unwrap(),
            "--context",
            ctx.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let (_, stderr) = text(&out);
    assert!(stderr.contains("not a valid context"), "{stderr}");
}

#[test]
fn test_passes_the_reference_cases_and_fails_a_wrong_expectation() {
    let (dir, wasm) = standard();
    let cache = dir.path().join("cache");
    let cases = repo().join("policies/standard/cases.json");
    let out = dunlin(
        &cache,
        &[
            "policy",
            "test",
            wasm.to_str().unwrap(),
            cases.to_str().unwrap(),
        ],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains(" 0 failed"), "{stdout}");

    // The same file with one expectation changed must fail, naming the case and the field.
    let mut file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cases).unwrap()).unwrap();
    file["cases"][0]["expect"] = serde_json::json!({"segment": "no-such-segment"});
    let wrong = dir.path().join("wrong-cases.json");
    std::fs::write(&wrong, file.to_string()).unwrap();
    let out = dunlin(
        &cache,
        &[
            "policy",
            "test",
            wasm.to_str().unwrap(),
            wrong.to_str().unwrap(),
        ],
    );
    let (stdout, _) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAIL") && stdout.contains("decision.segment"),
        "{stdout}"
    );
    assert!(stdout.contains(" 1 failed"), "{stdout}");
}

#[test]
fn simulate_prints_timelines_and_a_summary() {
    let (dir, wasm) = standard();
    let out = dunlin(
        &dir.path().join("cache"),
        &[
            "simulate",
            "--policy",
            wasm.to_str().unwrap(),
            "--days",
            "90",
        ],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("Aalto Design Oy · inv-1001"), "{stdout}");
    assert!(
        stdout.contains("Summary") && stdout.contains("policy failures: 0"),
        "{stdout}"
    );
}
