//! Input checks, done before anything is logged, so a rejected call changes nothing.

use std::collections::HashMap;

use sutra_core::vector::Metric;

use super::config::{MAX_BATCH_BYTES, MAX_K};
use super::error::StoreError;
use super::ops::largest_body_len;
use super::{Record, SearchFilter};

pub(crate) fn upsert_batch(
    batch: &[Record],
    dim: usize,
    max_payload_bytes: usize,
) -> Result<(), StoreError> {
    if batch.is_empty() {
        return Err(StoreError::invalid(
            "vectors",
            "batch is empty; send at least one vector",
        ));
    }
    let mut first_index_of: HashMap<u64, usize> = HashMap::with_capacity(batch.len());
    for (i, record) in batch.iter().enumerate() {
        values(|| format!("vectors[{i}].values"), &record.values, dim)?;
        if record.payload.len() > max_payload_bytes {
            return Err(StoreError::invalid(
                format!("vectors[{i}].payload"),
                format!(
                    "payload is {} bytes, the limit is {max_payload_bytes}",
                    record.payload.len()
                ),
            ));
        }
        if let Some(first) = first_index_of.insert(record.id, i) {
            return Err(StoreError::invalid(
                format!("vectors[{i}].id"),
                format!(
                    "id {} already appears at vectors[{first}]; ids within one batch must be unique",
                    record.id
                ),
            ));
        }
    }
    let encoded = largest_body_len(batch, dim);
    if encoded > MAX_BATCH_BYTES {
        return Err(StoreError::invalid(
            "vectors",
            format!(
                "batch encodes to {encoded} bytes, the limit is {MAX_BATCH_BYTES}; split it into smaller batches"
            ),
        ));
    }
    Ok(())
}

/// Dimension and finiteness of one vector; `field` names it, built only for an error.
fn values(field: impl Fn() -> String, values: &[f32], dim: usize) -> Result<(), StoreError> {
    if values.len() != dim {
        return Err(StoreError::invalid(
            field(),
            format!("expected {dim} values, got {}", values.len()),
        ));
    }
    // A branch-free pass the compiler vectorises; the position only when one is bad.
    let all_finite = values.iter().fold(true, |ok, v| ok & v.is_finite());
    if all_finite {
        return Ok(());
    }
    match values.iter().position(|v| !v.is_finite()) {
        Some(at) => Err(StoreError::invalid(
            format!("{}[{at}]", field()),
            format!("value {} is not a finite number", values[at]),
        )),
        None => Ok(()),
    }
}

pub(crate) fn query(
    field: &str,
    query: &[f32],
    dim: usize,
    metric: Metric,
) -> Result<(), StoreError> {
    values(|| field.to_string(), query, dim)?;
    if metric == Metric::Cosine && query.iter().all(|&v| v == 0.0) {
        return Err(StoreError::invalid(
            field,
            "the zero vector has no direction; cosine similarity needs a non-zero query",
        ));
    }
    Ok(())
}

pub(crate) fn k(k: usize) -> Result<(), StoreError> {
    if k == 0 {
        return Err(StoreError::invalid("k", "must be at least 1"));
    }
    if k > MAX_K {
        return Err(StoreError::invalid(
            "k",
            format!("{k} exceeds the limit of {MAX_K}"),
        ));
    }
    Ok(())
}

pub(crate) fn filter(filter: &SearchFilter) -> Result<(), StoreError> {
    match &filter.id_range {
        Some(range) if range.start() > range.end() => Err(StoreError::invalid(
            "id_range",
            format!(
                "start {} is after end {}; the range is inclusive",
                range.start(),
                range.end()
            ),
        )),
        _ => Ok(()),
    }
}

pub(crate) fn ids(ids: &[u64]) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Err(StoreError::invalid(
            "ids",
            "no ids given; send at least one",
        ));
    }
    Ok(())
}
