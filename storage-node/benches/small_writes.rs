//! Small durable writes: concurrent writers each upserting one 768-dim vector at a time into
//! the engine, with the values inline in the WAL record (the default for batches up to
//! 128 KiB: one fsync, the WAL's, shared by writers through group commit) against the
//! values placed into their slots first (`inline_value_bytes = 0`: a segment fdatasync of
//! each writer's own, then the shared WAL fsync), in the same run and directory.
//!
//! `cargo bench -p sutra-storage --bench small_writes`
//! env: SUTRA_SMALL_WRITERS (default 16), SUTRA_SMALL_WRITES (per writer, default 200).

#[path = "../tests/concurrent_writers/mod.rs"]
mod concurrent_writers;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use concurrent_writers::upsert_concurrently;
use sutra_core::vector::Metric;
use sutra_storage::storage::{Record, Store, StoreConfig};

const DIMENSION: u32 = 768;

fn main() {
    let benchmarking = std::env::args().any(|arg| arg == "--bench");
    let writers: u64 = env_or("SUTRA_SMALL_WRITERS", 16);
    let writes: u64 = env_or("SUTRA_SMALL_WRITES", if benchmarking { 200 } else { 5 });
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    println!(
        "{writers} writers x {writes} single-vector upserts ({DIMENSION} dims), durable acks, in {}",
        dir.path().display()
    );
    println!("| values | seconds | upserts/s | mean latency | WAL fsyncs | segment fsyncs |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for (name, inline_value_bytes) in [
        ("placed (segment fdatasync, then WAL)", 0),
        ("inline in the WAL record", 128 << 10),
    ] {
        let path = dir.path().join(format!("store-{inline_value_bytes}"));
        let (elapsed, wal_fsyncs) = run(&path, inline_value_bytes, writers, writes);
        let total = writers * writes;
        let segment_fsyncs = if inline_value_bytes == 0 { total } else { 0 };
        println!(
            "| {name} | {:.2} | {:.0} | {:.2} ms | {wal_fsyncs} | {segment_fsyncs} |",
            elapsed.as_secs_f64(),
            total as f64 / elapsed.as_secs_f64(),
            elapsed.as_secs_f64() * 1e3 * writers as f64 / total as f64,
        );
    }
}

/// Runs the writers against a fresh store; returns the wall time and the WAL's fsyncs.
fn run(path: &Path, inline_value_bytes: usize, writers: u64, writes: u64) -> (Duration, u64) {
    let mut config = StoreConfig::new(path, DIMENSION, Metric::Dot);
    config.inline_value_bytes = inline_value_bytes;
    let store = Arc::new(Store::open(config).unwrap());
    let elapsed = upsert_concurrently(&store, writers, writes, record);
    let fsyncs = store.metrics().wal.fsyncs;
    assert_eq!(store.stats().vectors, writers * writes);
    Arc::into_inner(store).unwrap().close().unwrap();
    (elapsed, fsyncs)
}

fn record(id: u64) -> Record {
    Record {
        id,
        values: (0..DIMENSION)
            .map(|d| ((id + u64::from(d)) % 97) as f32 / 97.0)
            .collect(),
        payload: Vec::new(),
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}
