//! Segment files: fixed-size vector slots in page-aligned memory maps.
//!
//! A segment is two or three files of fixed size, each mapped whole with `MAP_SHARED`:
//! * `seg-NNNNNN.vec`: `slots_per_segment` f32 slots of `slot_bytes` each (dim * 4 rounded
//!   up to the configured alignment), back to back, so a scan is one sequential read;
//! * `seg-NNNNNN.meta`: one 48-byte [`SlotMeta`] per slot (id, live flag, norm, payload
//!   location, int8 scale, and the CRC-32s of the values, the codes, the payload and of the
//!   metadata itself), kept apart so the vector array stays contiguous;
//! * `seg-NNNNNN.i8` (only with compression): int8 codes, `code_slot_bytes` per slot.
//!
//! Every byte a read depends on is covered by a checksum in the slot's metadata, and the
//! metadata by its own: `open` checks every used slot's metadata (48 bytes a slot, no
//! vector is read), `get` the values and payload it returns, the int8 pass of a search the
//! codes it scores (a bound computed from damaged codes could rule out the true nearest
//! neighbour), the f32 re-rank and the exact scan the values of what they return, the
//! payload filter the payloads it reads, and [`Store::scrub`](super::Store::scrub)
//! everything. A mismatch is [`StoreError::Corrupt`] naming the file and byte offset.
//!
//! Slots are handed out in order; `used` counts the slots ever handed out (live, dead, or
//! reserved for a write not yet applied, whose metadata is still all zero, which the
//! metadata check accepts as "never applied"). A slot is written once: an upsert writes its
//! values with `pwrite` into a fresh slot and makes them durable before its WAL record
//! names the slot ([`VectorFile`]); an upsert of an existing id moves it to the new slot and
//! leaves the old one dead until compaction rewrites the segments.

mod bytes;
mod file;
mod layout;
mod meta;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use memmap2::{Advice, MmapMut};
use sutra_api::f32_bytes;

use super::error::{IoContext, StoreError};
use super::quant;
use bytes::{as_f32, as_f32_mut, as_i8, as_i8_mut, as_u8};
use file::{Mapping, advise, map};
pub(crate) use file::{SegmentPaths, VectorFile, segment_id_of};
pub(crate) use layout::Layout;
pub(crate) use meta::{PayloadRef, SLOT_META_BYTES, SlotMeta};

pub(crate) struct Segment {
    pub id: u32,
    /// Slots written so far (live or dead).
    pub used: usize,
    /// Written since the last checkpoint; atomic so a checkpoint can flush under a read lock.
    dirty: AtomicBool,
    layout: Layout,
    vectors: MmapMut,
    vector_file: VectorFile,
    meta: MmapMut,
    codes: Option<MmapMut>,
    paths: SegmentPaths,
    read_ahead_window: u64,
}

/// Mapping hints, decided once per store.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MapHints {
    pub huge_pages: bool,
    pub compression: bool,
    /// Bytes one `POSIX_FADV_WILLNEED` may ask for on the store's device (see
    /// [`readahead`](super::readahead)).
    pub read_ahead_window: u64,
}

impl Segment {
    /// Creates the files of a new, empty segment (sparse, so they cost no disk until written).
    pub fn create(
        dir: &Path,
        id: u32,
        layout: Layout,
        hints: MapHints,
    ) -> Result<Segment, StoreError> {
        let paths = SegmentPaths::new(dir, id);
        let codes = hints.compression.then_some(Mapping::Create);
        let segment = Segment::map(id, 0, paths, layout, hints, Mapping::Create, codes)?;
        segment.apply_hints(hints);
        Ok(segment)
    }

    /// Maps the files of an existing segment of which `used` slots were checkpointed, and
    /// checks the metadata of those slots. Builds the int8 file when compression was
    /// switched on since the last run (from values checked against their checksums).
    pub fn open(
        dir: &Path,
        id: u32,
        used: usize,
        layout: Layout,
        hints: MapHints,
        codes_expected: bool,
    ) -> Result<Segment, StoreError> {
        let paths = SegmentPaths::new(dir, id);
        let rebuild_codes = hints.compression && !(codes_expected && paths.codes.exists());
        let codes = match (hints.compression, rebuild_codes) {
            (true, false) => Some(Mapping::Existing),
            (true, true) => Some(Mapping::Create),
            (false, _) => None,
        };
        let mut segment = Segment::map(id, used, paths, layout, hints, Mapping::Existing, codes)?;
        for slot in 0..used {
            segment.verify_meta(slot)?;
        }
        if rebuild_codes {
            segment.will_need_values(0..used);
            segment.quantize_all()?;
        }
        segment.apply_hints(hints);
        Ok(segment)
    }

    /// Maps the vector and metadata files as `files` says, and the int8 file as `codes`
    /// says (`None`: no int8 file). A created segment counts as dirty.
    fn map(
        id: u32,
        used: usize,
        paths: SegmentPaths,
        layout: Layout,
        hints: MapHints,
        files: Mapping,
        codes: Option<Mapping>,
    ) -> Result<Segment, StoreError> {
        let (vectors, file) = map(&paths.vectors, layout.vector_file_bytes, files)?;
        let (meta, _) = map(&paths.meta, layout.meta_file_bytes, files)?;
        let codes = match codes {
            Some(how) => Some(map(&paths.codes, layout.code_file_bytes, how)?.0),
            None => None,
        };
        Ok(Segment {
            id,
            used,
            dirty: AtomicBool::new(files == Mapping::Create),
            layout,
            vectors,
            vector_file: VectorFile::new(file, &paths.vectors, layout.slot_bytes),
            meta,
            codes,
            paths,
            read_ahead_window: hints.read_ahead_window,
        })
    }

    /// Huge pages when asked (the kernel ignores it where THP cannot back file mappings)
    /// and sequential read-ahead on the array that scans read. Reading that array ahead at
    /// start-up is the store's `ReadAhead`: `MADV_WILLNEED` on the mapping would read only
    /// its first read-ahead window.
    fn apply_hints(&self, hints: MapHints) {
        let maps: [Option<&MmapMut>; 3] =
            [Some(&self.vectors), Some(&self.meta), self.codes.as_ref()];
        for map in maps.into_iter().flatten() {
            if hints.huge_pages {
                advise(map, Advice::HugePage);
            }
        }
        let scanned = self.codes.as_ref().unwrap_or(&self.vectors);
        advise(scanned, Advice::Sequential);
        if self.codes.is_some() {
            // Searches read the values only to re-rank a few candidates, so a fault must
            // not read around it: that is a whole read-ahead window (8 MiB on the
            // development VM) per candidate. Passes over all the values ask for them with
            // `will_need_values` instead.
            advise(&self.vectors, Advice::Random);
        }
    }

    /// Asks the kernel to read the values of `slots` ahead, for a pass over them that
    /// follows (scrub, compaction, building codes or checksums): the mapping's own
    /// read-ahead is off with compression.
    pub fn will_need_values(&self, slots: std::ops::Range<usize>) {
        let end = slots.end.min(self.used);
        if slots.start >= end {
            return;
        }
        let slot_bytes = self.layout.slot_bytes as u64;
        super::readahead::will_need_range(
            &self.vector_file.file,
            slots.start as u64 * slot_bytes,
            (end - slots.start) as u64 * slot_bytes,
            self.read_ahead_window,
        );
    }

    /// The file searches scan (the int8 codes with compression, else the f32 values) and
    /// the bytes of it the used slots fill.
    pub fn scanned_file(&self) -> (&Path, u64) {
        let path = if self.codes.is_some() {
            &self.paths.codes
        } else {
            &self.paths.vectors
        };
        (path, (self.used * self.scanned_slot_bytes()) as u64)
    }

    fn scanned_slot_bytes(&self) -> usize {
        if self.codes.is_some() {
            self.layout.code_slot_bytes
        } else {
            self.layout.slot_bytes
        }
    }

    pub fn paths(&self) -> &SegmentPaths {
        &self.paths
    }

    pub fn vector_file(&self) -> &VectorFile {
        &self.vector_file
    }

    /// Byte offset of `slot` in the vector file.
    pub fn vector_offset(&self, slot: usize) -> u64 {
        (slot * self.layout.slot_bytes) as u64
    }

    pub fn slots(&self) -> usize {
        self.layout.slots_per_segment
    }

    pub fn is_full(&self) -> bool {
        self.used == self.layout.slots_per_segment
    }

    pub fn mapped_bytes(&self) -> u64 {
        let codes = self.codes.as_ref().map_or(0, |c| c.len());
        (self.vectors.len() + self.meta.len() + codes) as u64
    }

    /// Metadata of the used slots.
    pub fn metas(&self) -> &[SlotMeta] {
        &self.all_metas()[..self.used]
    }

    fn all_metas(&self) -> &[SlotMeta] {
        // SAFETY: the map is page-aligned (so 8-byte aligned), every bit pattern is a valid
        // SlotMeta (plain integers and floats), and the length is whole SlotMetas.
        let (head, metas, _) = unsafe { self.meta.align_to::<SlotMeta>() };
        debug_assert!(head.is_empty());
        &metas[..self.layout.slots_per_segment]
    }

    /// Writes a vector's little-endian value bytes into its slot through the mapping (the
    /// values of an inline place record; the checkpoint's flush makes them durable).
    pub fn write_values(&mut self, slot: usize, values: &[u8]) {
        let start = slot * self.layout.slot_bytes;
        self.vectors[start..start + values.len()].copy_from_slice(values);
        *self.dirty.get_mut() = true;
    }

    /// Writes `meta` into `slot`, live or dead, with its checksum.
    fn set_meta(&mut self, slot: usize, meta: SlotMeta, live: bool) {
        *self.dirty.get_mut() = true;
        // SAFETY: as in `all_metas`.
        let (head, metas, _) = unsafe { self.meta.align_to_mut::<SlotMeta>() };
        debug_assert!(head.is_empty());
        metas[slot] = meta.sealed(live);
    }

    /// Marks `slot` dead (its id was replaced or deleted).
    pub fn kill(&mut self, slot: usize) {
        let meta = self.all_metas()[slot];
        self.set_meta(slot, meta, false);
    }

    pub fn vector(&self, slot: usize) -> &[f32] {
        let start = slot * self.layout.slot_bytes;
        as_f32(&self.vectors[start..start + self.layout.dim * 4])
    }

    /// Prefetches the int8 codes of `slot` into L2, if the segment has codes and uses the
    /// slot (see [`crate::simd::prefetch_l2`]).
    #[inline]
    pub fn prefetch_codes(&self, slot: usize) {
        if let Some(codes) = self.codes.as_ref()
            && slot < self.used
        {
            let start = slot * self.layout.code_slot_bytes;
            crate::simd::prefetch_l2(&codes[start..start + self.layout.dim]);
        }
    }

    /// The int8 codes of `slot`. Only called when the segment has codes.
    pub fn codes(&self, slot: usize) -> &[i8] {
        as_i8(self.code_bytes(slot))
    }

    /// Writes `values` into `slot`, with its metadata, and marks it live.
    pub fn write_slot(&mut self, slot: usize, id: u64, values: &[f32], payload: PayloadRef) {
        let start = slot * self.layout.slot_bytes;
        let dst = as_f32_mut(&mut self.vectors[start..start + self.layout.dim * 4]);
        dst.copy_from_slice(values);
        self.used = self.used.max(slot + 1);
        self.apply_slot(slot, id, payload, crc32fast::hash(f32_bytes(values)));
    }

    /// Makes `slot`, whose values are already in the vector file, live for `id`: computes
    /// its norm and int8 codes from the stored values and writes its metadata and `crc`,
    /// the checksum of the values its WAL record acknowledged.
    pub fn place_slot(&mut self, slot: usize, id: u64, payload: PayloadRef, crc: u32) {
        self.used = self.used.max(slot + 1);
        self.apply_slot(slot, id, payload, crc);
    }

    /// Makes `slot`, whose values (with checksum `values_crc`) are in place, live for `id`:
    /// derives its norm and int8 codes from the values and seals its metadata.
    fn apply_slot(&mut self, slot: usize, id: u64, payload: PayloadRef, values_crc: u32) {
        let (code_scale, codes_crc) = self.write_codes(slot);
        let norm = {
            let values = self.vector(slot);
            (crate::simd::kernels().dot_f32)(values, values).sqrt()
        };
        let meta = SlotMeta {
            id,
            payload_offset: payload.offset,
            payload_len: payload.len,
            norm,
            code_scale,
            values_crc,
            codes_crc,
            payload_crc: payload.crc,
            ..SlotMeta::default()
        };
        self.set_meta(slot, meta, true);
    }

    /// The stored value bytes of `slot` (for checksums).
    pub fn vector_bytes(&self, slot: usize) -> &[u8] {
        let start = slot * self.layout.slot_bytes;
        &self.vectors[start..start + self.layout.dim * 4]
    }

    /// Checks the metadata of `slot` against its own checksum.
    pub fn verify_meta(&self, slot: usize) -> Result<(), StoreError> {
        if self.all_metas()[slot].intact() {
            return Ok(());
        }
        Err(StoreError::corrupt(
            &self.paths.meta,
            (slot * SLOT_META_BYTES) as u64,
            format!("the metadata of slot {slot} does not match its checksum"),
        ))
    }

    /// Checks the metadata of `slot` and its stored values against their checksums.
    pub fn verify(&self, slot: usize) -> Result<(), StoreError> {
        self.verify_meta(slot)?;
        let meta = &self.all_metas()[slot];
        let at = (self.paths.vectors.as_path(), self.vector_offset(slot));
        check_crc(self.vector_bytes(slot), meta.values_crc, at, || {
            format!("the values of id {} in slot {slot}", meta.id)
        })
    }

    /// Checks the int8 codes of `slot` against their checksum, so no error bound is ever
    /// computed from damaged codes. Only called when the segment has codes.
    #[inline]
    pub fn verify_codes(&self, slot: usize) -> Result<(), StoreError> {
        let meta = &self.all_metas()[slot];
        let at = (
            self.paths.codes.as_path(),
            (slot * self.layout.code_slot_bytes) as u64,
        );
        check_crc(self.code_bytes(slot), meta.codes_crc, at, || {
            format!("the int8 codes of id {} in slot {slot}", meta.id)
        })
    }

    /// Checks everything of `slot` that is stored in the segment: metadata, values and,
    /// with compression, codes.
    pub fn verify_all(&self, slot: usize) -> Result<(), StoreError> {
        self.verify(slot)?;
        if self.codes.is_some() {
            self.verify_codes(slot)?;
        }
        Ok(())
    }

    fn code_bytes(&self, slot: usize) -> &[u8] {
        let codes = self
            .codes
            .as_ref()
            .expect("int8 codes of a segment without codes");
        let start = slot * self.layout.code_slot_bytes;
        &codes[start..start + self.layout.dim]
    }

    /// Quantises the values of `slot` into its codes; returns their scale and checksum
    /// (zeros without compression).
    fn write_codes(&mut self, slot: usize) -> (f32, u32) {
        let layout = self.layout;
        let Some(codes) = self.codes.as_mut() else {
            return (0.0, 0);
        };
        let start = slot * layout.slot_bytes;
        let values = as_f32(&self.vectors[start..start + layout.dim * 4]);
        let at = slot * layout.code_slot_bytes;
        let codes = as_i8_mut(&mut codes[at..at + layout.dim]);
        let scale = quant::quantize(values, codes);
        (scale, crc32fast::hash(as_u8(codes)))
    }

    /// Builds the codes of every applied slot from its values, checking the values first
    /// (codes built from damaged values would match them).
    fn quantize_all(&mut self) -> Result<(), StoreError> {
        for slot in 0..self.used {
            let meta = self.all_metas()[slot];
            if meta == SlotMeta::default() {
                continue;
            }
            self.verify(slot)?;
            let (code_scale, codes_crc) = self.write_codes(slot);
            let rebuilt = SlotMeta {
                code_scale,
                codes_crc,
                ..meta
            };
            self.set_meta(slot, rebuilt, meta.is_live());
        }
        Ok(())
    }

    /// Writes dirty pages of all the maps to disk and waits (msync), so the checkpoint
    /// that follows may drop the WAL records covering them.
    pub fn flush(&self) -> Result<(), StoreError> {
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        self.vectors.flush().at(&self.paths.vectors)?;
        self.meta.flush().at(&self.paths.meta)?;
        if let Some(codes) = &self.codes {
            codes.flush().at(&self.paths.codes)?;
        }
        Ok(())
    }
}

/// `Corrupt` at `at` (file, offset) unless `bytes` hash to `stored`; `what` names them.
fn check_crc(
    bytes: &[u8],
    stored: u32,
    at: (&Path, u64),
    what: impl FnOnce() -> String,
) -> Result<(), StoreError> {
    let found = crc32fast::hash(bytes);
    if found == stored {
        return Ok(());
    }
    Err(StoreError::corrupt(
        at.0,
        at.1,
        format!(
            "{} have checksum {found:#010x}, but its metadata holds {stored:#010x}",
            what()
        ),
    ))
}
