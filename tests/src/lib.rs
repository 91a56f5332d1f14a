//! The test harness: builds WebAssembly components from source (hostile fixtures in
//! `tests/fixtures/`, reference policies in `policies/`), once per process, each family with
//! its own target directory, and hands out one shared [`Runtime`].
//!
//! Nothing here is committed as a binary: a fresh clone builds everything it tests.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use dunlin_runtime::guest_build::{build_crate, Output};
use dunlin_runtime::{Runtime, RuntimeConfig};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the repository root")
        .to_owned()
}

/// Builds (once per process) the crate at `crate_dir` into `target_dir` and returns the
/// component's bytes.
fn built(crate_dir: PathBuf, target_dir: PathBuf) -> Vec<u8> {
    static BUILT: OnceLock<Mutex<HashMap<PathBuf, PathBuf>>> = OnceLock::new();
    // One build at a time: cargo would serialize them on its lock anyway.
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let wasm = match built.get(&crate_dir) {
        Some(wasm) => wasm.clone(),
        None => {
            let wasm = build_crate(&crate_dir, Some(&target_dir), Output::Capture)
                .unwrap_or_else(|e| panic!("building {}: {e}", crate_dir.display()));
            built.insert(crate_dir, wasm.clone());
            wasm
        }
    };
    std::fs::read(&wasm).unwrap_or_else(|e| panic!("reading {}: {e}", wasm.display()))
}

/// A hostile (or good) fixture from `tests/fixtures/<name>`, e.g. `fx-loop`.
pub fn fixture(name: &str) -> Vec<u8> {
    let root = repo().join("tests").join("fixtures");
    built(root.join(name), root.join("target"))
}

/// A reference policy from `policies/<name>`, e.g. `standard`.
pub fn reference_policy(name: &str) -> Vec<u8> {
    let root = repo();
    built(
        root.join("policies").join(name),
        root.join("target").join("wasm"),
    )
}

/// The reference policies' names.
pub const REFERENCE_POLICIES: &[&str] = &["standard", "saas-card", "b2b-segmented"];

/// One runtime for the whole test process, with default limits and no compile cache, as a
/// daemon would have: every test that runs a hostile policy shares it with the good ones.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new(RuntimeConfig::default()).expect("engine sets up"))
}
