//! The compile cache: a restart loads machine code instead of recompiling.

use dunlin_core::Policy;
use dunlin_runtime::{Mode, Runtime, RuntimeConfig};
use dunlin_tests::fixture;

use crate::ctx;

fn runtime_with_cache(dir: &std::path::Path) -> Runtime {
    Runtime::new(RuntimeConfig {
        cache_dir: Some(dir.to_owned()),
        ..RuntimeConfig::default()
    })
    .unwrap()
}

#[test]
fn restart_loads_from_the_cache_instead_of_recompiling() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = fixture("fx-good");
    let first = runtime_with_cache(dir.path()).load(&bytes).unwrap();
    assert!(!first.info().from_cache);
    // A new runtime stands for a restarted process.
    let second = runtime_with_cache(dir.path()).load(&bytes).unwrap();
    assert!(second.info().from_cache);
    assert_eq!(second.info().sha256, first.info().sha256);
    assert!(second.handle(Mode::Strict).decide(&ctx()).is_ok());
}

#[test]
fn corrupt_cache_entry_is_recompiled() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = fixture("fx-good");
    runtime_with_cache(dir.path()).load(&bytes).unwrap();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        std::fs::write(entry.unwrap().path(), b"garbage").unwrap();
    }
    let loaded = runtime_with_cache(dir.path()).load(&bytes).unwrap();
    assert!(!loaded.info().from_cache);
    assert!(loaded.handle(Mode::Batch).decide(&ctx()).is_ok());
    // ...and the rewritten entry is good again.
    assert!(
        runtime_with_cache(dir.path())
            .load(&bytes)
            .unwrap()
            .info()
            .from_cache
    );
}

#[test]
fn a_second_load_in_the_same_process_reuses_the_compiled_component() {
    let rt = Runtime::new(RuntimeConfig::default()).unwrap();
    let bytes = fixture("fx-good");
    assert!(!rt.load(&bytes).unwrap().info().from_cache);
    let again = rt.load(&bytes).unwrap();
    assert!(again.info().from_cache);
    assert!(again.handle(Mode::Strict).decide(&ctx()).is_ok());
}
