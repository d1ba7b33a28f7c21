//! Store configuration and its validation.

use std::path::PathBuf;

use sutra_core::vector::{MAX_DIMENSION, Metric};

use super::error::StoreError;

/// Largest `k` a search accepts.
pub const MAX_K: usize = 10_000;
/// Default payload limit (64 KiB, the limit the gRPC API documents).
pub const DEFAULT_MAX_PAYLOAD_BYTES: usize = 65_536;
/// Default WAL size that triggers a checkpoint: bounds replay at start-up to well under a
/// second while keeping checkpoints (which msync the segments) rare during bulk ingest.
pub const DEFAULT_CHECKPOINT_WAL_BYTES: u64 = 256 << 20;
/// Default segment file size.
pub const DEFAULT_SEGMENT_BYTES: u64 = 256 << 20;
/// Default [`StoreConfig::inline_value_bytes`]: 128 KiB, 42 vectors of 768 dimensions.
pub const DEFAULT_INLINE_VALUE_BYTES: usize = 128 << 10;
/// Largest encoded size of one upsert batch; a WAL record length is a u32.
pub const MAX_BATCH_BYTES: usize = 1 << 30;

/// How a store is laid out on disk. The server derives it from the platform config.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreConfig {
    /// Directory holding the segments, payloads, manifest and WAL.
    pub dir: PathBuf,
    /// Values per vector; fixed for the life of the store.
    pub dimension: u32,
    /// Similarity metric; fixed for the life of the store.
    pub metric: Metric,
    /// Byte alignment of every vector slot: a power of two, >= 16, <= page size.
    pub alignment: usize,
    /// Size of one segment file; a multiple of `page_size`.
    pub segment_bytes: u64,
    /// Page size of the host (detected, never assumed).
    pub page_size: u64,
    /// Ask for transparent huge pages on the segment mappings.
    pub huge_pages: bool,
    /// Keep int8 copies and scan them first (for hosts short of memory bandwidth).
    pub compression: bool,
    /// Largest payload accepted per vector.
    pub max_payload_bytes: usize,
    /// Checkpoint once the WAL plus the vector values placed since the last checkpoint grow
    /// past this many bytes; this bounds what a restart replays (and reads back to check).
    pub checkpoint_wal_bytes: u64,
    /// Largest upsert batch, in value bytes, whose values go into its WAL record (one
    /// fsync, the WAL's, shared by concurrent writers) instead of straight into its slots
    /// (a segment fsync of its own before the WAL's). 0 places every batch.
    pub inline_value_bytes: usize,
    /// At open, read up to this many bytes of the arrays searches scan (the int8 codes
    /// with compression, else the f32 values) into the page cache in the background, so
    /// the first searches after a restart with a cold cache do not wait on one page
    /// fault's read-ahead at a time (see `readahead`). 0 reads nothing ahead.
    pub read_ahead_bytes: u64,
}

impl StoreConfig {
    /// A config with the defaults: 64-byte alignment, 256 MiB segments, the host page size,
    /// no huge pages, no compression, 64 KiB payloads, checkpoint every 256 MiB of WAL,
    /// the whole scanned array read ahead at open.
    pub fn new(dir: impl Into<PathBuf>, dimension: u32, metric: Metric) -> StoreConfig {
        let page_size = host_page_size();
        StoreConfig {
            dir: dir.into(),
            dimension,
            metric,
            alignment: 64,
            segment_bytes: DEFAULT_SEGMENT_BYTES.div_ceil(page_size) * page_size,
            page_size,
            huge_pages: false,
            compression: false,
            max_payload_bytes: DEFAULT_MAX_PAYLOAD_BYTES,
            checkpoint_wal_bytes: DEFAULT_CHECKPOINT_WAL_BYTES,
            inline_value_bytes: DEFAULT_INLINE_VALUE_BYTES,
            read_ahead_bytes: u64::MAX,
        }
    }

    /// Checks every field; the segment layout derives its sizes from a config that passes.
    pub(crate) fn validate(&self) -> Result<(), StoreError> {
        if self.dimension == 0 || self.dimension > MAX_DIMENSION {
            return Err(StoreError::invalid(
                "dimension",
                format!(
                    "must be between 1 and {MAX_DIMENSION}, got {}",
                    self.dimension
                ),
            ));
        }
        if !self.page_size.is_power_of_two() || self.page_size < 4096 {
            return Err(StoreError::invalid(
                "page_size",
                format!("must be a power of two >= 4096, got {}", self.page_size),
            ));
        }
        let alignment_ok = self.alignment.is_power_of_two()
            && self.alignment >= 16
            && self.alignment as u64 <= self.page_size;
        if !alignment_ok {
            return Err(StoreError::invalid(
                "alignment",
                format!(
                    "must be a power of two between 16 and the page size {}, got {}",
                    self.page_size, self.alignment
                ),
            ));
        }
        if self.segment_bytes == 0 || !self.segment_bytes.is_multiple_of(self.page_size) {
            return Err(StoreError::invalid(
                "segment_bytes",
                format!(
                    "must be a non-zero multiple of the page size {}, got {}",
                    self.page_size, self.segment_bytes
                ),
            ));
        }
        let slot_bytes = (self.dimension as usize * 4).div_ceil(self.alignment) * self.alignment;
        let slots_per_segment = (self.segment_bytes / slot_bytes as u64) as usize;
        if slots_per_segment == 0 {
            return Err(StoreError::invalid(
                "segment_bytes",
                format!(
                    "{} bytes cannot hold one vector slot of {slot_bytes} bytes",
                    self.segment_bytes
                ),
            ));
        }
        if self.max_payload_bytes > u32::MAX as usize {
            return Err(StoreError::invalid(
                "max_payload_bytes",
                format!("must fit in 32 bits, got {}", self.max_payload_bytes),
            ));
        }
        Ok(())
    }
}

fn host_page_size() -> u64 {
    // SAFETY: sysconf has no preconditions; it returns -1 on error, handled below.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if size > 0 { size as u64 } else { 4096 }
}
