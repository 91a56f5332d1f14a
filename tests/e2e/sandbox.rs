//! Hostile components are contained with the right typed failure, and a good policy keeps
//! working in the same process.

use std::time::Duration;

use dunlin_core::{InvalidDecision, Policy, PolicyFailure, Refusal};
use dunlin_runtime::{Compiler, Limits, LoadError, Mode, Runtime, RuntimeConfig};
use dunlin_tests::{fixture, runtime};

use crate::ctx;

fn failure(name: &str, mode: Mode) -> PolicyFailure {
    failure_in(runtime(), name, mode)
}

fn failure_in(rt: &Runtime, name: &str, mode: Mode) -> PolicyFailure {
    let loaded = rt.load(&fixture(name)).expect("fixture loads");
    let outcome = loaded.handle(mode).decide(&ctx());
    outcome.expect_err("the hostile fixture must fail")
}

/// Default limits but a deadline so long that it cannot fire first on a loaded machine:
/// for tests of the memory and output limits, whose fixtures spend wall time on page faults.
fn patient_runtime() -> Runtime {
    Runtime::new(RuntimeConfig {
        limits: Limits {
            deadline: Duration::from_secs(30),
            ..Limits::default()
        },
        cache_dir: None,
        compiler: Compiler::Thread,
    })
    .unwrap()
}

fn assert_good_still_works() {
    let loaded = runtime().load(&fixture("fx-good")).expect("fx-good loads");
    for mode in [Mode::Strict, Mode::Batch] {
        let decision = loaded.handle(mode).decide(&ctx()).expect("fx-good decides");
        assert_eq!(decision.segment, "good");
        assert_eq!(decision.review_on, Some("2026-03-17".parse().unwrap()));
    }
}

#[test]
fn infinite_loop_runs_out_of_fuel() {
    for mode in [Mode::Strict, Mode::Batch] {
        assert!(matches!(
            failure("fx-loop", mode),
            PolicyFailure::OutOfFuel { budget } if budget == Limits::default().fuel
        ));
    }
    assert_good_still_works();
}

#[test]
fn infinite_loop_with_unlimited_fuel_hits_the_deadline() {
    let rt = Runtime::new(RuntimeConfig {
        limits: Limits {
            fuel: u64::MAX / 2,
            deadline: Duration::from_millis(50),
            ..Limits::default()
        },
        cache_dir: None,
        compiler: Compiler::Thread,
    })
    .unwrap();
    let loaded = rt.load(&fixture("fx-loop")).unwrap();
    let report = loaded.handle(Mode::Strict).decide_with_report(&ctx());
    assert_eq!(
        report.outcome.unwrap_err(),
        PolicyFailure::Deadline { limit_ms: 50 }
    );
    assert!(
        report.elapsed < Duration::from_secs(5),
        "{:?}",
        report.elapsed
    );
}

#[test]
fn memory_bomb_hits_the_memory_limit() {
    assert_eq!(
        failure_in(&patient_runtime(), "fx-memory-bomb", Mode::Strict),
        PolicyFailure::MemoryLimit {
            limit_bytes: Limits::default().memory_bytes as u64
        }
    );
    assert_good_still_works();
}

#[test]
fn deep_recursion_is_a_stack_overflow_trap() {
    match failure("fx-recursion", Mode::Strict) {
        PolicyFailure::Trap { message } => assert!(message.contains("stack"), "{message}"),
        other => panic!("expected a trap, got {other:?}"),
    }
    assert_good_still_works();
}

#[test]
fn panic_is_a_trap_and_its_message_is_captured() {
    let loaded = runtime().load(&fixture("fx-panic")).unwrap();
    let report = loaded.handle(Mode::Batch).decide_with_report(&ctx());
    assert!(matches!(report.outcome, Err(PolicyFailure::Trap { .. })));
    assert!(report.log.contains("policy bug: boom"), "{}", report.log);
    assert_good_still_works();
}

#[test]
fn oversized_output_is_refused() {
    match failure_in(&patient_runtime(), "fx-big-output", Mode::Strict) {
        PolicyFailure::OutputTooLarge { size, limit } => {
            assert!(size > 8 << 20);
            assert_eq!(limit, Limits::default().output_bytes);
        }
        other => panic!("expected output-too-large, got {other:?}"),
    }
}

#[test]
fn contract_breaking_decision_is_invalid() {
    assert_eq!(
        failure("fx-invalid", Mode::Strict),
        PolicyFailure::InvalidDecision(InvalidDecision::Level { level: 42 })
    );
}

#[test]
fn exit_is_a_trap_not_a_host_exit() {
    match failure("fx-exit", Mode::Strict) {
        // WASI 0.2's exit carries no code (exit(3) arrives as "failure"), so none is shown.
        PolicyFailure::Trap { message } => assert_eq!(
            message,
            "the policy exited (with failure status) instead of deciding"
        ),
        other => panic!("expected a trap, got {other:?}"),
    }
    assert_good_still_works();
}

#[test]
fn refusal_is_the_policys_answer() {
    assert_eq!(
        failure("fx-refuse", Mode::Strict),
        PolicyFailure::Refused(Refusal::BadParam("grace-days must be a number".into()))
    );
}

/// Parses fx-snoop's `key=value;` report.
fn snoop(mode: Mode) -> (std::collections::BTreeMap<String, String>, String) {
    let loaded = runtime().load(&fixture("fx-snoop")).unwrap();
    let report = loaded.handle(mode).decide_with_report(&ctx());
    let decision = report.outcome.expect("fx-snoop decides");
    let seen = decision
        .reason
        .split(';')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').expect("key=value");
            (k.to_owned(), v.to_owned())
        })
        .collect();
    (seen, report.log)
}

#[test]
fn snooping_policy_sees_nothing_of_the_host() {
    let (seen, log) = snoop(Mode::Strict);
    assert!(seen["file"].starts_with("err:"), "{seen:?}");
    assert_eq!(seen["env_home"], "none");
    assert_eq!(seen["env_count"], "0");
    // 2026-03-10T00:00:00Z: the clock reads the as-of date, not the host's time.
    assert_eq!(seen["clock_secs"], "1773100800");
    assert!(seen["tcp"].starts_with("err:"), "{seen:?}");
    assert!(log.contains("snoop stdout line") && log.contains("snoop stderr line"));
    // Randomness is seeded from the context: the same in a fresh and a reused instance.
    let (again, _) = snoop(Mode::Batch);
    assert_eq!(seen["random"], again["random"]);
}

#[test]
fn core_module_is_not_a_component() {
    let module = wat::parse_str("(module (func (export \"decide\")))").unwrap();
    let err = runtime().load(&module).err().expect("rejected");
    assert!(matches!(err, LoadError::NotAComponent), "{err}");
    assert!(err.to_string().contains("wasm32-wasip2"));
}

#[test]
fn component_of_another_world_is_rejected() {
    let err = runtime()
        .load(&fixture("fx-wrong-world"))
        .err()
        .expect("rejected");
    match &err {
        LoadError::WrongWorld { exports } => assert!(exports.contains("acme:greeter"), "{err}"),
        other => panic!("expected wrong world, got {other}"),
    }
}

#[test]
fn component_of_an_unsupported_version_is_rejected() {
    let err = runtime()
        .load(&fixture("fx-future-version"))
        .err()
        .expect("rejected");
    match &err {
        LoadError::Incompatible { found, supported } => {
            assert_eq!(found, "0.9.0");
            assert_eq!(supported, "0.1.0");
        }
        other => panic!("expected incompatible, got {other}"),
    }
}

#[test]
fn oversized_component_is_rejected_before_compiling() {
    let rt = Runtime::new(RuntimeConfig {
        limits: Limits {
            component_bytes: 1024,
            ..Limits::default()
        },
        cache_dir: None,
        compiler: Compiler::Thread,
    })
    .unwrap();
    let err = rt.load(&fixture("fx-good")).err().expect("rejected");
    assert!(
        matches!(err, LoadError::TooLarge { limit: 1024, .. }),
        "{err}"
    );
}

#[test]
fn garbage_bytes_are_not_wasm() {
    let err = runtime().load(b"not wasm at all").err().expect("rejected");
    assert!(matches!(err, LoadError::NotWasm), "{err}");
}

#[test]
fn a_batch_instance_is_replaced_after_a_failure() {
    let loaded = runtime().load(&fixture("fx-good")).unwrap();
    let mut policy = loaded.handle(Mode::Batch);
    let first = policy.decide(&ctx()).unwrap();
    let mut trapping = ctx();
    trapping.params.insert("trap".into(), "yes".into());
    assert!(matches!(
        policy.decide(&trapping),
        Err(PolicyFailure::Trap { .. })
    ));
    assert_eq!(policy.decide(&ctx()).unwrap(), first);
}

/// Runs fx-sleep with `sleep` = `how` on its own thread, so that a guest that really sleeps
/// fails the test instead of hanging it.
fn sleep_report(how: &str) -> dunlin_runtime::Report {
    let loaded = runtime()
        .load(&fixture("fx-sleep"))
        .expect("fx-sleep loads");
    let mut ctx = ctx();
    ctx.params.insert("sleep".into(), how.into());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(loaded.handle(Mode::Strict).decide_with_report(&ctx));
    });
    rx.recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| panic!("sleep={how}: the call still runs after 60 s"))
}

#[test]
fn a_sleeping_policy_does_not_sleep_in_host_time() {
    // A timer of the guest's virtual time goes off at once: a 5 s, one-hour or endless
    // sleep, or a poll on several far timers and stdin, returns and the policy decides
    // normally. Had the host slept, the call would end in its 500 ms deadline (or never).
    for how in ["short", "long", "forever", "poll"] {
        let report = sleep_report(how);
        let decision = report
            .outcome
            .unwrap_or_else(|f| panic!("sleep={how}: {f}"));
        assert_eq!(decision.reason, format!("slept ({how})"));
    }
    assert_good_still_works();
}

/// A runtime that cannot compile anything in time: a load that gets as far as compiling
/// fails with a compile timeout, so any other answer was given before compiling.
fn runtime_that_cannot_compile(cache_dir: Option<std::path::PathBuf>) -> Runtime {
    Runtime::new(RuntimeConfig {
        limits: Limits {
            compile_time: Duration::ZERO,
            ..Limits::default()
        },
        cache_dir,
        compiler: Compiler::Thread,
    })
    .unwrap()
}

#[test]
fn the_world_version_and_function_sizes_are_read_before_compiling() {
    let rt = runtime_that_cannot_compile(None);
    for (name, check) in [
        (
            "fx-future-version",
            (|e| matches!(e, LoadError::Incompatible { .. })) as fn(&LoadError) -> bool,
        ),
        ("fx-wrong-world", |e| {
            matches!(e, LoadError::WrongWorld { .. })
        }),
    ] {
        let err = rt.load(&fixture(name)).err().expect("rejected");
        assert!(check(&err), "{name}: {err}");
    }
    let huge = dunlin_tests::with_extra_function(&fixture("fx-good"), 3 << 20);
    let err = rt.load(&huge).err().expect("rejected");
    assert!(
        matches!(err, LoadError::FunctionTooLarge { limit, .. } if limit == 2 << 20),
        "{err}"
    );
    // The proof that the runtime cannot compile: a good component times out.
    let err = rt.load(&fixture("fx-good")).err().expect("cannot compile");
    assert!(matches!(err, LoadError::CompileTimeout { .. }), "{err}");
}

#[test]
fn only_components_that_pass_every_check_are_cached() {
    let dir = tempfile::tempdir().unwrap();
    let rt = Runtime::new(RuntimeConfig {
        limits: Limits::default(),
        cache_dir: Some(dir.path().to_owned()),
        compiler: Compiler::Thread,
    })
    .unwrap();
    let artifacts = || std::fs::read_dir(dir.path()).map_or(0, |d| d.count());
    let endless = dunlin_tests::with_endless_start(&fixture("fx-good"));
    for (name, bytes) in [
        ("fx-wrong-signature", fixture("fx-wrong-signature")),
        ("fx-future-version", fixture("fx-future-version")),
        ("fx-good with an endless start", endless),
    ] {
        assert!(rt.load(&bytes).is_err(), "{name}");
        assert_eq!(artifacts(), 0, "{name} left an artifact");
    }
    rt.load(&fixture("fx-good")).unwrap();
    assert_eq!(artifacts(), 1);
}

#[test]
fn an_export_of_the_wrong_type_is_refused_at_load() {
    let err = runtime()
        .load(&fixture("fx-wrong-signature"))
        .err()
        .expect("rejected");
    match &err {
        LoadError::Mismatch { version, message } => {
            assert_eq!(version, "0.1.0");
            assert!(
                message.contains("decide") || message.contains("type"),
                "{err}"
            );
        }
        other => panic!("expected a mismatch, got {other}"),
    }
}

#[test]
fn a_start_that_never_returns_is_refused_at_load() {
    let endless = dunlin_tests::with_endless_start(&fixture("fx-good"));
    let err = runtime().load(&endless).err().expect("rejected");
    assert!(
        matches!(
            err,
            LoadError::Start(PolicyFailure::OutOfFuel { .. } | PolicyFailure::Deadline { .. })
        ),
        "{err}"
    );
    assert_good_still_works();
}

#[test]
fn a_patch_release_of_the_contract_runs() {
    let loaded = runtime().load(&fixture("fx-patch-version")).unwrap();
    assert_eq!(loaded.info().version.as_str(), "0.1.0");
    let decision = loaded.handle(Mode::Strict).decide(&ctx()).unwrap();
    assert_eq!(decision.segment, "patch");
}

#[test]
fn the_supported_export_runs_whichever_comes_first() {
    let loaded = runtime().load(&fixture("fx-two-versions")).unwrap();
    assert_eq!(loaded.info().version.as_str(), "0.1.0");
    let decision = loaded.handle(Mode::Strict).decide(&ctx()).unwrap();
    assert_eq!(decision.segment, "v0-1");
}

#[test]
fn a_refusal_is_bounded_like_a_decision() {
    let loaded = runtime().load(&fixture("fx-refuse")).unwrap();
    let refuse = |bytes: usize| {
        let mut ctx = ctx();
        ctx.params.insert("refusal-bytes".into(), bytes.to_string());
        loaded.handle(Mode::Strict).decide(&ctx).unwrap_err()
    };
    let limit = Limits::default().output_bytes;
    assert_eq!(
        refuse(limit + 1),
        PolicyFailure::OutputTooLarge {
            size: limit + 1,
            limit
        }
    );
    match refuse(10_000) {
        PolicyFailure::Refused(Refusal::BadParam(text)) => {
            let max = dunlin_core::decision::MAX_TEXT;
            assert!(text.starts_with(&"x".repeat(max)), "{text}");
            assert!(text.ends_with(&format!("[{} more bytes]", 10_000 - max)));
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn trap_messages_are_one_bounded_line() {
    for name in ["fx-panic", "fx-recursion", "fx-exit"] {
        match failure(name, Mode::Strict) {
            PolicyFailure::Trap { message } => {
                assert!(
                    !message.contains('\n') && message.len() <= 512,
                    "{name}: {message}"
                );
            }
            other => panic!("{name}: expected a trap, got {other:?}"),
        }
    }
}

#[test]
fn an_upload_is_tried_on_a_sample_invoice() {
    for name in ["fx-good", "fx-refuse", "fx-sleep"] {
        let loaded = runtime().load(&fixture(name)).unwrap();
        loaded.trial().unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for (name, code) in [
        ("fx-loop", "out-of-fuel"),
        ("fx-panic", "trap"),
        ("fx-invalid", "invalid-decision"),
    ] {
        let loaded = runtime().load(&fixture(name)).unwrap();
        match loaded.trial() {
            Err(LoadError::Trial(failure)) => assert_eq!(failure.code(), code, "{name}"),
            other => panic!("{name}: expected a failed trial, got {other:?}"),
        }
    }
}

#[test]
fn a_refused_growth_is_the_failure_not_a_later_trap() {
    let loaded = runtime().load(&fixture("fx-grow-then-trap")).unwrap();
    let grow = |how: &str| {
        let mut ctx = ctx();
        ctx.params.insert("grow".into(), how.into());
        loaded.handle(Mode::Batch).decide(&ctx).unwrap_err()
    };
    assert_eq!(
        grow("huge"),
        PolicyFailure::MemoryLimit {
            limit_bytes: Limits::default().memory_bytes as u64
        }
    );
    // A growth within the limit leaves the trap that follows to speak for itself, even in
    // an instance that has been refused a growth before.
    match grow("small") {
        PolicyFailure::Trap { message } => assert!(message.contains("unreachable"), "{message}"),
        other => panic!("expected a trap, got {other:?}"),
    }
}
