//! Exact top-k scans over the segments, f32 or int8-then-re-rank.
//!
//! A scan walks each segment's slots in order, so the vectors are read as one sequential
//! stream; dead slots and ids outside the filter's range are skipped using the metadata
//! array alone. A batch of queries is scored block by block: each block of
//! [`BLOCK_SLOTS`] vectors (192 KiB at 768 dims, well inside L2) is scored against every
//! query before the next is read, so memory is read once per batch, not once per query.
//! The payload-prefix filter costs a `pread`, so it is checked only for vectors whose
//! score would enter the top-k.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::error::StoreError;
use super::payload::PayloadFile;
use super::quant;
use super::segment::{PayloadRef, Segment, SlotMeta};
use super::{Hit, SearchFilter};
use crate::simd::{Kernels, Metric};

/// Vectors scored against all queries of a batch before moving on.
pub(crate) const BLOCK_SLOTS: usize = 64;
/// The int8 pass keeps `k * RERANK_FACTOR` candidates (at least [`MIN_CANDIDATES`]) for
/// the f32 re-rank: int8 scores err by a fraction of the gap between near neighbours, so
/// a generous candidate list recovers the exact order at negligible cost.
pub(crate) const RERANK_FACTOR: usize = 10;
pub(crate) const MIN_CANDIDATES: usize = 100;

/// A query ready to score: normalised for cosine, with int8 codes when compression is on.
pub(crate) struct PreparedQuery {
    values: Vec<f32>,
    sq_norm: f32,
    codes: Vec<i8>,
    code_scale: f32,
}

impl PreparedQuery {
    pub fn new(query: &[f32], metric: Metric, with_codes: bool) -> PreparedQuery {
        let sq_norm: f32 = query.iter().map(|v| v * v).sum();
        let values: Vec<f32> = match metric {
            Metric::Cosine => {
                let inverse = 1.0 / sq_norm.sqrt();
                query.iter().map(|v| v * inverse).collect()
            }
            Metric::Dot | Metric::L2 => query.to_vec(),
        };
        let mut codes = vec![0i8; if with_codes { values.len() } else { 0 }];
        let code_scale = if with_codes {
            quant::quantize(&values, &mut codes)
        } else {
            0.0
        };
        PreparedQuery {
            values,
            sq_norm,
            codes,
            code_scale,
        }
    }
}

/// Scores with the chosen kernels; every metric yields "higher is more similar".
#[derive(Clone, Copy)]
pub(crate) struct Scorer {
    pub metric: Metric,
    pub kernels: &'static Kernels,
}

impl Scorer {
    #[inline]
    pub fn exact(&self, q: &PreparedQuery, v: &[f32], meta: &SlotMeta) -> f32 {
        match self.metric {
            Metric::Dot => (self.kernels.dot_f32)(&q.values, v),
            Metric::Cosine => divide_by_norm((self.kernels.dot_f32)(&q.values, v), meta.norm),
            Metric::L2 => -(self.kernels.l2sq_f32)(&q.values, v),
        }
    }

    #[inline]
    fn approximate(&self, q: &PreparedQuery, codes: &[i8], meta: &SlotMeta) -> f32 {
        let dot = (self.kernels.dot_i8)(&q.codes, codes) as f32 * q.code_scale * meta.code_scale;
        match self.metric {
            Metric::Dot => dot,
            Metric::Cosine => divide_by_norm(dot, meta.norm),
            Metric::L2 => -(q.sq_norm + meta.norm * meta.norm - 2.0 * dot),
        }
    }
}

/// Cosine of a unit query with a vector of norm `norm`; 0 for the zero vector, as the
/// reference kernel defines it.
#[inline]
fn divide_by_norm(dot: f32, norm: f32) -> f32 {
    if norm == 0.0 { 0.0 } else { dot / norm }
}

/// Where a slot lives: segment index and slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SlotLoc {
    pub segment: u32,
    pub slot: u32,
}

#[derive(Clone, Copy)]
struct Entry {
    score: f32,
    id: u64,
    at: SlotLoc,
}

/// Orders entries worst first, so the heap's top is the entry to evict. Worse means a
/// lower score, or an equal score and a higher id (ties break towards the lower id).
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .score
            .total_cmp(&self.score)
            .then(self.id.cmp(&other.id))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Entry {}

/// The best `k` entries seen so far.
pub(crate) struct TopK {
    k: usize,
    heap: BinaryHeap<Entry>,
}

impl TopK {
    pub fn new(k: usize) -> TopK {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
        }
    }

    #[inline]
    fn accepts(&self, score: f32, id: u64) -> bool {
        match self.heap.peek() {
            Some(worst) if self.heap.len() == self.k => {
                Entry {
                    score,
                    id,
                    at: worst.at,
                } < *worst
            }
            _ => true,
        }
    }

    #[inline]
    fn push(&mut self, entry: Entry) {
        if self.heap.len() == self.k {
            self.heap.pop();
        }
        self.heap.push(entry);
    }

    fn into_best_first(self) -> Vec<Entry> {
        self.heap.into_sorted_vec()
    }
}

/// The read-only view a scan needs.
pub(crate) struct ScanView<'a> {
    pub segments: &'a [Segment],
    pub payloads: &'a PayloadFile,
    pub filter: &'a SearchFilter,
    pub scorer: Scorer,
}

/// Result of scanning for one query.
pub(crate) struct QueryOutcome {
    pub hits: Vec<Hit>,
    pub scanned: u64,
}

impl ScanView<'_> {
    /// Exact top-k for each query by a full f32 scan.
    pub fn exact(
        &self,
        queries: &[PreparedQuery],
        k: usize,
    ) -> Result<Vec<QueryOutcome>, StoreError> {
        let scorer = self.scorer;
        let (tops, scanned) = self.scan(queries, k, |q, segment, slot, meta| {
            scorer.exact(q, segment.vector(slot), meta)
        })?;
        Ok(tops
            .into_iter()
            .map(|top| outcome(top.into_best_first(), scanned))
            .collect())
    }

    /// Top-k by an int8 scan for candidates, then an f32 re-rank of the candidates.
    pub fn quantized(
        &self,
        queries: &[PreparedQuery],
        k: usize,
    ) -> Result<Vec<QueryOutcome>, StoreError> {
        let scorer = self.scorer;
        let candidates = (k * RERANK_FACTOR).max(MIN_CANDIDATES);
        let (tops, scanned) = self.scan(queries, candidates, |q, segment, slot, meta| {
            scorer.approximate(q, segment.codes(slot), meta)
        })?;
        let outcomes = queries.iter().zip(tops).map(|(q, top)| {
            let mut exact = TopK::new(k);
            for candidate in top.into_best_first() {
                let segment = &self.segments[candidate.at.segment as usize];
                let slot = candidate.at.slot as usize;
                let score = scorer.exact(q, segment.vector(slot), &segment.metas()[slot]);
                if exact.accepts(score, candidate.id) {
                    exact.push(Entry { score, ..candidate });
                }
            }
            outcome(exact.into_best_first(), scanned)
        });
        Ok(outcomes.collect())
    }

    fn scan(
        &self,
        queries: &[PreparedQuery],
        k: usize,
        score: impl Fn(&PreparedQuery, &Segment, usize, &SlotMeta) -> f32,
    ) -> Result<(Vec<TopK>, u64), StoreError> {
        let mut tops: Vec<TopK> = queries.iter().map(|_| TopK::new(k)).collect();
        let mut scanned = 0u64;
        for (segment_index, segment) in self.segments.iter().enumerate() {
            let metas = segment.metas();
            for block_start in (0..metas.len()).step_by(BLOCK_SLOTS) {
                let block = block_start..(block_start + BLOCK_SLOTS).min(metas.len());
                scanned += metas[block.clone()]
                    .iter()
                    .filter(|m| self.admits(m))
                    .count() as u64;
                for (q, top) in queries.iter().zip(tops.iter_mut()) {
                    for slot in block.clone() {
                        let meta = &metas[slot];
                        if !self.admits(meta) {
                            continue;
                        }
                        let score = score(q, segment, slot, meta);
                        if top.accepts(score, meta.id) && self.payload_matches(meta)? {
                            let at = SlotLoc {
                                segment: segment_index as u32,
                                slot: slot as u32,
                            };
                            top.push(Entry {
                                score,
                                id: meta.id,
                                at,
                            });
                        }
                    }
                }
            }
        }
        Ok((tops, scanned))
    }

    #[inline]
    fn admits(&self, meta: &SlotMeta) -> bool {
        meta.is_live()
            && self
                .filter
                .id_range
                .as_ref()
                .is_none_or(|range| range.contains(&meta.id))
    }

    fn payload_matches(&self, meta: &SlotMeta) -> Result<bool, StoreError> {
        match &self.filter.payload_prefix {
            None => Ok(true),
            Some(prefix) if prefix.is_empty() => Ok(true),
            Some(prefix) => {
                let at = PayloadRef {
                    offset: meta.payload_offset,
                    len: meta.payload_len,
                };
                self.payloads.starts_with(at, prefix)
            }
        }
    }
}

fn outcome(entries: Vec<Entry>, scanned: u64) -> QueryOutcome {
    let hits = entries
        .into_iter()
        .map(|e| Hit {
            id: e.id,
            score: e.score,
        })
        .collect();
    QueryOutcome { hits, scanned }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(score: f32, id: u64) -> Entry {
        Entry {
            score,
            id,
            at: SlotLoc {
                segment: 0,
                slot: 0,
            },
        }
    }

    #[test]
    fn keeps_the_best_k_with_ties_to_the_lower_id() {
        let mut top = TopK::new(3);
        for (score, id) in [(1.0, 1), (5.0, 2), (3.0, 3), (5.0, 0), (2.0, 4), (0.5, 5)] {
            if top.accepts(score, id) {
                top.push(entry(score, id));
            }
        }
        let ids: Vec<u64> = top.into_best_first().iter().map(|e| e.id).collect();
        assert_eq!(ids, [0, 2, 3]);
    }
}
