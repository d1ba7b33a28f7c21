//! The write path: upsert, place, delete, and applying a record once it is durable.
//!
//! `upsert` validates the whole call and reserves fresh slots. A bulk batch (more than
//! [`StoreConfig::inline_value_bytes`], 128 KiB, of values) has its values written into
//! the slots with `pwrite` and the segment file `fdatasync`ed, then logs a small *place*
//! record (ids, slots, a CRC-32 of each vector's values, payloads). A small batch logs an
//! *inline place* record that carries the values too (applying it writes them into the
//! slots through the mapping), so it waits for one fsync, not two, and concurrent small
//! writers share it. Either way the writer waits until the group commit has made the
//! record durable (one `fdatasync` shared by every writer that queued meanwhile). Only
//! then is it applied under the write lock, strictly in LSN order (an
//! [`ApplyOrder`](super::order::ApplyOrder) ticket): the slots' metadata (id, norm,
//! payload, int8 codes) is written and the ids point at them, so the live state always
//! equals a replay of the log. A bulk vector's values reach the disk once, not once in the
//! log and again at the checkpoint. An upsert of an existing id moves it to the new slot
//! (copy-on-write); the old slot is dead until compaction. A vector is never half-present:
//! its slot only becomes live through a durable record whose checksum the stored values
//! match. `delete` logs the ids and applies the same way.
//!
//! A bulk loader splits the upsert in two: [`Store::place`] validates a batch and writes
//! its values into fresh slots without syncing, and [`Store::log_placed`] takes every
//! batch placed meanwhile, `fdatasync`s each segment file they wrote once, and queues
//! their records in order. The `UpsertStream` RPC places batch `n + 1` while the group
//! before it syncs, so the disk sees one large sync per group instead of one per batch.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use sutra_api::f32_bytes;

#[cfg(doc)]
use super::StoreConfig;
use super::error::StoreError;
use super::ops::{self, KIND_DELETE, Op, Placed};
use super::segment::VectorFile;
use super::state::Reservation;
use super::validate;
use super::wal::Frame;
use super::{Record, Store};

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

impl Store {
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
                entries: place_entries(batch, &reservations, true),
                files: Vec::new(),
            });
        }
        self.write_values(&batch, &reservations)?;
        Ok(PlacedBatch {
            entries: place_entries(batch, &reservations, false),
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

    /// Writes the batch's values into its reserved slots (not yet synced), straight from
    /// the records.
    fn write_values(
        &self,
        batch: &[Record],
        reservations: &[Reservation],
    ) -> Result<(), StoreError> {
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
        Ok(())
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
}

/// The place entries naming each record's reserved slot; `inline` ones carry the values,
/// which applying the record writes into the slots (the checkpoint makes them durable
/// there).
fn place_entries(batch: Vec<Record>, reservations: &[Reservation], inline: bool) -> Vec<Placed> {
    batch
        .into_iter()
        .zip(reserved_slots(reservations))
        .map(|(record, (segment, slot))| {
            let values = f32_bytes(&record.values);
            Placed {
                id: record.id,
                segment,
                slot,
                crc: crc32fast::hash(values),
                payload: record.payload,
                values: inline.then(|| values.to_vec()),
            }
        })
        .collect()
}

/// The (segment, slot) of each reserved slot, in order.
fn reserved_slots(reservations: &[Reservation]) -> impl Iterator<Item = (u32, u32)> + '_ {
    reservations.iter().flat_map(|reservation| {
        (0..reservation.count)
            .map(move |i| (reservation.segment, (reservation.first_slot + i) as u32))
    })
}
