//! JavaScript policies built from source with the pinned QuickJS toolchain, which this
//! harness installs itself, once, under the target directory; and a runtime with a compile
//! cache for them, as a QuickJS component takes seconds to compile without optimisation.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use dunlin_runtime::guest_build::{build_js, Output};
use dunlin_runtime::{Compiler, Limits, LoadedPolicy, Runtime};

use crate::guest::{self, sources, tmp};
use crate::repo;

/// Where the harness keeps the JavaScript toolchain: `target/tmp/toolchains/js`.
pub fn js_toolchain() -> PathBuf {
    tmp("toolchains").join("js")
}

/// Builds (once per process, and again only when its inputs change: its files, the SDK's
/// sources and the toolchain's pinned files) the JavaScript package at `dir`.
fn built(dir: PathBuf) -> Vec<u8> {
    let mut files = Vec::new();
    sources(&dir, None, &mut files);
    sources(&repo().join("guest-sdk/js/src"), None, &mut files);
    sources(&repo().join("guest-sdk/js/toolchain"), None, &mut files);
    let key = guest::inputs_key("js", files);
    guest::built(dir, "js-policies", key, |dir: &Path, out: &Path| {
        build_js(dir, &js_toolchain(), out, Output::Capture)
            .unwrap_or_else(|e| panic!("building {}: {e}", dir.display()))
    })
}

/// A JavaScript reference policy from `policies/<name>`, e.g. `standard-js`.
pub fn js_policy(name: &str) -> Vec<u8> {
    built(repo().join("policies").join(name))
}

/// A JavaScript fixture from `tests/fixtures/<name>`, e.g. `js-hostile`.
pub fn js_fixture(name: &str) -> Vec<u8> {
    built(repo().join("tests").join("fixtures").join(name))
}

/// A runtime with default limits on every call and a persistent compile cache: an
/// unoptimised test build of cranelift compiles a 1.8 MB QuickJS component in 15 s on an
/// idle machine and past the 60 s compile limit on a busy one, so compiles may take five
/// minutes here.
pub fn js_runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        Runtime::new(guest::patient_config(
            Limits::default(),
            Duration::from_secs(300),
            "js-compile-cache",
            Compiler::Thread,
        ))
        .expect("engine sets up")
    })
}

/// Loads `component` into [`js_runtime`], one load at a time.
pub fn load(component: &[u8]) -> LoadedPolicy {
    guest::load_one_at_a_time(js_runtime(), component)
}
