//! Python policies for the tests: the pinned componentize-py installed once under the build's
//! `tmp/toolchains/python`, policies built from source once per process, and a runtime that
//! keeps their compiled code on disk.
//!
//! A Python component holds the whole CPython interpreter (about 18 MB); the test build's
//! wasmtime is unoptimised and compiles it in minutes, past the runtime's default compile
//! limit, so [`python_runtime`] allows a longer compile and keeps a compile cache under
//! `tmp/` that later test runs load in milliseconds.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use dunlin_runtime::guest_build::{python, Output};
use dunlin_runtime::{Limits, LoadedPolicy, Runtime, RuntimeConfig};

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
fn tmp(name: &str) -> PathBuf {
    target_dir().join("tmp").join(name)
}

/// The pinned componentize-py's virtual environment, installed from PyPI on first use (it
/// needs Python 3 with venv and pip, and the registry).
pub fn python_toolchain() -> PathBuf {
    static TOOLCHAIN: OnceLock<PathBuf> = OnceLock::new();
    TOOLCHAIN
        .get_or_init(|| {
            let dir = tmp("toolchains").join("python");
            python::install_toolchain(&dir)
                .unwrap_or_else(|e| panic!("installing {}: {e}", python::COMPONENTIZE_PY));
            dir
        })
        .clone()
}

/// Builds (once per process) the Python policy at `dir` and returns the component's bytes.
///
/// componentize-py's output differs from build to build (the interpreter's memory image is
/// taken after a randomly seeded start), and a new component is a new compile: so a build is
/// kept under a key of its inputs (the policy's and the SDK's sources, the WIT, the pinned
/// toolchain) and reused while they stay the same.
fn built(dir: PathBuf) -> Vec<u8> {
    static BUILT: OnceLock<Mutex<HashMap<PathBuf, PathBuf>>> = OnceLock::new();
    let toolchain = python_toolchain();
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let wasm = match built.get(&dir) {
        Some(wasm) => wasm.clone(),
        None => {
            let name = dir.file_name().expect("a policy directory has a name");
            let kept = tmp("python-build").join(format!(
                "{}-{:016x}.wasm",
                name.to_string_lossy(),
                inputs_key(&dir)
            ));
            if !kept.is_file() {
                let wasm = python::build(
                    &dir,
                    &tmp("python-build"),
                    Some(&toolchain),
                    Output::Capture,
                )
                .unwrap_or_else(|e| panic!("building {}: {e}", dir.display()));
                std::fs::rename(&wasm, &kept)
                    .unwrap_or_else(|e| panic!("keeping {}: {e}", wasm.display()));
            }
            built.insert(dir, kept.clone());
            kept
        }
    };
    std::fs::read(&wasm).unwrap_or_else(|e| panic!("reading {}: {e}", wasm.display()))
}

/// A key of everything a Python build reads: the `.py` files of the policy and of the SDK
/// (paths and contents, in order), the contract's WIT and the toolchain's pin.
fn inputs_key(dir: &Path) -> u64 {
    let mut files = Vec::new();
    python_sources(dir, &mut files);
    python_sources(&repo().join("guest-sdk/python/dunlin_policy"), &mut files);
    files.push(repo().join("wit/policy@0.1.0/policy.wit"));
    files.sort();
    let mut hasher = std::hash::DefaultHasher::new();
    python::COMPONENTIZE_PY.hash(&mut hasher);
    for file in files {
        file.hash(&mut hasher);
        std::fs::read(&file)
            .unwrap_or_else(|e| panic!("reading {}: {e}", file.display()))
            .hash(&mut hasher);
    }
    hasher.finish()
}

fn python_sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if path.is_dir() && !name.starts_with('.') && name != "__pycache__" && name != "target" {
            python_sources(&path, out);
        } else if name.ends_with(".py") {
            out.push(path);
        }
    }
}

/// A reference policy in Python from `policies/<name>`, e.g. `standard-python`.
pub fn python_policy(name: &str) -> Vec<u8> {
    built(repo().join("policies").join(name))
}

/// A Python fixture from `tests/fixtures/<name>`, e.g. `py-hostile`.
pub fn python_fixture(name: &str) -> Vec<u8> {
    built(repo().join("tests").join("fixtures").join(name))
}

/// The longest a Python component may take to compile here: the unoptimised test build of
/// cranelift needs minutes where a release build needs seconds.
pub const PYTHON_COMPILE_TIME: Duration = Duration::from_secs(900);

/// A runtime configuration for Python components: `limits` for every call, with a longer
/// compile limit and a compile cache under `tmp/` shared by every such runtime.
pub fn python_config(limits: Limits) -> RuntimeConfig {
    RuntimeConfig {
        limits: Limits {
            compile_time: PYTHON_COMPILE_TIME,
            ..limits
        },
        cache_dir: Some(tmp("python-compile-cache")),
        ..RuntimeConfig::default()
    }
}

/// One runtime for the process with the default call limits (fuel, memory, deadline), made
/// by [`python_config`].
pub fn python_runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new(python_config(Limits::default())).expect("engine sets up"))
}

/// Loads a component into `runtime`, one load at a time among the callers in this process: a
/// runtime compiles a component once, but two threads loading it at once would both compile
/// it (minutes each for a Python component in the test build), and a compile running beside
/// a Python one can pass its time limit; the first load fills the disk cache, the others
/// read it.
pub fn load_python(runtime: &Runtime, component: &[u8]) -> LoadedPolicy {
    static LOADING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = LOADING.lock().unwrap_or_else(|e| e.into_inner());
    runtime
        .load(component)
        .unwrap_or_else(|e| panic!("loading a component: {e}"))
}
