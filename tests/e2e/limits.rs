//! Each policy runs under its own limits; an upload reports whether a component fits them
//! and refuses one that does not; refusals that need a rebuild or a larger limit say so,
//! before compiling and without leaving anything in the compile cache.

use std::time::Duration;

use dunlin_core::{Policy, PolicyFailure};
use dunlin_runtime::{CallLimits, Compiler, Limits, LoadError, Mode, Runtime, RuntimeConfig};
use dunlin_tests::{fixture, runtime};

use crate::ctx;

fn call(fuel: u64, memory_bytes: usize) -> CallLimits {
    CallLimits {
        fuel,
        memory_bytes,
        deadline: Duration::from_secs(30),
    }
}

#[test]
fn a_policy_runs_under_its_own_limits_not_the_runtimes() {
    let rt = runtime();
    let looping = rt.load(&fixture("fx-loop")).unwrap();
    let own = looping.with_limits(call(20_000, 8 << 20));
    for mode in [Mode::Strict, Mode::Batch] {
        assert_eq!(
            own.handle(mode).decide(&ctx()).unwrap_err(),
            PolicyFailure::OutOfFuel { budget: 20_000 }
        );
    }
    // The same compiled policy under the runtime's defaults is unaffected.
    assert_eq!(
        looping.handle(Mode::Strict).decide(&ctx()).unwrap_err(),
        PolicyFailure::OutOfFuel {
            budget: Limits::default().fuel
        }
    );
    let bomb = rt
        .load_with(&fixture("fx-memory-bomb"), call(u64::MAX / 2, 4 << 20))
        .unwrap();
    assert_eq!(
        bomb.handle(Mode::Strict).decide(&ctx()).unwrap_err(),
        PolicyFailure::MemoryLimit {
            limit_bytes: 4 << 20
        }
    );
    // No policy is given more memory than the pool's slots hold.
    let greedy = looping.with_limits(call(1, 1 << 40));
    assert_eq!(
        greedy.limits().memory_bytes,
        rt.limits().pool_memory_bytes()
    );
}

#[test]
fn a_report_counts_fuel_and_the_peak_of_memory() {
    let loaded = runtime().load(&fixture("fx-good")).unwrap();
    let report = loaded.handle(Mode::Strict).decide_with_report(&ctx());
    assert!(report.outcome.is_ok());
    assert!(report.fuel_used > 0);
    // A Rust guest's memory starts at a few hundred KiB and stays well under 16 MiB.
    assert!(
        (64 << 10..16 << 20).contains(&report.peak_memory_bytes),
        "{}",
        report.peak_memory_bytes
    );
}

#[test]
fn an_upload_reports_what_it_used_on_the_rich_sample_against_its_limits() {
    let loaded = runtime().load(&fixture("fx-good")).unwrap();
    let fit = loaded.trial().unwrap();
    assert!(fit.fits());
    assert_eq!(fit.limits, Limits::default().call());
    assert!(fit.fuel_used > 0 && fit.fuel_used < fit.limits.fuel / 2);
    assert!(fit.peak_memory_bytes > 0);
    assert!(fit.warnings().is_empty(), "{:?}", fit.warnings());
    let shown = fit.to_string();
    assert!(
        shown.starts_with(&format!("fuel {} of 10000000 (", fit.fuel_used)),
        "{shown}"
    );
}

#[test]
fn a_component_that_does_not_fit_its_limits_on_the_rich_sample_is_refused() {
    let bytes = fixture("fx-heavy-history");
    let loaded = runtime().load(&bytes).unwrap();
    // The plain sample has no history: it decides.
    assert!(loaded.handle(Mode::Strict).decide(&ctx()).is_ok());
    let err = loaded.trial().unwrap_err();
    match &err {
        LoadError::DoesNotFit(fit) => {
            assert_eq!(
                fit.failure,
                Some(PolicyFailure::OutOfFuel {
                    budget: Limits::default().fuel
                })
            );
            assert_eq!(fit.fuel_used, Limits::default().fuel);
        }
        other => panic!("expected does-not-fit, got {other}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("40 history entries, 30 metadata pairs, 10 tags, 20 params"),
        "{message}"
    );
    assert!(
        message.contains("ran out of fuel") || message.contains("fuel"),
        "{message}"
    );
    // With a tenant's larger fuel limit the same component fits, with room to spare.
    let roomy = runtime()
        .load_with(&bytes, call(200_000_000, 64 << 20))
        .unwrap();
    let fit = roomy.trial().unwrap();
    assert!(fit.fuel_used > 30_000_000, "{fit}");
    assert!(fit.warnings().is_empty(), "{:?}", fit.warnings());
    // Near the limit: stored, with a warning.
    let tight = runtime()
        .load_with(&bytes, call(fit.fuel_used * 3 / 2, 64 << 20))
        .unwrap();
    let near = tight.trial().unwrap();
    assert!(
        near.warnings()
            .iter()
            .any(|w| w.contains("of its fuel limit")),
        "{near}"
    );
}

/// A runtime that compiles nothing in time, with a compile cache: a refusal other than a
/// compile timeout was given before compiling.
fn cannot_compile(dir: &std::path::Path, memory_bytes: usize) -> Runtime {
    Runtime::new(RuntimeConfig {
        limits: Limits {
            compile_time: Duration::ZERO,
            memory_bytes,
            max_memory_bytes: memory_bytes,
            ..Limits::default()
        },
        cache_dir: Some(dir.to_owned()),
        compiler: Compiler::Thread,
    })
    .unwrap()
}

/// A component that exports the policy interface at 0.1.0 (an empty instance: it would
/// fail the contract's types only after compiling) and also holds `extra`.
fn decider_with(extra: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(component
            {extra}
            (instance $decider)
            (export "dunlin:policy/decider@0.1.0" (instance $decider)))"#
    ))
    .unwrap()
}

#[test]
fn refused_imports_async_builds_and_large_memories_are_refused_before_compiling() {
    let dir = tempfile::tempdir().unwrap();
    let rt = cannot_compile(dir.path(), 2 << 20);
    let http = decider_with(r#"(import "wasi:http/outgoing-handler@0.2.3" (instance))"#);
    let refusals = [
        (http, "import-not-allowed"),
        (
            decider_with("(core func (canon task.cancel))"),
            "async-built",
        ),
        (decider_with("(core module (memory 48))"), "initial-memory"),
    ];
    for (bytes, what) in refusals {
        let err = rt.load(&bytes).err().expect("refused");
        let message = err.to_string();
        match (what, &err) {
            ("import-not-allowed", LoadError::ImportNotAllowed { import, .. }) => {
                assert_eq!(import, "wasi:http/outgoing-handler@0.2.3");
                assert!(message.contains("disableFeatures: ['http'"), "{message}");
            }
            ("async-built", LoadError::AsyncBuilt { .. }) => {
                assert!(
                    message.contains("built with async support; rebuild it without"),
                    "{message}"
                );
                assert!(message.contains("task.cancel"), "{message}");
            }
            ("initial-memory", LoadError::InitialMemory { .. }) => assert!(
                message.starts_with(
                    "the component needs 3 MiB of initial linear memory, above the memory \
                     limit of 2 MiB; raise the limit to at least 3 MiB"
                ),
                "{message}"
            ),
            _ => panic!("{what}: got {message}"),
        }
        assert_eq!(
            std::fs::read_dir(dir.path()).map_or(0, |d| d.count()),
            0,
            "{what} left something in the cache"
        );
    }
    // The proof that this runtime cannot compile: a good component times out.
    let err = rt.load(&fixture("fx-good")).err().expect("cannot compile");
    assert!(matches!(err, LoadError::CompileTimeout { .. }), "{err}");
}

#[test]
fn a_real_component_above_a_tenants_memory_limit_says_what_it_needs() {
    let err = runtime()
        .load_with(&fixture("fx-good"), call(1_000_000, 512 << 10))
        .err()
        .expect("refused");
    match &err {
        LoadError::InitialMemory {
            needed_mib,
            limit_mib: 0,
        } => assert!(*needed_mib >= 1, "{err}"),
        other => panic!("expected initial-memory, got {other}"),
    }
    assert!(err.to_string().contains("sandbox.memory-mib"), "{err}");
}
