//! Per-decision cost of the `standard` policy: natively through the SDK (the floor), in the
//! sandbox in batch mode (one instance reused) and strict mode (fresh instance per decision),
//! on one and two threads; plus compile and cached-load time of the component. The same rows
//! follow for `standard-js`, the JavaScript port (see `decide_js.rs`).
//!
//! `cargo bench -p dunlin-benches` (release build). Prints a table; figures go to
//! docs/benchmarks.md by hand with the date and machine. `DUNLIN_BENCH_ONLY=rust|python|js`
//! runs one language's rows.

mod decide_js;
mod decide_python;

use std::time::{Duration, Instant};

use dunlin_core::{Context, Policy};
use dunlin_guest_sdk::Policy as _;
use dunlin_runtime::{LoadedPolicy, Mode, Runtime, RuntimeConfig};
use policy_standard::Standard;

/// Contexts that walk the whole ladder: from 5 days before due to 70 days after, with the
/// history a real invoice would have by then.
fn contexts() -> Vec<Context> {
    let base: Context = serde_json::from_value(serde_json::json!({
        "as-of": "2026-03-01",
        "invoice": {"id": "inv-1", "number": "2026-001", "issued-on": "2026-01-15",
                    "due-on": "2026-02-14", "amount": {"minor": 12000, "currency": "EUR"},
                    "open-balance": {"minor": 12000, "currency": "EUR"},
                    "payment-method": "bank-transfer",
                    "metadata": {"plan": "pro", "region": "eu"}},
        "customer": {"id": "cust-1", "tags": ["smb"],
                     "lifetime-value": {"minor": 250000, "currency": "EUR"},
                     "customer-since": "2022-05-01", "on-time-payments-12m": 9,
                     "late-payments-12m": 2, "locale": "fi-FI", "time-zone": "Europe/Helsinki",
                     "reachable-on": ["email", "sms"]},
        "params": {"company-name": "Acme Oy"}
    }))
    .expect("valid context");
    let mut out = Vec::new();
    for offset in -5i64..70 {
        let mut ctx = base.clone();
        ctx.as_of = ctx.invoice.due_on + chrono::TimeDelta::days(offset);
        ctx.invoice.id = format!("inv-{offset}");
        out.push(ctx);
    }
    // Give later contexts the notices an invoice would have received by then.
    let mut ladder = Vec::new();
    let mut policy = NativeOnce;
    for ctx in &mut out {
        ctx.history = ladder.clone();
        if let Ok(d) = policy.decide(ctx) {
            for a in &d.actions {
                if let dunlin_core::Action::Notify(n) = a {
                    ladder.push(dunlin_core::PastAction {
                        on: ctx.as_of,
                        kind: dunlin_core::ActionKind::Notify,
                        level: Some(n.level),
                        channel: Some(n.channel),
                        tone: Some(n.tone),
                        outcome: dunlin_core::ActionOutcome::Delivered,
                    });
                }
            }
        }
    }
    out
}

/// The native policy as a host `Policy`, through the SDK's JSON bridge (used only to set up
/// the contexts; the native benchmark below calls the policy directly on guest types).
struct NativeOnce;

impl Policy for NativeOnce {
    fn decide(
        &mut self,
        ctx: &Context,
    ) -> Result<dunlin_core::Decision, dunlin_core::PolicyFailure> {
        let g = dunlin_guest_sdk::testing::context_from_json(&serde_json::to_value(ctx).unwrap())
            .expect("bridge");
        let d = Standard::decide(&g).map_err(|e| dunlin_core::PolicyFailure::Trap {
            message: format!("{e:?}"),
        })?;
        Ok(
            serde_json::from_value(dunlin_guest_sdk::testing::decision_to_json(&d))
                .expect("bridge"),
        )
    }
}

struct Figures {
    per_sec: f64,
    p50: Duration,
    p99: Duration,
}

/// Runs `calls` decisions on each of `threads` threads, timing each call.
fn measure(
    threads: usize,
    calls: usize,
    make: impl Fn() -> Box<dyn FnMut(usize) + Send> + Sync,
) -> Figures {
    let started = Instant::now();
    let mut samples: Vec<Duration> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let mut run = make();
                s.spawn(move || {
                    let mut times = Vec::with_capacity(calls);
                    for i in 0..calls {
                        let t = Instant::now();
                        run(i);
                        times.push(t.elapsed());
                    }
                    times
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("bench thread"))
            .collect()
    });
    let wall = started.elapsed();
    samples.sort();
    Figures {
        per_sec: (threads * calls) as f64 / wall.as_secs_f64(),
        p50: samples[samples.len() / 2],
        p99: samples[samples.len() * 99 / 100],
    }
}

fn print(name: &str, threads: usize, f: &Figures) {
    println!(
        "{name:<28} {threads} thread{} {:>12.0} decisions/s   p50 {:>8.2} µs   p99 {:>8.2} µs",
        if threads == 1 { " " } else { "s" },
        f.per_sec,
        f.p50.as_secs_f64() * 1e6,
        f.p99.as_secs_f64() * 1e6
    );
}

fn sandbox(
    loaded: &LoadedPolicy,
    mode: Mode,
    contexts: &[Context],
    threads: usize,
    calls: usize,
) -> Figures {
    measure(threads, calls, || {
        let mut policy = loaded.handle(mode);
        let contexts = contexts.to_vec();
        Box::new(move |i| {
            let d = policy.decide(&contexts[i % contexts.len()]);
            assert!(d.is_ok(), "{d:?}");
        })
    })
}

/// Whether `DUNLIN_BENCH_ONLY` (unset: every part) asks for `part`.
fn wanted(part: &str) -> bool {
    std::env::var("DUNLIN_BENCH_ONLY").map_or(true, |only| only == part)
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is not supported.
    let contexts = contexts();
    if wanted("rust") {
        rust_rows(&contexts);
    }
    if wanted("python") {
        decide_python::run(&contexts);
    }
    if wanted("js") {
        decide_js::rows(&contexts);
    }
}

fn rust_rows(contexts: &[Context]) {
    let bytes = dunlin_tests::reference_policy("standard");
    let guest: Vec<_> = contexts
        .iter()
        .map(|c| {
            dunlin_guest_sdk::testing::context_from_json(&serde_json::to_value(c).unwrap()).unwrap()
        })
        .collect();

    println!(
        "standard policy, {} contexts across the ladder\n",
        contexts.len()
    );
    for threads in [1, 2] {
        let f = measure(threads, 400_000, || {
            let guest = guest.clone();
            Box::new(move |i| {
                std::hint::black_box(
                    Standard::decide(std::hint::black_box(&guest[i % guest.len()])).ok(),
                );
            })
        });
        print("native (SDK, no wasm)", threads, &f);
    }

    let cache = std::env::temp_dir().join(format!("dunlin-bench-cache-{}", std::process::id()));
    let runtime = Runtime::new(RuntimeConfig {
        cache_dir: Some(cache.clone()),
        ..RuntimeConfig::default()
    })
    .unwrap();
    let loaded = runtime.load(&bytes).unwrap();
    println!(
        "compile (cranelift)          {:>10.1} ms   ({} bytes)",
        loaded.info().load_time.as_secs_f64() * 1e3,
        bytes.len()
    );
    let reloaded = Runtime::new(RuntimeConfig {
        cache_dir: Some(cache.clone()),
        ..RuntimeConfig::default()
    })
    .unwrap()
    .load(&bytes)
    .unwrap();
    assert!(reloaded.info().from_cache);
    println!(
        "load from the compile cache  {:>10.2} ms",
        reloaded.info().load_time.as_secs_f64() * 1e3
    );
    let _ = std::fs::remove_dir_all(&cache);

    let fuel = loaded
        .handle(Mode::Batch)
        .decide_with_report(&contexts[30])
        .fuel_used;
    println!("fuel per decision (day 25)   {fuel:>10}\n");

    for threads in [1, 2] {
        print(
            "batch (instance reused)",
            threads,
            &sandbox(&loaded, Mode::Batch, contexts, threads, 200_000),
        );
    }
    // The sandbox's own cost per call: a policy that does almost nothing (tests/fixtures).
    let trivial = runtime.load(&dunlin_tests::fixture("fx-good")).unwrap();
    print(
        "batch, trivial policy",
        1,
        &sandbox(&trivial, Mode::Batch, contexts, 1, 200_000),
    );
    print(
        "strict, trivial policy",
        1,
        &sandbox(&trivial, Mode::Strict, contexts, 1, 40_000),
    );
    for threads in [1, 2] {
        print(
            "strict (fresh instance)",
            threads,
            &sandbox(&loaded, Mode::Strict, contexts, threads, 40_000),
        );
    }
    // The pool's resident memory per slot (`--memory-resident-mib`): the default 4 MiB, and
    // 16 MiB, what interpreted guests' 9-12 MiB images need.
    for resident_mib in [4usize, 16] {
        let runtime = Runtime::new(RuntimeConfig {
            limits: dunlin_runtime::Limits {
                memory_keep_resident_bytes: resident_mib << 20,
                ..dunlin_runtime::Limits::default()
            },
            ..RuntimeConfig::default()
        })
        .unwrap();
        let loaded = runtime.load(&bytes).unwrap();
        for threads in [1, 2] {
            print(
                &format!("strict, {resident_mib} MiB resident"),
                threads,
                &sandbox(&loaded, Mode::Strict, contexts, threads, 40_000),
            );
        }
    }
}
