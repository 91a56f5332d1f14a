//! Checkpoints on a thread of their own, so the sweep's single writer does not run them.
//!
//! In WAL mode the connection that commits runs SQLite's automatic checkpoint: once the WAL
//! holds enough pages, that commit also copies them into the database file and syncs it. For
//! the sweep's writer, the one thread every invoice passes through, that is about a sixth of
//! its time in a sweep of 1M invoices (docs/benchmarks.md#checkpoint-thread). Here the writer only
//! nudges this thread after each batch it commits; the thread runs a PASSIVE checkpoint, which
//! never waits for the writer or readers and never makes them wait, at most once per
//! [`PACE`].
//!
//! The writer's own automatic checkpoint stays, at [`WRITER_AUTOCHECKPOINT_BYTES`], as the bound
//! on the WAL: the WAL can only start over from its beginning when a writer finds it wholly
//! copied, so the writer still checkpoints when it gets that long, but by then this thread has
//! copied nearly all of it. Nothing here bears on durability: a checkpoint copies committed
//! pages, and one cut short by a crash is redone from the WAL on the next open.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;

/// The WAL's bound, in bytes: the writer connections' `wal_autocheckpoint` is this many bytes
/// of the file's pages (see [`autocheckpoint_pages`]).
pub(super) const WRITER_AUTOCHECKPOINT_BYTES: u64 = 80 << 20;

/// The WAL's bound on the sqlx pool's connections (imports, the API, the CLI), in bytes: they
/// write in smaller batches than the sweep and keep the WAL shorter.
pub(super) const POOL_AUTOCHECKPOINT_BYTES: u64 = 40 << 20;

/// A `wal_autocheckpoint` of `bytes` in pages of `page_size` bytes (a file keeps the page size
/// it was created with: 4 KiB before Dunlin made new files with 16 KiB pages). SQLite's pages
/// are 512 bytes to 64 KiB.
pub(super) fn autocheckpoint_pages(bytes: u64, page_size: u64) -> u64 {
    bytes / page_size.max(512)
}

/// The least time between two background checkpoints: each one syncs the database file.
const PACE: Duration = Duration::from_millis(200);

/// The checkpoint thread of one database file.
#[derive(Debug)]
pub(super) struct Checkpointer {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// A batch was committed since the last checkpoint began.
    pending: bool,
    closed: bool,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Checkpointer {
    /// Starts the thread for the file at `path`; `open` makes its connection when it first
    /// has work.
    pub(super) fn start(path: PathBuf, open: fn(&Path) -> rusqlite::Result<Connection>) -> Self {
        let shared = Arc::new(Shared::default());
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("dunlin-checkpoint".into())
            .spawn(move || run(&worker, open, &path))
            .map_err(|e| tracing::warn!(error = %e, "no checkpoint thread; the writer checkpoints"))
            .ok();
        Checkpointer {
            shared,
            thread: Mutex::new(thread),
        }
    }

    /// Tells the thread that a batch was committed.
    pub(super) fn nudge(&self) {
        let mut state = self.shared.lock();
        if !state.closed {
            state.pending = true;
            self.shared.wake.notify_one();
        }
    }

    /// Stops the thread; the handle to join it, once, if it ran.
    pub(super) fn close(&self) -> Option<JoinHandle<()>> {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
        self.thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        if let Some(thread) = self.close() {
            // The thread is between checkpoints or finishing one: it exits at once after.
            join(thread);
        }
    }
}

/// Waits for the stopped thread; a panic in it is logged, not passed on: the database is
/// whole either way (SQLite redoes a checkpoint cut short), and the caller is closing it.
pub(super) fn join(thread: JoinHandle<()>) {
    if thread.join().is_err() {
        tracing::error!("the checkpoint thread panicked");
    }
}

/// The thread: a checkpoint after each nudge, paced, until closed.
fn run(shared: &Shared, open: fn(&Path) -> rusqlite::Result<Connection>, path: &Path) {
    let mut conn: Option<Connection> = None;
    let mut last: Option<Instant> = None;
    loop {
        let mut state = shared.lock();
        if let Some(last) = last {
            let rest = PACE.saturating_sub(last.elapsed());
            state = shared
                .wake
                .wait_timeout_while(state, rest, |s| !s.closed)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        state = shared
            .wake
            .wait_while(state, |s| !s.pending && !s.closed)
            .unwrap_or_else(PoisonError::into_inner);
        if state.closed {
            return;
        }
        state.pending = false;
        drop(state);

        last = Some(Instant::now());
        // The connection kept from the last checkpoint, or a new one.
        let done = conn.take().map_or_else(|| open(path), Ok).and_then(|c| {
            let frames = passive(&c)?;
            conn = Some(c);
            Ok(frames)
        });
        match done {
            Ok((wal, copied)) => tracing::trace!(wal, copied, "checkpoint"),
            Err(e) => {
                // The writer's own checkpoint still bounds the WAL; the next batch tries
                // again on a fresh connection.
                tracing::warn!(file = %path.display(), error = %e, "background checkpoint failed");
            }
        }
    }
}

/// One PASSIVE checkpoint: the WAL's size and how much of it is now in the database file, in
/// pages.
fn passive(conn: &Connection) -> rusqlite::Result<(i64, i64)> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get(1)?, r.get(2)?))
    })
}

#[cfg(test)]
mod tests {
    use super::{autocheckpoint_pages, POOL_AUTOCHECKPOINT_BYTES, WRITER_AUTOCHECKPOINT_BYTES};

    #[test]
    fn the_wal_bound_is_the_same_bytes_whatever_the_page_size() {
        let writer = |page| autocheckpoint_pages(WRITER_AUTOCHECKPOINT_BYTES, page);
        assert_eq!(writer(4096), 20_480);
        assert_eq!(writer(16384), 5_120);
        assert_eq!(writer(65536), 1_280);
        // Not a page size SQLite makes, but no division by zero either.
        assert_eq!(writer(0), 163_840);
        assert_eq!(
            autocheckpoint_pages(POOL_AUTOCHECKPOINT_BYTES, 4096),
            10_240
        );
        assert_eq!(
            autocheckpoint_pages(POOL_AUTOCHECKPOINT_BYTES, 16384),
            2_560
        );
    }
}
