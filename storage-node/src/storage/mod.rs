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
//! # Write path
//! `upsert` validates the whole call and reserves fresh slots. A bulk batch (more than
//! [`StoreConfig::inline_value_bytes`], 128 KiB, of values) has its values written into
//! the slots with `pwrite` and the segment file `fdatasync`ed, then logs a small *place*
//! record (ids, slots, a CRC-32 of each vector's values, payloads). A small batch logs an
//! *inline place* record that carries the values too (applying it writes them into the
//! slots through the mapping), so it waits for one fsync, not two, and concurrent small
//! writers share it. Either way the writer waits until the group commit has made the
//! record durable (one `fdatasync` shared by every writer that queued meanwhile). Only
//! then is it applied under the write lock, strictly in LSN order (an [`ApplyOrder`]
//! ticket): the slots' metadata (id, norm, payload, int8 codes) is written and the ids
//! point at them, so the live state always equals a replay of the log. A bulk vector's
//! values reach the disk once, not once in the log and again at the checkpoint. An upsert
//! of an existing id moves it to the new slot (copy-on-write); the old slot is dead until
//! compaction. A vector is never half-present: its slot only becomes live through a
//! durable record whose checksum the stored values match. `delete` logs the ids and
//! applies the same way.
//!
//! A bulk loader splits the upsert in two: [`Store::place`] validates a batch and writes
//! its values into fresh slots without syncing, and [`Store::log_placed`] takes every
//! batch placed meanwhile, `fdatasync`s each segment file they wrote once, and queues
//! their records in order. The `UpsertStream` RPC places batch `n + 1` while the group
//! before it syncs, so the disk sees one large sync per group instead of one per batch.
//!
//! # Checkpoints and start-up
//! A checkpoint (when the WAL plus the values placed since the last checkpoint exceed
//! `checkpoint_wal_bytes`, on `close`, after compaction) msyncs the dirty segments (now
//! mostly metadata) and the payload file, writes the manifest (checkpoint LSN, segments with their used slot counts,
//! payload length), then rotates the WAL and deletes the files it covers. It holds only the
//! read lock, so searches continue. `open` loads the manifest, deletes files it does not
//! list (keeping segments created after the checkpoint until replay has seen them), maps
//! the segments, checks every used slot's metadata against its checksum and rebuilds the
//! id→slot index from it (48 bytes per slot: no vector is read), cuts the payload file back to the checkpointed length, and
//! replays WAL records after the checkpoint LSN, writing inline values into their slots
//! and checking each placed vector's values against its record's checksum (a mismatch is
//! corruption, reported with file and offset). Last it starts the read-ahead
//! ([`readahead`]): a background thread that queues reads of the scanned arrays a window
//! at a time, in scan order, up to `read_ahead_bytes`, so a first search on a cold page
//! cache finds the disk already busy with what it needs next.
//! Slots past the checkpointed counts are ignored until a replayed record names them; slots
//! reserved by upserts not applied at the checkpoint are counted but dead (their metadata
//! is still zero) until a replayed record names them.

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

mod compact;
mod config;
mod error;
mod manifest;
mod ops;
mod payload;
mod quant;
mod readahead;
mod search;
mod segment;
mod state;
mod validate;
mod wal;

use std::fs::{File, OpenOptions};
use std::ops::RangeInclusive;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{
    Arc, Condvar, Mutex, MutexGuard, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard,
};

use sutra_api::f32_bytes;
use sutra_core::vector::Metric;

pub use compact::{
    CompactionPolicy, CompactionReport, DEFAULT_COMPACT_DEAD_RATIO, DEFAULT_COMPACT_MIN_DEAD_BYTES,
};
pub use config::{
    DEFAULT_CHECKPOINT_WAL_BYTES, DEFAULT_INLINE_VALUE_BYTES, DEFAULT_MAX_PAYLOAD_BYTES,
    DEFAULT_SEGMENT_BYTES, MAX_BATCH_BYTES, MAX_K, StoreConfig,
};
pub use error::StoreError;
pub use wal::{FSYNC_SECONDS_BOUNDS, GROUP_SIZE_BOUNDS, WalMetrics};

use crate::simd::kernels;
use config::Layout;
use error::IoContext;
use manifest::Manifest;
use ops::{KIND_DELETE, Op, Placed};

use readahead::ReadAhead;
use search::{PreparedQuery, QueryOutcome, ScanView, Scorer};
use segment::{MapHints, VectorFile};
use state::{Reservation, State};
use wal::{Frame, Wal};

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

/// Lets operations made durable concurrently apply in LSN order.
struct ApplyOrder {
    applied: Mutex<u64>,
    turn: Condvar,
}

impl ApplyOrder {
    fn new(applied: u64) -> ApplyOrder {
        ApplyOrder {
            applied: Mutex::new(applied),
            turn: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, u64> {
        self.applied
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn applied(&self) -> u64 {
        *self.lock()
    }

    fn wait_turn(&self, lsn: u64) {
        let mut applied = self.lock();
        while *applied + 1 != lsn {
            applied = self
                .turn
                .wait(applied)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    fn finish(&self, lsn: u64) {
        *self.lock() = lsn;
        self.turn.notify_all();
    }
}

/// An upsert whose values are durable and whose WAL record is queued; see
/// [`Store::upsert_begin`].
pub struct BegunUpsert {
    store: Arc<Store>,
    begun: Option<Begun>,
}

struct Begun {
    lsn: u64,
    op: Op,
}

impl BegunUpsert {
    /// Waits for the record's fsync and applies it; returns how many vectors the batch
    /// held. Durable on `Ok`.
    pub fn finish(mut self) -> Result<u64, StoreError> {
        let begun = self.begun.take().expect("finished once");
        self.store.finish_upsert(begun)
    }
}

impl Drop for BegunUpsert {
    fn drop(&mut self) {
        if let Some(begun) = self.begun.take()
            && let Err(error) = self.store.finish_upsert(begun)
        {
            tracing::warn!(%error, "an upsert dropped before it was finished failed");
        }
    }
}

/// A batch placed by [`Store::place`]: its values are in fresh slots, neither durable nor
/// logged. Log it with [`Store::log_placed`]; dropping it abandons its slots.
pub struct Placement {
    store: Arc<Store>,
    placed: Option<PlacedBatch>,
}

impl Placement {
    /// How many vectors the batch holds.
    pub fn len(&self) -> usize {
        self.batch().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn batch(&self) -> &PlacedBatch {
        self.placed.as_ref().expect("a placement is logged once")
    }
}

impl Drop for Placement {
    fn drop(&mut self) {
        if self.placed.take().is_some() {
            self.store.placing.leave();
        }
    }
}

/// The place entries of a batch and the segment files its values were written to (none
/// when the entries carry the values).
struct PlacedBatch {
    entries: Vec<Placed>,
    files: Vec<VectorFile>,
}

/// Why a store stopped accepting work.
enum Stopped {
    /// A write or sync failed; a reopen recovers from the WAL.
    Failed(String),
    /// Stored data is damaged (the corruption report); a reopen does not help.
    Damaged(String),
}

/// Counts upserts between reserving slots and applying them, so compaction can wait for
/// none to be in flight.
#[derive(Default)]
struct PlacingGate {
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Default)]
struct GateState {
    in_flight: usize,
    closed: bool,
}

impl PlacingGate {
    fn lock(&self) -> MutexGuard<'_, GateState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, GateState>) -> MutexGuard<'a, GateState> {
        self.changed
            .wait(guard)
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn enter(&self) {
        let mut state = self.lock();
        while state.closed {
            state = self.wait(state);
        }
        state.in_flight += 1;
    }

    fn leave(&self) {
        self.lock().in_flight -= 1;
        self.changed.notify_all();
    }

    /// Waits until no upsert is in flight and keeps new ones out until the guard drops.
    fn close(&self) -> GateClosed<'_> {
        let mut state = self.lock();
        while state.closed {
            state = self.wait(state);
        }
        state.closed = true;
        while state.in_flight > 0 {
            state = self.wait(state);
        }
        GateClosed { gate: self }
    }
}

struct GateClosed<'a> {
    gate: &'a PlacingGate,
}

impl Drop for GateClosed<'_> {
    fn drop(&mut self) {
        self.gate.lock().closed = false;
        self.gate.changed.notify_all();
    }
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
    /// Opens (or creates) the store in `cfg.dir`: maps the segments, replays the WAL after
    /// the last checkpoint and checkpoints the result. Fails with `Corrupt` on damage.
    pub fn open(cfg: StoreConfig) -> Result<Store, StoreError> {
        let layout = cfg.layout()?;
        std::fs::create_dir_all(&cfg.dir).at(&cfg.dir)?;
        let dir_lock = lock_dir(&cfg)?;
        let manifest = load_or_create_manifest(&cfg)?;
        let listed: Vec<u32> = manifest.segments.iter().map(|s| s.id).collect();
        let keep_from = Some(manifest.next_segment_id);
        state::remove_orphans(&cfg.dir, &manifest, &listed, keep_from, cfg.compression)?;
        let hints = MapHints {
            huge_pages: cfg.huge_pages,
            compression: cfg.compression,
            read_ahead_window: readahead::window_for(&cfg.dir),
        };
        let mut state = State::load(&cfg.dir, &manifest, layout, hints)?;
        let replayed = wal::replay(&cfg.dir, manifest.checkpoint_lsn, layout.dim, &mut |op| {
            state.replay(op).map(drop)
        })?;
        state.verify_payload_refs()?;
        state.verify_no_doubled_ids()?;
        if replayed.applied > 0 {
            tracing::info!(
                records = replayed.applied,
                last_lsn = replayed.last_lsn,
                "replayed the write-ahead log"
            );
        }
        // Checkpoint what replay rebuilt, so that neither the replay nor the old WAL files
        // are needed again.
        state.flush()?;
        manifest::store(&cfg.dir, &state.manifest(replayed.last_lsn))?;
        let segments = state.segment_ids();
        state::remove_orphans(&cfg.dir, &manifest, &segments, None, cfg.compression)?;
        for path in &replayed.files {
            std::fs::remove_file(path).at(path)?;
        }
        let wal = Wal::start(&cfg.dir, replayed.last_lsn + 1)?;
        let scanned = state
            .segments
            .iter()
            .map(|segment| {
                let (path, len) = segment.scanned_file();
                (path.to_path_buf(), len)
            })
            .collect();
        let read_ahead = ReadAhead::start(scanned, hints.read_ahead_window, cfg.read_ahead_bytes);
        Ok(Store {
            config: cfg,
            layout,
            state: RwLock::new(state),
            wal,
            order: ApplyOrder::new(replayed.last_lsn),
            placing: PlacingGate::default(),
            apply_lock: Mutex::new(()),
            placed_bytes: AtomicU64::new(0),
            checkpoint_lock: Mutex::new(()),
            checkpoint_lsn: AtomicU64::new(replayed.last_lsn),
            stopped: Mutex::new(None),
            wal_truncated_records: replayed.truncated_records,
            stop_hook: OnceLock::new(),
            counters: Counters::default(),
            _read_ahead: read_ahead,
            _dir_lock: dir_lock,
        })
    }

    /// Inserts or replaces a batch; returns how many vectors it held. Durable on `Ok`.
    /// The whole batch is validated first; a rejected batch changes nothing.
    pub fn upsert(&self, batch: Vec<Record>) -> Result<u64, StoreError> {
        let begun = self.begin_upsert(batch)?;
        self.finish_upsert(begun)
    }

    /// The first half of [`upsert`](Self::upsert), for a caller that pipelines batches:
    /// validates the batch, writes its values durably into fresh slots and queues its WAL
    /// record, then returns without waiting for the record's fsync. Batches begun one
    /// after the other take effect in that order. The returned [`BegunUpsert`] must be
    /// finished (dropping it finishes it), or later writes wait for it forever; and the
    /// thread holding it must not call [`compact`](Self::compact), which waits for it.
    pub fn upsert_begin(self: &Arc<Self>, batch: Vec<Record>) -> Result<BegunUpsert, StoreError> {
        let placement = self.place(batch)?;
        let mut begun = self.log_placed(vec![placement])?;
        Ok(begun.pop().expect("one begun upsert per placement"))
    }

    /// The first step of a bulk load: validates the batch and writes its values into
    /// fresh slots (a small batch keeps them for its WAL record), without syncing or
    /// logging anything, so a loader can place several batches and make them durable
    /// together with [`log_placed`](Self::log_placed). Until then the batch is invisible;
    /// a dropped [`Placement`] leaves its slots dead (compaction reclaims them). The same
    /// caveats as [`upsert_begin`](Self::upsert_begin) hold for a held placement.
    pub fn place(self: &Arc<Self>, batch: Vec<Record>) -> Result<Placement, StoreError> {
        let placed = self.place_batch(batch)?;
        Ok(Placement {
            store: Arc::clone(self),
            placed: Some(placed),
        })
    }

    /// Makes the placements' values durable, one `fdatasync` per segment file they wrote
    /// whatever their number, then queues their WAL records in the given order (concurrent
    /// records share the WAL's group commit). Returns one [`BegunUpsert`] per placement, in
    /// the same order, which take effect in that order. On an error none of the placements
    /// is logged unless its [`BegunUpsert`] was returned.
    pub fn log_placed(
        self: &Arc<Self>,
        mut placements: Vec<Placement>,
    ) -> Result<Vec<BegunUpsert>, StoreError> {
        let files = placements
            .iter()
            .flat_map(|placement| placement.batch().files.iter());
        self.sync_values(files)?;
        let mut begun = Vec::with_capacity(placements.len());
        for placement in &mut placements {
            let placed = placement.placed.take().expect("logged once");
            begun.push(BegunUpsert {
                store: Arc::clone(self),
                begun: Some(self.log_batch(placed.entries)?),
            });
        }
        Ok(begun)
    }

    fn begin_upsert(&self, batch: Vec<Record>) -> Result<Begun, StoreError> {
        let placed = self.place_batch(batch)?;
        if let Err(error) = self.sync_values(placed.files.iter()) {
            self.placing.leave();
            return Err(error);
        }
        self.log_batch(placed.entries)
    }

    /// Validates the batch and places it (see [`place_values`](Self::place_values)); on
    /// `Ok` the batch counts as placing until it is logged and finished, or abandoned.
    fn place_batch(&self, batch: Vec<Record>) -> Result<PlacedBatch, StoreError> {
        validate::upsert_batch(&batch, self.layout.dim, self.config.max_payload_bytes)?;
        self.check_healthy()?;
        self.placing.enter();
        let placed = self.place_values(batch);
        if placed.is_err() {
            self.placing.leave();
        }
        placed
    }

    /// Reserves slots for the batch. A batch of at most
    /// [`StoreConfig::inline_value_bytes`] of values keeps them for its place record, so it
    /// waits for one fsync, the WAL's, which concurrent writers share; a larger one has its
    /// values written into the slots (synced later, before its record is logged), so they
    /// are written once and the WAL stays small.
    fn place_values(&self, batch: Vec<Record>) -> Result<PlacedBatch, StoreError> {
        let reservations = self.write_state().reserve(batch.len())?;
        if batch.len() * self.layout.dim * 4 <= self.config.inline_value_bytes {
            return Ok(PlacedBatch {
                entries: self.inline_values(batch, &reservations),
                files: Vec::new(),
            });
        }
        let entries = self.write_values(batch, &reservations)?;
        Ok(PlacedBatch {
            entries,
            files: reservations
                .into_iter()
                .map(|reservation| reservation.file)
                .collect(),
        })
    }

    /// `fdatasync`s each distinct file once. A failure stops the store: after a failed
    /// fdatasync the page cache may no longer match the disk.
    fn sync_values<'a>(
        &self,
        files: impl Iterator<Item = &'a VectorFile>,
    ) -> Result<(), StoreError> {
        let mut synced: Vec<&VectorFile> = Vec::new();
        for file in files {
            if synced.iter().any(|done| done.same_file(file)) {
                continue;
            }
            if let Err(error) = file.sync() {
                self.fail(format!("syncing vector values failed: {error}"));
                return Err(error);
            }
            synced.push(file);
        }
        Ok(())
    }

    /// Queues the place record of a placed batch whose values are durable.
    fn log_batch(&self, entries: Vec<Placed>) -> Result<Begun, StoreError> {
        let frame = Frame::build(
            ops::place_kind(&entries),
            ops::place_body_len(&entries),
            |out| ops::encode_place(&entries, out),
        );
        let logged = self.check_healthy().and_then(|()| self.wal.enqueue(frame));
        match logged {
            Ok(lsn) => Ok(Begun {
                lsn,
                op: Op::Place(entries),
            }),
            Err(error) => {
                self.placing.leave();
                Err(error)
            }
        }
    }

    fn finish_upsert(&self, begun: Begun) -> Result<u64, StoreError> {
        let applied = self.wait_and_apply(begun.lsn, begun.op);
        self.placing.leave();
        let count = applied?;
        self.checkpoint_if_wal_is_large();
        Ok(count)
    }

    /// The place entries of a small batch, carrying their values: applying the record
    /// writes them into the reserved slots, and the checkpoint makes them durable there.
    fn inline_values(&self, batch: Vec<Record>, reservations: &[Reservation]) -> Vec<Placed> {
        batch
            .into_iter()
            .zip(reserved_slots(reservations))
            .map(|(record, (segment, slot))| {
                let values = f32_bytes(&record.values).to_vec();
                Placed {
                    id: record.id,
                    segment,
                    slot,
                    crc: crc32fast::hash(&values),
                    payload: record.payload,
                    values: Some(values),
                }
            })
            .collect()
    }

    /// Writes the batch's values into its reserved slots (not yet synced), straight from
    /// the records; returns the place entries that name them.
    fn write_values(
        &self,
        batch: Vec<Record>,
        reservations: &[Reservation],
    ) -> Result<Vec<Placed>, StoreError> {
        let mut vectors = batch.iter().map(|record| record.values.as_slice());
        for reservation in reservations {
            let slots: Vec<&[f32]> = vectors.by_ref().take(reservation.count).collect();
            if let Err(error) = reservation
                .file
                .write_vectors(reservation.first_slot, &slots)
            {
                self.fail(format!("writing vector values failed: {error}"));
                return Err(error);
            }
        }
        let placed = (batch.len() * self.layout.dim * 4) as u64;
        self.placed_bytes.fetch_add(placed, Ordering::Relaxed);
        Ok(batch
            .into_iter()
            .zip(reserved_slots(reservations))
            .map(|(record, (segment, slot))| Placed {
                id: record.id,
                segment,
                slot,
                crc: crc32fast::hash(f32_bytes(&record.values)),
                payload: record.payload,
                values: None,
            })
            .collect())
    }

    /// Deletes the ids; returns how many of them existed. Durable on `Ok`.
    pub fn delete(&self, ids: &[u64]) -> Result<u64, StoreError> {
        validate::ids(ids)?;
        let mut unique = ids.to_vec();
        unique.sort_unstable();
        unique.dedup();
        let frame = Frame::build(KIND_DELETE, 4 + unique.len() * 8, |out| {
            ops::encode_delete(&unique, out)
        });
        let count = self.log_and_apply(frame, Op::Delete(unique))?;
        self.checkpoint_if_wal_is_large();
        Ok(count)
    }

    fn log_and_apply(&self, frame: Frame, op: Op) -> Result<u64, StoreError> {
        self.check_healthy()?;
        let lsn = self.wal.enqueue(frame)?;
        self.wait_and_apply(lsn, op)
    }

    /// Waits until record `lsn` is durable and every earlier one applied, then applies it.
    /// Every queued LSN must come through here (or the store fails), since later ones wait
    /// for their turn.
    fn wait_and_apply(&self, lsn: u64, op: Op) -> Result<u64, StoreError> {
        if let Err(error) = self.wal.wait_durable(lsn) {
            self.order.wait_turn(lsn);
            self.order.finish(lsn);
            return Err(error);
        }
        self.order.wait_turn(lsn);
        let applied = match self.check_healthy() {
            Ok(()) => {
                let _applying = self.lock_applies();
                self.write_state().apply(op)
            }
            Err(error) => Err(error),
        };
        if let Err(error) = &applied {
            self.fail(format!("applying WAL record {lsn} failed: {error}"));
        }
        self.order.finish(lsn);
        applied
    }

    fn checkpoint_if_wal_is_large(&self) {
        let covered = self.wal.bytes_on_disk() + self.placed_bytes.load(Ordering::Relaxed);
        if covered <= self.config.checkpoint_wal_bytes {
            return;
        }
        let Ok(guard) = self.checkpoint_lock.try_lock() else {
            return;
        };
        if let Err(error) = self.checkpoint_locked(&guard) {
            // The write itself is durable in the WAL; the store stops so a reopen replays it.
            self.fail(format!("automatic checkpoint failed: {error}"));
        }
    }

    /// The stored records, in the order of `ids`; `None` for ids not stored. Each vector's
    /// values are checked against their checksum: damage fails the call with
    /// [`StoreError::Corrupt`] and stops the store, rather than serving the damaged values.
    pub fn get(&self, ids: &[u64]) -> Result<Vec<Option<Record>>, StoreError> {
        self.check_healthy()?;
        let state = self.read_state();
        let found = ids.iter().map(|&id| state.get(id)).collect();
        drop(state);
        self.stop_if_corrupt(found)
    }

    /// Reads every live vector once and checks it against its checksum, a chunk of slots
    /// at a time under the read lock (writes wait at most one chunk). Damage fails with
    /// [`StoreError::Corrupt`] naming the file and offset, and stops the store: every
    /// later call fails with the same reason, so nothing damaged is served. The server
    /// runs this in the background after start-up. It reads at most `max_bytes_per_second`
    /// of vector values (no limit when `None`), so it does not take the disk from the
    /// searches. Setting `cancel` ends it early (the report then says it was not complete).
    pub fn scrub(
        &self,
        cancel: &AtomicBool,
        max_bytes_per_second: Option<u64>,
    ) -> Result<ScrubReport, StoreError> {
        const CHUNK: usize = 4096;
        let started = std::time::Instant::now();
        let mut report = ScrubReport::default();
        let mut position = 0;
        let mut slot = 0;
        loop {
            if let Some(rate) = max_bytes_per_second {
                let read = report.vectors_checked * self.layout.dim as u64 * 4;
                let mut wait = scrub_pause(read, started.elapsed(), rate);
                while !wait.is_zero() && !cancel.load(Ordering::Relaxed) {
                    let nap = wait.min(std::time::Duration::from_millis(100));
                    std::thread::sleep(nap);
                    wait -= nap;
                }
            }
            if cancel.load(Ordering::Relaxed) {
                return Ok(report);
            }
            self.check_healthy()?;
            let state = self.read_state();
            let verified = state.verify_slots(position, slot..slot + CHUNK);
            drop(state);
            match self.stop_if_corrupt(verified)? {
                None => {
                    report.complete = true;
                    break;
                }
                Some((checked, used)) => {
                    report.vectors_checked += checked;
                    slot += CHUNK;
                    if slot >= used {
                        position += 1;
                        slot = 0;
                    }
                }
            }
        }
        self.counters
            .vectors_verified
            .fetch_add(report.vectors_checked, Ordering::Relaxed);
        Ok(report)
    }

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
        self.stopped
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The exact top-`k` for one query (with compression, by the bounded int8 pass).
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        filter: &SearchFilter,
    ) -> Result<SearchResult, StoreError> {
        let mut results = self.search_batch(&[query], k, filter)?;
        Ok(results.pop().expect("one result per query"))
    }

    /// Searches several queries in one pass over the vectors.
    pub fn search_batch(
        &self,
        queries: &[&[f32]],
        k: usize,
        filter: &SearchFilter,
    ) -> Result<Vec<SearchResult>, StoreError> {
        if queries.is_empty() {
            return Err(StoreError::invalid(
                "queries",
                "no queries given; send at least one",
            ));
        }
        for (i, query) in queries.iter().enumerate() {
            let field = if queries.len() == 1 {
                "query".to_string()
            } else {
                format!("queries[{i}]")
            };
            validate::query(&field, query, self.layout.dim, self.config.metric)?;
        }
        validate::k(k)?;
        validate::filter(filter)?;
        self.check_healthy()?;
        let compression = self.config.compression;
        let prepared: Vec<PreparedQuery> = queries
            .iter()
            .map(|q| PreparedQuery::new(q, self.config.metric, compression))
            .collect();
        let state = self.read_state();
        let view = ScanView {
            segments: &state.segments,
            payloads: &state.payloads,
            filter,
            scorer: Scorer {
                metric: self.config.metric,
                kernels: kernels(),
            },
        };
        let outcomes = if compression {
            view.quantized(&prepared, k)
        } else {
            view.exact(&prepared, k)
        };
        drop(state);
        let outcomes = self.stop_if_corrupt(outcomes)?;
        Ok(outcomes
            .into_iter()
            .map(|outcome| self.count_search(outcome))
            .collect())
    }

    fn count_search(&self, outcome: QueryOutcome) -> SearchResult {
        self.counters.searches.fetch_add(1, Ordering::Relaxed);
        self.counters
            .vectors_scanned
            .fetch_add(outcome.scanned, Ordering::Relaxed);
        self.counters
            .vectors_reranked
            .fetch_add(outcome.reranked, Ordering::Relaxed);
        SearchResult {
            hits: outcome.hits,
            scanned: outcome.scanned,
            reranked: outcome.reranked,
        }
    }

    /// Rewrites the live vectors into fresh segments, dropping dead slots and replaced
    /// payloads. Writes wait while it runs; searches and gets go on while the live vectors
    /// are copied and wait only for the swap.
    pub fn compact(&self) -> Result<CompactionReport, StoreError> {
        let guard = self
            .checkpoint_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.check_healthy()?;
        let placing = self.placing.close();
        let applying = self.lock_applies();
        let state = self.read_state();
        let lsn = self.order.applied();
        state.flush()?;
        let prepared = self.stop_if_corrupt(compact::prepare(&state))?;
        drop(state);
        let report = compact::install(&mut self.write_state(), prepared, lsn)?;
        drop(applying);
        drop(placing);
        self.placed_bytes.store(0, Ordering::Relaxed);
        self.checkpoint_lsn.store(lsn, Ordering::Relaxed);
        self.counters.compactions.fetch_add(1, Ordering::Relaxed);
        self.trim_wal(lsn)?;
        drop(guard);
        Ok(report)
    }

    /// Whether `policy` calls for a compaction now (a read of two counters under the read
    /// lock, cheap enough to ask after every write).
    pub fn compaction_due(&self, policy: &CompactionPolicy) -> bool {
        let state = self.read_state();
        policy.due(
            state.used_slots(),
            state.live(),
            self.layout.slot_bytes as u64,
        )
    }

    /// Makes the mapped state durable and drops the WAL it covers.
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        let guard = self
            .checkpoint_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.checkpoint_locked(&guard)
    }

    fn checkpoint_locked(&self, _guard: &MutexGuard<'_, ()>) -> Result<(), StoreError> {
        self.check_healthy()?;
        let state = self.read_state();
        let lsn = self.order.applied();
        state.flush()?;
        manifest::store(&self.config.dir, &state.manifest(lsn))?;
        drop(state);
        self.placed_bytes.store(0, Ordering::Relaxed);
        self.checkpoint_lsn.store(lsn, Ordering::Relaxed);
        self.counters.checkpoints.fetch_add(1, Ordering::Relaxed);
        self.trim_wal(lsn)
    }

    fn trim_wal(&self, checkpoint_lsn: u64) -> Result<(), StoreError> {
        self.wal.rotate()?;
        self.wal.remove_through(checkpoint_lsn)
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
        self.apply_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn read_state(&self) -> RwLockReadGuard<'_, State> {
        self.state
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write_state(&self) -> RwLockWriteGuard<'_, State> {
        self.state
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
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

/// How long a scrub that has read `read` bytes after `elapsed` waits before reading on, so
/// that it averages at most `bytes_per_second`.
pub(crate) fn scrub_pause(
    read: u64,
    elapsed: std::time::Duration,
    bytes_per_second: u64,
) -> std::time::Duration {
    if bytes_per_second == 0 {
        return std::time::Duration::ZERO;
    }
    let due = std::time::Duration::from_secs_f64(read as f64 / bytes_per_second as f64);
    due.saturating_sub(elapsed)
}

/// The (segment, slot) of each reserved slot, in order.
fn reserved_slots(reservations: &[Reservation]) -> impl Iterator<Item = (u32, u32)> + '_ {
    reservations.iter().flat_map(|reservation| {
        (0..reservation.count)
            .map(move |i| (reservation.segment, (reservation.first_slot + i) as u32))
    })
}

/// How the store in a directory was created, read from its manifest without opening it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredLayout {
    pub dimension: u32,
    pub metric: Metric,
    /// Slot alignment and page size as created: together with the dimension and segment
    /// size they fix every file size, so a reopen must use them, whatever this host has.
    pub alignment: usize,
    pub page_size: u64,
    pub segment_bytes: u64,
    pub compression: bool,
}

/// The layout of the store in `dir`; `None` when `dir` holds no store yet.
pub fn stored_layout(dir: &std::path::Path) -> Result<Option<StoredLayout>, StoreError> {
    Ok(manifest::load(dir)?.map(|m| StoredLayout {
        dimension: m.dimension,
        metric: m.metric,
        alignment: m.alignment,
        page_size: m.page_size,
        segment_bytes: m.segment_bytes,
        compression: m.compression,
    }))
}

/// Takes an exclusive `flock` on `dir/LOCK`, held for the life of the store.
fn lock_dir(cfg: &StoreConfig) -> Result<File, StoreError> {
    let path = cfg.dir.join("LOCK");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .at(&path)?;
    // SAFETY: flock on a valid, owned descriptor; no memory is passed.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
    if !locked {
        return Err(StoreError::invalid(
            "dir",
            format!("{} is in use by another open store", cfg.dir.display()),
        ));
    }
    Ok(file)
}

/// Loads the manifest and checks it matches the config, or writes the first one.
fn load_or_create_manifest(cfg: &StoreConfig) -> Result<Manifest, StoreError> {
    match manifest::load(&cfg.dir)? {
        Some(manifest) => check_compatible(cfg, &manifest).map(|()| manifest),
        None => {
            refuse_files_without_manifest(cfg)?;
            let manifest = Manifest {
                format_version: manifest::FORMAT_VERSION,
                dimension: cfg.dimension,
                metric: cfg.metric,
                alignment: cfg.alignment,
                page_size: cfg.page_size,
                segment_bytes: cfg.segment_bytes,
                compression: cfg.compression,
                checkpoint_lsn: 0,
                next_segment_id: 1,
                segments: Vec::new(),
                payload_generation: 1,
                payload_bytes: 0,
            };
            manifest::store(&cfg.dir, &manifest)?;
            Ok(manifest)
        }
    }
}

fn check_compatible(cfg: &StoreConfig, stored: &Manifest) -> Result<(), StoreError> {
    let mismatch = |field: &str, configured: String, found: String| {
        Err(StoreError::invalid(
            field,
            format!(
                "configured {configured} but the store in {} was created with {found}",
                cfg.dir.display()
            ),
        ))
    };
    if stored.dimension != cfg.dimension {
        return mismatch(
            "dimension",
            cfg.dimension.to_string(),
            stored.dimension.to_string(),
        );
    }
    if stored.metric != cfg.metric {
        return mismatch(
            "metric",
            cfg.metric.as_str().into(),
            stored.metric.as_str().into(),
        );
    }
    if stored.alignment != cfg.alignment {
        return mismatch(
            "alignment",
            cfg.alignment.to_string(),
            stored.alignment.to_string(),
        );
    }
    if stored.page_size != cfg.page_size {
        return mismatch(
            "page_size",
            cfg.page_size.to_string(),
            stored.page_size.to_string(),
        );
    }
    if stored.segment_bytes != cfg.segment_bytes {
        return mismatch(
            "segment_bytes",
            cfg.segment_bytes.to_string(),
            stored.segment_bytes.to_string(),
        );
    }
    Ok(())
}

/// Segment or WAL files without a manifest mean the manifest was lost, not a new store.
fn refuse_files_without_manifest(cfg: &StoreConfig) -> Result<(), StoreError> {
    for entry in std::fs::read_dir(&cfg.dir).at(&cfg.dir)? {
        let name = entry.at(&cfg.dir)?.file_name();
        let name = name.to_string_lossy();
        if segment::segment_id_of(&name).is_some() || name.starts_with("wal-") {
            return Err(StoreError::corrupt(
                cfg.dir.join(manifest::MANIFEST),
                0,
                format!(
                    "the manifest is missing but {name} exists; refusing to start an empty store over existing data"
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scrub_pauses_to_keep_its_average_rate() {
        use std::time::Duration;
        let mib = 1 << 20;
        assert_eq!(scrub_pause(0, Duration::ZERO, mib), Duration::ZERO);
        assert_eq!(
            scrub_pause(4 * mib, Duration::from_secs(1), mib),
            Duration::from_secs(3)
        );
        assert_eq!(
            scrub_pause(mib, Duration::from_secs(2), mib),
            Duration::ZERO,
            "behind schedule: no pause"
        );
        assert_eq!(scrub_pause(u64::MAX, Duration::ZERO, 0), Duration::ZERO);
    }
}
