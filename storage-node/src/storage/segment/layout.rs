//! The byte sizes of a segment's slots and files, derived from a validated config.

use super::meta::SLOT_META_BYTES;
use crate::storage::config::StoreConfig;
use crate::storage::error::StoreError;

/// Byte sizes derived from a validated config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    pub dim: usize,
    pub alignment: usize,
    /// The page size the file sizes are rounded to.
    pub page_size: u64,
    /// Bytes per f32 vector slot (dim * 4 rounded up to the alignment).
    pub slot_bytes: usize,
    /// Bytes per int8 slot (dim rounded up to the alignment).
    pub code_slot_bytes: usize,
    pub slots_per_segment: usize,
    pub vector_file_bytes: usize,
    pub meta_file_bytes: usize,
    pub code_file_bytes: usize,
}

impl Layout {
    /// Checks every field of `cfg` and derives the slot layout.
    pub fn new(cfg: &StoreConfig) -> Result<Layout, StoreError> {
        cfg.validate()?;
        let dim = cfg.dimension as usize;
        let slot_bytes = round_up(dim * 4, cfg.alignment);
        let slots_per_segment = (cfg.segment_bytes / slot_bytes as u64) as usize;
        let page = cfg.page_size as usize;
        Ok(Layout {
            dim,
            alignment: cfg.alignment,
            page_size: cfg.page_size,
            slot_bytes,
            code_slot_bytes: round_up(dim, cfg.alignment),
            slots_per_segment,
            vector_file_bytes: cfg.segment_bytes as usize,
            meta_file_bytes: round_up(slots_per_segment * SLOT_META_BYTES, page),
            code_file_bytes: round_up(slots_per_segment * round_up(dim, cfg.alignment), page),
        })
    }
}

fn round_up(n: usize, multiple: usize) -> usize {
    n.div_ceil(multiple) * multiple
}
