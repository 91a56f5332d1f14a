//! The test harness: builds WebAssembly components from source (hostile fixtures in
//! `tests/fixtures/`, reference policies in `policies/`), once per process, each family with
//! its own target directory, and hands out one shared [`Runtime`].
//!
//! Nothing here is committed as a binary: a fresh clone builds everything it tests.

mod guest;
pub mod js;
pub mod metrics;
pub mod python;

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

/// `component` with one more core module appended, never instantiated, holding a single
/// function whose body is about `body_bytes` of straight-line code. wasmtime compiles every
/// module of a component, so this is how a hostile upload makes the compiler work hard
/// while still looking like a policy of the right world.
pub fn with_extra_function(component: &[u8], body_bytes: usize) -> Vec<u8> {
    // local.get 0, i32.const 1, i32.add, local.set 0
    const STEP: [u8; 7] = [0x20, 0x00, 0x41, 0x01, 0x6a, 0x21, 0x00];
    let mut body = vec![0x01, 0x01, 0x7f]; // one group of locals: 1 × i32
    for _ in 0..body_bytes / STEP.len() {
        body.extend_from_slice(&STEP);
    }
    body.push(0x0b); // end
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    section(&mut module, 1, &[0x01, 0x60, 0x00, 0x00]); // one type: [] -> []
    section(&mut module, 3, &[0x01, 0x00]); // one function of type 0
    let mut code = vec![0x01]; // one body
    leb128(&mut code, body.len());
    code.extend_from_slice(&body);
    section(&mut module, 10, &code);
    let mut out = component.to_vec();
    section(&mut out, 1, &module); // a component's core module section
    out
}

/// `component` with a core module whose start function loops forever, instantiated when the
/// component is: what a policy whose start code never returns looks like to the host.
pub fn with_endless_start(component: &[u8]) -> Vec<u8> {
    let module = wat::parse_str("(module (func $spin (loop (br 0))) (start $spin))")
        .expect("the module is valid");
    // The new module's index is the number of core modules before it.
    let mut depth = 0usize;
    let mut modules = 0usize;
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        match payload.expect("a valid component") {
            wasmparser::Payload::ModuleSection { .. } => {
                modules += usize::from(depth == 0);
                depth += 1;
            }
            wasmparser::Payload::ComponentSection { .. } => depth += 1,
            wasmparser::Payload::End(_) => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    let mut out = component.to_vec();
    section(&mut out, 1, &module);
    // A core instance section: one instance, `instantiate` the new module with no args.
    let mut instances = vec![0x01, 0x00];
    leb128(&mut instances, modules);
    instances.push(0x00);
    section(&mut out, 2, &instances);
    out
}

fn section(out: &mut Vec<u8>, id: u8, payload: &[u8]) {
    out.push(id);
    leb128(out, payload.len());
    out.extend_from_slice(payload);
}

fn leb128(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}
