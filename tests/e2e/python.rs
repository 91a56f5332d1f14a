//! Python policies in the sandbox: the Python port of `standard` passes the Rust policy's
//! cases file and answers every case as the Rust component does, in strict and batch mode;
//! a hostile Python policy is contained with the right failure code.

use std::process::Command;
use std::time::Duration;

use dunlin_core::{Context, Policy, PolicyFailure};
use dunlin_runtime::{Limits, Mode, Runtime};
use dunlin_tests::python::{
    load_python, python_config, python_fixture, python_policy, python_runtime, python_toolchain,
};
use dunlin_tests::{reference_policy, repo};

use crate::{assert_decides_as_the_rust_standard, assert_passes_the_standard_cases};

#[test]
fn python_standard_passes_the_rust_standard_cases_strict_and_batch() {
    assert_passes_the_standard_cases(&load_python(
        python_runtime(),
        &python_policy("standard-python"),
    ));
}

#[test]
fn python_standard_decides_as_the_rust_standard_strict_and_batch() {
    // The Rust component in the same patient runtime: its compile must not time out while a
    // Python one takes the machine.
    assert_decides_as_the_rust_standard(
        &load_python(python_runtime(), &reference_policy("standard")),
        &load_python(python_runtime(), &python_policy("standard-python")),
    );
}

fn hostile(mode: &str) -> Context {
    let mut ctx = crate::ctx();
    ctx.params.insert("mode".into(), mode.into());
    ctx
}

fn failure_of(runtime: &Runtime, mode: &str, call: Mode) -> PolicyFailure {
    let loaded = load_python(runtime, &python_fixture("py-hostile"));
    loaded
        .handle(call)
        .decide(&hostile(mode))
        .expect_err("the hostile mode must fail")
}

#[test]
fn python_hostile_fixture_behaves_when_asked_nicely() {
    let loaded = load_python(python_runtime(), &python_fixture("py-hostile"));
    for call in [Mode::Strict, Mode::Batch] {
        let decision = loaded.handle(call).decide(&hostile("none")).unwrap();
        assert_eq!(decision.segment, "py-hostile");
    }
}

#[test]
fn python_infinite_loop_runs_out_of_fuel() {
    for call in [Mode::Strict, Mode::Batch] {
        assert_eq!(
            failure_of(python_runtime(), "loop", call),
            PolicyFailure::OutOfFuel {
                budget: Limits::default().fuel
            }
        );
    }
}

#[test]
fn python_memory_growth_hits_the_memory_limit() {
    // A deadline that cannot fire first: the growth spends wall time on page faults.
    let patient = Runtime::new(python_config(Limits {
        deadline: Duration::from_secs(30),
        ..Limits::default()
    }))
    .unwrap();
    assert_eq!(
        failure_of(&patient, "grow", Mode::Strict),
        PolicyFailure::MemoryLimit {
            limit_bytes: Limits::default().memory_bytes as u64
        }
    );
}

#[test]
fn python_exception_is_a_trap_not_a_refusal() {
    for call in [Mode::Strict, Mode::Batch] {
        let failure = failure_of(python_runtime(), "raise", call);
        assert_eq!(failure.code(), "trap", "{failure}");
    }
}

/// The SDK's own tests, the template's and the Python `standard`'s native tests (its
/// `cases.json` run by the SDK's runner), under the pinned pytest.
#[test]
fn python_native_tests_pass_under_pytest() {
    let python = python_toolchain().join("bin").join("python3");
    for dir in ["guest-sdk/python", "policies/standard-python"] {
        let out = Command::new(&python)
            .current_dir(repo().join(dir))
            .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output()
            .unwrap_or_else(|e| panic!("running pytest: {e}"));
        let printed = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "pytest in {dir} failed ({}):\n{printed}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(printed.contains(" passed"), "{dir}: {printed}");
    }
}
