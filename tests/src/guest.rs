//! What the Python and JavaScript harnesses share: where they keep what they make, builds
//! kept between processes under a key of their inputs, a patient runtime with a compile cache,
//! and loads one at a time.
//!
//! Both toolchains snapshot a randomly seeded interpreter, so two builds of the same source
//! differ, and a new component is a new compile (minutes for an unoptimised cranelift): a
//! build is reused for as long as what it reads stays the same.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use dunlin_runtime::{Compiler, Limits, LoadedPolicy, Runtime, RuntimeConfig};

use crate::repo;

/// The build's target directory: the test or bench executable sits in `<target>/<profile>/deps`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    exe.ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| repo().join("target"))
}

/// `<target>/tmp/<name>`, the place for what the tests make and keep between runs.
pub(crate) fn tmp(name: &str) -> PathBuf {
    target_dir().join("tmp").join(name)
}

/// The files below `dir` a build reads, into `out`: every file, or only those whose name ends
/// with `suffix`; never the folders a build or a package manager writes (`node_modules`,
/// `__pycache__`, `target`, hidden ones).
pub(crate) fn sources(dir: &Path, suffix: Option<&str>, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if path.is_dir() {
            let written = ["node_modules", "__pycache__", "target"].contains(&name.as_ref());
            if !written && !name.starts_with('.') {
                sources(&path, suffix, out);
            }
        } else if suffix.is_none_or(|s| name.ends_with(s)) {
            out.push(path);
        }
    }
}

/// A key of `pin` (the toolchain's version) and `files` (paths and contents, in order).
pub(crate) fn inputs_key(pin: &str, mut files: Vec<PathBuf>) -> u64 {
    files.sort();
    let mut hasher = DefaultHasher::new();
    pin.hash(&mut hasher);
    for file in files {
        file.hash(&mut hasher);
        std::fs::read(&file)
            .unwrap_or_else(|e| panic!("reading {}: {e}", file.display()))
            .hash(&mut hasher);
    }
    hasher.finish()
}

/// The component of the policy at `dir`: built once per process by `build` (which writes
/// into the folder it is given and returns the component's path), and kept under `tmp(kept)`
/// by `key` between processes. Builds run one at a time.
pub(crate) fn built(
    dir: PathBuf,
    kept: &str,
    key: u64,
    build: impl FnOnce(&Path, &Path) -> PathBuf,
) -> Vec<u8> {
    static BUILT: OnceLock<Mutex<HashMap<PathBuf, PathBuf>>> = OnceLock::new();
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let wasm = match built.get(&dir) {
        Some(wasm) => wasm.clone(),
        None => {
            let out = tmp(kept);
            let name = dir.file_name().expect("a policy directory has a name");
            let wasm = out.join(format!("{}-{key:016x}.wasm", name.to_string_lossy()));
            if !wasm.is_file() {
                let fresh = build(&dir, &out);
                std::fs::rename(&fresh, &wasm)
                    .unwrap_or_else(|e| panic!("keeping {}: {e}", fresh.display()));
            }
            built.insert(dir, wasm.clone());
            wasm
        }
    };
    std::fs::read(&wasm).unwrap_or_else(|e| panic!("reading {}: {e}", wasm.display()))
}

/// A runtime configuration with `limits` on every call, compiles allowed `compile_time` (an
/// unoptimised test build of cranelift needs minutes for an interpreter where a release
/// build needs seconds; the limit guards uploads in an optimised daemon), and a compile cache
/// under `tmp(cache)` that later runs load in milliseconds.
pub(crate) fn patient_config(
    limits: Limits,
    compile_time: Duration,
    cache: &str,
    compiler: Compiler,
) -> RuntimeConfig {
    RuntimeConfig {
        limits: Limits {
            compile_time,
            ..limits
        },
        cache_dir: Some(tmp(cache)),
        compiler,
    }
}

/// Loads a component into `runtime`, one load at a time in this process: two threads loading
/// one component at once would both compile it, and on two shared cores a compile running
/// beside an interpreter's can pass its time limit; the first load fills the disk cache, the
/// others read it.
pub(crate) fn load_one_at_a_time(runtime: &Runtime, component: &[u8]) -> LoadedPolicy {
    static LOADING: Mutex<()> = Mutex::new(());
    let _turn = LOADING.lock().unwrap_or_else(|e| e.into_inner());
    runtime
        .load(component)
        .unwrap_or_else(|e| panic!("loading a component: {e}"))
}
