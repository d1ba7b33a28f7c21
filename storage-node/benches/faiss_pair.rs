//! Our half of the side-by-side comparison with FAISS (`benches/faiss_compare.py` runs both).
//!
//! Reads the dataset the script wrote (`base.f32`, `queries.f32`: little-endian f32 rows, and
//! `meta.json` with `n`, `dim`, `queries`, `k`, `repeats`) from `$FAISS_DIR`, loads it into a
//! dot-product store under `$FAISS_DIR/store` (reused when it already holds `n` vectors), runs
//! every query single-threaded `repeats` times and writes `ours.json`: per-query best latency
//! and the top-k ids, for the script to compare with `IndexFlatIP`. It then reopens the store
//! with compression and runs the same queries again: the exact search by the bounded int8
//! pass, whose ids it checks against the f32 run's and whose latencies it adds to the file.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sutra_core::vector::Metric;
use sutra_storage::simd::kernels;
use sutra_storage::storage::{Record, SearchFilter, Store, StoreConfig};

const BATCH: usize = 1000;

#[derive(serde::Deserialize)]
struct Meta {
    n: usize,
    dim: usize,
    queries: usize,
    k: usize,
    repeats: usize,
}

/// A 300 x 16 dataset with 4 queries in a fresh folder under the target directory.
fn smoke_dataset() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("faiss-pair-smoke");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create the smoke dataset folder");
    let (n, dim, queries) = (300usize, 16usize, 4usize);
    let value = |i: usize| ((i * 7919 % 1000) as f32 / 500.0) - 1.0;
    let rows = |count: usize, offset: usize| -> Vec<u8> {
        (0..count * dim)
            .flat_map(|i| value(i + offset).to_le_bytes())
            .collect()
    };
    fs::write(dir.join("base.f32"), rows(n, 0)).expect("write base.f32");
    fs::write(dir.join("queries.f32"), rows(queries, 12_345)).expect("write queries.f32");
    let meta = serde_json::json!({"n": n, "dim": dim, "queries": queries, "k": 5, "repeats": 1});
    fs::write(dir.join("meta.json"), meta.to_string()).expect("write meta.json");
    dir
}

fn read_f32_rows(path: &Path, rows: usize, dim: usize) -> Vec<f32> {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert_eq!(
        bytes.len(),
        rows * dim * 4,
        "{}: expected {rows} x {dim} f32 values",
        path.display()
    );
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// The dot-product store under `$FAISS_DIR/store`, with or without compression.
fn store_config(dir: &Path, meta: &Meta, compression: bool) -> StoreConfig {
    let mut config = StoreConfig::new(dir.join("store"), meta.dim as u32, Metric::Dot);
    config.compression = compression;
    config
}

fn open_loaded_store(dir: &Path, meta: &Meta) -> Store {
    let store_dir = dir.join("store");
    let config = store_config(dir, meta, false);
    if store_dir.exists() {
        let store = Store::open(config.clone()).expect("open cached store");
        if store.stats().vectors == meta.n as u64 {
            return store;
        }
        drop(store);
        fs::remove_dir_all(&store_dir).expect("remove stale store");
    }
    let base = read_f32_rows(&dir.join("base.f32"), meta.n, meta.dim);
    let store = Store::open(config).expect("create store");
    let started = Instant::now();
    for (chunk_index, chunk) in base.chunks(BATCH * meta.dim).enumerate() {
        let first = (chunk_index * BATCH) as u64;
        let batch = chunk
            .chunks_exact(meta.dim)
            .enumerate()
            .map(|(i, values)| Record {
                id: first + i as u64,
                values: values.to_vec(),
                payload: Vec::new(),
            })
            .collect();
        store.upsert(batch).expect("upsert");
    }
    store.checkpoint().expect("checkpoint");
    eprintln!("loaded {} vectors in {:.1?}", meta.n, started.elapsed());
    store
}

/// Each query's best latency over `repeats` runs, the top-k ids, and the vectors re-ranked.
fn run_queries(store: &Store, queries: &[f32], meta: &Meta) -> (Vec<f64>, Vec<Vec<u64>>, u64) {
    let filter = SearchFilter::default();
    let mut latencies = Vec::with_capacity(meta.queries);
    let mut ids = Vec::with_capacity(meta.queries);
    let mut reranked = 0;
    for query in queries.chunks_exact(meta.dim) {
        let mut best = Duration::MAX;
        let mut result = None;
        for _ in 0..meta.repeats {
            let started = Instant::now();
            let found = store.search(query, meta.k, &filter).expect("search");
            best = best.min(started.elapsed());
            result = Some(found);
        }
        let result = result.expect("at least one repeat");
        latencies.push(best.as_secs_f64());
        ids.push(result.hits.iter().map(|hit| hit.id).collect::<Vec<_>>());
        reranked += result.reranked;
    }
    (latencies, ids, reranked)
}

fn main() {
    let dir = match std::env::var_os("FAISS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None if std::env::args().any(|arg| arg == "--bench") => {
            panic!("FAISS_DIR is not set: run storage-node/benches/faiss_compare.py")
        }
        // Under `cargo test --all-targets`: exercise the same path on a tiny dataset.
        None => smoke_dataset(),
    };
    let meta: Meta = serde_json::from_slice(&fs::read(dir.join("meta.json")).expect("meta.json"))
        .expect("parse meta.json");
    let queries = read_f32_rows(&dir.join("queries.f32"), meta.queries, meta.dim);

    let store = open_loaded_store(&dir, &meta);
    let (latencies, ids, _) = run_queries(&store, &queries, &meta);
    drop(store);

    // The same store with compression: the exact search by the bounded int8 pass.
    let started = Instant::now();
    let store =
        Store::open(store_config(&dir, &meta, true)).expect("open the store with compression");
    eprintln!("opened with compression in {:.1?}", started.elapsed());
    let (compressed_latencies, compressed_ids, reranked) = run_queries(&store, &queries, &meta);
    assert_eq!(
        compressed_ids, ids,
        "the compressed search must return exactly the f32 results"
    );
    drop(store);
    // Leave the store as the f32 run expects it next time (without the int8 files).
    drop(Store::open(store_config(&dir, &meta, false)).expect("reopen without compression"));

    let out = serde_json::json!({
        "kernels": kernels().isa,
        "latency_seconds": latencies,
        "ids": ids,
        "compressed_latency_seconds": compressed_latencies,
        "compressed_reranked_per_query": reranked as f64 / meta.queries as f64,
    });
    fs::write(dir.join("ours.json"), out.to_string()).expect("write ours.json");
    println!("wrote {}", dir.join("ours.json").display());
}
