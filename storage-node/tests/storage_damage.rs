//! Every byte at rest that a read depends on is covered by a checksum: one test per kind
//! of file and field, each damaging it and asserting that the damage is refused or
//! reported with the file and offset, and that no wrong answer comes back.
//!
//! Geometry of the stores here: dimension 8, alignment 16 (32-byte f32 slots, 16-byte
//! int8 slots), 4 KiB pages and segments (128 slots), so id `i` of a single batch sits in
//! segment 1, slot `i`; its metadata at `48 * i` of `seg-000001.meta`.

mod storage_support;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use storage_support::{corrupt, flip};
use sutra_core::vector::Metric;
use sutra_storage::storage::{Record, SearchFilter, Store, StoreConfig, StoreError};

const DIM: u32 = 8;
const VECTORS: u64 = 100;
const META: u64 = 48;
const SLOT: u64 = 32;
const CODE_SLOT: u64 = 16;

fn config(dir: &Path, compression: bool) -> StoreConfig {
    let mut config = StoreConfig::new(dir, DIM, Metric::Cosine);
    config.alignment = 16;
    config.page_size = 4096;
    config.segment_bytes = 4096;
    config.compression = compression;
    config
}

fn record(id: u64) -> Record {
    Record {
        id,
        values: (0..u64::from(DIM))
            .map(|d| ((id + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (d * 7) & 0x7F) as f32 - 63.0)
            .collect(),
        payload: format!("doc-{id:03}").into_bytes(),
    }
}

/// Ids 0..100 in one batch, checkpointed.
fn stored(compression: bool) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(config(dir.path(), compression)).unwrap();
    store.upsert((0..VECTORS).map(record).collect()).unwrap();
    store.close().unwrap();
    dir
}

fn file(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

/// The error is `Corrupt` at exactly this file and offset, with `detail` in its text.
fn assert_corrupt(error: StoreError, path: &Path, offset: u64, detail: &str) {
    let (file, at, found) = corrupt::<()>(Err(error));
    assert_eq!((file.as_path(), at), (path, offset), "{found}");
    assert!(found.contains(detail), "{found}");
}

fn open_err(dir: &Path, compression: bool) -> StoreError {
    match Store::open(config(dir, compression)) {
        Ok(_) => panic!("a store with damaged data opened as if nothing were wrong"),
        Err(error) => error,
    }
}

/// Each field of a live slot's metadata (and the checksum itself), and a dead slot's:
/// open refuses the store, naming the `.meta` file and the slot's offset. Before the
/// checksums, a flipped live flag made a vector vanish, an id byte served the values under
/// another id, a norm byte gave wrong scores and a payload length a wrong payload.
#[test]
fn damaged_slot_metadata_is_refused_at_open_field_by_field() {
    let fields = [
        ("id", 0u64),
        ("payload offset", 8),
        ("payload length", 16),
        ("live flag", 20),
        ("norm", 26),
        ("int8 scale", 30),
        ("values checksum", 33),
        ("codes checksum", 37),
        ("payload checksum", 41),
        ("metadata checksum", 45),
    ];
    for (field, at) in fields {
        let dir = stored(true);
        let slot = 42;
        let meta = file(dir.path(), "seg-000001.meta");
        flip(&meta, slot * META + at, 0x01);
        let error = open_err(dir.path(), true);
        assert!(
            matches!(&error, StoreError::Corrupt { file, offset, .. } if *file == meta && *offset == slot * META),
            "damaged {field}: {error}"
        );
        assert!(
            error.to_string().contains(&format!(
                "the metadata of slot {slot} does not match its checksum"
            )),
            "damaged {field}: {error}"
        );
    }

    let dir = stored(false);
    let store = Store::open(config(dir.path(), false)).unwrap();
    store.delete(&[7]).unwrap();
    store.close().unwrap();
    let meta = file(dir.path(), "seg-000001.meta");
    flip(&meta, 7 * META + 20, 0x01); // revive the dead slot
    assert_corrupt(open_err(dir.path(), false), &meta, 7 * META, "slot 7");
}

/// Bytes of slots no write reached (past the used count) are not read by anything, so
/// damage there changes no answer.
#[test]
fn bytes_of_slots_never_handed_out_are_not_read() {
    let dir = stored(false);
    flip(&file(dir.path(), "seg-000001.meta"), 120 * META + 3, 0xFF);
    flip(&file(dir.path(), "seg-000001.vec"), 120 * SLOT + 3, 0xFF);
    let store = Store::open(config(dir.path(), false)).unwrap();
    let report = store.scrub(&AtomicBool::new(false), None).unwrap();
    assert_eq!((report.vectors_checked, report.complete), (VECTORS, true));
    assert_eq!(store.get(&[99]).unwrap()[0], Some(record(99)));
}

/// f32 values damaged at rest: a search that would return the damaged vector fails
/// instead, naming the file and offset, as `get` and the scrub do.
#[test]
fn damaged_values_are_never_returned_by_search_get_or_scrub() {
    for compression in [false, true] {
        let dir = stored(compression);
        let vec = file(dir.path(), "seg-000001.vec");
        flip(&vec, 30 * SLOT + 4, 0x02);
        for attempt in ["search", "get", "scrub"] {
            let store = Store::open(config(dir.path(), compression)).unwrap();
            let error = match attempt {
                "search" => store
                    .search(&record(30).values, 3, &SearchFilter::default())
                    .unwrap_err(),
                "get" => store.get(&[30]).unwrap_err(),
                _ => store.scrub(&AtomicBool::new(false), None).unwrap_err(),
            };
            assert_corrupt(error, &vec, 30 * SLOT, "the values of id 30 in slot 30");
            assert!(
                matches!(store.get(&[1]), Err(StoreError::Damaged(_))),
                "{attempt}, compression {compression}: the store stops serving"
            );
        }
    }
}

/// int8 codes damaged at rest, or under a running store (a page read back from a failing
/// disk, or a stray write): the int8 pass checks every code it scores, so the search
/// fails naming the `.i8` file and offset instead of returning another id. Before, a
/// search with the vector itself returned another id at 0.45.
#[test]
fn damaged_int8_codes_are_never_trusted_by_the_bound() {
    let dir = stored(true);
    let codes = file(dir.path(), "seg-000001.i8");
    flip(&codes, 55 * CODE_SLOT + 2, 0x40);
    let store = Store::open(config(dir.path(), true)).unwrap();
    let error = store
        .search(&record(55).values, 1, &SearchFilter::default())
        .unwrap_err();
    assert_corrupt(
        error,
        &codes,
        55 * CODE_SLOT,
        "the int8 codes of id 55 in slot 55",
    );
    drop(store);
    flip(&codes, 55 * CODE_SLOT + 2, 0x40); // repaired

    let store = Store::open(config(dir.path(), true)).unwrap();
    let hit = store
        .search(&record(60).values, 1, &SearchFilter::default())
        .unwrap()
        .hits[0];
    assert_eq!(hit.id, 60);
    // Damage while the store runs: the mapping is shared with the file.
    flip(&codes, 60 * CODE_SLOT + 5, 0x7F);
    let error = store
        .search(&record(60).values, 1, &SearchFilter::default())
        .unwrap_err();
    assert_corrupt(error, &codes, 60 * CODE_SLOT, "the int8 codes of id 60");
    assert!(matches!(
        store.search(&record(1).values, 1, &SearchFilter::default()),
        Err(StoreError::Damaged(_))
    ));

    let dir = stored(true);
    flip(&codes_of(dir.path()), 12 * CODE_SLOT, 0x01);
    let store = Store::open(config(dir.path(), true)).unwrap();
    assert_corrupt(
        store.scrub(&AtomicBool::new(false), None).unwrap_err(),
        &codes_of(dir.path()),
        12 * CODE_SLOT,
        "the int8 codes of id 12",
    );
}

fn codes_of(dir: &Path) -> PathBuf {
    file(dir, "seg-000001.i8")
}

/// A payload byte damaged at rest: `get`, a search with a payload filter and the scrub
/// each fail naming the payload file and the payload's offset; before, `get` returned the
/// wrong payload with OK.
#[test]
fn damaged_payload_bytes_are_never_returned() {
    let payload_len = record(0).payload.len() as u64;
    for attempt in ["get", "filtered search", "scrub"] {
        let dir = stored(false);
        let payloads = file(dir.path(), "payloads-000001.dat");
        flip(&payloads, 40 * payload_len + 5, 0x01);
        let store = Store::open(config(dir.path(), false)).unwrap();
        let error = match attempt {
            "get" => store.get(&[40]).unwrap_err(),
            "filtered search" => store
                .search(
                    &record(40).values,
                    1,
                    &SearchFilter {
                        id_range: None,
                        payload_prefix: Some(b"doc-04".to_vec()),
                    },
                )
                .unwrap_err(),
            _ => store.scrub(&AtomicBool::new(false), None).unwrap_err(),
        };
        assert_corrupt(
            error,
            &payloads,
            40 * payload_len,
            "payload bytes here have checksum",
        );
    }
}

/// The manifest is checksummed as a whole, and a store of another format version is
/// refused naming both versions.
#[test]
fn a_damaged_manifest_or_another_format_version_is_refused() {
    let dir = stored(false);
    let manifest = file(dir.path(), "MANIFEST");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let at = text.find("\"dimension\"").unwrap() as u64 + 14;
    flip(&manifest, at, 0x01);
    let body_offset = text.find('\n').unwrap() as u64 + 1;
    assert_corrupt(
        open_err(dir.path(), false),
        &manifest,
        body_offset,
        "checksum mismatch",
    );

    let dir = stored(false);
    let manifest = file(dir.path(), "MANIFEST");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let (_, body) = text.split_once('\n').unwrap();
    let body = body.replace("\"format_version\": 2", "\"format_version\": 1");
    std::fs::write(
        &manifest,
        format!(
            "sutra-manifest crc32={:08x}\n{body}",
            crc32fast::hash(body.as_bytes())
        ),
    )
    .unwrap();
    let error = open_err(dir.path(), false).to_string();
    assert!(
        error.contains("on-disk format version 1") && error.contains("reads version 2 only"),
        "{error}"
    );
}

/// A last WAL record of full length whose checksum does not match may have been
/// acknowledged: it is cut off (the store opens), the log says what it may have been, and
/// the metric counts it. The batch it held is gone; nothing else is.
#[test]
fn a_bad_last_wal_record_is_cut_off_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(config(dir.path(), false)).unwrap();
    store.checkpoint().unwrap();
    store.upsert((0..10).map(record).collect()).unwrap();
    store.upsert((10..20).map(record).collect()).unwrap();
    drop(store); // no checkpoint: both records are in the WAL
    let wal = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("wal-"))
        .unwrap();
    let len = std::fs::metadata(&wal).unwrap().len();
    flip(&wal, len - 3, 0x08);

    let store = Store::open(config(dir.path(), false)).unwrap();
    assert_eq!(store.metrics().wal_truncated_records, 1);
    let got = store.get(&(0..20).collect::<Vec<_>>()).unwrap();
    assert!(
        got[..10].iter().all(Option::is_some),
        "the first batch stays"
    );
    assert!(
        got[10..].iter().all(Option::is_none),
        "the damaged one is cut off whole"
    );
    drop(store);
    let store = Store::open(config(dir.path(), false)).unwrap();
    assert_eq!(store.metrics().wal_truncated_records, 0, "counted once");
}
