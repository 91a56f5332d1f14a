//! The JavaScript rows of the decide bench: `policies/standard-js` built with the pinned
//! QuickJS toolchain, on the same contexts as the Rust `standard`.

use dunlin_core::Context;
use dunlin_runtime::{Mode, Runtime, RuntimeConfig};

use super::{print, sandbox};

pub fn rows(contexts: &[Context]) {
    let bytes = dunlin_tests::js::js_policy("standard-js");
    println!("\nstandard-js (QuickJS), the same contexts\n");
    let cache = std::env::temp_dir().join(format!("dunlin-bench-js-cache-{}", std::process::id()));
    let config = || RuntimeConfig {
        cache_dir: Some(cache.clone()),
        ..RuntimeConfig::default()
    };
    let runtime = Runtime::new(config()).unwrap();
    let loaded = runtime.load(&bytes).unwrap();
    println!(
        "compile (cranelift)          {:>10.1} ms   ({} bytes)",
        loaded.info().load_time.as_secs_f64() * 1e3,
        bytes.len()
    );
    let reloaded = Runtime::new(config()).unwrap().load(&bytes).unwrap();
    assert!(reloaded.info().from_cache);
    println!(
        "load from the compile cache  {:>10.2} ms",
        reloaded.info().load_time.as_secs_f64() * 1e3
    );
    let _ = std::fs::remove_dir_all(&cache);
    let fuel: Vec<u64> = contexts
        .iter()
        .map(|c| loaded.handle(Mode::Strict).decide_with_report(c).fuel_used)
        .collect();
    println!(
        "fuel per decision            {:>10} (day 25), {} to {} across the ladder\n",
        fuel[30],
        fuel.iter().min().unwrap(),
        fuel.iter().max().unwrap()
    );
    for threads in [1, 2] {
        print(
            "batch (instance reused)",
            threads,
            &sandbox(&loaded, Mode::Batch, contexts, threads, 20_000),
        );
    }
    for threads in [1, 2] {
        print(
            "strict (fresh instance)",
            threads,
            &sandbox(&loaded, Mode::Strict, contexts, threads, 4_000),
        );
    }
}
