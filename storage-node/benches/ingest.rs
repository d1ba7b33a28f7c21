//! Ingest over gRPC: `UpsertStream` into an in-process server on loopback, with durable
//! acknowledgements, against raw sequential write + fdatasync of the same bytes in the
//! same directory and the same chunk sizes, measured in the same run.
//!
//! `cargo bench -p sutra-storage --bench ingest`
//! env: SUTRA_INGEST_VECTORS (default 200000), SUTRA_INGEST_DIR (default: the target
//! directory's tmp, on the same disk as the build).

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use sutra_api::proto::storage_client::StorageClient;
use sutra_api::proto::{StatsRequest, UpsertRequest, Vector};
use sutra_core::platform::detect;
use sutra_core::variant::VariantCatalog;
use sutra_core::vector::Metric;
use sutra_storage::config::{PartialSettings, store_config};
use sutra_storage::report::PlatformStatus;
use sutra_storage::server::{ServerSettings, start};
use sutra_storage::storage::{Record, Store};

const DIMENSION: u32 = 768;
const BATCH: usize = 1000;

fn main() {
    // `cargo bench` passes `--bench`; under `cargo test --all-targets` this main runs as a
    // smoke test of the same code paths with a few batches.
    let benchmarking = std::env::args().any(|arg| arg == "--bench");
    let vectors: usize = env_or(
        "SUTRA_INGEST_VECTORS",
        if benchmarking { 200_000 } else { 5_000 },
    );
    let parent = std::env::var("SUTRA_INGEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_TARGET_TMPDIR").to_string());
    std::fs::create_dir_all(&parent).unwrap();
    let dir = tempfile::tempdir_in(&parent).unwrap();
    let batches = make_batches(vectors);
    let vector_bytes = (vectors * DIMENSION as usize * 4) as f64;

    // Every phase deletes its files before the next starts, and an unmeasured raw pass goes
    // first, so each phase writes into page-cache memory the one before it freed. On a VM
    // whose host reclaims the guest's free memory, memory the guest has not touched lately
    // costs a host fault per page: a first 600 MB write ran at 349 MB/s where rewrites of
    // freed pages ran at 2.4-3 GB/s, which would otherwise favour whichever phase runs first.
    raw_write_fdatasync(&dir.path().join("warm-up.bin"), vectors);
    let raw = raw_write_fdatasync(&dir.path().join("raw.bin"), vectors);
    let engine = engine_upserts(&dir.path().join("engine"), &batches);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let packed_batches = packed(&batches);
    let grpc = runtime.block_on(upsert_stream(&dir.path().join("store"), batches));
    let grpc_le = runtime.block_on(upsert_stream(&dir.path().join("store-le"), packed_batches));

    let mb = |seconds: f64| vector_bytes / seconds / 1e6;
    println!(
        "ingest of {vectors} vectors x {DIMENSION} dims (f32), batches of {BATCH}, in {parent}"
    );
    println!("| path | seconds | vectors/s | MB/s of vectors |");
    println!("| --- | ---: | ---: | ---: |");
    for (name, elapsed) in [
        ("raw sequential write + fdatasync per batch", raw),
        ("engine Store::upsert per batch, no gRPC", engine),
        ("gRPC UpsertStream (`values`), durable acks", grpc),
        ("gRPC UpsertStream (`values_le`), durable acks", grpc_le),
    ] {
        let seconds = elapsed.as_secs_f64();
        println!(
            "| {name} | {seconds:.2} | {:.0} | {:.0} |",
            vectors as f64 / seconds,
            mb(seconds)
        );
    }
    let percent =
        |slower: Duration, faster: Duration| 100.0 * faster.as_secs_f64() / slower.as_secs_f64();
    println!(
        "gRPC values_le / raw: {:.0} %, gRPC values / raw: {:.0} %, engine / raw: {:.0} %, gRPC values_le / engine: {:.0} %",
        percent(grpc_le, raw),
        percent(grpc, raw),
        percent(engine, raw),
        percent(grpc_le, engine)
    );
}

fn env_or(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// Deterministic values, generated before timing starts.
fn make_batches(vectors: usize) -> Vec<UpsertRequest> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    };
    (0..vectors as u64)
        .collect::<Vec<_>>()
        .chunks(BATCH)
        .map(|ids| UpsertRequest {
            vectors: ids
                .iter()
                .map(|&id| Vector {
                    id,
                    values: (0..DIMENSION).map(|_| next()).collect(),
                    payload: Vec::new(),
                    values_le: Vec::new(),
                })
                .collect(),
        })
        .collect()
}

/// The same batches with the values as packed little-endian bytes (`values_le`).
fn packed(batches: &[UpsertRequest]) -> Vec<UpsertRequest> {
    batches
        .iter()
        .map(|batch| UpsertRequest {
            vectors: batch
                .vectors
                .iter()
                .map(|v| Vector {
                    id: v.id,
                    values: Vec::new(),
                    payload: Vec::new(),
                    values_le: v.values.iter().flat_map(|x| x.to_le_bytes()).collect(),
                })
                .collect(),
        })
        .collect()
}

/// What the disk gives a writer that makes each batch durable before the next.
fn raw_write_fdatasync(path: &Path, vectors: usize) -> Duration {
    let chunk = vec![0x5au8; BATCH * DIMENSION as usize * 4];
    let mut file = std::fs::File::create(path).unwrap();
    let started = Instant::now();
    let mut left = vectors;
    while left > 0 {
        let n = left.min(BATCH);
        file.write_all(&chunk[..n * DIMENSION as usize * 4])
            .unwrap();
        file.sync_data().unwrap();
        left -= n;
    }
    let elapsed = started.elapsed();
    drop(file);
    std::fs::remove_file(path).unwrap();
    elapsed
}

/// The engine alone, same config and batches, one writer: what gRPC adds is the rest.
fn engine_upserts(data: &Path, batches: &[UpsertRequest]) -> Duration {
    let store = Store::open(server_settings(data).store).unwrap();
    let records: Vec<Vec<Record>> = batches
        .iter()
        .map(|batch| {
            batch
                .vectors
                .iter()
                .map(|v| Record {
                    id: v.id,
                    values: v.values.clone(),
                    payload: Vec::new(),
                })
                .collect()
        })
        .collect();
    let started = Instant::now();
    for batch in records {
        store.upsert(batch).unwrap();
    }
    let elapsed = started.elapsed();
    store.close().unwrap();
    std::fs::remove_dir_all(data).unwrap();
    elapsed
}

/// Configured exactly as `sutra-storage serve --dimension 768 --metric dot` would be.
fn server_settings(data: &Path) -> ServerSettings {
    let settings = PartialSettings {
        data: Some(data.to_path_buf()),
        dimension: Some(DIMENSION),
        metric: Some(Metric::Dot),
        compression: Some(sutra_core::vector::Compression::None),
        grpc_addr: Some("127.0.0.1:0".parse().unwrap()),
        metrics_addr: Some("127.0.0.1:0".parse().unwrap()),
        ..PartialSettings::default()
    }
    .resolve()
    .unwrap();
    let platform = PlatformStatus::new(detect(), &settings.variant, VariantCatalog::builtin());
    let store = store_config(&settings, &platform.config, None).unwrap();
    ServerSettings::new(&settings, store, platform)
}

async fn upsert_stream(data: &Path, batches: Vec<UpsertRequest>) -> Duration {
    let expected: u64 = batches.iter().map(|b| b.vectors.len() as u64).sum();
    let server = start(server_settings(data)).await.unwrap();
    let mut client = StorageClient::connect(format!("http://{}", server.grpc_addr()))
        .await
        .unwrap();
    let started = Instant::now();
    let reply = client
        .upsert_stream(tokio_stream::iter(batches))
        .await
        .unwrap()
        .into_inner();
    let elapsed = started.elapsed();
    assert_eq!(reply.upserted, expected);
    let stats = client.stats(StatsRequest {}).await.unwrap().into_inner();
    assert_eq!(stats.vectors, expected);
    server.shutdown().await.unwrap();
    std::fs::remove_dir_all(data).unwrap();
    elapsed
}
