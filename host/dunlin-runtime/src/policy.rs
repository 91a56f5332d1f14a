//! Running a loaded policy: [`LoadedPolicy`] (compiled, shareable across threads) and
//! [`WasmPolicy`] (one caller's handle, in strict or batch mode).

use std::sync::Arc;
use std::time::{Duration, Instant};

use dunlin_core::{Context, Decision, Policy, PolicyFailure};
use wasmtime::Store;

use crate::engine::{self, ComponentInfo, Runtime};
use crate::fit::{self, Fit};
use crate::limits::{CallLimits, LimitHit, Limits};
use crate::sandbox::Host;
use crate::wit::{Bindings, Instance};
use crate::LoadError;

/// A validated, compiled policy component, ready to instantiate. Cheap to clone; share it
/// across threads and give each thread its own [`WasmPolicy`].
#[derive(Clone)]
pub struct LoadedPolicy {
    inner: Arc<Loaded>,
    /// What this policy's calls run under: the runtime's defaults, or its tenant's own.
    limits: CallLimits,
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
    /// The largest size the instance's linear memory reached, in bytes (in batch mode, over
    /// the instance's life so far).
    pub peak_memory_bytes: u64,
    /// Wall time of the call, including instantiation in strict mode.
    pub elapsed: Duration,
    /// What the policy wrote to stdout/stderr.
    pub log: String,
    /// Whether the log was cut at the limit.
    pub log_truncated: bool,
}

impl LoadedPolicy {
    pub(crate) fn new(
        runtime: Runtime,
        bindings: Bindings,
        info: ComponentInfo,
        limits: CallLimits,
    ) -> Self {
        LoadedPolicy {
            inner: Arc::new(Loaded {
                runtime,
                bindings,
                info,
            }),
            limits,
        }
    }

    /// The same compiled policy, whose calls run under `limits` instead (a tenant's own,
    /// which the caller has checked against the operator's bounds). Memory above the size
    /// of the pool's slots is cut to it.
    pub fn with_limits(&self, limits: CallLimits) -> LoadedPolicy {
        let pool = self.inner.runtime.inner.limits.pool_memory_bytes();
        LoadedPolicy {
            inner: Arc::clone(&self.inner),
            limits: CallLimits {
                memory_bytes: limits.memory_bytes.min(pool),
                ..limits
            },
        }
    }

    /// The limits this policy's calls run under.
    pub fn limits(&self) -> &CallLimits {
        &self.limits
    }

    /// Facts about the component.
    pub fn info(&self) -> &ComponentInfo {
        &self.inner.info
    }

    /// Instantiates once under a call's limits: checks the export's types and runs the
    /// component's start code.
    pub(crate) fn start(&self) -> Result<(), PolicyFailure> {
        off_async(|| {
            self.handle(Mode::Strict)
                .instantiate()
                .map(drop)
                .map_err(|failed| failed.failure)
        })
    }

    /// Runs one decision on a sample invoice under the policy's limits, as an upload must
    /// before it is stored: a component that traps, loops, exhausts its memory or breaks the
    /// contract on a plain overdue invoice would fail on every invoice. A decision or a
    /// refusal (a policy may refuse for want of its tenant's parameters) passes. Then it
    /// decides the rich sample invoice ([`Fit`]): a failure there refuses the component
    /// too (`DoesNotFit`), since the tenant's larger invoices would fail the same way;
    /// what comes near a limit is only warned of ([`Fit::warnings`]).
    pub fn trial(&self) -> Result<Fit, LoadError> {
        let (sample, rich) = off_async(|| {
            let sample = self
                .handle(Mode::Strict)
                .decide_with_report(&sample_context());
            let rich = self
                .handle(Mode::Strict)
                .decide_with_report(&fit::rich_context());
            (sample, rich)
        });
        match sample.outcome {
            Ok(_) | Err(PolicyFailure::Refused(_)) => {}
            Err(failure) => return Err(LoadError::Trial(failure)),
        }
        let fit = Fit::new(&rich, self.limits);
        if fit.fits() {
            Ok(fit)
        } else {
            Err(LoadError::DoesNotFit(Box::new(fit)))
        }
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

/// Runs `f` on a thread of its own. A guest's WASI calls (a poll, even one that is ready at
/// once) are driven by `block_on`, which panics on a thread that is running async tasks;
/// loading and the upload's trial are called from async code (the daemon, the CLI), so
/// they run the guest on a fresh thread, outside any async context.
fn off_async<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|s| {
        s.spawn(f)
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// A policy component as a [`Policy`]. Not shared between threads; make one per worker.
/// Its calls block (they run guest code): call them from a blocking thread, never from an
/// async task.
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
        let call = self.loaded.limits;
        let (mut store, instance) = match self.live.take() {
            Some(live) => live,
            None => match self.instantiate() {
                Ok(live) => live,
                Err(failed) => {
                    return Report {
                        outcome: Err(failed.failure),
                        fuel_used: failed.fuel_used,
                        peak_memory_bytes: failed.peak_memory_bytes,
                        elapsed: started.elapsed(),
                        log: failed.log,
                        log_truncated: failed.log_truncated,
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
        let _ = store.set_fuel(call.fuel);
        store.set_epoch_deadline(engine::deadline_ticks(call.deadline));

        let called = instance.decide(&mut store, ctx, limits.output_bytes);
        let fuel_used = call.fuel - store.get_fuel().unwrap_or(0);
        let peak_memory_bytes = store.data().limiter.peak_memory_bytes() as u64;
        let (log, log_truncated) = store.data().log.take();
        let outcome = match called {
            Ok(answer) => answer.and_then(|d| {
                d.validate(ctx)?;
                Ok(d)
            }),
            Err(e) => Err(classify(&e, limits, &call)),
        };
        // A trapped instance is poisoned; in batch mode also start afresh after a refusal
        // or a bad decision, so one odd invoice cannot leave state behind for the next.
        if self.mode == Mode::Batch && outcome.is_ok() {
            self.live = Some((store, instance));
        }
        Report {
            outcome,
            fuel_used,
            peak_memory_bytes,
            elapsed: started.elapsed(),
            log,
            log_truncated,
        }
    }

    fn instantiate(&self) -> Result<(Store<Host>, Instance), FailedStart> {
        let runtime = &self.loaded.inner.runtime.inner;
        let call = self.loaded.limits;
        let mut store = Store::new(&runtime.engine, Host::new(&runtime.limits, &call));
        store.limiter(|host| &mut host.limiter);
        // Start functions run under the same budget as a call.
        let _ = store.set_fuel(call.fuel);
        store.set_epoch_deadline(engine::deadline_ticks(call.deadline));
        match self.loaded.inner.bindings.instantiate(&mut store) {
            Ok(instance) => Ok((store, instance)),
            Err(e) => {
                let (log, log_truncated) = store.data().log.take();
                Err(FailedStart {
                    failure: classify_start(&e, &runtime.limits, &call),
                    fuel_used: call.fuel - store.get_fuel().unwrap_or(0),
                    peak_memory_bytes: store.data().limiter.peak_memory_bytes() as u64,
                    log,
                    log_truncated,
                })
            }
        }
    }
}

/// An instantiation that failed, with what it cost: a start function that runs out of fuel
/// used the whole budget, and what it printed is kept like a call's.
struct FailedStart {
    failure: PolicyFailure,
    fuel_used: u64,
    peak_memory_bytes: u64,
    log: String,
    log_truncated: bool,
}

impl Policy for WasmPolicy {
    fn decide(&mut self, ctx: &Context) -> Result<Decision, PolicyFailure> {
        self.decide_with_report(ctx).outcome
    }
}

/// The invoice an upload is tried on: 30 days overdue, by card, no history, no tenant
/// parameters.
fn sample_context() -> Context {
    serde_json::from_value(serde_json::json!({
        "as-of": "2026-03-30",
        "invoice": {
            "id": "sample-invoice", "number": "SAMPLE-1",
            "issued-on": "2026-01-29", "due-on": "2026-02-28",
            "amount": {"minor": 12000, "currency": "EUR"},
            "open-balance": {"minor": 12000, "currency": "EUR"},
            "payment-method": "card"
        },
        "customer": {
            "id": "sample-customer", "lifetime-value": {"minor": 250000, "currency": "EUR"},
            "customer-since": "2022-05-01", "reachable-on": ["email", "sms"]
        }
    }))
    .expect("the sample context is valid")
}

/// Most bytes of a wasmtime message kept in a failure: its first line, which names the
/// fault; the rest (a backtrace of guest frames) would only carry the guest's own names.
const MESSAGE_BYTES: usize = 512;

/// Turns a wasmtime error from a call into the failure it means. The error itself says which
/// limit was hit ([`LimitHit`] from the limiter, fuel and epoch traps), so nothing that
/// happened earlier in the call can colour an unrelated trap.
fn classify(e: &wasmtime::Error, limits: &Limits, call: &CallLimits) -> PolicyFailure {
    if let Some(hit) = e.downcast_ref::<LimitHit>() {
        return match hit {
            LimitHit::Memory => PolicyFailure::MemoryLimit {
                limit_bytes: call.memory_bytes as u64,
            },
            LimitHit::Table => PolicyFailure::TableLimit {
                limit_elements: limits.table_elements as u64,
            },
        };
    }
    if let Some(exit) = e.downcast_ref::<wasmtime_wasi::I32Exit>() {
        // WASI 0.2's `exit` takes only ok or err, so there is no code to report.
        let status = if exit.0 == 0 { "success" } else { "failure" };
        return PolicyFailure::Trap {
            message: format!("the policy exited (with {status} status) instead of deciding"),
        };
    }
    match e.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::OutOfFuel) => PolicyFailure::OutOfFuel { budget: call.fuel },
        Some(wasmtime::Trap::Interrupt) => PolicyFailure::Deadline {
            limit_ms: call.deadline.as_millis() as u64,
        },
        Some(trap) => PolicyFailure::Trap {
            message: first_line(&trap.to_string()),
        },
        None => PolicyFailure::Trap {
            message: first_line(&format!("{e}")),
        },
    }
}

/// Like [`classify`], for an instantiation: an error that is no trap or limit (an import
/// that cannot be satisfied, a full instance pool) means the sandbox could not be set up.
fn classify_start(e: &wasmtime::Error, limits: &Limits, call: &CallLimits) -> PolicyFailure {
    let contained = e.downcast_ref::<wasmtime::Trap>().is_some()
        || e.downcast_ref::<LimitHit>().is_some()
        || e.downcast_ref::<wasmtime_wasi::I32Exit>().is_some();
    if contained {
        classify(e, limits, call)
    } else {
        PolicyFailure::Instantiate {
            message: first_line(&format!("{e:#}")),
        }
    }
}

/// The first line of `message`, at most [`MESSAGE_BYTES`] long.
fn first_line(message: &str) -> String {
    let line = message.lines().next().unwrap_or_default();
    let mut end = line.len().min(MESSAGE_BYTES);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    line[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the export `run` of a core module under the sandbox's limiter and classifies
    /// how it failed.
    fn failure_of(wat: &str) -> PolicyFailure {
        let limits = Limits {
            memory_bytes: 1 << 20,
            table_elements: 100,
            ..Limits::default()
        };
        let engine = wasmtime::Engine::new(&crate::compile::config()).unwrap();
        let module = wasmtime::Module::new(&engine, wat::parse_str(wat).unwrap()).unwrap();
        let mut store = Store::new(&engine, Host::new(&limits, &limits.call()));
        store.limiter(|host| &mut host.limiter);
        store.set_fuel(limits.fuel).unwrap();
        store.set_epoch_deadline(1 << 40);
        let instance = wasmtime::Instance::new(&mut store, &module, &[]).unwrap();
        let run = instance
            .get_typed_func::<(), ()>(&mut store, "run")
            .unwrap();
        classify(
            &run.call(&mut store, ()).unwrap_err(),
            &limits,
            &limits.call(),
        )
    }

    #[test]
    fn each_limit_and_trap_is_named_by_its_own_error() {
        // A refused growth traps at once, so nothing after it can be mistaken for it.
        assert_eq!(
            failure_of(
                r#"(module (memory 1) (func (export "run")
                    (drop (memory.grow (i32.const 100)))
                    (drop (i32.div_s (i32.const 1) (i32.const 0)))))"#
            ),
            PolicyFailure::MemoryLimit {
                limit_bytes: 1 << 20
            }
        );
        // A growth within the limit leaves a later trap to speak for itself.
        match failure_of(
            r#"(module (memory 1) (func (export "run")
                (drop (memory.grow (i32.const 1)))
                (drop (i32.div_s (i32.const 1) (i32.const 0)))))"#,
        ) {
            PolicyFailure::Trap { message } => assert!(message.contains("divide by zero")),
            other => panic!("expected a trap, got {other:?}"),
        }
        assert_eq!(
            failure_of(
                r#"(module (table 1 funcref) (func (export "run")
                    (drop (table.grow (ref.null func) (i32.const 1000)))))"#
            ),
            PolicyFailure::TableLimit {
                limit_elements: 100
            }
        );
    }

    #[test]
    fn a_message_is_one_bounded_line() {
        assert_eq!(first_line("one\ntwo"), "one");
        let long = "ä".repeat(MESSAGE_BYTES);
        let cut = first_line(&long);
        assert!(cut.len() <= MESSAGE_BYTES && cut.len() > MESSAGE_BYTES - 2);
    }
}
