//! The limits every policy call runs under, and the resource limiter that enforces the
//! memory and table parts of them.

use std::time::Duration;

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
    /// Largest linear memory an instance may grow to, in bytes.
    pub memory_bytes: usize,
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
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: 10_000_000,
            deadline: Duration::from_millis(500),
            memory_bytes: 64 << 20,
            table_elements: 20_000,
            instances: 256,
            output_bytes: 64 << 10,
            log_bytes: 16 << 10,
            component_bytes: 64 << 20,
            compile_time: Duration::from_secs(60),
        }
    }
}

/// Enforces [`Limits::memory_bytes`] and [`Limits::table_elements`] for one store, and
/// remembers whether the guest ran into them, so that the trap that usually follows (the
/// guest's allocator aborts) is reported as a memory limit rather than a plain trap.
pub(crate) struct Limiter {
    memory_bytes: usize,
    table_elements: usize,
    pub(crate) hit: bool,
}

impl Limiter {
    pub(crate) fn new(limits: &Limits) -> Self {
        Limiter {
            memory_bytes: limits.memory_bytes,
            table_elements: limits.table_elements,
            hit: false,
        }
    }
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let ok = desired <= self.memory_bytes;
        self.hit |= !ok;
        Ok(ok)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let ok = desired <= self.table_elements;
        self.hit |= !ok;
        Ok(ok)
    }
}
