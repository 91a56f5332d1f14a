//! The process-wide [`Runtime`]: one wasmtime `Engine` with the pooling allocator, fuel and
//! epoch interruption, the WASI linker, the compile cache, and component loading with
//! validation.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dunlin_core::PolicyFailure;
use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::cache::CompileCache;
use crate::compile::{self, Compiler};
use crate::inspect;
use crate::policy::LoadedPolicy;
use crate::sandbox::Host;
use crate::wit::{self, Bindings, WitVersion};
use crate::{CallLimits, Limits, LoadError, SetupError};

/// How often the epoch ticks; deadlines are rounded up to whole ticks.
const EPOCH_TICK: Duration = Duration::from_millis(2);

/// How to set up a [`Runtime`].
#[derive(Clone, Debug, Default)]
pub struct RuntimeConfig {
    /// Limits on loading and on every call.
    pub limits: Limits,
    /// Where precompiled components are kept; `None` compiles every time.
    pub cache_dir: Option<PathBuf>,
    /// Where components are compiled: a daemon uses [`Compiler::Process`].
    pub compiler: Compiler,
}

/// The facts about a loaded component.
#[derive(Clone, Debug)]
pub struct ComponentInfo {
    /// The contract version it targets.
    pub version: WitVersion,
    /// Hex sha256 of the component bytes.
    pub sha256: String,
    /// Size in bytes.
    pub size: usize,
    /// Everything it imports.
    pub imports: Vec<String>,
    /// Everything it exports.
    pub exports: Vec<String>,
    /// Whether the machine code came from a cache (this process's or the disk's).
    pub from_cache: bool,
    /// How long compiling (or loading from the cache) took.
    pub load_time: Duration,
}

/// One per process: compiles, caches and instantiates policies.
#[derive(Clone)]
pub struct Runtime {
    pub(crate) inner: Arc<RuntimeInner>,
}

pub(crate) struct RuntimeInner {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<Host>,
    pub(crate) limits: Limits,
    cache: Option<CompileCache>,
    compiler: Compiler,
    /// Components compiled or loaded by this process, by sha256: a daemon loads each policy
    /// version once, however many sweeps use it. (One entry per distinct version seen.)
    compiled: Mutex<HashMap<String, Component>>,
}

/// The epoch ticks a deadline lasts, rounded up, at least one.
pub(crate) fn deadline_ticks(deadline: Duration) -> u64 {
    let tick_ms = EPOCH_TICK.as_millis().max(1) as u64;
    (deadline.as_millis() as u64).div_ceil(tick_ms).max(1)
}

impl Runtime {
    /// Sets up the engine and starts the epoch ticker thread (it stops when the last clone
    /// of the runtime is dropped).
    pub fn new(config: RuntimeConfig) -> Result<Self, SetupError> {
        let limits = config.limits;
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(limits.instances)
            .total_core_instances(limits.instances.saturating_mul(8))
            .total_memories(limits.instances.saturating_mul(2))
            .total_tables(limits.instances.saturating_mul(4))
            .total_stacks(limits.instances)
            .max_memories_per_component(4)
            .max_tables_per_component(8)
            .max_core_instances_per_component(32)
            .max_memory_size(limits.pool_memory_bytes())
            .table_elements(limits.table_elements)
            // Keeping a reused slot's pages resident instead of returning them to the
            // kernel is what makes a fresh instance per decision cheap on several threads.
            .linear_memory_keep_resident(limits.memory_keep_resident_bytes)
            .table_keep_resident(64 << 10);

        let mut cfg = compile::config();
        cfg.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&cfg).map_err(|e| SetupError(format!("{e:#}")))?;

        let mut linker = Linker::new(&engine);
        crate::sandbox::link(&mut linker)
            .map_err(|e| SetupError(format!("linking WASI: {e:#}")))?;

        let weak = engine.weak();
        std::thread::Builder::new()
            .name("dunlin-epoch".into())
            .spawn(move || loop {
                std::thread::sleep(EPOCH_TICK);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            })
            .map_err(|e| SetupError(format!("starting the epoch thread: {e}")))?;

        let cache = config
            .cache_dir
            .map(|dir| CompileCache::new(&engine, dir, limits.cache_bytes));
        Ok(Runtime {
            inner: Arc::new(RuntimeInner {
                engine,
                linker,
                limits,
                cache,
                compiler: config.compiler,
                compiled: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The limits every call runs under.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Validates and compiles (or loads from the cache) a component, ready to instantiate.
    ///
    /// Checks in order of cost, each refusal with one clear message: the file is
    /// WebAssembly, a component, within the size cap; read from its bytes without compiling,
    /// it exports the policy interface at a supported contract version, imports nothing but
    /// locked-down WASI and has no function too large to compile within bounds; it compiles
    /// within the time (and, in a child process, memory) limit; its export has the
    /// contract's types and its start code runs to the end under a call's limits. Only a
    /// component that passed all of these is kept in the compile cache.
    pub fn load(&self, bytes: &[u8]) -> Result<LoadedPolicy, LoadError> {
        self.load_with(bytes, self.inner.limits.call())
    }

    /// [`Runtime::load`] for a policy that runs under `call` limits (its tenant's own): its
    /// start code runs under them, and a component whose linear memory starts above their
    /// memory limit is refused before compiling.
    pub fn load_with(&self, bytes: &[u8], call: CallLimits) -> Result<LoadedPolicy, LoadError> {
        let inner = &self.inner;
        let limits = &inner.limits;
        let call = CallLimits {
            memory_bytes: call.memory_bytes.min(limits.pool_memory_bytes()),
            ..call
        };
        check_header(bytes)?;
        if bytes.len() > limits.component_bytes {
            return Err(LoadError::TooLarge {
                size: bytes.len(),
                limit: limits.component_bytes,
            });
        }
        let shape = inspect::inspect(bytes, limits)?;
        let version = wit::detect(shape.exports.iter().copied())?;
        wit::check_imports(shape.imports.iter().copied())?;
        if shape.initial_memory_bytes > call.memory_bytes as u64 {
            const MIB: u64 = 1 << 20;
            return Err(LoadError::InitialMemory {
                needed_mib: shape.initial_memory_bytes.div_ceil(MIB),
                limit_mib: call.memory_bytes as u64 / MIB,
            });
        }

        let sha256 = hex::encode(Sha256::digest(bytes));
        let started = Instant::now();
        let in_memory = inner
            .compiled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&sha256)
            .cloned();
        let from_memory = in_memory.is_some();
        let cached = in_memory.or_else(|| {
            inner
                .cache
                .as_ref()
                .and_then(|c| c.load(&inner.engine, &sha256))
        });
        let from_cache = cached.is_some();
        let component = match cached {
            Some(component) => component,
            None => compile::compile(&inner.compiler, &inner.engine, bytes, limits)?,
        };
        let load_time = started.elapsed();

        let mismatch = |message: String| LoadError::Mismatch {
            version: version.to_string(),
            message,
        };
        let pre = inner
            .linker
            .instantiate_pre(&component)
            .map_err(|e| mismatch(format!("{e:#}")))?;
        let bindings = Bindings::new(version, pre).map_err(|e| mismatch(format!("{e:#}")))?;
        let ty = component.component_type();
        let info = ComponentInfo {
            version,
            sha256: sha256.clone(),
            size: bytes.len(),
            imports: ty
                .imports(&inner.engine)
                .map(|(n, _)| n.to_owned())
                .collect(),
            exports: ty
                .exports(&inner.engine)
                .map(|(n, _)| n.to_owned())
                .collect(),
            from_cache,
            load_time,
        };
        let loaded = LoadedPolicy::new(self.clone(), bindings, info, call);
        if !from_memory {
            // Instantiating checks the export's types against the contract (the bindings
            // look `decide` up with its signature) and runs the start code.
            match loaded.start() {
                Ok(()) => {}
                Err(PolicyFailure::Instantiate { message }) => return Err(mismatch(message)),
                Err(failure) => return Err(LoadError::Start(failure)),
            }
            if let (Some(cache), false) = (&inner.cache, from_cache) {
                cache.store(&sha256, &component)?;
            }
            inner
                .compiled
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(sha256, component);
        }
        Ok(loaded)
    }
}

/// Tells WebAssembly from other files and components from core modules by the 8-byte
/// preamble: magic `\0asm`, then version 1 layer 0 (module) or version 0xd layer 1
/// (component).
fn check_header(bytes: &[u8]) -> Result<(), LoadError> {
    match bytes.get(..8) {
        Some([0, b'a', b's', b'm', _, _, 1, 0]) => Ok(()),
        Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => Err(LoadError::NotAComponent),
        _ => Err(LoadError::NotWasm),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_tells_modules_components_and_junk_apart() {
        let module = wat::parse_str("(module)").unwrap();
        assert!(matches!(
            check_header(&module),
            Err(LoadError::NotAComponent)
        ));
        let component = wat::parse_str("(component)").unwrap();
        assert!(check_header(&component).is_ok());
        assert!(matches!(
            check_header(b"PK\x03\x04zip"),
            Err(LoadError::NotWasm)
        ));
        assert!(matches!(check_header(b""), Err(LoadError::NotWasm)));
    }

    #[test]
    fn an_empty_component_is_the_wrong_world() {
        let rt = Runtime::new(RuntimeConfig::default()).unwrap();
        let err = rt
            .load(&wat::parse_str("(component)").unwrap())
            .err()
            .unwrap();
        assert!(matches!(err, LoadError::WrongWorld { .. }), "{err}");
    }
}
