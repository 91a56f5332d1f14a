//! Compiling untrusted components. A component's compile cannot be cancelled from another
//! thread, and its memory grows with the component's functions, so a daemon compiles in a
//! child process that runs under a memory limit and is killed at the time limit: whatever an
//! upload does, it takes neither the daemon's memory nor a core beyond the limits.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use wasmtime::component::Component;
use wasmtime::Engine;

use crate::{Limits, LoadError};

/// Where components are compiled.
#[derive(Clone, Debug, Default)]
pub enum Compiler {
    /// On a helper thread of this process. The caller gets its answer within the time
    /// limit, but a runaway compile runs on to its end in this process's memory: for tools
    /// and tests that trust what they compile, not for a daemon.
    #[default]
    Thread,
    /// In a child process, `program args… --memory-bytes N`, which must call
    /// [`compile_worker`] with N. It reads the component on stdin and writes the compiled
    /// artifact to stdout; it is killed at [`Limits::compile_time`].
    Process {
        /// The program, usually this executable.
        program: PathBuf,
        /// Its arguments before `--memory-bytes`.
        args: Vec<OsString>,
    },
}

/// Most bytes of a compiled artifact read back from the child (the largest measured, a
/// Python component, is 40 MB).
const ARTIFACT_BYTES: u64 = 1 << 30;

/// Most bytes of the child's stderr kept for the error message.
const STDERR_BYTES: u64 = 4 << 10;

/// What the child prints, as the first word of its stderr, when the compiler rejected the
/// component (as opposed to running out of memory or crashing).
const REJECTED: &str = "rejected:";

/// The wasmtime settings every compile and every run share; anything that changes the
/// machine code is set here, so the child's artifacts load in the parent's engine.
pub(crate) fn config() -> wasmtime::Config {
    let mut cfg = wasmtime::Config::new();
    cfg.wasm_component_model(true)
        .consume_fuel(true)
        .epoch_interruption(true);
    cfg
}

pub(crate) fn compile(
    compiler: &Compiler,
    engine: &Engine,
    bytes: &[u8],
    limits: &Limits,
) -> Result<Component, LoadError> {
    match compiler {
        Compiler::Thread => on_thread(engine, bytes, limits.compile_time),
        Compiler::Process { program, args } => {
            let artifact = in_child(program, args, bytes, limits)?;
            // SAFETY: the artifact was produced just now by our own compile worker, from
            // these bytes, with the settings of `config()`; wasmtime checks its header and
            // refuses one from an incompatible engine.
            unsafe { Component::deserialize(engine, &artifact) }
                .map_err(|e| LoadError::Compile(format!("loading the compiled artifact: {e}")))
        }
    }
}

fn on_thread(engine: &Engine, bytes: &[u8], limit: Duration) -> Result<Component, LoadError> {
    let engine = engine.clone();
    let bytes = bytes.to_vec();
    let (tx, rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("dunlin-compile".into())
        .spawn(move || {
            let _ = tx.send(Component::from_binary(&engine, &bytes));
        })
        .map_err(|e| LoadError::Compile(format!("starting the compile thread: {e}")))?;
    match rx.recv_timeout(limit) {
        Ok(result) => result.map_err(|e| LoadError::Compile(format!("{e:#}"))),
        Err(mpsc::RecvTimeoutError::Timeout) => Err(LoadError::CompileTimeout {
            secs: limit.as_secs(),
        }),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            Err(LoadError::Compile("the compiler thread panicked".into()))
        }
    }
}

fn in_child(
    program: &PathBuf,
    args: &[OsString],
    bytes: &[u8],
    limits: &Limits,
) -> Result<Vec<u8>, LoadError> {
    let failed = |what: &str, e: std::io::Error| {
        LoadError::Compile(format!(
            "{what} the compiler process {}: {e}",
            program.display()
        ))
    };
    let mut child = Command::new(program)
        .args(args)
        .arg("--memory-bytes")
        .arg(limits.compile_memory_bytes.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed("starting", e))?;
    let (Some(mut stdin), Some(mut stdout), Some(mut stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(LoadError::Compile(
            "the compiler process was started without its pipes".into(),
        ));
    };
    // Feed and drain the pipes on their own threads, so that neither side blocks the other
    // and the time limit is kept whatever the child does with them.
    let input = bytes.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&input));
    let reader = std::thread::spawn(move || {
        let mut artifact = Vec::new();
        (&mut stdout)
            .take(ARTIFACT_BYTES)
            .read_to_end(&mut artifact)
            .map(|_| artifact)
    });
    let errors = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = (&mut stderr).take(STDERR_BYTES).read_to_end(&mut text);
        // Drain the rest so the child never blocks on a full pipe.
        let _ = std::io::copy(&mut stderr, &mut std::io::sink());
        String::from_utf8_lossy(&text).into_owned()
    });

    let started = Instant::now();
    let status = loop {
        match child.try_wait().map_err(|e| failed("waiting for", e))? {
            Some(status) => break status,
            None if started.elapsed() >= limits.compile_time => {
                // The kill is what ends the compile; the pipes' threads end with it.
                let _ = child.kill();
                let _ = child.wait();
                return Err(LoadError::CompileTimeout {
                    secs: limits.compile_time.as_secs(),
                });
            }
            None => std::thread::sleep(Duration::from_millis(2)),
        }
    };
    // A child that stopped reading early closed the pipe; its status says why.
    let _ = feeder.join();
    let artifact = reader.join().map_err(|_| {
        LoadError::Compile("the thread reading the compiler's output panicked".into())
    })?;
    let stderr = errors.join().unwrap_or_default();
    if status.success() {
        return artifact.map_err(|e| failed("reading the output of", e));
    }
    if let Some(message) = stderr.trim().strip_prefix(REJECTED) {
        return Err(LoadError::Compile(message.trim().to_owned()));
    }
    if stderr.contains("memory allocation of") || stderr.contains("out of memory") {
        return Err(LoadError::CompileMemory {
            limit_bytes: limits.compile_memory_bytes,
        });
    }
    Err(LoadError::Compile(format!(
        "the compiler process failed ({status}): {}",
        stderr.lines().last().unwrap_or("no message")
    )))
}

/// The child's side of [`Compiler::Process`]: limits its own memory to `memory_bytes`, reads
/// a component on stdin, compiles it with the settings every Dunlin engine shares and writes
/// the artifact to stdout. A component the compiler rejects is reported on stderr after
/// `rejected:`; running out of memory aborts the process.
pub fn compile_worker(memory_bytes: u64) -> ExitCode {
    match work(memory_bytes) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

fn work(memory_bytes: u64) -> Result<(), String> {
    // RLIMIT_DATA counts the heap and every private writable mapping (the compiler's
    // memory), not the address space merely reserved, so it bounds what the compile takes.
    let limit = rustix::process::Rlimit {
        current: Some(memory_bytes),
        maximum: Some(memory_bytes),
    };
    rustix::process::setrlimit(rustix::process::Resource::Data, limit)
        .map_err(|e| format!("setting the memory limit: {e}"))?;
    let mut bytes = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytes)
        .map_err(|e| format!("reading the component: {e}"))?;
    let engine = Engine::new(&config()).map_err(|e| format!("setting up the engine: {e:#}"))?;
    let component =
        Component::from_binary(&engine, &bytes).map_err(|e| format!("{REJECTED} {e:#}"))?;
    let artifact = component
        .serialize()
        .map_err(|e| format!("serializing the artifact: {e:#}"))?;
    std::io::stdout()
        .write_all(&artifact)
        .map_err(|e| format!("writing the artifact: {e}"))
}
