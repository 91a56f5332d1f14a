//! The limits every policy call runs under, and the resource limiter that enforces the
//! memory and table parts of them.

use std::time::Duration;

use dunlin_core::sandbox_limits::SandboxSettings;

/// Limits on one policy call (or one instance, for memory and tables). The defaults suit the
/// reference policies with a wide margin: they use about 6,000 fuel and well under 1 MiB.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Instruction budget per call (wasmtime fuel units, roughly one per instruction).
    pub fuel: u64,
    /// Wall-clock deadline per call. Fuel is the deterministic limit and normally fires
    /// first; the deadline is the backstop for time spent outside counted instructions
    /// (page faults of a growing memory, host calls), so it leaves room for a loaded machine.
    pub deadline: Duration,
    /// Largest linear memory an instance may grow to, in bytes, for a policy not given
    /// limits of its own ([`crate::LoadedPolicy::with_limits`]).
    pub memory_bytes: usize,
    /// The most linear memory any policy may be given, in bytes: the operator's bound, and
    /// the size of every slot of the instance pool (a slot reserves address space of this
    /// size; it is not memory in use). The larger of this and [`Limits::memory_bytes`] is used.
    pub max_memory_bytes: usize,
    /// Bytes of a pool slot's linear memory kept resident when an instance ends, so that the
    /// next instance in that slot starts without an `madvise` and without page faults on
    /// that much of its memory. Interpreted guests (Python, StarlingMonkey) start with
    /// 9 to 12 MiB images; a Rust policy needs well under 1 MiB. Costs up to this much
    /// resident memory per slot that has been used.
    pub memory_keep_resident_bytes: usize,
    /// Largest table an instance may grow to, in elements.
    pub table_elements: usize,
    /// Most live instances at once in this process (the size of the instance pool).
    pub instances: u32,
    /// Largest decision accepted, in bytes of text (strings summed, plus 16 per action).
    pub output_bytes: usize,
    /// Most bytes of stdout/stderr kept per call; the rest is dropped and marked truncated.
    pub log_bytes: usize,
    /// Largest component accepted for loading, in bytes.
    pub component_bytes: usize,
    /// Longest a component may take to compile.
    pub compile_time: Duration,
    /// Largest function body accepted in any core module of a component, in bytes. The
    /// compiler's time and memory grow with a function's size (one of 7.5 MB took 41 s and
    /// 3.8 GB), so a larger one is refused before compiling.
    pub function_bytes: usize,
    /// Most memory a compile may use, in bytes, when components are compiled in a child
    /// process ([`crate::Compiler::Process`]); the child is refused more and fails.
    pub compile_memory_bytes: u64,
    /// Most bytes the on-disk compile cache may hold; the least recently used artifacts are
    /// removed to make room.
    pub cache_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: 10_000_000,
            deadline: Duration::from_millis(500),
            memory_bytes: 64 << 20,
            max_memory_bytes: 64 << 20,
            memory_keep_resident_bytes: 4 << 20,
            table_elements: 20_000,
            instances: 256,
            output_bytes: 64 << 10,
            log_bytes: 16 << 10,
            component_bytes: 64 << 20,
            compile_time: Duration::from_secs(60),
            function_bytes: 2 << 20,
            compile_memory_bytes: 2 << 30,
            cache_bytes: 4 << 30,
        }
    }
}

impl Limits {
    /// What a policy's calls run under when it is not given limits of its own.
    pub fn call(&self) -> CallLimits {
        CallLimits {
            fuel: self.fuel,
            memory_bytes: self.memory_bytes,
            deadline: self.deadline,
        }
    }

    /// What a tenant's policies run under: its own limits where it set them (checked against
    /// the operator's bounds when it did), these defaults elsewhere.
    pub fn for_tenant(&self, own: &SandboxSettings) -> CallLimits {
        let mib = |m: u32| usize::try_from(u64::from(m) << 20).unwrap_or(usize::MAX);
        CallLimits {
            fuel: own.fuel.unwrap_or(self.fuel),
            memory_bytes: own.memory_mib.map_or(self.memory_bytes, mib),
            deadline: own
                .deadline_ms
                .map_or(self.deadline, |ms| Duration::from_millis(u64::from(ms))),
        }
    }

    /// The size of a pool slot's linear memory: no policy's memory limit can be above it.
    pub fn pool_memory_bytes(&self) -> usize {
        self.max_memory_bytes.max(self.memory_bytes)
    }
}

/// The limits one policy's calls run under, which may differ from one tenant to another
/// (an interpreted guest needs a hundred times the fuel of a Rust one). The caller checks
/// them against the operator's bounds; memory above the pool's slot size
/// ([`Limits::pool_memory_bytes`]) is cut to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallLimits {
    /// Instruction budget per call, start code included.
    pub fuel: u64,
    /// Largest linear memory an instance may grow to, in bytes.
    pub memory_bytes: usize,
    /// Wall-clock deadline per call.
    pub deadline: Duration,
}

/// Enforces [`Limits::memory_bytes`] and [`Limits::table_elements`] for one store.
///
/// A growth past a limit traps at once with a [`LimitHit`] instead of letting `memory.grow`
/// return -1: a guest cannot then go on to fail in some unrelated way, so the failure is
/// named exactly by the error itself, never guessed from what happened earlier in the call.
pub(crate) struct Limiter {
    memory_bytes: usize,
    table_elements: usize,
    /// The largest size any linear memory of the store reached (or was created with).
    peak_memory_bytes: usize,
}

impl Limiter {
    pub(crate) fn new(memory_bytes: usize, table_elements: usize) -> Self {
        Limiter {
            memory_bytes,
            table_elements,
            peak_memory_bytes: 0,
        }
    }

    /// The largest size a linear memory of this store reached, in bytes; wasmtime asks
    /// the limiter for a memory's initial size too, so this counts the image.
    pub(crate) fn peak_memory_bytes(&self) -> usize {
        self.peak_memory_bytes
    }
}

/// The error a refused growth traps with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LimitHit {
    /// A linear memory would have grown past [`Limits::memory_bytes`].
    Memory,
    /// A table would have grown past [`Limits::table_elements`].
    Table,
}

impl std::fmt::Display for LimitHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LimitHit::Memory => "linear memory growth past the limit",
            LimitHit::Table => "table growth past the limit",
        })
    }
}

impl std::error::Error for LimitHit {}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired <= self.memory_bytes {
            self.peak_memory_bytes = self.peak_memory_bytes.max(desired);
            Ok(true)
        } else {
            Err(LimitHit::Memory.into())
        }
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired <= self.table_elements {
            Ok(true)
        } else {
            Err(LimitHit::Table.into())
        }
    }
}
