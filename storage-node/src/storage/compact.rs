//! Compaction: rewrite the live slots into fresh segments and a fresh payload file.
//!
//! Crash-safe at every step because nothing existing is modified until the new manifest
//! is in place: new segments take ids the manifest has not handed out and the payload file
//! the next generation number, so a crash before the manifest rename leaves only files
//! that the next open deletes as orphans (no logged record names them); a crash after it
//! leaves the old files as orphans instead. The WAL needs no rewrite: the records the new
//! manifest's checkpoint does not cover come after it, and name the new segments.
//!
//! Two steps, so searches go on while the live vectors are copied: [`prepare`] reads the
//! state (the store holds its read lock, with upserts drained and applies paused), and
//! [`install`] swaps the copy in under the write lock.

use super::error::StoreError;
use super::manifest::{self, payload_file_name};
use super::payload::PayloadFile;
use super::search::SlotLoc;
use super::segment::Segment;
use super::state::State;
use std::collections::HashMap;

/// When a server compacts on its own: once dead slots (replaced or deleted vectors) are
/// at least `dead_ratio` of the slots handed out *and* hold at least `min_dead_bytes`, so a
/// small store is not rewritten for a handful of deletes and a large one does not keep
/// gigabytes of dead values. A `dead_ratio` of 0 turns it off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompactionPolicy {
    pub dead_ratio: f64,
    pub min_dead_bytes: u64,
}

/// Compact once 30 % of the slots are dead...
pub const DEFAULT_COMPACT_DEAD_RATIO: f64 = 0.3;
/// ...and they hold at least 64 MiB (~22,000 768-dim vectors).
pub const DEFAULT_COMPACT_MIN_DEAD_BYTES: u64 = 64 << 20;

impl Default for CompactionPolicy {
    fn default() -> CompactionPolicy {
        CompactionPolicy {
            dead_ratio: DEFAULT_COMPACT_DEAD_RATIO,
            min_dead_bytes: DEFAULT_COMPACT_MIN_DEAD_BYTES,
        }
    }
}

impl CompactionPolicy {
    /// A policy that never compacts on its own.
    pub const OFF: CompactionPolicy = CompactionPolicy {
        dead_ratio: 0.0,
        min_dead_bytes: 0,
    };

    /// Whether `used` slots of `slot_bytes` each, `live` of them live, call for compaction.
    pub fn due(&self, used: u64, live: u64, slot_bytes: u64) -> bool {
        if self.dead_ratio <= 0.0 || used == 0 {
            return false;
        }
        let dead = used.saturating_sub(live);
        dead > 0
            && dead.saturating_mul(slot_bytes) >= self.min_dead_bytes
            && dead as f64 >= self.dead_ratio * used as f64
    }
}

/// What a compaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CompactionReport {
    /// Live vectors copied.
    pub vectors_kept: u64,
    /// Dead slots dropped.
    pub slots_reclaimed: u64,
    pub segments_before: u64,
    pub segments_after: u64,
    /// Bytes of segment and payload files before and after.
    pub bytes_before: u64,
    pub bytes_after: u64,
}

/// The live vectors copied into fresh files, ready to install.
pub(crate) struct Prepared {
    report: CompactionReport,
    rewrite: Option<(Rewrite, u32)>,
}

/// Copies the live slots and payloads of `state` into new segments and a new payload
/// file, durably; changes nothing `state` uses.
pub(crate) fn prepare(state: &State) -> Result<Prepared, StoreError> {
    let mut report = CompactionReport {
        vectors_kept: state.live(),
        slots_reclaimed: state.used_slots() - state.live(),
        segments_before: state.segments.len() as u64,
        bytes_before: disk_bytes(state),
        ..CompactionReport::default()
    };
    if report.slots_reclaimed == 0 && live_payload_bytes(state) == state.payloads.len() {
        report.segments_after = report.segments_before;
        report.bytes_after = report.bytes_before;
        return Ok(Prepared {
            report,
            rewrite: None,
        });
    }
    let generation = state.payload_generation + 1;
    let payloads = PayloadFile::open(&state.dir.join(payload_file_name(generation)), 0)?;
    let mut rewrite = Rewrite {
        payloads,
        segments: Vec::new(),
        index: HashMap::with_capacity(state.index.len()),
        next_segment_id: state.next_segment_id,
    };
    rewrite.copy_live(state)?;
    for segment in &rewrite.segments {
        segment.flush()?;
    }
    rewrite.payloads.sync()?;
    Ok(Prepared {
        report,
        rewrite: Some((rewrite, generation)),
    })
}

/// Swaps a prepared copy into `state` (which must not have changed since `prepare`) and
/// writes the manifest; `checkpoint_lsn` is the LSN the state reflects.
pub(crate) fn install(
    state: &mut State,
    prepared: Prepared,
    checkpoint_lsn: u64,
) -> Result<CompactionReport, StoreError> {
    let Prepared {
        mut report,
        rewrite,
    } = prepared;
    let Some((rewrite, generation)) = rewrite else {
        return Ok(report);
    };
    let old_segments = std::mem::replace(&mut state.segments, rewrite.segments);
    let old_payloads = std::mem::replace(&mut state.payloads, rewrite.payloads);
    let old_generation = std::mem::replace(&mut state.payload_generation, generation);
    let old_next_segment_id =
        std::mem::replace(&mut state.next_segment_id, rewrite.next_segment_id);
    let old_index = std::mem::replace(&mut state.index, rewrite.index);
    if let Err(error) = manifest::store(&state.dir, &state.manifest(checkpoint_lsn)) {
        state.segments = old_segments;
        state.payloads = old_payloads;
        state.payload_generation = old_generation;
        state.next_segment_id = old_next_segment_id;
        state.index = old_index;
        return Err(error);
    }
    remove_files(&old_segments, &old_payloads)?;
    manifest::sync_dir(&state.dir)?;
    report.segments_after = state.segments.len() as u64;
    report.bytes_after = disk_bytes(state);
    Ok(report)
}

struct Rewrite {
    payloads: PayloadFile,
    segments: Vec<Segment>,
    index: HashMap<u64, SlotLoc>,
    next_segment_id: u32,
}

impl Rewrite {
    fn copy_live(&mut self, state: &State) -> Result<(), StoreError> {
        for segment in &state.segments {
            segment.will_need_values(0..segment.used);
            for (slot, meta) in segment.metas().iter().enumerate() {
                if !meta.is_live() {
                    continue;
                }
                // Copying damaged values would give them a fresh, matching checksum.
                segment.verify(slot)?;
                let payload = state.payloads.read(meta.payload())?;
                let payload = self.payloads.append(&payload)?;
                let at = self.allocate(state)?;
                self.segments[at.segment as usize].write_slot(
                    at.slot as usize,
                    meta.id,
                    segment.vector(slot),
                    payload,
                );
                self.index.insert(meta.id, at);
            }
        }
        Ok(())
    }

    fn allocate(&mut self, state: &State) -> Result<SlotLoc, StoreError> {
        if self.segments.last().is_none_or(Segment::is_full) {
            self.segments.push(Segment::create(
                &state.dir,
                self.next_segment_id,
                state.layout,
                state.hints,
            )?);
            self.next_segment_id += 1;
        }
        let segment_index = self.segments.len() - 1;
        let segment = &mut self.segments[segment_index];
        segment.used += 1;
        Ok(SlotLoc {
            segment: segment_index as u32,
            slot: (segment.used - 1) as u32,
        })
    }
}

fn live_payload_bytes(state: &State) -> u64 {
    let metas = state.segments.iter().flat_map(|s| s.metas());
    metas
        .filter(|m| m.is_live())
        .map(|m| u64::from(m.payload_len))
        .sum()
}

/// Bytes the segment and payload files occupy on disk (allocated blocks, as the files
/// are sparse).
fn disk_bytes(state: &State) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let segment_paths = state
        .segments
        .iter()
        .flat_map(|s| s.paths().all().map(|p| p.to_path_buf()));
    let paths = segment_paths.chain(std::iter::once(state.payloads.path().to_path_buf()));
    paths
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.blocks() * 512)
        .sum()
}

fn remove_files(segments: &[Segment], payloads: &PayloadFile) -> Result<(), StoreError> {
    use super::error::IoContext;
    for segment in segments {
        for path in segment.paths().all() {
            match std::fs::remove_file(path) {
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                result => result.at(path)?,
            }
        }
    }
    std::fs::remove_file(payloads.path()).at(payloads.path())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLOT: u64 = 3072;

    #[test]
    fn the_policy_needs_both_the_ratio_and_the_bytes() {
        let policy = CompactionPolicy {
            dead_ratio: 0.3,
            min_dead_bytes: 250 * SLOT,
        };
        // 30 % dead and 300 slots' worth: due.
        assert!(policy.due(1000, 700, SLOT));
        // Enough bytes, just under the ratio.
        assert!(!policy.due(1000, 701, SLOT));
        // The ratio, but 240 slots are too few bytes; 250 are enough.
        assert!(!policy.due(800, 560, SLOT));
        assert!(policy.due(833, 583, SLOT));
        // Plenty of bytes, too small a share.
        assert!(!policy.due(100_000, 90_000, SLOT));
        // Everything deleted.
        assert!(policy.due(1000, 0, SLOT));
    }

    #[test]
    fn an_empty_or_clean_store_is_never_due() {
        let eager = CompactionPolicy {
            dead_ratio: 0.01,
            min_dead_bytes: 0,
        };
        assert!(!eager.due(0, 0, SLOT));
        assert!(!eager.due(10, 10, SLOT));
        assert!(eager.due(10, 9, SLOT));
    }

    #[test]
    fn a_zero_ratio_turns_it_off() {
        assert!(!CompactionPolicy::OFF.due(1000, 0, SLOT));
        let off = CompactionPolicy {
            dead_ratio: 0.0,
            min_dead_bytes: 0,
        };
        assert!(!off.due(1000, 1, SLOT));
    }

    #[test]
    fn the_default_waits_for_64_mib_and_30_percent() {
        let policy = CompactionPolicy::default();
        let slot = 768 * 4;
        let dead_for_64_mib = (64u64 << 20).div_ceil(slot);
        let used = dead_for_64_mib * 3;
        assert!(policy.due(used, used - dead_for_64_mib, slot));
        assert!(!policy.due(used, used - dead_for_64_mib + 1, slot));
    }
}
