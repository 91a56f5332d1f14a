//! The `decide` bench's Python rows: `policies/standard-python` (componentize-py, CPython in
//! the component) over the same contexts as the Rust rows: compile, cached load, fuel per
//! decision, batch and strict mode on one and two threads.

use dunlin_core::Context;
use dunlin_runtime::{Mode, Runtime, RuntimeConfig};

use crate::{print, sandbox};

pub fn run(contexts: &[Context]) {
    let bytes = dunlin_tests::python::python_policy("standard-python");
    println!(
        "\nstandard-python (componentize-py 0.25.1), {} bytes",
        bytes.len()
    );
    let cache = std::env::temp_dir().join(format!("dunlin-bench-py-cache-{}", std::process::id()));
    // The bench measures the compile; on a machine busy with other builds a Python compile
    // can pass the runtime's default limit (60 s), so it is allowed longer here.
    let limits = dunlin_runtime::Limits {
        compile_time: std::time::Duration::from_secs(900),
        ..dunlin_runtime::Limits::default()
    };
    let config = || RuntimeConfig {
        limits: limits.clone(),
        cache_dir: Some(cache.clone()),
        ..RuntimeConfig::default()
    };
    let runtime = Runtime::new(config()).unwrap();
    let loaded = runtime.load(&bytes).unwrap();
    println!(
        "compile (cranelift)          {:>10.1} ms",
        loaded.info().load_time.as_secs_f64() * 1e3
    );
    let reloaded = Runtime::new(config()).unwrap().load(&bytes).unwrap();
    assert!(reloaded.info().from_cache);
    println!(
        "load from the compile cache  {:>10.2} ms",
        reloaded.info().load_time.as_secs_f64() * 1e3
    );
    let fuel: Vec<u64> = contexts
        .iter()
        .map(|c| loaded.handle(Mode::Strict).decide_with_report(c).fuel_used)
        .collect();
    println!(
        "fuel per decision            {:>10} (day 25), {} to {} over the ladder\n",
        fuel[30.min(fuel.len() - 1)],
        fuel.iter().min().unwrap_or(&0),
        fuel.iter().max().unwrap_or(&0)
    );
    for threads in [1, 2] {
        print(
            "py batch (instance reused)",
            threads,
            &sandbox(&loaded, Mode::Batch, contexts, threads, 20_000),
        );
    }
    for threads in [1, 2] {
        print(
            "py strict (fresh instance)",
            threads,
            &sandbox(&loaded, Mode::Strict, contexts, threads, 2_000),
        );
    }
    // A Python image is 9 to 12 MiB: with 16 MiB resident per pool slot a fresh instance
    // no longer faults its pages in again (`--memory-resident-mib 16`).
    let resident = Runtime::new(RuntimeConfig {
        limits: dunlin_runtime::Limits {
            memory_keep_resident_bytes: 16 << 20,
            ..limits.clone()
        },
        ..config()
    })
    .unwrap()
    .load(&bytes)
    .unwrap();
    let _ = std::fs::remove_dir_all(&cache);
    for threads in [1, 2] {
        print(
            "py strict, 16 MiB resident",
            threads,
            &sandbox(&resident, Mode::Strict, contexts, threads, 2_000),
        );
    }
}
