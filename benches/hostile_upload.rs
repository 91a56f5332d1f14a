//! What a hostile upload costs: fx-good with extra functions of 2 MB of straight-line code
//! each (the shape `dunlin_tests::with_extra_function` makes), loaded the way the daemon
//! loads, compiled in a child process (this binary, as `compile-worker`) under the default
//! limits and under a small memory limit. Prints the time of each load, its answer and this
//! process's peak memory; the components are left in the temporary directory it names, for
//! measuring the compile alone:
//!
//!     /usr/bin/time -v target/release/dunlin compile-worker --memory-bytes 2147483648 \
//!         < DIR/heavy-12.wasm > /dev/null
//!
//! `cargo bench -p dunlin-benches --bench hostile_upload`.

use std::process::ExitCode;
use std::time::Instant;

use dunlin_runtime::{Compiler, Limits, Runtime, RuntimeConfig};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some("compile-worker") {
        let _flag = args.next();
        let memory: u64 = args
            .next()
            .and_then(|m| m.parse().ok())
            .expect("--memory-bytes N");
        return dunlin_runtime::compile_worker(memory);
    }
    let good = dunlin_tests::fixture("fx-good");
    let dir = tempfile::Builder::new()
        .prefix("dunlin-hostile-")
        .tempdir()
        .expect("a temporary directory")
        .keep();
    println!("components in {}", dir.display());
    for (functions, memory_mib) in [(1, 2048), (12, 2048), (12, 256)] {
        let mut bytes = good.clone();
        for _ in 0..functions {
            bytes = dunlin_tests::with_extra_function(&bytes, 2_000_000);
        }
        std::fs::write(dir.join(format!("heavy-{functions}.wasm")), &bytes).expect("written");
        let runtime = Runtime::new(RuntimeConfig {
            limits: Limits {
                compile_memory_bytes: memory_mib << 20,
                ..Limits::default()
            },
            cache_dir: None,
            compiler: Compiler::Process {
                program: std::env::current_exe().expect("this executable"),
                args: vec!["compile-worker".into()],
            },
        })
        .expect("engine sets up");
        let started = Instant::now();
        let answer = match runtime.load(&bytes) {
            Ok(_) => "accepted".to_owned(),
            Err(e) => format!("refused: {e}"),
        };
        println!(
            "{functions:>2} × 2 MB function, {} MB component, compile memory {memory_mib} MiB: \
             {:.2} s, {answer}; this process's peak {} MB",
            bytes.len() >> 20,
            started.elapsed().as_secs_f64(),
            peak_kib() >> 10
        );
    }
    ExitCode::SUCCESS
}

/// This process's peak resident memory (VmHWM), in KiB.
fn peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
