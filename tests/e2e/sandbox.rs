//! Hostile components are contained with the right typed failure, and a good policy keeps
//! working in the same process.

use std::time::Duration;

use dunlin_core::{InvalidDecision, Policy, PolicyFailure, Refusal};
use dunlin_runtime::{Limits, LoadError, Mode, Runtime, RuntimeConfig};
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
        PolicyFailure::Trap { message } => assert!(message.contains("called exit("), "{message}"),
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
