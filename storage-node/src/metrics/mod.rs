//! Prometheus metrics (`sutra_storage_*`) and the HTTP endpoints that serve them with the
//! liveness and readiness probes.
//!
//! Request counts and latencies are recorded by the gRPC service as calls finish. Store
//! sizes and WAL figures are read from the engine at scrape time, so they are never stale
//! and the engine keeps one set of counters.

mod http;

use prometheus::proto::{Bucket, Counter, Histogram, Metric, MetricFamily, MetricType};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Registry,
    TextEncoder, register_histogram_vec_with_registry, register_int_counter_vec_with_registry,
    register_int_counter_with_registry, register_int_gauge_vec_with_registry,
    register_int_gauge_with_registry,
};

pub use http::{HttpState, serve_http};

use crate::storage::{FSYNC_SECONDS_BOUNDS, GROUP_SIZE_BOUNDS, Store};

/// Labels of `sutra_storage_platform_info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformLabels {
    /// `amd64`, `arm64`, ...
    pub arch: String,
    /// One-line summary of the detected platform (the StorageNode's `platformSummary`).
    pub platform: String,
    /// The variant this process runs as.
    pub variant: String,
    /// The kernel dispatch in use, e.g. `f32:avx2+fma i8:avx512-vnni`.
    pub simd: String,
    pub page_size: u64,
    /// Transparent huge page mode: `always`, `madvise`, `never`, `unavailable`.
    pub thp: String,
}

/// Every metric of one server, in a private registry (tests can run several servers in
/// one process without clashing in the global one).
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    request_seconds: HistogramVec,
    vectors: IntGauge,
    deleted: IntGauge,
    bytes_mapped: IntGauge,
    wal_bytes: IntGauge,
    scanned: IntCounter,
}

impl Metrics {
    pub fn new(platform: &PlatformLabels) -> Metrics {
        let registry = Registry::new();
        // Each metric is created and registered in one step; names are constant and
        // unique, so neither can fail.
        let requests = register_int_counter_vec_with_registry!(
            "sutra_storage_requests_total",
            "gRPC requests finished, by method and status code.",
            &["rpc", "code"],
            registry
        )
        .expect("valid, unique metric");
        let request_seconds = register_histogram_vec_with_registry!(
            HistogramOpts::new(
                "sutra_storage_request_duration_seconds",
                "gRPC request latency in seconds, by method.",
            )
            .buckets(prometheus::exponential_buckets(0.0001, 2.0, 17).expect("valid buckets")),
            &["rpc"],
            registry
        )
        .expect("valid, unique metric");
        let gauge = |name: &str, help: &str| {
            register_int_gauge_with_registry!(name, help, registry).expect("valid, unique metric")
        };
        let vectors = gauge("sutra_storage_vectors", "Live vectors stored.");
        let deleted = gauge(
            "sutra_storage_deleted_slots",
            "Slots of deleted vectors that compaction would reclaim.",
        );
        let bytes_mapped = gauge(
            "sutra_storage_bytes_mapped",
            "Bytes of segment files memory-mapped.",
        );
        let wal_bytes = gauge(
            "sutra_storage_wal_bytes",
            "Bytes of write-ahead log on disk.",
        );
        let scanned = register_int_counter_with_registry!(
            "sutra_storage_search_vectors_scanned_total",
            "Vectors scored by searches.",
            registry
        )
        .expect("valid, unique metric");
        platform_info(platform, &registry);
        Metrics {
            registry,
            requests,
            request_seconds,
            vectors,
            deleted,
            bytes_mapped,
            wal_bytes,
            scanned,
        }
    }

    /// Records one finished RPC.
    pub fn observe_request(&self, rpc: &str, code: tonic::Code, seconds: f64) {
        self.requests
            .with_label_values(&[rpc, code_label(code)])
            .inc();
        self.request_seconds
            .with_label_values(&[rpc])
            .observe(seconds);
    }

    pub fn add_scanned(&self, vectors: u64) {
        self.scanned.inc_by(vectors);
    }

    /// The Prometheus text exposition; store figures are read now when a store is open.
    pub fn render(&self, store: Option<&Store>) -> String {
        if let Some(store) = store {
            self.read_store_gauges(store);
        }
        let mut families = self.registry.gather();
        if let Some(store) = store {
            families.extend(store_families(store));
            families.sort_by(|a, b| a.name().cmp(b.name()));
        }
        let mut text = Vec::new();
        TextEncoder::new()
            .encode(&families, &mut text)
            .expect("encoding to memory cannot fail");
        String::from_utf8(text).expect("the text format is UTF-8")
    }

    fn read_store_gauges(&self, store: &Store) {
        let stats = store.stats();
        self.vectors.set(saturating_i64(stats.vectors));
        self.deleted.set(saturating_i64(stats.deleted));
        self.bytes_mapped.set(saturating_i64(stats.bytes_mapped));
        self.wal_bytes.set(saturating_i64(stats.wal_bytes));
    }
}

/// Registers `sutra_storage_platform_info`, set once: its labels are the metric.
fn platform_info(labels: &PlatformLabels, registry: &Registry) {
    let info = register_int_gauge_vec_with_registry!(
        "sutra_storage_platform_info",
        "The detected platform and the variant running on it; always 1.",
        &["arch", "platform", "variant", "simd", "page_size", "thp"],
        registry
    )
    .expect("valid, unique metric");
    info.with_label_values(&[
        labels.arch.as_str(),
        labels.platform.as_str(),
        labels.variant.as_str(),
        labels.simd.as_str(),
        labels.page_size.to_string().as_str(),
        labels.thp.as_str(),
    ])
    .set(1);
}

/// WAL figures as histograms, from the bucket counts the engine keeps per fsync.
fn store_families(store: &Store) -> Vec<MetricFamily> {
    let metrics = store.metrics();
    let wal = metrics.wal;
    vec![
        counter(
            "sutra_storage_checkpoints_total",
            "Checkpoints: the mapped state made durable and the WAL it covers dropped.",
            metrics.checkpoints,
        ),
        counter(
            "sutra_storage_scrubbed_vectors_total",
            "Stored vectors whose values, codes, metadata and payload the background scrub checked against their checksums.",
            metrics.vectors_verified,
        ),
        counter(
            "sutra_storage_wal_truncated_records_total",
            "Bad records cut off the end of the write-ahead log at start-up: a write torn by a crash, or damage to a record that may have been acknowledged (the log says which it can tell).",
            metrics.wal_truncated_records,
        ),
        counter(
            "sutra_storage_search_vectors_reranked_total",
            "Vectors scored again in f32 after the int8 pass of a compressed search.",
            metrics.vectors_reranked,
        ),
        counter(
            "sutra_storage_compactions_total",
            "Compactions: live vectors rewritten into fresh segments, dead slots dropped.",
            metrics.compactions,
        ),
        histogram(
            "sutra_storage_wal_fsync_seconds",
            "Time spent in fdatasync of the write-ahead log; one sample per fsync.",
            &FSYNC_SECONDS_BOUNDS,
            &wal.fsync_buckets,
            wal.fsync_nanos as f64 / 1e9,
        ),
        histogram(
            "sutra_storage_wal_batch_size",
            "WAL records made durable per fsync (group commit size); one sample per fsync.",
            &GROUP_SIZE_BOUNDS,
            &wal.group_buckets,
            wal.records as f64,
        ),
    ]
}

/// A counter family of one value the store keeps itself.
fn counter(name: &str, help: &str, value: u64) -> MetricFamily {
    let mut counter = Counter::default();
    counter.set_value(value as f64);
    let mut metric = Metric::default();
    metric.set_counter(counter);
    family(name, help, MetricType::COUNTER, metric)
}

/// A histogram family from per-bucket counts (`counts[i]` for `bounds[i]`, the last entry
/// above every bound).
fn histogram(name: &str, help: &str, bounds: &[f64], counts: &[u64], sum: f64) -> MetricFamily {
    let mut cumulative = 0;
    let buckets = bounds
        .iter()
        .zip(counts)
        .map(|(&bound, &count)| {
            cumulative += count;
            let mut bucket = Bucket::default();
            bucket.set_upper_bound(bound);
            bucket.set_cumulative_count(cumulative);
            bucket
        })
        .collect::<Vec<_>>();
    let mut histogram = Histogram::default();
    histogram.set_sample_count(counts.iter().sum());
    histogram.set_sample_sum(sum);
    histogram.set_bucket(buckets);
    let mut metric = Metric::default();
    metric.set_histogram(histogram);
    family(name, help, MetricType::HISTOGRAM, metric)
}

/// A family of one unlabelled series.
fn family(name: &str, help: &str, kind: MetricType, metric: Metric) -> MetricFamily {
    let mut family = MetricFamily::default();
    family.set_name(name.to_string());
    family.set_help(help.to_string());
    family.set_field_type(kind);
    family.set_metric(vec![metric]);
    family
}

/// gRPC code names as grpc-go and most dashboards spell them (`OK`, `InvalidArgument`).
fn code_label(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "Canceled",
        Unknown => "Unknown",
        InvalidArgument => "InvalidArgument",
        DeadlineExceeded => "DeadlineExceeded",
        NotFound => "NotFound",
        AlreadyExists => "AlreadyExists",
        PermissionDenied => "PermissionDenied",
        ResourceExhausted => "ResourceExhausted",
        FailedPrecondition => "FailedPrecondition",
        Aborted => "Aborted",
        OutOfRange => "OutOfRange",
        Unimplemented => "Unimplemented",
        Internal => "Internal",
        Unavailable => "Unavailable",
        DataLoss => "DataLoss",
        Unauthenticated => "Unauthenticated",
    }
}

fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> PlatformLabels {
        PlatformLabels {
            arch: "amd64".into(),
            platform: "AMD EPYC amd64 avx512 4KiB".into(),
            variant: "x86-64-v4".into(),
            simd: "f32:avx2+fma".into(),
            page_size: 4096,
            thp: "madvise".into(),
        }
    }

    #[test]
    fn platform_info_carries_every_label() {
        let text = Metrics::new(&labels()).render(None);
        assert!(
            text.contains(
                "sutra_storage_platform_info{arch=\"amd64\",page_size=\"4096\",platform=\"AMD EPYC amd64 avx512 4KiB\",simd=\"f32:avx2+fma\",thp=\"madvise\",variant=\"x86-64-v4\"} 1"
            ),
            "{text}"
        );
    }

    #[test]
    fn requests_are_counted_by_rpc_and_code() {
        let metrics = Metrics::new(&labels());
        metrics.observe_request("Search", tonic::Code::Ok, 0.002);
        metrics.observe_request("Search", tonic::Code::InvalidArgument, 0.001);
        metrics.observe_request("Search", tonic::Code::Ok, 0.003);
        let text = metrics.render(None);
        assert!(
            text.contains("sutra_storage_requests_total{code=\"OK\",rpc=\"Search\"} 2"),
            "{text}"
        );
        assert!(
            text.contains(
                "sutra_storage_requests_total{code=\"InvalidArgument\",rpc=\"Search\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("sutra_storage_request_duration_seconds_count{rpc=\"Search\"} 3"),
            "{text}"
        );
    }
}
