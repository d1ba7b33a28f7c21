//! The mapped state: segments, the id index, the payload file; applying WAL operations.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::{Path, PathBuf};

use sutra_core::vector::Metric;

use super::Record;
use super::error::{IoContext, StoreError};
use super::manifest::{self, Manifest, SegmentEntry, StoredLayout};
use super::ops::{Op, Placed};
use super::payload::PayloadFile;
use super::search::SlotLoc;
use super::segment::Layout;
use super::segment::{MapHints, SLOT_META_BYTES, Segment, VectorFile, segment_id_of};

pub(crate) struct State {
    pub dir: PathBuf,
    pub layout: Layout,
    pub hints: MapHints,
    pub metric: Metric,
    pub segments: Vec<Segment>,
    pub index: HashMap<u64, SlotLoc>,
    pub payloads: PayloadFile,
    pub payload_generation: u32,
    pub next_segment_id: u32,
    /// Slots found live at load for an id that is live in another slot too (the index
    /// holds that one). A crash can leave this behind legitimately: an upsert applied after
    /// the checkpoint made a new slot live and the old one dead, and only the first of the
    /// two metadata pages reached the disk. Replaying that upsert resolves it; whatever is
    /// left after replay is corruption.
    pub doubled: HashMap<u64, Vec<SlotLoc>>,
}

/// Consecutive fresh slots of one segment, handed out for an upsert to write its values
/// into before logging it.
pub(crate) struct Reservation {
    pub segment: u32,
    pub first_slot: usize,
    pub count: usize,
    pub file: VectorFile,
}

impl State {
    /// Maps what the manifest lists and rebuilds the id index from the metadata arrays;
    /// reads no vectors.
    pub fn load(
        dir: &Path,
        manifest: &Manifest,
        layout: Layout,
        hints: MapHints,
    ) -> Result<State, StoreError> {
        let payload_path = dir.join(manifest::payload_file_name(manifest.payload_generation));
        let payloads = PayloadFile::open(&payload_path, manifest.payload_bytes)?;
        let mut state = State {
            dir: dir.to_path_buf(),
            layout,
            hints,
            metric: manifest.layout.metric,
            segments: Vec::with_capacity(manifest.segments.len()),
            index: HashMap::new(),
            payloads,
            payload_generation: manifest.payload_generation,
            next_segment_id: manifest.next_segment_id,
            doubled: HashMap::new(),
        };
        for entry in &manifest.segments {
            state.map_segment(entry, manifest.layout.compression)?;
        }
        Ok(state)
    }

    fn map_segment(
        &mut self,
        entry: &SegmentEntry,
        codes_expected: bool,
    ) -> Result<(), StoreError> {
        if entry.used > self.layout.slots_per_segment {
            return Err(StoreError::corrupt(
                self.dir.join(manifest::MANIFEST),
                0,
                format!(
                    "segment {} has {} used slots, more than its {} slots",
                    entry.id, entry.used, self.layout.slots_per_segment
                ),
            ));
        }
        let segment = Segment::open(
            &self.dir,
            entry.id,
            entry.used,
            self.layout,
            self.hints,
            codes_expected,
        )?;
        let segment_index = self.segments.len() as u32;
        self.index.reserve(entry.used);
        for (slot, meta) in segment.metas().iter().enumerate() {
            if !meta.is_live() {
                continue;
            }
            let at = SlotLoc {
                segment: segment_index,
                slot: slot as u32,
            };
            match self.index.entry(meta.id) {
                Entry::Occupied(_) => self.doubled.entry(meta.id).or_default().push(at),
                Entry::Vacant(vacant) => {
                    vacant.insert(at);
                }
            }
        }
        self.segments.push(segment);
        Ok(())
    }

    /// Kills the extra live slots found at load for `id`, except `keep`.
    fn resolve_doubled(&mut self, id: u64, keep: Option<SlotLoc>) {
        for at in self.doubled.remove(&id).unwrap_or_default() {
            if Some(at) != keep {
                self.segments[at.segment as usize].kill(at.slot as usize);
            }
        }
    }

    /// After replay no id may be live in two slots.
    pub fn verify_no_doubled_ids(&self) -> Result<(), StoreError> {
        let Some((id, extra)) = self.doubled.iter().next() else {
            return Ok(());
        };
        let at = extra[0];
        let first = self.index[id];
        let segment = &self.segments[at.segment as usize];
        Err(StoreError::corrupt(
            &segment.paths().meta,
            (at.slot as usize * SLOT_META_BYTES) as u64,
            format!(
                "id {id} is live in two slots (also segment {}, slot {}), and no logged write after the checkpoint explains it",
                self.segments[first.segment as usize].id, first.slot
            ),
        ))
    }

    /// Applies one operation just made durable; returns how many vectors it upserted or
    /// deleted.
    pub fn apply(&mut self, op: Op) -> Result<u64, StoreError> {
        self.apply_op(op, false)
    }

    /// Applies one operation read back from the WAL. Place records may name segments
    /// created after the checkpoint (opened here), and their values are checked against
    /// the record's checksums.
    pub fn replay(&mut self, op: Op) -> Result<u64, StoreError> {
        self.apply_op(op, true)
    }

    fn apply_op(&mut self, op: Op, replaying: bool) -> Result<u64, StoreError> {
        match op {
            Op::Place(entries) => {
                for entry in &entries {
                    self.place_one(entry, replaying)?;
                }
                Ok(entries.len() as u64)
            }
            Op::Delete(ids) => Ok(ids.iter().filter(|&&id| self.delete_one(id)).count() as u64),
        }
    }

    /// Hands out `count` fresh slots, growing new segments as needed. A new segment's files
    /// are made durable in the directory before any slot of it is used, so a WAL record
    /// naming it always finds it after a crash.
    pub fn reserve(&mut self, count: usize) -> Result<Vec<Reservation>, StoreError> {
        let mut reservations = Vec::new();
        let mut left = count;
        while left > 0 {
            if self.segments.last().is_none_or(Segment::is_full) {
                let segment =
                    Segment::create(&self.dir, self.next_segment_id, self.layout, self.hints)?;
                manifest::sync_dir(&self.dir)?;
                self.next_segment_id += 1;
                self.segments.push(segment);
            }
            let segment = self.segments.last_mut().expect("a segment with free slots");
            let take = left.min(segment.slots() - segment.used);
            reservations.push(Reservation {
                segment: segment.id,
                first_slot: segment.used,
                count: take,
                file: segment.vector_file().clone(),
            });
            segment.used += take;
            left -= take;
        }
        Ok(reservations)
    }

    /// Makes a placed vector live in its slot; the id's previous slot, if any, goes dead.
    fn place_one(&mut self, entry: &Placed, replaying: bool) -> Result<(), StoreError> {
        let position = self.segment_position(entry.segment, replaying)?;
        let slot = entry.slot as usize;
        let segment = &mut self.segments[position];
        if slot >= segment.slots() {
            return Err(StoreError::corrupt(
                &segment.paths().vectors,
                0,
                format!(
                    "a WAL record places id {} in slot {slot}, but the segment has {} slots",
                    entry.id,
                    segment.slots()
                ),
            ));
        }
        if let Some(values) = &entry.values {
            segment.write_values(slot, values);
        }
        if replaying {
            let found = crc32fast::hash(segment.vector_bytes(slot));
            if found != entry.crc {
                return Err(StoreError::corrupt(
                    &segment.paths().vectors,
                    segment.vector_offset(slot),
                    format!(
                        "the values of id {} in slot {slot} have checksum {found:#010x}, the WAL record that acknowledged them says {:#010x}",
                        entry.id, entry.crc
                    ),
                ));
            }
        }
        let payload = self.payloads.append(&entry.payload)?;
        let at = SlotLoc {
            segment: position as u32,
            slot: entry.slot,
        };
        self.resolve_doubled(entry.id, Some(at));
        if let Some(old) = self.index.insert(entry.id, at)
            && old != at
        {
            self.segments[old.segment as usize].kill(old.slot as usize);
        }
        self.segments[position].place_slot(slot, entry.id, payload, entry.crc);
        Ok(())
    }

    /// Where the segment with file id `id` sits in `segments`. Replay opens segments
    /// created after the checkpoint (ids from `next_segment_id` on) when a record first
    /// names them.
    fn segment_position(&mut self, id: u32, replaying: bool) -> Result<usize, StoreError> {
        if let Some(position) = self.segments.iter().rposition(|s| s.id == id) {
            return Ok(position);
        }
        if !replaying || id < self.next_segment_id {
            return Err(StoreError::corrupt(
                self.dir.join(manifest::MANIFEST),
                0,
                format!("a WAL record names segment {id}, which the store does not have"),
            ));
        }
        for new_id in self.next_segment_id..=id {
            let segment = Segment::open(&self.dir, new_id, 0, self.layout, self.hints, true)?;
            self.segments.push(segment);
        }
        self.next_segment_id = id + 1;
        Ok(self.segments.len() - 1)
    }

    /// The ids of the mapped segments.
    pub fn segment_ids(&self) -> Vec<u32> {
        self.segments.iter().map(|s| s.id).collect()
    }

    fn delete_one(&mut self, id: u64) -> bool {
        self.resolve_doubled(id, None);
        let Some(at) = self.index.remove(&id) else {
            return false;
        };
        self.segments[at.segment as usize].kill(at.slot as usize);
        true
    }

    pub fn get(&self, id: u64) -> Result<Option<Record>, StoreError> {
        let Some(&at) = self.index.get(&id) else {
            return Ok(None);
        };
        let segment = &self.segments[at.segment as usize];
        let slot = at.slot as usize;
        segment.verify(slot)?;
        let meta = &segment.metas()[slot];
        let payload = self.payloads.read(meta.payload())?;
        Ok(Some(Record {
            id,
            values: segment.vector(slot).to_vec(),
            payload,
        }))
    }

    /// Checks everything stored for the slots among `slots` of the segment at `position`
    /// against its checksums: every slot's metadata, and the values, codes and payload of
    /// the live ones. Returns how many live slots it checked, and where the segment ends
    /// (`None` when `position` is past the last segment).
    pub fn verify_slots(
        &self,
        position: usize,
        slots: std::ops::Range<usize>,
    ) -> Result<Option<(u64, usize)>, StoreError> {
        let Some(segment) = self.segments.get(position) else {
            return Ok(None);
        };
        let end = slots.end.min(segment.used);
        let slots = slots.start.min(end)..end;
        segment.will_need_values(slots.clone());
        let mut checked = 0;
        for slot in slots {
            segment.verify_meta(slot)?;
            let meta = &segment.metas()[slot];
            if meta.is_live() {
                segment.verify_all(slot)?;
                self.payloads.read(meta.payload())?;
                checked += 1;
            }
        }
        Ok(Some((checked, segment.used)))
    }

    pub fn live(&self) -> u64 {
        self.index.len() as u64
    }

    pub fn used_slots(&self) -> u64 {
        self.segments.iter().map(|s| s.used as u64).sum()
    }

    /// After replay every live slot must point inside the payload file.
    pub fn verify_payload_refs(&self) -> Result<(), StoreError> {
        let end = self.payloads.len();
        for segment in &self.segments {
            for (slot, meta) in segment.metas().iter().enumerate() {
                // Checked: a damaged offset near 2^64 must not wrap around to a small end.
                let payload_end = meta.payload_offset.checked_add(u64::from(meta.payload_len));
                if meta.is_live() && payload_end.is_none_or(|payload_end| payload_end > end) {
                    let detail = format!(
                        "id {} points at {} payload bytes from offset {}, past the end of {} ({end} bytes)",
                        meta.id,
                        meta.payload_len,
                        meta.payload_offset,
                        self.payloads.path().display()
                    );
                    return Err(StoreError::corrupt(
                        &segment.paths().meta,
                        (slot * SLOT_META_BYTES) as u64,
                        detail,
                    ));
                }
            }
        }
        Ok(())
    }

    /// Makes every mapped page and payload byte durable.
    pub fn flush(&self) -> Result<(), StoreError> {
        for segment in &self.segments {
            segment.flush()?;
        }
        self.payloads.sync()
    }

    pub fn manifest(&self, checkpoint_lsn: u64) -> Manifest {
        Manifest {
            format_version: manifest::FORMAT_VERSION,
            layout: StoredLayout {
                dimension: self.layout.dim as u32,
                metric: self.metric,
                alignment: self.layout.alignment,
                page_size: self.layout.page_size,
                segment_bytes: self.layout.vector_file_bytes as u64,
                compression: self.hints.compression,
            },
            checkpoint_lsn,
            next_segment_id: self.next_segment_id,
            segments: self
                .segments
                .iter()
                .map(|s| SegmentEntry {
                    id: s.id,
                    used: s.used,
                })
                .collect(),
            payload_generation: self.payload_generation,
            payload_bytes: self.payloads.len(),
        }
    }

    pub fn mapped_bytes(&self) -> u64 {
        self.segments.iter().map(Segment::mapped_bytes).sum()
    }
}

/// Deletes files a crash left behind: segments not in `segments` (from an unfinished or
/// interrupted compaction, or grown after the last checkpoint and never named by a durable
/// WAL record), payload files of another generation than the manifest's, int8 files when
/// compression is off, and a half-written manifest. Before replay, pass
/// `keep_from = Some(manifest.next_segment_id)`: segments from that id on may hold values
/// that WAL records placed after the checkpoint, so only replay can tell.
pub(crate) fn remove_orphans(
    dir: &Path,
    manifest: &Manifest,
    segments: &[u32],
    keep_from: Option<u32>,
    compression: bool,
) -> Result<(), StoreError> {
    let listed = |id: u32| segments.contains(&id) || keep_from.is_some_and(|from| id >= from);
    for entry in std::fs::read_dir(dir).at(dir)? {
        let path = entry.at(dir)?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let orphan_segment = segment_id_of(name)
            .is_some_and(|id| !listed(id) || (!compression && name.ends_with(".i8")));
        let orphan_payloads =
            manifest::payload_generation_of(name).is_some_and(|g| g != manifest.payload_generation);
        if orphan_segment || orphan_payloads || name == "MANIFEST.tmp" {
            tracing::info!(file = %path.display(), "removing file not referenced by the manifest");
            std::fs::remove_file(&path).at(&path)?;
        }
    }
    manifest::sync_dir(dir)
}
