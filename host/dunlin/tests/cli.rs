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
        // Commands that deliver write their emails to the test's folder, not the repo's.
        .env("DUNLIN_MAIL_DIR", cache.join("mail"))
        .output()
        .expect("dunlin runs")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Builds the policy crate `crate_dir` through `dunlin policy build` into a new temporary
/// dir, as `file`; the dir also holds a cache dir.
fn build_into(crate_dir: &str, file: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let wasm = dir.path().join(file);
    let out = dunlin(
        &dir.path().join("cache"),
        &[
            "policy",
            "build",
            crate_dir,
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
}

/// The standard policy built once through `dunlin policy build`, plus a cache dir.
fn standard() -> &'static (tempfile::TempDir, PathBuf) {
    static BUILT: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    BUILT.get_or_init(|| build_into("policies/standard", "standard.wasm"))
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
fn diff_of_a_component_with_itself_agrees_on_every_context() {
    let (dir, wasm) = standard();
    let cache = dir.path().join("cache");
    let wasm = wasm.to_str().unwrap();
    let cases = repo().join("policies/standard/cases.json");
    let out = dunlin(
        &cache,
        &[
            "policy",
            "diff",
            wasm,
            wasm,
            "--cases",
            cases.to_str().unwrap(),
            "--json",
        ],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert!(report["total"].as_u64().unwrap() > 0, "{report}");
    assert_eq!(report["total"], report["agreed"], "{report}");
    let out = dunlin(
        &cache,
        &[
            "policy",
            "diff",
            wasm,
            wasm,
            "--book",
            "examples/book.json",
            "--days",
            "30",
        ],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("(100.0 %)  disagreed 0"), "{stdout}");
    // A diff needs one source of contexts.
    let out = dunlin(&cache, &["policy", "diff", wasm, wasm]);
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
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

/// `dunlin … | head -1`: the reader goes away before the output ends. The command stops
/// quietly instead of panicking on the broken pipe.
#[test]
fn a_reader_that_goes_away_ends_the_output_quietly() {
    let (dir, wasm) = standard();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dunlin"))
        .args([
            "simulate",
            "--policy",
            wasm.to_str().unwrap(),
            "--days",
            "90",
        ])
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .current_dir(repo())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Close the pipe before the first line is written (loading the policy comes first), as
    // a reader that has all it wanted does.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A database that cannot be opened is reported with its cause, not only its URL.
#[test]
fn a_database_that_cannot_be_opened_is_reported_with_its_cause() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    // A directory where the file should be, and a file in a directory that does not exist.
    for db in [dir.path().to_owned(), dir.path().join("no/such/dir/t.db")] {
        let out = dunlin_db(&cache, &db, &["tenant", "list"]);
        assert_eq!(out.status.code(), Some(2));
        let stderr = text(&out).1;
        assert!(
            stderr.contains("could not open the database at")
                && stderr.contains("unable to open database file"),
            "{stderr}"
        );
    }
}

/// A command about a tenant that does not exist fails with that, rather than answering
/// with nothing.
#[test]
fn commands_about_a_missing_tenant_fail() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, db) = (dir.path().join("cache"), dir.path().join("t.db"));
    for args in [
        &["decisions", "--tenant", "nosuch"][..],
        &["explain", "--tenant", "nosuch", "--invoice", "i1"],
        &["tenant", "show", "nosuch"],
        &["policy", "backtest", "--tenant", "nosuch", "1"],
    ] {
        let out = dunlin_db(&cache, &db, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            text(&out).1.contains("no tenant nosuch"),
            "{:?}",
            text(&out)
        );
    }
}

/// `--log-format json`: one JSON object per line, each carrying the spans' fields, so a log
/// shipper can find a failed decision by tenant, as-of, invoice and policy version.
#[test]
fn json_logs_carry_the_tenant_invoice_and_failure_of_a_failed_decision() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, db) = (dir.path().join("cache"), dir.path().join("t.db"));
    let good = dir.path().join("good.wasm");
    std::fs::write(&good, dunlin_tests::fixture("fx-good")).unwrap();
    let steps: [&[&str]; 4] = [
        &["tenant", "create", "acme", "--param", "trap=yes"],
        &[
            "policy",
            "upload",
            "--tenant",
            "acme",
            good.to_str().unwrap(),
            "--activate",
        ],
        &[
            "import",
            "--tenant",
            "acme",
            "--kind",
            "customers",
            "examples/import/customers.csv",
        ],
        &[
            "import",
            "--tenant",
            "acme",
            "--kind",
            "invoices",
            "examples/import/invoices.csv",
        ],
    ];
    for args in steps {
        let out = dunlin_db(&cache, &db, args);
        assert!(out.status.success(), "{args:?}: {:?}", text(&out));
    }
    let url = format!("sqlite://{}", db.display());
    let out = Command::new(env!("CARGO_BIN_EXE_dunlin"))
        .args(["--log-format", "json", "--database", &url, "--cache-dir"])
        .arg(&cache)
        .args(["sweep", "--tenant", "acme", "--as-of", "2026-03-20"])
        .env("DUNLIN_LOG", "dunlin_sweep=debug")
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
    // The sweep is recorded: `dunlin sweeps` lists it with its figures.
    let sweeps = dunlin_db(&cache, &db, &["sweeps", "--tenant", "acme"]);
    let (listed, err) = text(&sweeps);
    assert!(sweeps.status.success(), "{err}");
    let line = listed.lines().next().unwrap_or_default();
    assert!(
        line.contains("as-of 2026-03-20") && line.contains("done") && line.contains("cli"),
        "{listed}"
    );
    assert_eq!(listed.lines().count(), 1, "{listed}");
    let lines: Vec<serde_json::Value> = text(&out)
        .1
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let failed: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "policy failed")
        .collect();
    assert!(!failed.is_empty(), "{lines:?}");
    for line in failed {
        assert_eq!(line["fields"]["failure_code"], "trap", "{line}");
        let spans = line["spans"].as_array().unwrap();
        assert_eq!(spans[0]["tenant_id"], "acme", "{line}");
        assert_eq!(spans[0]["as_of"], "2026-03-20", "{line}");
        let decide = spans.last().unwrap();
        assert!(
            decide["invoice_id"].as_str().unwrap().starts_with("inv-"),
            "{line}"
        );
        assert_eq!(decide["policy_version"], 1, "{line}");
    }
    assert!(lines.iter().any(|l| l["fields"]["message"] == "sweep done"));
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
fn tenant_keys_are_shown_once_listed_without_the_key_and_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, db) = (dir.path().join("cache"), dir.path().join("t.db"));
    for t in ["acme", "beta"] {
        assert!(dunlin_db(&cache, &db, &["tenant", "create", t])
            .status
            .success());
    }
    let made = dunlin_db(
        &cache,
        &db,
        &["tenant", "key", "create", "acme", "--label", "billing"],
    );
    let (key, said) = text(&made);
    assert!(made.status.success(), "{said}");
    let key = key.trim();
    assert!(key.starts_with("dk_") && key.len() == 46, "{key}");
    assert!(said.contains("shown only now"), "{said}");

    let list = dunlin_db(&cache, &db, &["tenant", "key", "list", "acme"]);
    let (listed, _) = text(&list);
    assert!(
        listed.contains("billing") && !listed.contains(&key[3..]),
        "{listed}"
    );
    let id = listed.split_whitespace().next().unwrap().to_owned();
    assert_eq!(id.len(), 12, "{listed}");

    // Another tenant's list and revoke never reach acme's key.
    let (beta_list, _) = text(&dunlin_db(&cache, &db, &["tenant", "key", "list", "beta"]));
    assert!(beta_list.trim().is_empty(), "{beta_list}");
    let wrong = dunlin_db(&cache, &db, &["tenant", "key", "revoke", "beta", &id]);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(text(&wrong).1.contains("has no key"), "{:?}", text(&wrong));

    let revoked = dunlin_db(&cache, &db, &["tenant", "key", "revoke", "acme", &id]);
    assert!(revoked.status.success(), "{:?}", text(&revoked));
    let (listed, _) = text(&dunlin_db(&cache, &db, &["tenant", "key", "list", "acme"]));
    assert!(!listed.contains("revoked -"), "{listed}");
    let again = dunlin_db(&cache, &db, &["tenant", "key", "revoke", "acme", &id]);
    assert_eq!(again.status.code(), Some(2));
}

#[test]
fn malformed_guardrails_are_refused_naming_the_key_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, db) = (dir.path().join("cache"), dir.path().join("t.db"));
    let created = dunlin_db(&cache, &db, &["tenant", "create", "acme"]);
    assert!(created.status.success(), "{:?}", text(&created));
    for (value, says) in [
        ("[1,2]", "guardrail settings must be a JSON object"),
        (
            r#"{"max-contacts-per-week": 7}"#,
            r#"unknown field "max-contacts-per-week""#,
        ),
        (
            r#"{"contact-window": {"start": "08:00", "end": "20:00", "tz": "UTC"}}"#,
            r#"unknown field "contact-window.tz""#,
        ),
        (
            r#"{"level-may-decrease": "yes"}"#,
            r#"level-may-decrease is "yes""#,
        ),
    ] {
        for args in [
            &["tenant", "create", "bad", "--guardrails", value][..],
            &["tenant", "set", "acme", "--guardrails", value][..],
        ] {
            let out = dunlin_db(&cache, &db, args);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {:?}", text(&out));
            assert!(text(&out).1.contains(says), "{args:?}: {:?}", text(&out));
        }
    }
    let list = dunlin_db(&cache, &db, &["tenant", "list"]);
    assert!(!text(&list).0.contains("bad"), "{:?}", text(&list));
    let shown = dunlin_db(&cache, &db, &["tenant", "show", "acme"]);
    assert!(
        text(&shown).0.contains(r#""guardrails": {}"#),
        "{:?}",
        text(&shown)
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

/// An upload made to exhaust the compiler: fx-good with four extra functions of 2 MB of
/// straight-line code (each takes the compiler about 280 MB and 1.7 s in a release build).
/// It is compiled in a child process: held to its memory limit, killed at its time limit,
/// and either way refused with the reason while this process stays small.
#[test]
fn a_hostile_upload_is_bounded_in_memory_and_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = dunlin_tests::fixture("fx-good");
    for _ in 0..4 {
        bytes = dunlin_tests::with_extra_function(&bytes, 2_000_000);
    }
    let wasm = dir.path().join("heavy.wasm");
    std::fs::write(&wasm, &bytes).unwrap();
    let wasm = wasm.to_str().unwrap();
    let cache = dir.path().join("cache");

    let out = dunlin(
        &cache,
        &["--compile-memory-mib", "64", "policy", "validate", wasm],
    );
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    assert!(
        text(&out)
            .1
            .contains("compiling the component needed more than 67108864 bytes of memory"),
        "{:?}",
        text(&out)
    );

    // A memory limit no other test uses marks this test's compile worker.
    let marker = (3001u64 << 20).to_string();
    let out = dunlin(
        &cache,
        &[
            "--compile-timeout-secs",
            "1",
            "--compile-memory-mib",
            "3001",
            "policy",
            "validate",
            wasm,
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{:?}", text(&out));
    assert!(
        text(&out)
            .1
            .contains("compiling the component took longer than 1 s"),
        "{:?}",
        text(&out)
    );
    let workers: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains("compile-worker") && c.contains(&marker))
        .collect();
    assert!(workers.is_empty(), "still compiling: {workers:?}");
    assert!(
        !cache.exists() || std::fs::read_dir(&cache).unwrap().next().is_none(),
        "a refused component left an artifact"
    );
}

#[test]
fn demo_then_explain_decisions_and_a_dry_run_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let db = dir.path().join("demo.db");
    let mail = dir.path().join("mail");
    let out = dunlin(
        &cache,
        &[
            "demo",
            "--days",
            "45",
            "--db-file",
            db.to_str().unwrap(),
            "--mail-dir",
            mail.to_str().unwrap(),
        ],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for tenant in ["demo-standard", "demo-saas-card", "demo-b2b-segmented"] {
        assert!(stdout.contains(tenant), "{stdout}");
    }
    assert!(stdout.contains("policy failures: 0"), "{stdout}");
    // Each day's outbox went out: the emails are in the folder, and one is shown.
    let written = std::fs::read_dir(&mail)
        .expect("the mail folder")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "eml"))
        })
        .count();
    assert!(written > 10, "{written} emails\n{stdout}");
    assert!(
        stdout.contains(&format!("{written} emails written to")),
        "{stdout}"
    );
    assert!(
        stdout.contains("Message-ID: <dunlin-demo-standard-"),
        "{stdout}"
    );

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
    for expected in [
        "policy v1",
        "notify L1 friendly email [delivered]",
        "why:",
        "by email to billing@",
    ] {
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

/// tests/fixtures/fx-forge built once through `dunlin policy build`, plus a cache dir.
fn forge() -> &'static (tempfile::TempDir, PathBuf) {
    static BUILT: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    BUILT.get_or_init(|| build_into("tests/fixtures/fx-forge", "forge.wasm"))
}

/// What a terminal or a line-based reader would act on, other than the newline ending each
/// line: C0 controls, DEL, C1 controls, bidirectional embeddings, overrides and isolates.
fn raw_controls(output: &str) -> Vec<char> {
    output
        .chars()
        .filter(|&c| {
            c != '\n'
                && (c.is_control()
                    || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'))
        })
        .collect()
}

#[test]
fn decisions_and_explain_show_what_a_policy_wrote_as_one_inert_line() {
    let (built, wasm) = forge();
    let dir = tempfile::tempdir().unwrap();
    let (cache, db) = (built.path().join("cache"), dir.path().join("t.db"));
    let customers = dir.path().join("customers.csv");
    std::fs::write(
        &customers,
        "id,currency,customer-since\nc-1,EUR,2024-01-01\n",
    )
    .unwrap();
    let invoices = dir.path().join("invoices.csv");
    std::fs::write(
        &invoices,
        "id,customer-id,issued-on,due-on,amount-minor,currency,payment-method\n\
         inv-1,c-1,2026-01-01,2026-02-01,9900,EUR,bank-transfer\n\
         inv-2,c-1,2026-01-02,2026-02-02,4900,EUR,card\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = dunlin_db(&cache, &db, args);
        assert!(out.status.success(), "{args:?}: {:?}", text(&out));
        text(&out).0
    };
    for mode in ["refusal", "reason", "segment"] {
        let param = format!("forge={mode}");
        run(&["tenant", "create", mode, "--param", &param]);
        run(&[
            "policy",
            "upload",
            "--tenant",
            mode,
            wasm.to_str().unwrap(),
            "--activate",
        ]);
        for (kind, file) in [("customers", &customers), ("invoices", &invoices)] {
            run(&[
                "import",
                "--tenant",
                mode,
                "--kind",
                kind,
                file.to_str().unwrap(),
            ]);
        }
        run(&["sweep", "--tenant", mode, "--as-of", "2026-03-10"]);
    }

    // A row written before the contract refused control characters (or by a host that did
    // not check): its reason is as hostile as the refusal stored beside it.
    let forged_reason = "legacy\r\n2026-03-10  inv-9  forged row \x1b[31mred\x1b[0m\x7f\u{9b}2J";
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        let updated = sqlx::query(
            "UPDATE decisions SET reason = $1 WHERE tenant_id = 'refusal' AND invoice_id = 'inv-1'",
        )
        .bind(forged_reason)
        .execute(&pool)
        .await
        .unwrap();
        assert_eq!(updated.rows_affected(), 1);
        pool.close().await;
    });

    // (tenant, what its rows must show, escaped)
    let expected = [
        (
            "refusal",
            r"legacy\r\n2026-03-10  inv-9  forged row \u{1b}[31mred\u{1b}[0m\u{7f}\u{9b}2J",
        ),
        ("reason", r"line one\nline two"),
        ("segment", "FAILED invalid-decision"),
    ];
    for (tenant, shown) in expected {
        let rows = run(&["decisions", "--tenant", tenant]);
        assert_eq!(raw_controls(&rows), Vec::<char>::new(), "{rows}");
        assert_eq!(rows.lines().count(), 2, "one row per decision:\n{rows}");
        assert!(
            rows.lines().all(|l| l.starts_with("2026-03-10  inv-")),
            "{rows}"
        );
        assert!(rows.contains(shown), "{shown:?} missing:\n{rows}");
    }

    let explain = run(&["explain", "--tenant", "refusal", "--invoice", "inv-1"]);
    assert_eq!(raw_controls(&explain), Vec::<char>::new(), "{explain}");
    let lines: Vec<&str> = explain.lines().collect();
    let decisions = lines
        .iter()
        .filter(|l| l.starts_with("2026-03-10 — "))
        .count();
    assert_eq!(decisions, 1, "{explain}");
    for field in ["  why:", "  failure:"] {
        assert_eq!(
            lines.iter().filter(|l| l.starts_with(field)).count(),
            1,
            "{field} once:\n{explain}"
        );
    }
    // Every line is the host's: a label, a date, or empty; none the policy started.
    assert!(
        lines.iter().all(|l| l.is_empty()
            || l.starts_with("  ")
            || l.starts_with("invoice inv-1 of tenant refusal")
            || l.starts_with("2026-03-10 — ")),
        "{explain}"
    );
    assert!(
        explain.contains(
            r"[refused] policy refused: bad tenant parameter: grace-days\nforged row\u{1b}[31m red\r\u{202e}desrever"
        ),
        "{explain}"
    );

    let explain = run(&["explain", "--tenant", "segment", "--invoice", "inv-2"]);
    assert_eq!(raw_controls(&explain), Vec::<char>::new(), "{explain}");
    assert!(
        explain.contains("segment contains the control character U+001B at byte 5"),
        "{explain}"
    );
}

#[test]
fn run_shows_a_refusal_and_the_policys_log_escaped() {
    let (built, wasm) = forge();
    let ctx = built.path().join("forge-ctx.json");
    std::fs::write(
        &ctx,
        r#"{"as-of": "2026-03-20",
            "invoice": {"id": "i1", "number": "A-1", "issued-on": "2026-02-01",
                        "due-on": "2026-03-01", "amount": {"minor": 9900, "currency": "EUR"},
                        "open-balance": {"minor": 9900, "currency": "EUR"},
                        "payment-method": "bank-transfer"},
            "customer": {"id": "c1", "lifetime-value": {"minor": 0, "currency": "EUR"},
                         "customer-since": "2024-01-01"},
            "params": {"forge": "refusal"}}"#,
    )
    .unwrap();
    let out = dunlin(
        &built.path().join("cache"),
        &[
            "policy",
            "run",
            wasm.to_str().unwrap(),
            "--context",
            ctx.to_str().unwrap(),
        ],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert_eq!(raw_controls(&stderr), Vec::<char>::new(), "{stderr}");
    let failure: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("policy failure [refused]"))
        .collect();
    assert_eq!(failure.len(), 1, "{stderr}");
    assert!(
        failure[0].ends_with(r"grace-days\nforged row\u{1b}[31m red\r\u{202e}desrever"),
        "{stderr}"
    );
    assert!(
        !stderr.lines().any(|l| l.starts_with("forged row")),
        "{stderr}"
    );
}

/// Runs `dunlin` on the database in `dir` (cache beside it) and returns its exit code,
/// stdout and stderr.
fn on_db(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = dunlin_db(&dir.join("cache"), &dir.join("t.db"), args);
    let (stdout, stderr) = text(&out);
    (out.status.code(), stdout, stderr)
}

#[test]
fn delivery_settings_are_set_shown_and_refused_by_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let set = r#"{"sender-address": "billing@acme.example", "default-locale": "fi", "quiet-days": ["sat", "sun"]}"#;
    let (code, _, err) = on_db(d, &["tenant", "create", "acme", "--delivery", set]);
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = on_db(
        d,
        &[
            "tenant",
            "set",
            "acme",
            "--delivery",
            r#"{"max-attempts": 3}"#,
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    let (_, shown, _) = on_db(d, &["tenant", "show", "acme"]);
    let json: serde_json::Value =
        serde_json::from_str(shown.split("\npolicy version").next().unwrap()).unwrap();
    let delivery = &json["settings"]["delivery"];
    assert_eq!(delivery["sender-address"], "billing@acme.example");
    assert_eq!(delivery["default-locale"], "fi");
    assert_eq!(delivery["quiet-days"], serde_json::json!(["sat", "sun"]));
    assert_eq!(delivery["max-attempts"], 3, "the keys not given are kept");
    for (value, says) in [
        (
            r#"{"max-attempts": 0}"#,
            "delivery.max-attempts 0 is out of range",
        ),
        (r#"{"default-locale": "??"}"#, "delivery.default-locale"),
        (
            r#"{"payment-link": "http://pay.example/{invoice}"}"#,
            "delivery.payment-link",
        ),
        (
            r#"{"quiet-days": ["someday"]}"#,
            "unknown variant `someday`",
        ),
        (r#"{"sender": "x"}"#, "unknown field `sender`"),
    ] {
        for args in [
            &["tenant", "set", "acme", "--delivery", value][..],
            &["tenant", "create", "bad", "--delivery", value][..],
        ] {
            let (code, _, err) = on_db(d, args);
            assert_eq!(code, Some(2), "{args:?}");
            assert!(err.contains(says), "{says:?} in {err:?}");
        }
    }
    let (_, after, _) = on_db(d, &["tenant", "show", "acme"]);
    assert_eq!(after, shown, "nothing changed");
}

/// Writes a template's three parts into `dir` as `<name>.subject`, `.txt` and `.html`.
fn template_files(dir: &Path, name: &str, subject: &str, text: &str, html: &str) -> [String; 3] {
    ["subject", "txt", "html"]
        .into_iter()
        .zip([subject, text, html])
        .map(|(ext, body)| {
            let path = dir.join(format!("{name}.{ext}"));
            std::fs::write(&path, body).unwrap();
            path.to_str().unwrap().to_owned()
        })
        .collect::<Vec<_>>()
        .try_into()
        .unwrap()
}

#[test]
fn templates_are_uploaded_checked_listed_shown_and_rendered_for_their_tenant_only() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for t in ["acme", "beta"] {
        assert_eq!(on_db(d, &["tenant", "create", t]).0, Some(0));
    }
    let [subject, txt, html] = template_files(
        d,
        "good",
        "Invoice {{ invoice.number }}",
        "Hello {{ customer.name }},\nplease pay {{ invoice.open_balance }}.\n",
        "<p>Hello {{ customer.name }} \u{1b}[2J</p>",
    );
    let upload = |tenant: &str, id: &str, files: [&str; 3]| {
        on_db(
            d,
            &[
                "template",
                "upload",
                "--tenant",
                tenant,
                "--id",
                id,
                "--locale",
                "en",
                "--subject",
                files[0],
                "--text",
                files[1],
                "--html",
                files[2],
            ],
        )
    };
    let (code, out, err) = upload("acme", "reminder", [&subject, &txt, &html]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("stored template reminder (en)"), "{out}");

    // A template that does not render is refused with its line; nothing is stored.
    let [_, bad_txt, _] = template_files(d, "bad", "x", "Hello,\n\n{{ customer.nmae }}\n", "x");
    let (code, _, err) = upload("acme", "broken", [&subject, &bad_txt, &html]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("plain text, line 3") && err.contains("undefined"),
        "{err}"
    );
    // A folder goes in whole or not at all: one bad template keeps the good one out too.
    let folder = d.join("folder");
    for locale in ["de", "fi"] {
        std::fs::create_dir_all(folder.join(locale)).unwrap();
    }
    template_files(
        &folder.join("de"),
        "mahnung",
        "Rechnung",
        "Hallo {{ customer.name }}",
        "<p/>",
    );
    template_files(
        &folder.join("fi"),
        "muistutus",
        "Lasku",
        "{% for %}",
        "<p/>",
    );
    let folder_arg = folder.to_str().unwrap();
    let (code, _, err) = on_db(
        d,
        &[
            "template", "upload", "--tenant", "acme", "--dir", folder_arg,
        ],
    );
    assert_eq!(code, Some(2));
    assert!(err.contains("muistutus") && err.contains("line 1"), "{err}");
    let (_, listed, _) = on_db(d, &["template", "list", "--tenant", "acme"]);
    let ids: Vec<&str> = listed
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(ids, ["reminder"], "{listed}");
    std::fs::remove_dir_all(folder.join("fi")).unwrap();
    let (code, out, err) = on_db(
        d,
        &[
            "template", "upload", "--tenant", "acme", "--dir", folder_arg,
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("stored template mahnung (de)"), "{out}");

    let (code, shown, _) = on_db(
        d,
        &[
            "template", "show", "--tenant", "acme", "reminder", "--locale", "en",
        ],
    );
    assert_eq!(code, Some(0));
    assert!(shown.contains("Invoice {{ invoice.number }}"), "{shown}");
    assert!(
        shown.contains("please pay {{ invoice.open_balance }}."),
        "{shown}"
    );
    assert!(shown.contains(r"\u{1b}[2J"), "{shown}");
    assert!(raw_controls(&shown).is_empty(), "{shown:?}");

    // A customer in fi-FI falls back to the tenant's default locale, en.
    let (code, rendered, err) = on_db(
        d,
        &[
            "template", "render", "--tenant", "acme", "reminder", "--locale", "fi-FI",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(
        rendered.starts_with("template reminder in en (for fi-FI; the chain: fi-FI → fi → en)"),
        "{rendered}"
    );
    assert!(
        rendered.contains("subject: Invoice INV-2026-0042"),
        "{rendered}"
    );
    assert!(rendered.contains("Hello Alex Example,"), "{rendered}");

    // Another tenant sees none of it.
    let (_, beta_list, _) = on_db(d, &["template", "list", "--tenant", "beta"]);
    assert!(beta_list.is_empty(), "{beta_list}");
    for args in [
        &[
            "template", "show", "--tenant", "beta", "reminder", "--locale", "en",
        ][..],
        &[
            "template", "render", "--tenant", "beta", "reminder", "--locale", "en",
        ][..],
    ] {
        let (code, out, err) = on_db(d, args);
        assert_eq!(code, Some(2), "{args:?}");
        assert!(!out.contains("Invoice"), "{out}");
        assert!(err.contains("no template"), "{err}");
    }
}

#[test]
fn endpoints_are_checked_added_rotated_and_removed_for_their_tenant_only() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for t in ["acme", "beta"] {
        assert_eq!(on_db(d, &["tenant", "create", t]).0, Some(0));
    }
    let secret_in = |out: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix("secret: "))
            .unwrap_or_else(|| panic!("no secret in {out}"))
            .to_owned()
    };
    let (code, out, err) = on_db(
        d,
        &[
            "endpoint",
            "add",
            "--tenant",
            "acme",
            "--id",
            "erp",
            "--url",
            "https://hooks.acme.example/dunlin",
            "--events",
            "invoice.escalated,notice.requested",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    let first = secret_in(&out);
    assert!(first.starts_with("whsec_") && first.len() > 40, "{first}");

    // The operator's policy: loopback and plain http only when allowed.
    let local = [
        "endpoint",
        "add",
        "--tenant",
        "acme",
        "--id",
        "local",
        "--url",
        "http://127.0.0.1:9/hook",
    ];
    let (code, _, err) = on_db(d, &local);
    assert_eq!(code, Some(2));
    assert!(err.contains("loopback"), "{err}");
    let (code, _, err) = on_db(d, &[&local[..], &["--webhook-allow-private"]].concat());
    assert_eq!(code, Some(0), "{err}");
    let (code, _, err) = on_db(
        d,
        &[
            "endpoint",
            "add",
            "--tenant",
            "acme",
            "--url",
            "https://x.example/",
            "--events",
            "invoice.paid",
        ],
    );
    assert_eq!(code, Some(2));
    assert!(
        err.contains(r#"unknown event type "invoice.paid""#),
        "{err}"
    );
    let (code, _, err) = on_db(
        d,
        &[
            "endpoint",
            "add",
            "--tenant",
            "acme",
            "--id",
            "erp",
            "--url",
            "https://x.example/",
        ],
    );
    assert_eq!(code, Some(2));
    assert!(err.contains("already"), "{err}");
    let (code, out, err) = on_db(
        d,
        &[
            "endpoint",
            "add",
            "--tenant",
            "acme",
            "--url",
            "https://x.example/",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("added endpoint ep-"), "{out}");

    let (_, listed, _) = on_db(d, &["endpoint", "list", "--tenant", "acme"]);
    assert_eq!(listed.lines().count(), 3, "{listed}");
    assert!(
        listed.contains("erp") && listed.contains("invoice.escalated,notice.requested"),
        "{listed}"
    );
    assert!(!listed.contains("whsec_"), "no secret listed: {listed}");

    // Another tenant cannot see, rotate or remove acme's endpoints.
    let (_, beta_list, _) = on_db(d, &["endpoint", "list", "--tenant", "beta"]);
    assert!(beta_list.is_empty(), "{beta_list}");
    for args in [
        &["endpoint", "rotate", "--tenant", "beta", "erp"][..],
        &["endpoint", "remove", "--tenant", "beta", "erp"][..],
    ] {
        let (code, out, err) = on_db(d, args);
        assert_eq!(code, Some(2), "{args:?}");
        assert!(
            !out.contains("whsec_") && err.contains("no endpoint"),
            "{out} {err}"
        );
    }

    let (code, out, err) = on_db(
        d,
        &[
            "endpoint",
            "rotate",
            "--tenant",
            "acme",
            "erp",
            "--overlap-hours",
            "2",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    let second = secret_in(&out);
    assert!(second.starts_with("whsec_") && second != first);
    let (_, listed, _) = on_db(d, &["endpoint", "list", "--tenant", "acme"]);
    assert!(listed.contains("previous secret signs until"), "{listed}");
    assert!(
        !listed.contains(&first) && !listed.contains(&second),
        "{listed}"
    );

    let (code, _, err) = on_db(d, &["endpoint", "remove", "--tenant", "acme", "erp"]);
    assert_eq!(code, Some(0), "{err}");
    let (_, listed, _) = on_db(d, &["endpoint", "list", "--tenant", "acme"]);
    assert!(!listed.contains("erp"), "{listed}");
}

/// A zone where it is mid-day now, so that a delivery test does not depend on the hour it
/// runs at: `Etc/GMT-N` is UTC+N.
fn zone_at_noon() -> String {
    use chrono::Timelike;
    let hour = i32::try_from(chrono::Utc::now().hour()).unwrap();
    let offset = (12 - hour + 24) % 24; // 0..=23 hours ahead of UTC
    let offset = if offset > 14 { offset - 24 } else { offset }; // Etc zones span -12..=+14
    if offset >= 0 {
        format!("Etc/GMT-{offset}")
    } else {
        format!("Etc/GMT+{}", -offset)
    }
}

#[test]
fn deliver_sends_each_tenants_mail_its_own_way_and_deliveries_lists_and_requeues() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let zone = zone_at_noon();
    let customers = d.join("customers.csv");
    std::fs::write(
        &customers,
        format!(
            "id,name,email,currency,customer-since,locale,time-zone\n\
             c-1,Aalto Oy,billing@aalto.example,EUR,2021-03-01,fi-FI,{zone}\n\
             c-2,Brightwave Ltd,accounts@brightwave.example,EUR,2020-01-01,en-GB,{zone}\n"
        ),
    )
    .unwrap();
    let invoices = d.join("invoices.csv");
    std::fs::write(
        &invoices,
        "id,customer-id,number,issued-on,due-on,amount-minor,currency,payment-method\n\
         inv-1,c-1,2026-0001,2026-01-05,2026-02-04,39000,EUR,bank-transfer\n\
         inv-2,c-2,2026-0002,2026-01-05,2026-02-04,125000,EUR,bank-transfer\n",
    )
    .unwrap();
    let templates = repo().join("examples").join("templates");
    for tenant in ["acme", "other"] {
        let steps: [Vec<&str>; 6] = [
            vec![
                "tenant",
                "create",
                tenant,
                "--delivery",
                r#"{"sender-address": "billing@sender.example"}"#,
            ],
            vec![
                "policy",
                "upload",
                "--tenant",
                tenant,
                standard().1.to_str().unwrap(),
                "--activate",
            ],
            vec![
                "import",
                "--tenant",
                tenant,
                "--kind",
                "customers",
                customers.to_str().unwrap(),
            ],
            vec![
                "import",
                "--tenant",
                tenant,
                "--kind",
                "invoices",
                invoices.to_str().unwrap(),
            ],
            vec![
                "template",
                "upload",
                "--tenant",
                tenant,
                "--dir",
                templates.to_str().unwrap(),
            ],
            vec!["sweep", "--tenant", tenant, "--as-of", "2026-03-10"],
        ];
        for step in steps {
            let (code, out, err) = on_db(d, &step);
            assert_eq!(code, Some(0), "{step:?}: {out}{err}");
        }
    }
    // `other` has its own relay, where nothing listens: its mail fails for now, acme's goes
    // to the operator's folder.
    let relays = d.join("relays.json");
    std::fs::write(
        &relays,
        r#"{"other": {"host": "127.0.0.1", "port": 9, "security": "none", "timeout-secs": 2}}"#,
    )
    .unwrap();
    let mail = d.join("mail");
    let (mail_dir, relays_file) = (mail.to_str().unwrap(), relays.to_str().unwrap());
    let (code, out, err) = on_db(
        d,
        &[
            "deliver",
            "--once",
            "--mail-dir",
            mail_dir,
            "--tenant-relays",
            relays_file,
        ],
    );
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("delivered 2, retrying 2"), "{out}");
    let mut written: Vec<String> = std::fs::read_dir(&mail)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(written.len(), 2, "{written:?}");
    assert!(
        written.iter().all(|f| f.starts_with("dunlin-acme-")),
        "{written:?}"
    );
    let eml = std::fs::read_to_string(mail.join(&written[0])).unwrap();
    assert!(eml.contains("From: acme <billing@sender.example>"), "{eml}");

    let (code, out, err) = on_db(d, &["deliveries", "--tenant", "other", "--attempts"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains("pending") && out.contains("attempts 1, next"),
        "{out}"
    );
    assert!(
        out.contains("127.0.0.1") || out.contains("temporary"),
        "{out}"
    );
    let (_, acme_delivered, _) = on_db(
        d,
        &["deliveries", "--tenant", "acme", "--status", "delivered"],
    );
    assert_eq!(
        acme_delivered.matches(" delivered ").count(),
        2,
        "{acme_delivered}"
    );
    // A tenant's list and requeue never reach another tenant's actions.
    let (_, other_delivered, _) = on_db(
        d,
        &["deliveries", "--tenant", "other", "--status", "delivered"],
    );
    assert_eq!(other_delivered.trim(), "", "{other_delivered}");
    let acme_id = acme_delivered
        .split('#')
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_owned();
    let (code, _, err) = on_db(d, &["deliveries", "retry", "--tenant", "other", &acme_id]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("has no failed or dead action"), "{err}");

    // A relays file with an unknown key is refused by name.
    std::fs::write(&relays, r#"{"other": {"hostname": "smtp.example"}}"#).unwrap();
    let (code, _, err) = on_db(
        d,
        &[
            "deliver",
            "--once",
            "--mail-dir",
            mail_dir,
            "--tenant-relays",
            relays_file,
        ],
    );
    assert_eq!(code, Some(2));
    assert!(err.contains("unknown key \"hostname\""), "{err}");
}

/// `deliver` without `--once` runs until SIGTERM, then finishes what is under way, prints
/// what it did and exits cleanly.
#[test]
fn deliver_runs_until_sigterm_and_then_reports() {
    use std::io::BufRead as _;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (code, _, err) = on_db(d, &["tenant", "create", "acme"]);
    assert_eq!(code, Some(0), "{err}");
    let url = format!("sqlite://{}", d.join("t.db").display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_dunlin"))
        .args(["--database", &url, "deliver", "--mail-dir"])
        .arg(d.join("mail"))
        .current_dir(d)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.starts_with("delivering email to"), "{first}");
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}: {rest}");
    assert!(rest.contains("delivered 0, retrying 0"), "{rest}");
}

/// Tenant acme in `dir`'s database: fx-ladder active (version 1), fx-ladder-early stored
/// (version 2), the example customers and invoices imported, then `last` run if given.
/// Returns the cache dir and the database file.
fn acme_with_two_ladders(dir: &Path, last: &[&str]) -> (PathBuf, PathBuf) {
    let (cache, db) = (dir.join("cache"), dir.join("t.db"));
    let (ladder, early) = (dir.join("l.wasm"), dir.join("e.wasm"));
    std::fs::write(&ladder, dunlin_tests::fixture("fx-ladder")).unwrap();
    std::fs::write(&early, dunlin_tests::fixture("fx-ladder-early")).unwrap();
    let (ladder, early) = (ladder.to_str().unwrap(), early.to_str().unwrap());
    let steps: [&[&str]; 5] = [
        &["tenant", "create", "acme"],
        &["policy", "upload", "--tenant", "acme", ladder, "--activate"],
        &["policy", "upload", "--tenant", "acme", early],
        &[
            "import",
            "--tenant",
            "acme",
            "--kind",
            "customers",
            "examples/import/customers.csv",
        ],
        &[
            "import",
            "--tenant",
            "acme",
            "--kind",
            "invoices",
            "examples/import/invoices.csv",
        ],
    ];
    for args in steps.into_iter().chain((!last.is_empty()).then_some(last)) {
        let out = dunlin_db(&cache, &db, args);
        assert!(out.status.success(), "{args:?}: {:?}", text(&out));
    }
    (cache, db)
}

/// `policy backtest --forward`: the imported open invoices played forward through the active
/// fx-ladder and fx-ladder-early (customers tagged `smb` to collections at 33 days overdue
/// instead of 40), printed as tables and as JSON; nothing is written.
#[test]
fn a_backtest_with_a_forward_look_shows_the_ladders_that_differ() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, db) = acme_with_two_ladders(dir.path(), &[]);
    let args = [
        "policy",
        "backtest",
        "--tenant",
        "acme",
        "2",
        "--forward",
        "60",
    ];
    let json = dunlin_db(
        &cache,
        &db,
        &[&args[..], &["--start", "2026-03-01", "--json"]].concat(),
    );
    assert!(json.status.success(), "{:?}", text(&json));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(
        v["comparison"]["total"], 0,
        "no decision was recorded yet: {v}"
    );
    let r = &v["forward"];
    assert_eq!(
        (&r["baseline-version"], &r["start"]),
        (&serde_json::json!(1), &serde_json::json!("2026-03-01"))
    );
    // inv-1001 (c-aalto, smb) is due 2026-02-04: 40 days overdue on 2026-03-16, 33 on 03-09.
    let ladders = r["ladders"].as_array().unwrap();
    let aalto = ladders
        .iter()
        .find(|l| l["invoice-id"] == "inv-1001")
        .unwrap_or_else(|| panic!("inv-1001 differs: {r}"));
    assert_eq!(aalto["direction"], "earlier-escalation");
    assert_eq!(aalto["baseline"][0]["on"], "2026-03-16");
    assert_eq!(aalto["candidate"][0]["on"], "2026-03-09");
    let smb = |l: &serde_json::Value| {
        l["segment"]
            .as_str()
            .unwrap()
            .split('+')
            .any(|t| t == "smb")
    };
    assert!(
        ladders.iter().all(smb),
        "only smb customers' ladders differ: {r}"
    );
    let tables = dunlin_db(
        &cache,
        &db,
        &[&args[..], &["--start", "2026-03-01"]].concat(),
    );
    let (out, err) = text(&tables);
    assert!(tables.status.success(), "{err}");
    assert!(
        out.contains("Forward look from 2026-03-01 to 2026-04-29 (60 days"),
        "{out}"
    );
    assert!(out.contains("inv-1001 · c-aalto · smb"), "{out}");
    // Nothing was written: the log is still empty.
    let decisions = dunlin_db(&cache, &db, &["decisions", "--tenant", "acme"]);
    assert!(decisions.status.success());
    assert!(
        !text(&decisions).0.contains("inv-1001"),
        "{:?}",
        text(&decisions)
    );
}

/// Sweeps acme on 2026-03-10: how many decisions it recorded (some), and what it printed.
fn acme_swept(cache: &Path, db: &Path) -> (usize, String) {
    let sweep = dunlin_db(
        cache,
        db,
        &["sweep", "--tenant", "acme", "--as-of", "2026-03-10"],
    );
    let (out, err) = text(&sweep);
    assert!(sweep.status.success(), "{err}");
    let recorded = out
        .split(" recorded,")
        .next()
        .and_then(|head| head.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a recorded count: {out}"));
    assert!(recorded > 0, "{out}");
    (recorded, out)
}

/// `decisions --export`: the tenant's log as JSON Lines, one decision a line with the exact
/// context its policy saw, within the window asked for and the tenant's own only; and
/// `policy diff --contexts` reads the file as written.
#[test]
fn the_decision_log_exports_as_json_lines_that_a_diff_reads() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, db) = acme_with_two_ladders(dir.path(), &["tenant", "create", "globex"]);
    let (recorded, _) = acme_swept(&cache, &db);

    let file = dir.path().join("acme.jsonl");
    let export = |tenant: &str, extra: &[&str]| {
        let args = [
            &["decisions", "--export", "--tenant", tenant, "--out"][..],
            &[file.to_str().unwrap()],
            extra,
        ]
        .concat();
        let out = dunlin_db(&cache, &db, &args);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{args:?}: {stdout}\n{stderr}");
        let lines: Vec<serde_json::Value> = std::fs::read_to_string(&file)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        assert!(
            stderr.contains(&format!("wrote {} decision(s)", lines.len())),
            "{stderr}"
        );
        lines
    };
    let lines = export("acme", &[]);
    assert_eq!(lines.len(), recorded);
    let mut ids = Vec::new();
    for l in &lines {
        ids.push(l["decision_id"].as_i64().expect("an id"));
        assert_eq!(l["as_of"], "2026-03-10", "{l}");
        assert_eq!(l["policy_version"], 1, "{l}");
        assert_eq!(l["policy_sha256"].as_str().map(str::len), Some(64), "{l}");
        assert_eq!(l["context"]["as-of"], "2026-03-10", "{l}");
        assert_eq!(l["context"]["invoice"]["id"], l["invoice_id"], "{l}");
        assert!(
            l["decision"].is_object() != l["failure_code"].is_string(),
            "a decision or a failure: {l}"
        );
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "oldest first: {ids:?}");
    // The window, and another tenant's (empty) log.
    assert!(export("acme", &["--from", "2026-03-11"]).is_empty());
    assert_eq!(export("acme", &["--to", "2026-03-10"]).len(), recorded);
    assert!(export("globex", &[]).is_empty());
    let nobody = dunlin_db(
        &cache,
        &db,
        &["decisions", "--export", "--tenant", "nobody"],
    );
    assert!(!nobody.status.success(), "{:?}", text(&nobody));

    // The file holds acme's whole log again, for the diff.
    assert_eq!(export("acme", &[]).len(), recorded);
    let (ladder, early) = (dir.path().join("l.wasm"), dir.path().join("e.wasm"));
    let diff = dunlin(
        &cache,
        &[
            "policy",
            "diff",
            ladder.to_str().unwrap(),
            early.to_str().unwrap(),
            "--contexts",
            file.to_str().unwrap(),
            "--json",
        ],
    );
    let (stdout, stderr) = text(&diff);
    assert!(diff.status.success(), "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(report["total"], recorded, "{report}");
}

/// Shadow and canary from the command line: the sweep says what the shadow version answered,
/// the shadow report compares it, and the canary report sets the arms side by side.
#[test]
fn shadow_and_canary_reports_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, db) =
        acme_with_two_ladders(dir.path(), &["policy", "shadow", "--tenant", "acme", "2"]);
    let (recorded, out) = acme_swept(&cache, &db);
    assert!(
        out.contains(&format!(
            "shadow: {recorded} answers recorded apart (0 failures)"
        )),
        "{out}"
    );
    let report = dunlin_db(
        &cache,
        &db,
        &[
            "policy",
            "shadow-report",
            "--tenant",
            "acme",
            "--from",
            "2026-03-01",
            "--json",
        ],
    );
    assert!(report.status.success(), "{:?}", text(&report));
    let v: serde_json::Value = serde_json::from_slice(&report.stdout).unwrap();
    assert_eq!(v["comparison"]["total"], recorded, "{v}");
    assert_eq!(v["version"], 2);

    let canary = dunlin_db(
        &cache,
        &db,
        &["policy", "canary", "--tenant", "acme", "2", "50%"],
    );
    assert!(canary.status.success(), "{:?}", text(&canary));
    let report = dunlin_db(
        &cache,
        &db,
        &[
            "policy",
            "canary-report",
            "--tenant",
            "acme",
            "--from",
            "2026-03-01",
        ],
    );
    let (out, err) = text(&report);
    assert!(report.status.success(), "{err}");
    assert!(
        out.contains("canary version 2 for 50% of customers"),
        "{out}"
    );
    // Every decision so far is the active version's: its arm alone, with the tables.
    assert!(
        out.contains(&format!("active        1 {recorded:>9}")),
        "{out}"
    );
    assert!(
        out.contains("escalations                               2"),
        "{out}"
    );
}

#[test]
fn a_tenants_sandbox_limits_are_set_within_the_operators_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, db) = (dir.path().join("cache"), dir.path().join("t.db"));
    let created = dunlin_db(&cache, &db, &["tenant", "create", "acme"]);
    assert!(created.status.success(), "{:?}", text(&created));
    let set = |operator: &str, sandbox: &str| {
        dunlin_db(
            &cache,
            &db,
            &[
                "--operator-limits",
                operator,
                "tenant",
                "set",
                "acme",
                "--sandbox",
                sandbox,
            ],
        )
    };
    let refused = set("{}", r#"{"fuel": 500000000}"#);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        text(&refused).1.contains(
            "sandbox: fuel is 500000000; the operator allows 1 to 100000000 \
             (max-fuel-per-decision in --operator-limits)"
        ),
        "{:?}",
        text(&refused)
    );
    let roomy = r#"{"max-fuel-per-decision": 1000000000}"#;
    let allowed = set(roomy, r#"{"fuel": 500000000, "memory-mib": 32}"#);
    assert!(allowed.status.success(), "{:?}", text(&allowed));
    let shown = || text(&dunlin_db(&cache, &db, &["tenant", "show", "acme"])).0;
    assert!(shown().contains(r#""fuel": 500000000"#), "{}", shown());
    // null returns a limit to the host's default; the others stay.
    let reset = set(roomy, r#"{"fuel": null}"#);
    assert!(reset.status.success(), "{:?}", text(&reset));
    let after = shown();
    assert!(!after.contains(r#""fuel""#), "{after}");
    assert!(after.contains(r#""memory-mib": 32"#), "{after}");
}

/// `policy new --lang rust`: the new crate builds into a component that passes its own cases
/// in the sandbox.
#[test]
fn a_new_rust_policy_builds_and_passes_its_cases() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let crate_dir = dir.path().join("my-ladder");
    let crate_arg = crate_dir.to_str().unwrap();
    let out = dunlin(&cache, &["policy", "new", "--lang", "rust", crate_arg]);
    assert!(out.status.success(), "{:?}", text(&out));
    assert!(text(&out).0.contains("cargo test"), "{:?}", text(&out));
    let wasm = dir.path().join("my-ladder.wasm");
    let out = dunlin(
        &cache,
        &[
            "policy",
            "build",
            crate_arg,
            "--out",
            wasm.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{:?}", text(&out));
    let cases = crate_dir.join("cases.json");
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
    assert!(stdout.contains("6 passed, 0 failed"), "{stdout}");
    // Nothing is overwritten.
    let again = dunlin(&cache, &["policy", "new", "--lang", "rust", crate_arg]);
    assert_eq!(again.status.code(), Some(2), "{:?}", text(&again));
    assert!(
        text(&again).1.contains("already exists"),
        "{:?}",
        text(&again)
    );
}
