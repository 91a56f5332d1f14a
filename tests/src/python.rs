//! Python policies for the tests: the pinned componentize-py installed once under the build's
//! `tmp/toolchains/python`, policies built from source once per process, and a runtime that
//! keeps their compiled code on disk.
//!
//! A Python component holds the whole CPython interpreter (about 18 MB); the test build's
//! wasmtime is unoptimised and compiles it in minutes, past the runtime's default compile
//! limit, so [`python_runtime`] allows a longer compile and keeps a compile cache under
//! `tmp/` that later test runs load in milliseconds.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use dunlin_runtime::guest_build::{python, Output};
use dunlin_runtime::{Limits, LoadedPolicy, Runtime, RuntimeConfig};

use crate::guest::{self, sources, tmp};
use crate::repo;

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

/// Builds (once per process, and again only when its inputs change: the `.py` files of the
/// policy and of the SDK, the contract's WIT, the toolchain's pin) the Python policy at `dir`.
fn built(dir: PathBuf) -> Vec<u8> {
    let toolchain = python_toolchain();
    let mut files = Vec::new();
    sources(&dir, Some(".py"), &mut files);
    sources(
        &repo().join("guest-sdk/python/dunlin_policy"),
        Some(".py"),
        &mut files,
    );
    files.push(repo().join("wit/policy@0.1.0/policy.wit"));
    let key = guest::inputs_key(python::COMPONENTIZE_PY, files);
    guest::built(dir, "python-build", key, |dir: &Path, out: &Path| {
        python::build(dir, out, Some(&toolchain), Output::Capture)
            .unwrap_or_else(|e| panic!("building {}: {e}", dir.display()))
    })
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
    guest::patient_config(
        limits,
        PYTHON_COMPILE_TIME,
        "python-compile-cache",
        RuntimeConfig::default().compiler,
    )
}

/// One runtime for the process with the default call limits (fuel, memory, deadline), made
/// by [`python_config`].
pub fn python_runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new(python_config(Limits::default())).expect("engine sets up"))
}

/// Loads a component into `runtime`, one load at a time: two loads of one component at once would both compile it.
pub fn load_python(runtime: &Runtime, component: &[u8]) -> LoadedPolicy {
    guest::load_one_at_a_time(runtime, component)
}
