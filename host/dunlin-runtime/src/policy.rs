//! Running a loaded policy: [`LoadedPolicy`] (compiled, shareable across threads) and
//! [`WasmPolicy`] (one caller's handle, in strict or batch mode).

use std::sync::Arc;
use std::time::{Duration, Instant};

use dunlin_core::{Context, Decision, Policy, PolicyFailure};
use wasmtime::Store;

use crate::engine::{ComponentInfo, Runtime};
use crate::sandbox::Host;
use crate::wit::v0_1;

/// The pre-instantiated bindings of one contract version.
pub(crate) enum Bindings {
    V0_1(v0_1::InstancePre<Host>),
}

/// A live instance of one contract version.
enum Instance {
    V0_1(v0_1::Instance),
}

/// A validated, compiled policy component, ready to instantiate. Cheap to clone; share it
/// across threads and give each thread its own [`WasmPolicy`].
#[derive(Clone)]
pub struct LoadedPolicy {
    inner: Arc<Loaded>,
}

struct Loaded {
    runtime: Runtime,
    bindings: Bindings,
    info: ComponentInfo,
}

/// How instances are used across calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A fresh store and instance for every decision: no state can leak between invoices.
    Strict,
    /// One instance reused for a batch of decisions of ONE tenant, replaced after any
    /// failure. Clocks, randomness and logs are reset before every call.
    Batch,
}

/// Everything about one call, for the decision log and metrics.
#[derive(Debug)]
pub struct Report {
    /// The decision (validated against the contract) or why there is none.
    pub outcome: Result<Decision, PolicyFailure>,
    /// Fuel the call consumed.
    pub fuel_used: u64,
    /// Wall time of the call, including instantiation in strict mode.
    pub elapsed: Duration,
    /// What the policy wrote to stdout/stderr.
    pub log: String,
    /// Whether the log was cut at the limit.
    pub log_truncated: bool,
}

impl LoadedPolicy {
    pub(crate) fn new(runtime: Runtime, bindings: Bindings, info: ComponentInfo) -> Self {
        LoadedPolicy {
            inner: Arc::new(Loaded {
                runtime,
                bindings,
                info,
            }),
        }
    }

    /// Facts about the component.
    pub fn info(&self) -> &ComponentInfo {
        &self.inner.info
    }

    /// A handle that runs decisions in `mode`.
    pub fn handle(&self, mode: Mode) -> WasmPolicy {
        WasmPolicy {
            loaded: self.clone(),
            mode,
            live: None,
        }
    }
}

/// A policy component as a [`Policy`]. Not shared between threads; make one per worker.
pub struct WasmPolicy {
    loaded: LoadedPolicy,
    mode: Mode,
    live: Option<(Store<Host>, Instance)>,
}

impl WasmPolicy {
    /// The component behind this handle.
    pub fn info(&self) -> &ComponentInfo {
        self.loaded.info()
    }

    /// Decides, with the fuel, time and log of the call.
    pub fn decide_with_report(&mut self, ctx: &Context) -> Report {
        let started = Instant::now();
        let runtime = &self.loaded.inner.runtime.inner;
        let limits = &runtime.limits;
        let (mut store, instance) = match self.live.take() {
            Some(live) => live,
            None => match self.instantiate() {
                Ok(live) => live,
                Err(failure) => {
                    return Report {
                        outcome: Err(failure),
                        fuel_used: 0,
                        elapsed: started.elapsed(),
                        log: String::new(),
                        log_truncated: false,
                    }
                }
            },
        };

        let as_of_secs = ctx
            .as_of
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp().max(0) as u64)
            .unwrap_or(0);
        // The guest's randomness is seeded from the context's identity, so a replay sees
        // the same numbers.
        let as_of = dunlin_core::iso_date::iso(ctx.as_of);
        store.data_mut().prepare_call(
            as_of_secs,
            &[ctx.invoice.id.as_bytes(), &[0], as_of.as_bytes()],
        );
        // Setting fuel cannot fail: fuel is enabled on the engine.
        let _ = store.set_fuel(limits.fuel);
        store.set_epoch_deadline(runtime.deadline_ticks);

        let called = match &instance {
            Instance::V0_1(i) => v0_1::decide(i, &mut store, ctx, limits.output_bytes),
        };
        let fuel_used = limits.fuel - store.get_fuel().unwrap_or(0);
        let (log, log_truncated) = store.data().log.take();
        let outcome = match called {
            Ok(answer) => answer.and_then(|d| {
                d.validate(ctx)?;
                Ok(d)
            }),
            Err(e) => Err(classify(&e, store.data().limiter.hit, limits)),
        };
        // A trapped instance is poisoned; in batch mode also start afresh after a refusal
        // or a bad decision, so one odd invoice cannot leave state behind for the next.
        if self.mode == Mode::Batch && outcome.is_ok() {
            self.live = Some((store, instance));
        }
        Report {
            outcome,
            fuel_used,
            elapsed: started.elapsed(),
            log,
            log_truncated,
        }
    }

    fn instantiate(&self) -> Result<(Store<Host>, Instance), PolicyFailure> {
        let runtime = &self.loaded.inner.runtime.inner;
        let mut store = Store::new(&runtime.engine, Host::new(&runtime.limits));
        store.limiter(|host| &mut host.limiter);
        // Start functions run under the same budget as a call.
        let _ = store.set_fuel(runtime.limits.fuel);
        store.set_epoch_deadline(runtime.deadline_ticks);
        let instance = match &self.loaded.inner.bindings {
            Bindings::V0_1(pre) => pre.instantiate(&mut store).map(Instance::V0_1),
        };
        match instance {
            Ok(instance) => Ok((store, instance)),
            Err(e) => {
                let hit = store.data().limiter.hit;
                Err(match e.downcast_ref::<wasmtime::Trap>() {
                    Some(_) => classify(&e, hit, &runtime.limits),
                    None => PolicyFailure::Instantiate {
                        message: format!("{e:#}"),
                    },
                })
            }
        }
    }
}

impl Policy for WasmPolicy {
    fn decide(&mut self, ctx: &Context) -> Result<Decision, PolicyFailure> {
        self.decide_with_report(ctx).outcome
    }
}

/// Turns a wasmtime error from a call into the failure it means.
fn classify(e: &wasmtime::Error, memory_hit: bool, limits: &crate::Limits) -> PolicyFailure {
    if let Some(trap) = e.downcast_ref::<wasmtime::Trap>() {
        match trap {
            wasmtime::Trap::OutOfFuel => {
                return PolicyFailure::OutOfFuel {
                    budget: limits.fuel,
                }
            }
            wasmtime::Trap::Interrupt => {
                return PolicyFailure::Deadline {
                    limit_ms: limits.deadline.as_millis() as u64,
                }
            }
            _ => {}
        }
    }
    if memory_hit {
        return PolicyFailure::MemoryLimit {
            limit_bytes: limits.memory_bytes as u64,
        };
    }
    if let Some(exit) = e.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return PolicyFailure::Trap {
            message: format!("the policy called exit({})", exit.0),
        };
    }
    let message = match e.downcast_ref::<wasmtime::Trap>() {
        Some(trap) => trap.to_string(),
        None => format!("{e:#}"),
    };
    PolicyFailure::Trap { message }
}
