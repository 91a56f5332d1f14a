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

fn dunlin_db(cache: &Path, db: &Path, args: &[&str]) -> Output {
    let url = format!("sqlite://{}", db.display());
    let mut all = vec!["--database", url.as_str()];
    all.extend_from_slice(args);
    dunlin(cache, &all)
}

#[test]
fn tenants_are_created_checked_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, db) = (dir.path().join("cache"), dir.path().join("t.db"));
    let ok = dunlin_db(
        &cache,
        &db,
        &["tenant", "create", "acme", "--time-zone", "Europe/Helsinki"],
    );
    assert!(ok.status.success(), "{:?}", text(&ok));
    let again = dunlin_db(&cache, &db, &["tenant", "create", "acme"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(text(&again).1.contains("exists already"));
    for (flag, value, says) in [
        ("--time-zone", "Mars/Olympus", "unknown time zone"),
        ("--schedule", "every day at nine", "cron"),
        (
            "--guardrails",
            r#"{"max-contacts-per-customer-7-days": 99}"#,
            "guardrail",
        ),
    ] {
        let out = dunlin_db(&cache, &db, &["tenant", "create", "bad", flag, value]);
        assert_eq!(out.status.code(), Some(2), "{flag}");
        assert!(
            text(&out).1.to_lowercase().contains(says),
            "{flag}: {:?}",
            text(&out)
        );
    }
    let list = dunlin_db(&cache, &db, &["tenant", "list"]);
    let (stdout, _) = text(&list);
    assert!(
        stdout.contains("acme") && !stdout.contains("bad"),
        "{stdout}"
    );
}

#[test]
fn the_operator_limits_bound_what_a_tenant_may_release() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, db) = (dir.path().join("cache"), dir.path().join("t.db"));
    let created = dunlin_db(&cache, &db, &["tenant", "create", "acme"]);
    assert!(created.status.success(), "{:?}", text(&created));
    let release = r#"{"hold-while-disputed": false, "hold-during-payment-plan": false}"#;

    // By default the operator does not let a tenant dun disputed invoices.
    let refused = dunlin_db(
        &cache,
        &db,
        &["tenant", "set", "acme", "--guardrails", release],
    );
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        text(&refused)
            .1
            .contains("hold-while-disputed: false is not allowed by the operator"),
        "{:?}",
        text(&refused)
    );

    // An operator who allows it, through the flag or the environment.
    let allow = r#"{"may-release-disputed": true}"#;
    let allowed = dunlin_db(
        &cache,
        &db,
        &[
            "--operator-limits",
            allow,
            "tenant",
            "set",
            "acme",
            "--guardrails",
            release,
        ],
    );
    assert!(allowed.status.success(), "{:?}", text(&allowed));
    let shown = dunlin_db(&cache, &db, &["tenant", "show", "acme"]);
    assert!(
        text(&shown).0.contains(r#""hold-while-disputed": false"#),
        "{:?}",
        text(&shown)
    );

    // Malformed limits are an error, not the defaults.
    let bad = dunlin_db(
        &cache,
        &db,
        &[
            "--operator-limits",
            r#"{"may-release": 1}"#,
            "tenant",
            "list",
        ],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad).1.contains("--operator-limits"),
        "{:?}",
        text(&bad)
    );
}

#[test]
fn an_invalid_upload_is_rejected_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, db) = (dir.path().join("cache"), dir.path().join("t.db"));
    assert!(dunlin_db(&cache, &db, &["tenant", "create", "acme"])
        .status
        .success());
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, b"\0asm\x01\0\0\0").unwrap();
    let out = dunlin_db(
        &cache,
        &db,
        &[
            "policy",
            "upload",
            "--tenant",
            "acme",
            junk.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).1.contains("not a component"), "{:?}", text(&out));
    let list = dunlin_db(&cache, &db, &["policy", "list", "--tenant", "acme"]);
    assert_eq!(text(&list).0.trim(), "");
}

#[test]
fn demo_then_explain_decisions_and_a_dry_run_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let db = dir.path().join("demo.db");
    let out = dunlin(
        &cache,
        &["demo", "--days", "45", "--db-file", db.to_str().unwrap()],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for tenant in ["demo-standard", "demo-saas-card", "demo-b2b-segmented"] {
        assert!(stdout.contains(tenant), "{stdout}");
    }
    assert!(stdout.contains("policy failures: 0"), "{stdout}");

    let explain = dunlin_db(
        &cache,
        &db,
        &[
            "explain",
            "--tenant",
            "demo-standard",
            "--invoice",
            "inv-1003",
        ],
    );
    let (stdout, stderr) = text(&explain);
    assert!(explain.status.success(), "{stderr}");
    for expected in ["policy v1", "notify L1 friendly email [pending]", "why:"] {
        assert!(stdout.contains(expected), "{expected:?} missing:\n{stdout}");
    }

    // Another tenant's invoice of the same id has its own ladder; an unknown tenant has none.
    let other = dunlin_db(&cache, &db, &["decisions", "--tenant", "nobody"]);
    assert_eq!(text(&other).0.trim(), "");

    // Re-activating with --migrate-ladders moves the ladders in progress (none end in 45 days
    // for some invoices) and says how many.
    let migrate = dunlin_db(
        &cache,
        &db,
        &[
            "policy",
            "activate",
            "--tenant",
            "demo-standard",
            "1",
            "--migrate-ladders",
        ],
    );
    let (stdout, stderr) = text(&migrate);
    assert!(migrate.status.success(), "{stderr}");
    assert!(
        stdout.contains("ladders in progress moved to version 1"),
        "{stdout}"
    );

    let dry = dunlin_db(
        &cache,
        &db,
        &[
            "sweep",
            "--tenant",
            "demo-standard",
            "--as-of",
            "2026-03-02",
            "--dry-run",
        ],
    );
    let (stdout, stderr) = text(&dry);
    assert!(dry.status.success(), "{stderr}");
    assert!(
        stdout.contains("dry-run sweep of demo-standard for 2026-03-02"),
        "{stdout}"
    );
    assert!(stdout.contains(" 0 recorded"), "{stdout}");
}

#[test]
fn rollback_returns_to_the_previously_active_version() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, db) = (dir.path().join("cache"), dir.path().join("t.db"));
    assert!(dunlin_db(&cache, &db, &["tenant", "create", "acme"])
        .status
        .success());
    let none = dunlin_db(&cache, &db, &["policy", "rollback", "--tenant", "acme"]);
    assert_eq!(none.status.code(), Some(2));
    assert!(text(&none).1.contains("no previously active version"));
    for policy in ["standard", "tests/fixtures/fx-good"] {
        let up = dunlin_db(
            &cache,
            &db,
            &["policy", "upload", "--tenant", "acme", policy, "--activate"],
        );
        assert!(up.status.success(), "{:?}", text(&up));
    }
    let back = dunlin_db(&cache, &db, &["policy", "rollback", "--tenant", "acme"]);
    assert!(
        text(&back).0.contains("version 1 of acme is active again"),
        "{:?}",
        text(&back)
    );
    let list = text(&dunlin_db(
        &cache,
        &db,
        &["policy", "list", "--tenant", "acme"],
    ))
    .0;
    assert!(
        list.lines()
            .any(|l| l.trim_start().starts_with("1  active")),
        "{list}"
    );
    assert!(
        list.lines()
            .any(|l| l.trim_start().starts_with("2  retired")),
        "{list}"
    );
}
