//! The per-store host state: a locked-down, deterministic WASI and the resource limiter.
//!
//! A policy sees nothing of the host: no preopened directories, no environment, no arguments,
//! no network (sockets are linked for toolchains that import them, but every address is
//! denied and name lookup is off), wall and monotonic clocks that read the decision's as-of
//! date, randomness seeded from the context, and stdout/stderr captured into a bounded buffer.
//!
//! No host call made on a guest's behalf may block in real time: the epoch deadline only
//! interrupts guest code, so a host call that waits (a timer polled by `wasi:io/poll`, which
//! is what a guest's `sleep` is) would hold the worker thread, the tenant's sweep and the
//! daemon's shutdown for as long as the guest asked. The guest's clocks stand still at the
//! as-of date, so its timers belong to that virtual time: every monotonic-clock subscription
//! is ready at once (see [`link`]). The other pollables a policy can reach are ready at once
//! too: stdin is empty, stdout and stderr are the captured log, and there are no files or
//! sockets to wait on.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use wasmtime::component::{Linker, Resource, ResourceTable};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{DynPollable, OutputStream, Pollable, StreamError, StreamResult};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView, WasiView};

use crate::limits::{CallLimits, Limiter, Limits};

/// The data of one wasmtime `Store`.
pub(crate) struct Host {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: Limiter,
    /// What the guest wrote to stdout and stderr during the current call.
    pub(crate) log: CapturedLog,
    /// Seconds since the Unix epoch that the guest's clocks report.
    clock: Arc<AtomicU64>,
    /// Where the guest's random numbers come from.
    rng: Arc<Mutex<Entropy>>,
}

impl Host {
    pub(crate) fn new(limits: &Limits, call: &CallLimits) -> Self {
        let log = CapturedLog::new(limits.log_bytes);
        let clock = Arc::new(AtomicU64::new(0));
        let rng = Arc::new(Mutex::new(Entropy::default()));
        let wasi = WasiCtx::builder()
            .stdout(log.clone())
            .stderr(log.clone())
            .wall_clock(FixedClock(clock.clone()))
            .monotonic_clock(FixedClock(clock.clone()))
            .secure_random(SeededRng(rng.clone()))
            .insecure_random(SeededRng(rng.clone()))
            .insecure_random_seed(0x6475_6e6c_696e_2d70_6f6c_6963_7921_0001)
            .allow_ip_name_lookup(false)
            .allow_tcp(false)
            .allow_udp(false)
            .build();
        Host {
            wasi,
            table: ResourceTable::new(),
            limiter: Limiter::new(
                call.memory_bytes.min(limits.pool_memory_bytes()),
                limits.table_elements,
            ),
            log,
            clock,
            rng,
        }
    }

    /// Sets what the guest's clocks and random numbers will be for the next call, so that
    /// the same context gives the same answer whether the instance is fresh or reused: the
    /// clocks read `unix_secs`, and the random numbers are seeded from `key` (the call's
    /// identity) the first time the guest asks for one.
    pub(crate) fn prepare_call(&mut self, unix_secs: u64, key: &[&[u8]]) {
        self.clock.store(unix_secs, Ordering::Relaxed);
        self.rng
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .reseed(key);
        self.log.clear();
    }
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The monotonic-clock interface whose subscriptions [`link`] replaces. wasmtime-wasi
/// registers WASI 0.2 under its newest patch version and serves older 0.2.x imports from it.
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// Links the locked-down WASI into `linker`, with the monotonic clock's `subscribe-duration`
/// and `subscribe-instant` replaced by timers that are ready at once.
pub(crate) fn link(linker: &mut Linker<Host>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)?;
    linker.allow_shadowing(true);
    let mut clock = linker.instance(MONOTONIC_CLOCK)?;
    clock.func_wrap(
        "subscribe-duration",
        |mut store: wasmtime::StoreContextMut<'_, Host>, (_nanos,): (u64,)| {
            Ok((elapsed_timer(&mut store.data_mut().table)?,))
        },
    )?;
    clock.func_wrap(
        "subscribe-instant",
        |mut store: wasmtime::StoreContextMut<'_, Host>, (_when,): (u64,)| {
            Ok((elapsed_timer(&mut store.data_mut().table)?,))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// A timer of the guest's virtual time: it has already gone off.
struct Elapsed;

#[async_trait::async_trait]
impl Pollable for Elapsed {
    async fn ready(&mut self) {}
}

fn elapsed_timer(table: &mut ResourceTable) -> wasmtime::Result<Resource<DynPollable>> {
    let timer = table.push(Elapsed)?;
    wasmtime_wasi::p2::subscribe(table, timer)
}

/// A clock stopped at the decision's as-of date (midnight UTC).
struct FixedClock(Arc<AtomicU64>);

impl HostWallClock for FixedClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::from_secs(self.0.load(Ordering::Relaxed))
    }
}

impl HostMonotonicClock for FixedClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        self.0.load(Ordering::Relaxed).saturating_mul(1_000_000_000)
    }
}

/// The state behind the guest's random numbers: SplitMix64 seeded with the first eight bytes
/// (little-endian) of the sha256 of the call's key. The hash is taken on the first number
/// the guest asks for, not before every call: most policies never ask, and hashing cost more
/// per decision than converting the invoice's dates. The numbers are the same either way.
#[derive(Default)]
struct Entropy {
    /// The key's bytes, in a buffer kept from call to call.
    key: Vec<u8>,
    /// The generator's state, once seeded for this call.
    state: Option<u64>,
}

impl Entropy {
    fn reseed(&mut self, key: &[&[u8]]) {
        self.key.clear();
        for part in key {
            self.key.extend_from_slice(part);
        }
        self.state = None;
    }

    fn next_u64(&mut self) -> u64 {
        let key = &self.key;
        let state = self.state.get_or_insert_with(|| {
            let digest = <sha2::Sha256 as sha2::Digest>::digest(key);
            let mut first = [0u8; 8];
            first.copy_from_slice(&digest[..8]);
            u64::from_le_bytes(first)
        });
        *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// The guest's random source, over the [`Entropy`] its host reseeds before every call. Not
/// for secrets: a policy has no business with secrets, and replay needs the same bytes
/// every time.
struct SeededRng(Arc<Mutex<Entropy>>);

impl rand_core::TryRng for SeededRng {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok((self.try_next_u64()? >> 32) as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .next_u64())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        let mut entropy = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for chunk in dst.chunks_mut(8) {
            let word = entropy.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
        Ok(())
    }
}

/// Stdout and stderr of the guest, kept up to a limit; writes past it are dropped (not
/// failed, so a chatty policy does not trap) and the log is marked truncated.
#[derive(Clone)]
pub(crate) struct CapturedLog(Arc<Mutex<LogBuffer>>);

struct LogBuffer {
    bytes: Vec<u8>,
    limit: usize,
    truncated: bool,
}

impl CapturedLog {
    fn new(limit: usize) -> Self {
        CapturedLog(Arc::new(Mutex::new(LogBuffer {
            bytes: Vec::new(),
            limit,
            truncated: false,
        })))
    }

    fn with<R>(&self, f: impl FnOnce(&mut LogBuffer) -> R) -> R {
        // A poisoned lock only means a panic elsewhere while appending bytes; the buffer
        // is still a valid Vec.
        let mut guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut guard)
    }

    fn clear(&self) {
        self.with(|b| {
            b.bytes.clear();
            b.truncated = false;
        });
    }

    fn append(&self, data: &[u8]) {
        self.with(|b| {
            let room = b.limit.saturating_sub(b.bytes.len());
            let take = room.min(data.len());
            b.bytes.extend_from_slice(&data[..take]);
            b.truncated |= take < data.len();
        });
    }

    /// The text captured during the current call, and whether some was dropped.
    pub(crate) fn take(&self) -> (String, bool) {
        self.with(|b| {
            let text = String::from_utf8_lossy(&b.bytes).into_owned();
            b.bytes.clear();
            (text, std::mem::take(&mut b.truncated))
        })
    }
}

impl IsTerminal for CapturedLog {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedLog {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Pollable for CapturedLog {
    async fn ready(&mut self) {}
}

impl OutputStream for CapturedLog {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 << 10)
    }
}

impl tokio::io::AsyncWrite for CapturedLog {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.append(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captured_log_drops_what_exceeds_the_limit() {
        let log = CapturedLog::new(8);
        log.append(b"hello ");
        log.append(b"world");
        assert_eq!(log.take(), ("hello wo".to_owned(), true));
        log.append(b"ok");
        assert_eq!(log.take(), ("ok".to_owned(), false));
    }

    #[test]
    fn seeded_rng_repeats_after_reseed() {
        use rand_core::TryRng;
        let entropy = Arc::new(Mutex::new(Entropy::default()));
        let mut rng = SeededRng(entropy.clone());
        let key: [&[u8]; 3] = [b"inv-1", &[0], b"2026-03-10"];
        entropy.lock().unwrap().reseed(&key);
        let first = rng.try_next_u64().unwrap();
        assert_ne!(rng.try_next_u64().unwrap(), first);
        entropy.lock().unwrap().reseed(&key);
        assert_eq!(rng.try_next_u64().unwrap(), first);
    }

    /// Recorded decisions are replayed with the numbers their policy saw, so the seed's
    /// derivation is frozen: SplitMix64 from the first eight bytes (little-endian) of
    /// sha256(invoice id, a zero byte, the as-of date). Expected values computed apart from
    /// this code, with Python's hashlib.
    #[test]
    fn the_random_numbers_of_a_call_are_frozen() {
        use rand_core::TryRng;
        let entropy = Arc::new(Mutex::new(Entropy::default()));
        let mut rng = SeededRng(entropy.clone());
        entropy
            .lock()
            .unwrap()
            .reseed(&[b"inv-1", &[0], b"2026-03-10"]);
        let mut bytes = [0u8; 12];
        rng.try_fill_bytes(&mut bytes).unwrap();
        assert_eq!(bytes[..8], 0xd3bf_ea70_d415_3d9f_u64.to_le_bytes());
        assert_eq!(bytes[8..], 0x9040_68f7_3b3d_fff6_u64.to_le_bytes()[..4]);
    }
}
