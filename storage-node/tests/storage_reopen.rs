//! Every store a server can create reopens: the reopen matrix.
//!
//! Each case goes the way `sutra-storage serve` goes: the platform config (derived from a
//! host fixture of sutra-core, then with every page size and SIMD alignment a platform can
//! report) and the serve settings give the store config of a new collection; vectors are
//! written; the store is closed (what SIGTERM does: a checkpoint) or dropped without one
//! (what SIGKILL leaves: the WAL to replay); then the config is derived again from what
//! the data directory holds, with no dimension given, as a restart does, and the reopened
//! store must hold exactly what was written. The same with the real binary, SIGTERM and
//! SIGKILL, is `server_reopen.rs`.

use std::path::{Path, PathBuf};

use sutra_core::platform::{FixedProbes, PlatformConfig, detect_from};
use sutra_core::variant::VariantCatalog;
use sutra_core::vector::Compression;
use sutra_core::vector::Metric;
use sutra_storage::config::{PartialSettings, store_config};
use sutra_storage::storage::{Record, SearchFilter, Store, stored_layout};

const DIMENSIONS: [u32; 9] = [1, 3, 8, 64, 100, 128, 768, 1536, 4096];
const METRICS: [Metric; 3] = [Metric::Cosine, Metric::Dot, Metric::L2];
const COMPRESSIONS: [Compression; 3] = [Compression::None, Compression::Int8, Compression::Auto];
const PAGE_SIZES: [u64; 3] = [4 << 10, 16 << 10, 64 << 10];
const SIMD_ALIGNMENTS: [u32; 3] = [16, 32, 64];

fn fixture_hosts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/tests/fixtures/hosts")
}

/// The platform config of every host fixture, as `serve` derives it at start-up.
fn fixture_platforms() -> Vec<(String, PlatformConfig)> {
    let mut hosts: Vec<PathBuf> = std::fs::read_dir(fixture_hosts())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.join("probes.json").exists())
        .collect();
    hosts.sort();
    assert!(hosts.len() >= 8, "the host fixtures are there: {hosts:?}");
    hosts
        .iter()
        .map(|host| {
            let probes: FixedProbes =
                serde_json::from_str(&std::fs::read_to_string(host.join("probes.json")).unwrap())
                    .unwrap();
            let report = detect_from(host, &probes);
            let name = host.file_name().unwrap().to_string_lossy().into_owned();
            (
                name,
                PlatformConfig::derive(&report, VariantCatalog::builtin()),
            )
        })
        .collect()
}

/// Every fixture's own config, plus every (page size, SIMD alignment) pair on the first
/// fixture's config, so each layout a platform can produce is covered even where no
/// fixture host has it. Segments stay small so the matrix makes no large files.
fn platforms() -> Vec<(String, PlatformConfig)> {
    let fixtures = fixture_platforms();
    let mut platforms = fixtures.clone();
    let base = fixtures[0].1.clone();
    for page_size in PAGE_SIZES {
        for simd_alignment in SIMD_ALIGNMENTS {
            platforms.push((
                format!("page {page_size} simd {simd_alignment}"),
                PlatformConfig {
                    page_size,
                    simd_alignment,
                    ..base.clone()
                },
            ));
        }
    }
    for (_, platform) in &mut platforms {
        platform.segment_bytes = platform.page_size.max(1 << 20);
    }
    let seen: Vec<(u64, u32)> = platforms
        .iter()
        .map(|(_, p)| (p.page_size, p.simd_alignment))
        .collect();
    for page_size in PAGE_SIZES {
        for alignment in SIMD_ALIGNMENTS {
            assert!(seen.contains(&(page_size, alignment)));
        }
    }
    platforms
}

fn settings(
    data: &Path,
    dimension: Option<u32>,
    metric: Option<Metric>,
    compression: Compression,
) -> sutra_storage::config::ServeSettings {
    PartialSettings {
        data: Some(data.to_path_buf()),
        dimension,
        metric,
        compression: Some(compression),
        ..PartialSettings::default()
    }
    .resolve()
    .unwrap()
}

fn records(dimension: u32) -> Vec<Record> {
    (0..24u64)
        .map(|id| Record {
            id,
            values: (0..dimension)
                .map(|d| ((id * 31 + u64::from(d) * 7) % 97) as f32 / 97.0 - 0.4)
                .collect(),
            payload: format!("doc-{id}").into_bytes(),
        })
        .collect()
}

/// What a client sees of a store: every record, and the top 5 for a few queries.
fn observe(store: &Store, written: &[Record]) -> (Vec<Option<Record>>, Vec<Vec<u64>>) {
    let ids: Vec<u64> = (0..26).collect();
    let got = store.get(&ids).unwrap();
    let searches = written
        .iter()
        .step_by(5)
        .map(|r| {
            store
                .search(&r.values, 5, &SearchFilter::default())
                .unwrap()
                .hits
                .iter()
                .map(|h| h.id)
                .collect()
        })
        .collect();
    (got, searches)
}

/// A directory on tmpfs where there is one: the matrix opens a store some 6,000 times,
/// and what it checks (file sizes, mappings, replay) does not depend on fsync reaching a
/// disk, which `storage_durability.rs` and `crash_sigkill.rs` cover.
fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        tempfile::tempdir_in(shm).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    }
}

enum Stop {
    /// `close`: the checkpoint a SIGTERM ends with.
    Close,
    /// Dropped without a checkpoint: the WAL is replayed at the reopen.
    Crash,
}

fn reopen_case(
    platform: &PlatformConfig,
    compression: Compression,
    metric: Metric,
    dimension: u32,
    stop: Stop,
) -> Result<(), String> {
    let dir = scratch_dir();
    let data = dir.path().join("data");
    let created = store_config(
        &settings(&data, Some(dimension), Some(metric), compression),
        platform,
        None,
    )
    .map_err(|e| format!("config of a new collection: {e}"))?;
    let store = Store::open(created.clone()).map_err(|e| format!("create: {e}"))?;
    let written = records(dimension);
    store.upsert(written[..20].to_vec()).unwrap();
    store.upsert(written[20..].to_vec()).unwrap();
    store.delete(&[3]).unwrap();
    let before = observe(&store, &written);
    match stop {
        Stop::Close => store.close().unwrap(),
        Stop::Crash => drop(store),
    }

    let stored = stored_layout(&data)
        .unwrap()
        .expect("a collection is stored");
    let reopened = store_config(
        &settings(&data, None, None, Compression::Auto),
        platform,
        Some(stored),
    )
    .map_err(|e| format!("config of the existing collection: {e}"))?;
    if (reopened.alignment, reopened.page_size, reopened.compression)
        != (created.alignment, created.page_size, created.compression)
    {
        return Err(format!(
            "the reopen derived another layout: {reopened:?} after {created:?}"
        ));
    }
    let store = Store::open(reopened).map_err(|e| format!("reopen: {e}"))?;
    let after = observe(&store, &written);
    if after != before {
        return Err("the reopened store differs from what was written".into());
    }
    if after.0[3].is_some() || after.0[24].is_some() {
        return Err("a deleted or never written id is present".into());
    }
    Ok(())
}

/// Compression none, int8 and auto; cosine, dot and L2; dimensions 1 to 4096; every
/// fixture host's platform config and every page size and SIMD alignment; closed and
/// crashed. Every case reopens with the same contents.
#[test]
fn every_store_a_platform_can_create_reopens_with_its_contents() {
    let platforms = platforms();
    let mut failures = Vec::new();
    let mut cases = 0;
    for (name, platform) in &platforms {
        for compression in COMPRESSIONS {
            for metric in METRICS {
                for dimension in DIMENSIONS {
                    for stop in [Stop::Close, Stop::Crash] {
                        let stop_name = match stop {
                            Stop::Close => "close",
                            Stop::Crash => "crash",
                        };
                        cases += 1;
                        if let Err(error) =
                            reopen_case(platform, compression, metric, dimension, stop)
                        {
                            failures.push(format!(
                                "{name} (page {} simd {}), compression {compression:?}, {metric:?}, dimension {dimension}, {stop_name}: {error}",
                                platform.page_size, platform.simd_alignment
                            ));
                        }
                    }
                }
            }
        }
    }
    assert!(cases >= 9 * 3 * 3 * 9 * 2, "{cases} cases");
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
