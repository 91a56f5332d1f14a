//! JavaScript policies built from source with the pinned QuickJS toolchain, which this
//! harness installs itself, once, under the target directory; and a runtime with a compile
//! cache for them, as a QuickJS component takes seconds to compile without optimisation.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use dunlin_runtime::guest_build::{build_js, Output};
use dunlin_runtime::{Compiler, Limits, LoadedPolicy, Runtime, RuntimeConfig};

use crate::repo;

/// The cargo target directory the tests run from.
fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_absolute() {
                dir
            } else {
                repo().join(dir)
            }
        })
        .unwrap_or_else(|| repo().join("target"))
}

/// Where the harness keeps the JavaScript toolchain: `target/tmp/toolchains/js`.
pub fn js_toolchain() -> PathBuf {
    target_dir().join("tmp").join("toolchains").join("js")
}

/// A digest of everything a build of `dir` reads: its files (not `node_modules`), the SDK's
/// sources and the toolchain's pinned files.
fn inputs_digest(dir: &Path) -> u64 {
    fn walk(path: &Path, hash: &mut DefaultHasher) {
        let mut entries: Vec<_> = std::fs::read_dir(path)
            .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        entries.sort();
        for entry in entries {
            if entry.file_name().is_some_and(|n| n == "node_modules") {
                continue;
            }
            if entry.is_dir() {
                walk(&entry, hash);
            } else {
                entry.hash(hash);
                std::fs::read(&entry).unwrap_or_default().hash(hash);
            }
        }
    }
    let mut hash = DefaultHasher::new();
    walk(dir, &mut hash);
    walk(&repo().join("guest-sdk/js/src"), &mut hash);
    walk(&repo().join("guest-sdk/js/toolchain"), &mut hash);
    hash.finish()
}

/// The component of the JavaScript package at `dir`: built once per process, and kept
/// between processes while its inputs stay the same. A QuickJS build snapshots a random
/// seed, so two builds of the same source differ; keeping the bytes keeps the compile
/// cache's key.
fn build_kept(dir: &Path, out: &Path) -> PathBuf {
    let digest = format!("{:016x}", inputs_digest(dir));
    let stamp = out.join(format!(
        "{}.inputs",
        dir.file_name().and_then(|n| n.to_str()).unwrap_or("policy")
    ));
    if let Ok(kept) = std::fs::read_to_string(&stamp) {
        if let Some((wasm, _)) = kept.split_once('\n').filter(|(_, d)| *d == digest) {
            if Path::new(wasm).is_file() {
                return PathBuf::from(wasm);
            }
        }
    }
    let wasm = build_js(dir, &js_toolchain(), out, Output::Capture)
        .unwrap_or_else(|e| panic!("building {}: {e}", dir.display()));
    let _ = std::fs::write(&stamp, format!("{}\n{digest}", wasm.display()));
    wasm
}

/// Builds (once per process) the JavaScript package at `dir` and returns its component.
fn built(dir: PathBuf) -> Vec<u8> {
    static BUILT: OnceLock<Mutex<HashMap<PathBuf, PathBuf>>> = OnceLock::new();
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let wasm = match built.get(&dir) {
        Some(wasm) => wasm.clone(),
        None => {
            let wasm = build_kept(&dir, &target_dir().join("tmp").join("js-policies"));
            built.insert(dir, wasm.clone());
            wasm
        }
    };
    std::fs::read(&wasm).unwrap_or_else(|e| panic!("reading {}: {e}", wasm.display()))
}

/// A JavaScript reference policy from `policies/<name>`, e.g. `standard-js`.
pub fn js_policy(name: &str) -> Vec<u8> {
    built(repo().join("policies").join(name))
}

/// A JavaScript fixture from `tests/fixtures/<name>`, e.g. `js-hostile`.
pub fn js_fixture(name: &str) -> Vec<u8> {
    built(repo().join("tests").join("fixtures").join(name))
}

/// A runtime with default limits on every call, and a persistent compile cache under
/// `target/tmp`: an unoptimised test build of cranelift compiles a 1.8 MB QuickJS component
/// in 15 s on an idle machine and past the 60 s compile limit on a busy one, while a cached
/// one loads in milliseconds. The compile limit guards uploads in an optimised daemon; here
/// it is five minutes, so that a first run on a loaded machine does not fail spuriously.
pub fn js_runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        Runtime::new(RuntimeConfig {
            limits: Limits {
                compile_time: Duration::from_secs(300),
                ..Limits::default()
            },
            cache_dir: Some(target_dir().join("tmp").join("js-compile-cache")),
            compiler: Compiler::Thread,
        })
        .expect("engine sets up")
    })
}

/// Loads `component` into [`js_runtime`], one compile at a time: on two shared cores, several
/// unoptimised compiles of QuickJS at once would each run past the runtime's compile limit.
pub fn load(component: &[u8]) -> LoadedPolicy {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    js_runtime()
        .load(component)
        .unwrap_or_else(|e| panic!("loading a JavaScript component: {e}"))
}
