//! Between the wire types and the engine's, and from engine errors to gRPC statuses.

use sutra_api::proto;
use tonic::Status;

use crate::storage::{Record, SearchFilter, StoreError, StoreStats};

/// Moves the values and payload out of the messages (`values` without a copy,
/// `values_le` with one). The engine checks the dimension and the values themselves.
pub(crate) fn records(vectors: Vec<proto::Vector>) -> Result<Vec<Record>, Status> {
    vectors
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            Ok(Record {
                id: v.id,
                values: values(i, v.values, &v.values_le)?,
                payload: v.payload,
            })
        })
        .collect()
}

fn values(i: usize, values: Vec<f32>, values_le: &[u8]) -> Result<Vec<f32>, Status> {
    if values_le.is_empty() {
        return Ok(values);
    }
    if !values.is_empty() {
        return Err(Status::invalid_argument(format!(
            "vectors[{i}]: both values and values_le are set; send the values in one of them"
        )));
    }
    if !values_le.len().is_multiple_of(4) {
        return Err(Status::invalid_argument(format!(
            "vectors[{i}].values_le: expected little-endian f32s (a multiple of 4 bytes), got {} bytes",
            values_le.len()
        )));
    }
    let mut values = Vec::with_capacity(values_le.len() / 4);
    sutra_api::extend_f32s_le(&mut values, values_le);
    Ok(values)
}

pub(crate) fn vector(record: Record) -> proto::Vector {
    proto::Vector {
        id: record.id,
        values: record.values,
        payload: record.payload,
        values_le: Vec::new(),
    }
}

pub(crate) fn filter(request: &proto::SearchRequest) -> SearchFilter {
    SearchFilter {
        id_range: request.id_range.map(|range| range.start..=range.end),
        payload_prefix: (!request.payload_prefix.is_empty())
            .then(|| request.payload_prefix.clone()),
    }
}

pub(crate) fn stats(stats: StoreStats) -> proto::StatsResponse {
    proto::StatsResponse {
        vectors: stats.vectors,
        dimension: stats.dimension,
        metric: stats.metric.as_str().to_string(),
        segments: stats.segments,
        bytes_mapped: stats.bytes_mapped,
        wal_bytes: stats.wal_bytes,
        compression: stats.compression,
        deleted: stats.deleted,
    }
}

/// Bad input is the caller's to fix; a failed store needs a restart (which replays the
/// WAL), so callers may retry elsewhere or later; an I/O error is a server fault, and
/// damaged stored data is `DATA_LOSS`.
pub(crate) fn status(error: StoreError) -> Status {
    match error {
        StoreError::InvalidArgument { .. } => Status::invalid_argument(error.to_string()),
        StoreError::Failed(_) => Status::unavailable(error.to_string()),
        StoreError::Corrupt { .. } | StoreError::Damaged(_) => Status::data_loss(error.to_string()),
        StoreError::Io { .. } => Status::internal(error.to_string()),
    }
}

/// tonic rejects a message over the decoding limit with `OUT_OF_RANGE`; the API promises
/// `RESOURCE_EXHAUSTED` (what gRPC itself uses for a size limit), so it is translated here
/// and, for unary calls, in [`super::limits`].
pub(crate) fn oversized_as_resource_exhausted(status: Status) -> Status {
    if is_oversized(&status) {
        Status::resource_exhausted(format!(
            "{}; send smaller batches or raise --max-message-bytes",
            status.message()
        ))
    } else {
        status
    }
}

pub(crate) fn is_oversized(status: &Status) -> bool {
    status.code() == tonic::Code::OutOfRange
        && status.message().contains("message length too large")
}
