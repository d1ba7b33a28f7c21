//! The storage engine: one collection of fixed-dimension vectors per node.
//!
//! # Files (all in [`StoreConfig::dir`])
//! * `seg-NNNNNN.vec` / `.meta` / `.i8`: segments of fixed-size slots, memory-mapped
//!   (see [`segment`](self::segment) for the layout and madvise hints);
//! * `payloads-NNNNNN.dat`: append-only payload bytes, addressed from the slot metadata;
//! * `wal-<lsn>.log`: the write-ahead log (see [`wal`](self::wal) for format, group commit
//!   and replay);
//! * `MANIFEST`: what the last checkpoint made durable (checksummed, replaced atomically);
//! * `LOCK`: held with `flock` while a store is open, so two processes never share a dir.
//!
//! # Modules
//! The [`Store`] and its public types live here; its methods are split by what they do:
//! * [`open`](self::open): lock the directory, load or create the manifest, check it
//!   against the config, map the segments, replay the WAL;
//! * [`write`](self::write): upsert, place, delete, and applying a durable record;
//! * [`order`](self::order): applying in LSN order, the gate compaction closes, and the
//!   one way every lock here recovers from poisoning;
//! * [`read`](self::read): get and search;
//! * [`checkpoint`](self::checkpoint): checkpoints and compaction;
//! * [`scrub`](self::scrub): the background check of every stored value.
//!
//! # Search
//! Exact brute force, see [`search`](self::search). Cosine stores raw vectors with their
//! norm in the metadata and normalises the query, so the hot loop is a dot product. With
//! compression on, the int8 copies are scanned first (4x fewer bytes) with a provable error
//! margin per vector, and only the vectors the margins cannot rule out are re-ranked with
//! f32, so the result is still exactly the f32 scan's; quantisation is per vector
//! ([`quant`](self::quant) says why).
//!
//! # Concurrency
//! A `RwLock` over the mapped state: searches and gets share it; reserving slots and
//! applying writes take it exclusively, briefly. Value writes, WAL group commits and
//! checkpoints run outside the exclusive lock. Compaction drains in-flight upserts, pauses
//! applies, copies the live vectors under the read lock (searches go on) and takes the
//! write lock only to swap the new segments in.
//!
//! # Corruption
//! Every byte a read depends on carries a CRC-32 (see [`segment`](self::segment)): the
//! manifest as a whole, and per slot its values, int8 codes, payload and the 48-byte slot
//! metadata itself. A bad manifest (or one of another format version), a segment file of
//! the wrong size, slot metadata that fails its checksum, an id live in two slots, a
//! payload reference past the end of the payload file, or a bad WAL record that is not
//! the last all fail `open` with [`StoreError::Corrupt`] naming the file and offset.
//! Checking every value would read every vector, so `open` does not; `get` checks what it
//! returns, the int8 pass every code it scores, the re-rank and the f32 scan the values of
//! what they return, the payload filter the payloads it reads, compaction what it copies,
//! and [`Store::scrub`] everything (the server scrubs in the background after start-up).
//! Damage found after `open` stops the store: that call fails with `Corrupt`, every later
//! one with [`StoreError::Damaged`] and the same report, and [`Store::on_stop`] tells the
//! server to take itself out of service.

mod checkpoint;
mod compact;
mod config;
mod error;
mod manifest;
mod open;
mod ops;
mod order;
mod payload;
mod quant;
mod read;
mod readahead;
mod scrub;
mod search;
mod segment;
mod state;
mod validate;
mod wal;
mod write;

use std::fs::File;
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

pub use compact::{
    CompactionPolicy, CompactionReport, DEFAULT_COMPACT_DEAD_RATIO, DEFAULT_COMPACT_MIN_DEAD_BYTES,
};
pub use config::{
    DEFAULT_CHECKPOINT_WAL_BYTES, DEFAULT_INLINE_VALUE_BYTES, DEFAULT_MAX_PAYLOAD_BYTES,
    DEFAULT_SEGMENT_BYTES, MAX_BATCH_BYTES, MAX_K, StoreConfig,
};
pub use error::StoreError;
pub use manifest::{StoredLayout, stored_layout};
pub use wal::{FSYNC_SECONDS_BOUNDS, GROUP_SIZE_BOUNDS, WalMetrics};
pub use write::{BegunUpsert, Placement};

use order::{ApplyOrder, PlacingGate, Unpoison};
use readahead::ReadAhead;
use segment::Layout;
use state::State;
use sutra_core::vector::Metric;
use wal::Wal;

/// One vector with its id and optional payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub id: u64,
    pub values: Vec<f32>,
    pub payload: Vec<u8>,
}

/// One search result; higher scores are more similar (L2 gives the negated squared distance).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub id: u64,
    pub score: f32,
}

/// Restricts a search; the default admits every vector.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchFilter {
    /// Only ids in this inclusive range.
    pub id_range: Option<RangeInclusive<u64>>,
    /// Only vectors whose payload starts with these bytes (an empty prefix admits all).
    pub payload_prefix: Option<Vec<u8>>,
}

/// Hits best first, how many vectors the scan scored, and how many of them it scored
/// again in f32 after the int8 pass (0 without compression).
#[derive(Debug, Clone, PartialEq)]
pub struct SearchResult {
    pub hits: Vec<Hit>,
    pub scanned: u64,
    pub reranked: u64,
}

/// A snapshot of the store's size and configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreStats {
    /// Live vectors.
    pub vectors: u64,
    /// Dead slots (deleted vectors) that compaction would reclaim.
    pub deleted: u64,
    pub segments: u64,
    pub bytes_mapped: u64,
    pub wal_bytes: u64,
    pub payload_bytes: u64,
    pub dimension: u32,
    pub metric: Metric,
    pub compression: bool,
    /// The LSN of the last applied write and of the last checkpoint.
    pub last_lsn: u64,
    pub checkpoint_lsn: u64,
}

/// Counters since open, for the server to export (e.g. as Prometheus counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreMetrics {
    pub wal: WalMetrics,
    /// Search calls (a batch of n queries counts n).
    pub searches: u64,
    /// Vectors scored, summed over queries.
    pub vectors_scanned: u64,
    /// Vectors scored again in f32 after the int8 pass, summed over queries.
    pub vectors_reranked: u64,
    pub checkpoints: u64,
    pub compactions: u64,
    /// Vectors whose values a scrub checked against their checksums.
    pub vectors_verified: u64,
    /// Bad records cut off the end of the WAL when the store was opened (0 or 1).
    pub wal_truncated_records: u64,
}

/// What a [`Store::scrub`] checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScrubReport {
    pub vectors_checked: u64,
    /// Whether it reached the end (false when cancelled).
    pub complete: bool,
}

#[derive(Default)]
struct Counters {
    vectors_verified: AtomicU64,
    searches: AtomicU64,
    vectors_scanned: AtomicU64,
    vectors_reranked: AtomicU64,
    checkpoints: AtomicU64,
    compactions: AtomicU64,
}

/// Why a store stopped accepting work.
enum Stopped {
    /// A write or sync failed; a reopen recovers from the WAL.
    Failed(String),
    /// Stored data is damaged (the corruption report); a reopen does not help.
    Damaged(String),
}

/// The storage engine. Synchronous; `Send + Sync`, so one `Arc<Store>` serves all threads.
pub struct Store {
    config: StoreConfig,
    layout: Layout,
    state: RwLock<State>,
    wal: Wal,
    order: ApplyOrder,
    /// Counts upserts between reserving their slots and applying them; compaction, which
    /// renumbers slots, closes it and waits until none is left.
    placing: PlacingGate,
    /// See [`Store::lock_applies`].
    apply_lock: Mutex<()>,
    /// Value bytes placed since the last checkpoint (replay reads them back to check them).
    placed_bytes: AtomicU64,
    checkpoint_lock: Mutex<()>,
    checkpoint_lsn: AtomicU64,
    stopped: Mutex<Option<Stopped>>,
    wal_truncated_records: u64,
    /// Called once when the store stops accepting work (see [`Store::on_stop`]).
    stop_hook: OnceLock<Box<dyn Fn() + Send + Sync>>,
    counters: Counters,
    /// Stops (and waits for) the start-up read-ahead when the store is dropped.
    _read_ahead: ReadAhead,
    _dir_lock: File,
}

impl Store {
    /// Stops the store on corruption, so that nothing damaged is served afterwards: every
    /// later call fails with [`StoreError::Damaged`] and the same report.
    fn stop_if_corrupt<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(error @ StoreError::Corrupt { .. }) = &result {
            self.stop(Stopped::Damaged(error.to_string()));
        }
        result
    }

    /// Why the store stopped accepting work, if it did (an I/O failure, or damaged data).
    pub fn failure(&self) -> Option<String> {
        self.lock_stopped().as_ref().map(|stopped| match stopped {
            Stopped::Failed(reason) | Stopped::Damaged(reason) => reason.clone(),
        })
    }

    /// Calls `hook` once when the store stops accepting work (at once if it already has),
    /// so a server can take itself out of service (gRPC health, readiness) then. Only the
    /// first hook set is kept.
    pub fn on_stop(&self, hook: impl Fn() + Send + Sync + 'static) {
        if self.stop_hook.set(Box::new(hook)).is_ok() && self.lock_stopped().is_some() {
            self.run_stop_hook();
        }
    }

    fn run_stop_hook(&self) {
        if let Some(hook) = self.stop_hook.get() {
            hook();
        }
    }

    fn lock_stopped(&self) -> MutexGuard<'_, Option<Stopped>> {
        self.stopped.lock().unpoisoned()
    }

    pub fn stats(&self) -> StoreStats {
        let state = self.read_state();
        StoreStats {
            vectors: state.live(),
            deleted: state.used_slots() - state.live(),
            segments: state.segments.len() as u64,
            bytes_mapped: state.mapped_bytes(),
            wal_bytes: self.wal.bytes_on_disk(),
            payload_bytes: state.payloads.len(),
            dimension: self.config.dimension,
            metric: self.config.metric,
            compression: self.config.compression,
            last_lsn: self.order.applied(),
            checkpoint_lsn: self.checkpoint_lsn.load(Ordering::Relaxed),
        }
    }

    pub fn metrics(&self) -> StoreMetrics {
        let c = &self.counters;
        StoreMetrics {
            wal: self.wal.metrics(),
            searches: c.searches.load(Ordering::Relaxed),
            vectors_scanned: c.vectors_scanned.load(Ordering::Relaxed),
            vectors_reranked: c.vectors_reranked.load(Ordering::Relaxed),
            checkpoints: c.checkpoints.load(Ordering::Relaxed),
            compactions: c.compactions.load(Ordering::Relaxed),
            vectors_verified: c.vectors_verified.load(Ordering::Relaxed),
            wal_truncated_records: self.wal_truncated_records,
        }
    }

    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// Checkpoints and closes. Dropping without `close` loses nothing acknowledged either;
    /// the next open replays the WAL.
    pub fn close(self) -> Result<(), StoreError> {
        self.checkpoint()
    }

    /// Held while applying a logged operation, and by compaction while it copies (under
    /// the read lock only), so nothing changes the state it is copying.
    fn lock_applies(&self) -> MutexGuard<'_, ()> {
        self.apply_lock.lock().unpoisoned()
    }

    fn read_state(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unpoisoned()
    }

    fn write_state(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unpoisoned()
    }

    fn check_healthy(&self) -> Result<(), StoreError> {
        match &*self.lock_stopped() {
            Some(Stopped::Failed(reason)) => Err(StoreError::Failed(reason.clone())),
            Some(Stopped::Damaged(report)) => Err(StoreError::Damaged(report.clone())),
            None => Ok(()),
        }
    }

    /// Stops the store after a write or sync error: the state in memory may be behind the
    /// log, which a reopen replays.
    fn fail(&self, reason: String) {
        self.stop(Stopped::Failed(reason));
    }

    /// Records the first reason the store stopped; later ones are logged only.
    fn stop(&self, stopped: Stopped) {
        let first = {
            let mut current = self.lock_stopped();
            let first = current.is_none();
            match &stopped {
                Stopped::Failed(reason) => {
                    tracing::error!(%reason, "storage engine stops accepting work")
                }
                Stopped::Damaged(report) => {
                    tracing::error!(%report, "storage engine found damaged data and stops serving")
                }
            }
            current.get_or_insert(stopped);
            first
        };
        if first {
            self.run_stop_hook();
        }
    }
}
