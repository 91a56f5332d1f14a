//! Why a component could not be loaded. Failures of a single call are
//! [`dunlin_core::PolicyFailure`] values instead.

use std::path::PathBuf;

/// A component was rejected at load (upload, validation or daemon start).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The bytes are not WebAssembly at all.
    #[error("not a WebAssembly file (it does not start with the \\0asm magic number)")]
    NotWasm,
    /// A core module rather than a component.
    #[error(
        "this is a core WebAssembly module, not a component; build the policy for the \
         wasm32-wasip2 target (`dunlin policy build`), which emits a component"
    )]
    NotAComponent,
    /// Bigger than the operator allows.
    #[error("the component is {size} bytes; the limit is {limit} bytes")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Built against a contract version this host does not support.
    #[error(
        "the component targets dunlin:policy@{found}, which this host does not support \
         (supported: {supported})"
    )]
    Incompatible {
        /// The version it was built against.
        found: String,
        /// The versions this host supports.
        supported: String,
    },
    /// Does not export the policy interface at all.
    #[error(
        "the component does not export dunlin:policy/decider (it exports: {exports}); \
         is it built against the dunlin:policy world?"
    )]
    WrongWorld {
        /// What it does export.
        exports: String,
    },
    /// Built for the component model's async ABI, which the sandbox does not run.
    #[error(
        "the component is built with async support; rebuild it without (it uses the component \
         model's async {builtin}; for jco's QuickJS backend, build with \
         `--backend-qjs-disable-async`)"
    )]
    AsyncBuilt {
        /// The part of the async ABI it uses, e.g. `task.cancel`.
        builtin: String,
    },
    /// Its linear memory starts larger than the memory limit it would run under.
    #[error(
        "the component needs {needed_mib} MiB of initial linear memory, above the memory limit \
         of {limit_mib} MiB; raise the limit to at least {needed_mib} MiB: the tenant's \
         `sandbox.memory-mib` (`dunlin tenant set --sandbox`, within the operator's \
         `max-memory-mib`) or the host's `--memory-mib`"
    )]
    InitialMemory {
        /// What it needs, rounded up to whole MiB.
        needed_mib: u64,
        /// The limit, in MiB.
        limit_mib: u64,
    },
    /// Imports something the sandbox does not provide.
    #[error(
        "the component imports {import}, which policies may not use (allowed: {allowed}){hint}"
    )]
    ImportNotAllowed {
        /// The offending import.
        import: String,
        /// What is allowed.
        allowed: String,
        /// How to build without it, when the toolchain that adds it is known (begins with
        /// "; "), or nothing.
        hint: String,
    },
    /// The binary cannot be read as a component.
    #[error("the component is malformed: {0}")]
    Malformed(String),
    /// A function is too large to compile within the sandbox's bounds.
    #[error(
        "the component has a function of {size} bytes; the limit is {limit} bytes (compile \
         time and memory grow with a function's size)"
    )]
    FunctionTooLarge {
        /// The largest function's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Compiling needed more memory than the limit.
    #[error("compiling the component needed more than {limit_bytes} bytes of memory")]
    CompileMemory {
        /// The limit.
        limit_bytes: u64,
    },
    /// It compiles but cannot be instantiated: its start code failed, under the same limits
    /// as a call.
    #[error("the component cannot start: {0}")]
    Start(dunlin_core::PolicyFailure),
    /// It starts but failed to decide the sample context under the limits.
    #[error("the component failed on a sample invoice: {0}")]
    Trial(dunlin_core::PolicyFailure),
    /// It failed on the rich sample invoice under the limits it runs under.
    #[error(
        "the component does not fit its limits: on a rich sample invoice ({}) it failed: \
         {}; it used {}; raise the tenant's sandbox limits (within the operator's bounds) \
         or make the policy cheaper",
        crate::fit::RICH_SAMPLE,
        .0.failure.as_ref().map_or_else(String::new, ToString::to_string),
        .0
    )]
    DoesNotFit(Box<crate::Fit>),
    /// wasmtime rejected or failed to compile it.
    #[error("the component does not compile: {0}")]
    Compile(String),
    /// Compilation took longer than the limit.
    #[error("compiling the component took longer than {secs} s")]
    CompileTimeout {
        /// The limit in seconds.
        secs: u64,
    },
    /// The exports do not have the types the contract requires.
    #[error("the component does not match the dunlin:policy@{version} contract: {message}")]
    Mismatch {
        /// The contract version it claims.
        version: String,
        /// What wasmtime found wrong.
        message: String,
    },
    /// The on-disk compile cache could not be used.
    #[error("compile cache at {path}: {source}")]
    Cache {
        /// The file or directory involved.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
}

/// The runtime itself could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("could not set up the WebAssembly engine: {0}")]
pub struct SetupError(pub String);
