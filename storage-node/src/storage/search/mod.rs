//! Exact top-k scans over the segments: f32, or int8 with error bounds and an f32 re-rank.
//!
//! A scan walks each segment's slots in order, so the vectors are read as one sequential
//! stream; dead slots and ids outside the filter's range are skipped using the metadata
//! array alone. A batch of queries is scored block by block: each block of
//! [`BLOCK_SLOTS`] vectors (192 KiB at 768 dims, well inside L2) is scored against every
//! query before the next is read, so memory is read once per batch, not once per query.
//! The payload-prefix filter costs a `pread`, so it is checked only for vectors whose
//! score would enter the top-k.
//!
//! With compression the int8 pass is still exact. Each int8 score comes with a margin
//! that provably contains the f32 score ([`Bounds`] derives it from the quantisation step
//! and from the rounding of both kernels). The pass keeps the `k` best lower bounds as a
//! threshold and collects every vector whose upper bound reaches it; only those are read
//! and scored in f32, best upper bound first, until no remaining one can enter the top-k.
//! The result is the f32 scan's result, hit for hit and score for score, while the scan
//! reads the 1-byte codes instead of the 4-byte values.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use sutra_core::vector::Metric;

use super::error::StoreError;
use super::payload::PayloadFile;
use super::quant;
use super::segment::{Segment, SlotMeta};
use super::{Hit, SearchFilter};
use crate::simd::Kernels;

/// Vectors scored against all queries of a batch before moving on.
pub(crate) const BLOCK_SLOTS: usize = 64;
/// Up to this many candidates are re-ranked best upper bound first, stopping as soon as
/// none left can enter the top-k; more (data packed tighter than the int8 step) are all
/// scored in storage order, so that the reads stay sequential.
pub(crate) const RANKED_RERANK_MAX: usize = 1024;
/// The candidate list is pruned against the current threshold when it reaches this size.
const PRUNE_AT: usize = 4096;
/// How far ahead of its reads the int8 pass prefetches (8 KiB: 11 slots at 768 dims). From
/// 6 to 24 KiB it made no difference; without it the scan took a fifth longer.
const PREFETCH_AHEAD_BYTES: usize = 8 << 10;

/// A query ready to score: normalised for cosine, with int8 codes and their error bounds
/// when compression is on.
pub(crate) struct PreparedQuery {
    values: Vec<f32>,
    sq_norm: f32,
    codes: Vec<i8>,
    code_scale: f32,
    bounds: Bounds,
}

/// What bounds the gap between a vector's int8 score and its f32 score, for one query.
///
/// With `v̂ = s_v·c_v` and `q̂ = s_q·c_q` the dequantised vectors, `|v_i - v̂_i| ≤ s_v/2` per
/// element and `‖v̂‖ ≤ ‖v‖ + (s_v/2)·√d`, so
/// `|q·v - q̂·v̂| ≤ |q·(v - v̂)| + |(q - q̂)·v̂| ≤ ‖q‖₁·s_v/2 + ‖q - q̂‖·(‖v‖ + (s_v/2)·√d)`.
/// On top of that both sides are computed in f32: a dot product of length `d` errs by at
/// most `d·u·‖q‖·‖v‖` (unit roundoff `u = 2⁻²⁴`), and the L2 forms by `d·u·(‖q‖ + ‖v‖)²`;
/// the margin allows `4·(d + 8)·u` for that, twice what the stored norm, the scales and the
/// final products add to it. The half step is widened a little for the rounding inside
/// [`quant::quantize`].
#[derive(Clone, Copy, Default)]
struct Bounds {
    /// `‖q‖₁·h + ‖q - q̂‖·√d·h`: the quantisation error per unit of `s_v`.
    per_scale: f32,
    /// `‖q - q̂‖`: the quantisation error per unit of `‖v‖`.
    residual: f32,
    /// `‖q‖`.
    norm: f32,
    /// `√d·h`: the bound on `‖v - v̂‖` per unit of `s_v`.
    root_half: f32,
    /// The allowance for f32 rounding, relative.
    rounding: f32,
}

/// The quantisation half step, widened for the rounding of the scale and its inverse.
const HALF_STEP: f64 = 0.5 * (1.0 + 1e-4);

impl Bounds {
    fn new(values: &[f32], codes: &[i8], code_scale: f32) -> Bounds {
        let (mut l1, mut sq, mut residual_sq) = (0.0f64, 0.0f64, 0.0f64);
        for (&v, &c) in values.iter().zip(codes) {
            let v = f64::from(v);
            l1 += v.abs();
            sq += v * v;
            let e = v - f64::from(code_scale) * f64::from(c);
            residual_sq += e * e;
        }
        let d = values.len() as f64;
        let root_half = d.sqrt() * HALF_STEP;
        let residual = residual_sq.sqrt();
        // Widen every f64 figure so that rounding it to f32 cannot shrink it.
        let up = |x: f64| (x * (1.0 + 1e-6)) as f32;
        Bounds {
            per_scale: up(l1 * HALF_STEP + residual * root_half),
            residual: up(residual),
            norm: up(sq.sqrt()),
            root_half: up(root_half),
            rounding: up(4.0 * (d + 8.0) * f64::from(f32::EPSILON) / 2.0),
        }
    }

    /// The largest possible gap between `approximate` and `exact` for a vector with
    /// `meta`, in the metric's score units; infinite when the vector has no codes.
    #[inline]
    fn margin(&self, metric: Metric, meta: &SlotMeta) -> f32 {
        let (scale, norm) = (meta.code_scale, meta.norm);
        if metric == Metric::Cosine && norm == 0.0 {
            // Both sides score the zero vector exactly 0.
            return 0.0;
        }
        if scale == 0.0 {
            // No codes, or a vector too small for a nonzero scale: always re-ranked.
            return f32::INFINITY;
        }
        // A norm that underflowed to 0 is bounded instead by 127·√d·s_v ≥ ‖v̂‖.
        let norm = if norm > 0.0 {
            norm
        } else {
            scale * self.root_half * 254.0
        };
        let quantisation = scale * self.per_scale + norm * self.residual;
        let dequantised_norm = norm + scale * self.root_half;
        let rounding = self.rounding * self.norm * dequantised_norm;
        match metric {
            Metric::Dot => quantisation + rounding,
            Metric::Cosine => (quantisation + rounding) / norm,
            Metric::L2 => {
                let reach = self.norm + dequantised_norm;
                2.0 * quantisation + self.rounding * reach * reach
            }
        }
    }
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
        let (code_scale, bounds) = if with_codes {
            let scale = quant::quantize(&values, &mut codes);
            (scale, Bounds::new(&values, &codes, scale))
        } else {
            (0.0, Bounds::default())
        };
        PreparedQuery {
            values,
            sq_norm,
            codes,
            code_scale,
            bounds,
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

    /// Whether no entry scoring at most `score` can enter (the top is full and its worst
    /// scores higher; an equal score might still win on a lower id).
    #[inline]
    fn excludes(&self, score: f32) -> bool {
        self.heap.len() == self.k && self.heap.peek().is_some_and(|worst| worst.score > score)
    }

    /// The k-th best score, or -∞ while fewer than `k` are held.
    #[inline]
    fn kth(&self) -> f32 {
        match self.heap.peek() {
            Some(worst) if self.heap.len() == self.k => worst.score,
            _ => f32::NEG_INFINITY,
        }
    }

    fn into_best_first(self) -> Vec<Entry> {
        self.heap.into_sorted_vec()
    }
}

/// One query's state in the bounded int8 pass.
struct Bounded {
    /// The `k` best lower bounds: `k` vectors score at least `lower.kth()` in f32, so no
    /// vector whose upper bound is below it can be in the top-k.
    lower: TopK,
    /// Vectors whose upper bound (their entry's score) reached the threshold when seen.
    candidates: Vec<Entry>,
    prune_at: usize,
}

impl Bounded {
    fn new(k: usize) -> Bounded {
        Bounded {
            lower: TopK::new(k),
            candidates: Vec::new(),
            prune_at: PRUNE_AT,
        }
    }

    #[inline]
    fn threshold(&self) -> f32 {
        self.lower.kth()
    }

    #[inline]
    fn collect(&mut self, candidate: Entry) {
        self.candidates.push(candidate);
        if self.candidates.len() >= self.prune_at {
            self.prune();
            self.prune_at = (2 * self.candidates.len()).max(PRUNE_AT);
        }
    }

    /// Drops the candidates the threshold has since ruled out.
    fn prune(&mut self) {
        let threshold = self.threshold();
        self.candidates.retain(|c| c.score >= threshold);
    }

    fn into_candidates(mut self) -> Vec<Entry> {
        self.prune();
        self.candidates
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
    /// Vectors scored in f32 after the int8 pass (0 for an f32 scan).
    pub reranked: u64,
}

impl ScanView<'_> {
    /// Exact top-k for each query by a full f32 scan.
    pub fn exact(
        &self,
        queries: &[PreparedQuery],
        k: usize,
    ) -> Result<Vec<QueryOutcome>, StoreError> {
        let scorer = self.scorer;
        let mut tops: Vec<TopK> = queries.iter().map(|_| TopK::new(k)).collect();
        let scanned = self.visit(queries, &mut tops, None, |q, top, segment, at, meta| {
            let score = scorer.exact(q, segment.vector(at.slot as usize), meta);
            if top.accepts(score, meta.id) && self.payload_matches(meta)? {
                top.push(Entry {
                    score,
                    id: meta.id,
                    at,
                });
            }
            Ok(())
        })?;
        tops.into_iter()
            .map(|top| {
                let hits = top.into_best_first();
                self.verify_values(&hits)?;
                Ok(outcome(hits, scanned, 0))
            })
            .collect()
    }

    /// Exact top-k for each query by an int8 scan with error bounds, then an f32 re-rank
    /// of the vectors the bounds cannot rule out (the module header says why it is exact).
    pub fn quantized(
        &self,
        queries: &[PreparedQuery],
        k: usize,
    ) -> Result<Vec<QueryOutcome>, StoreError> {
        let scorer = self.scorer;
        let mut states: Vec<Bounded> = queries.iter().map(|_| Bounded::new(k)).collect();
        let dim = queries.first().map_or(1, |q| q.codes.len().max(1));
        let ahead = PREFETCH_AHEAD_BYTES.div_ceil(dim);
        let scanned = self.visit(
            queries,
            &mut states,
            Some(ahead),
            |q, state, segment, at, meta| {
                let approximate = scorer.approximate(q, segment.codes(at.slot as usize), meta);
                let margin = q.bounds.margin(scorer.metric, meta);
                let upper = approximate + margin;
                // NaN-free: inputs are finite, and an infinite margin only widens `upper`.
                if upper < state.threshold() || !self.payload_matches(meta)? {
                    return Ok(());
                }
                let lower = approximate - margin;
                if state.lower.accepts(lower, meta.id) {
                    state.lower.push(Entry {
                        score: lower,
                        id: meta.id,
                        at,
                    });
                }
                state.collect(Entry {
                    score: upper,
                    id: meta.id,
                    at,
                });
                Ok(())
            },
        )?;
        let outcomes = queries.iter().zip(states).map(|(q, state)| {
            let (top, reranked) = self.rerank(q, k, state.into_candidates())?;
            Ok(outcome(top.into_best_first(), scanned, reranked))
        });
        outcomes.collect()
    }

    /// The exact top-k among `candidates` (entries scored by their upper bound), and how
    /// many were scored.
    fn rerank(
        &self,
        q: &PreparedQuery,
        k: usize,
        mut candidates: Vec<Entry>,
    ) -> Result<(TopK, u64), StoreError> {
        let mut top = TopK::new(k);
        let mut reranked = 0;
        let ranked = candidates.len() <= RANKED_RERANK_MAX;
        if ranked {
            candidates.sort_unstable_by(|a, b| b.score.total_cmp(&a.score));
        } else {
            candidates.sort_unstable_by_key(|c| (c.at.segment, c.at.slot));
        }
        for candidate in candidates {
            if ranked && top.excludes(candidate.score) {
                break;
            }
            let segment = &self.segments[candidate.at.segment as usize];
            let slot = candidate.at.slot as usize;
            segment.verify(slot)?;
            let score = self
                .scorer
                .exact(q, segment.vector(slot), &segment.metas()[slot]);
            reranked += 1;
            if top.accepts(score, candidate.id) {
                top.push(Entry { score, ..candidate });
            }
        }
        Ok((top, reranked))
    }

    /// Calls `each` for every admitted slot and every query, block by block (see the
    /// module header), and returns how many slots were admitted. With `prefetch_codes`
    /// (the int8 pass), the first query's pass over a block prefetches the int8 codes that
    /// many slots ahead and checks each admitted slot's codes against their checksum, so
    /// no bound is computed from damaged codes.
    fn visit<S>(
        &self,
        queries: &[PreparedQuery],
        states: &mut [S],
        prefetch_codes: Option<usize>,
        mut each: impl FnMut(
            &PreparedQuery,
            &mut S,
            &Segment,
            SlotLoc,
            &SlotMeta,
        ) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        let mut scanned = 0u64;
        for (segment_index, segment) in self.segments.iter().enumerate() {
            let metas = segment.metas();
            for block_start in (0..metas.len()).step_by(BLOCK_SLOTS) {
                let block = block_start..(block_start + BLOCK_SLOTS).min(metas.len());
                scanned += metas[block.clone()]
                    .iter()
                    .filter(|m| self.admits(m))
                    .count() as u64;
                for (index, (q, state)) in queries.iter().zip(states.iter_mut()).enumerate() {
                    for slot in block.clone() {
                        if let Some(ahead) = prefetch_codes
                            && index == 0
                        {
                            segment.prefetch_codes(slot + ahead);
                        }
                        let meta = &metas[slot];
                        if !self.admits(meta) {
                            continue;
                        }
                        if prefetch_codes.is_some() && index == 0 {
                            segment.verify_codes(slot)?;
                        }
                        let at = SlotLoc {
                            segment: segment_index as u32,
                            slot: slot as u32,
                        };
                        each(q, state, segment, at, meta)?;
                    }
                }
            }
        }
        Ok(scanned)
    }

    /// Checks the metadata and values behind `hits` against their checksums: an exact
    /// scan scores every vector, and checking each would read the values twice, so it
    /// checks what it returns (the scrub covers the rest).
    fn verify_values(&self, hits: &[Entry]) -> Result<(), StoreError> {
        for hit in hits {
            self.segments[hit.at.segment as usize].verify(hit.at.slot as usize)?;
        }
        Ok(())
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
            Some(prefix) => self.payloads.starts_with(meta.payload(), prefix),
        }
    }
}

fn outcome(entries: Vec<Entry>, scanned: u64, reranked: u64) -> QueryOutcome {
    let hits = entries
        .into_iter()
        .map(|e| Hit {
            id: e.id,
            score: e.score,
        })
        .collect();
    QueryOutcome {
        hits,
        scanned,
        reranked,
    }
}

#[cfg(test)]
mod tests;
