//! Checkpoints and compaction: the two ways the WAL is trimmed.
//!
//! A checkpoint (when the WAL plus the values placed since the last checkpoint exceed
//! `checkpoint_wal_bytes`, on `close`, after compaction) msyncs the dirty segments (by then
//! mostly metadata) and the payload file, writes the manifest (checkpoint LSN, segments
//! with their used slot counts, payload length), then rotates the WAL and deletes the
//! files it covers. It holds only the read lock, so searches continue. Compaction rewrites
//! the live vectors into fresh segments (see [`compact`](super::compact)) and checkpoints
//! the result the same way.

use std::sync::MutexGuard;
use std::sync::atomic::Ordering;

use super::Store;
use super::compact::{self, CompactionPolicy, CompactionReport};
use super::error::StoreError;
use super::manifest;
use super::order::Unpoison;

impl Store {
    /// Rewrites the live vectors into fresh segments, dropping dead slots and replaced
    /// payloads. Writes wait while it runs; searches and gets go on while the live vectors
    /// are copied and wait only for the swap.
    pub fn compact(&self) -> Result<CompactionReport, StoreError> {
        let guard = self.checkpoint_lock.lock().unpoisoned();
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
        let guard = self.checkpoint_lock.lock().unpoisoned();
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

    pub(super) fn checkpoint_if_wal_is_large(&self) {
        let covered = self.wal.bytes_on_disk() + self.placed_bytes.load(Ordering::Relaxed);
        if covered <= self.config.checkpoint_wal_bytes {
            return;
        }
        let Some(guard) = self.checkpoint_lock.try_lock().unpoisoned() else {
            return;
        };
        if let Err(error) = self.checkpoint_locked(&guard) {
            // The write itself is durable in the WAL; the store stops so a reopen replays it.
            self.fail(format!("automatic checkpoint failed: {error}"));
        }
    }
}
