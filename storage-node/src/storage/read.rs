//! The read path: get and search, under the read lock.

use std::sync::atomic::Ordering;

use super::error::StoreError;
use super::search::{PreparedQuery, QueryOutcome, ScanView, Scorer};
use super::validate;
use super::{Record, SearchFilter, SearchResult, Store};
use crate::simd::kernels;

impl Store {
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
}
