//! The stores the store targets damage: two templates built once per process in a scratch
//! directory (on tmpfs when there is one), a fresh copy of one per input, and the calls
//! that open and use a copy through the public API.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use sutra_core::vector::Metric;
use sutra_storage::storage::{Record, SearchFilter, Store, StoreConfig};

use super::Outcome;

pub(crate) const DIMENSION: u32 = 8;

/// The two stores an input can damage: cosine without compression, and L2 with int8 codes.
/// Bit 1 of an input's first byte picks one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    Plain,
    Int8,
}

impl Flavour {
    pub(crate) fn of(mode: u8) -> Flavour {
        if mode & 2 == 0 {
            Flavour::Plain
        } else {
            Flavour::Int8
        }
    }

    pub(crate) fn mode_bit(self) -> u8 {
        match self {
            Flavour::Plain => 0,
            Flavour::Int8 => 2,
        }
    }
}

/// The store's config: small slots and one-page segments, so a store of 150 vectors spans
/// two segments in a few KiB; batches of more than four vectors are placed, smaller ones
/// ride in their WAL record, so the log holds both kinds of place record.
pub fn config(dir: &Path, flavour: Flavour) -> StoreConfig {
    let metric = match flavour {
        Flavour::Plain => Metric::Cosine,
        Flavour::Int8 => Metric::L2,
    };
    let mut config = StoreConfig::new(dir, DIMENSION, metric);
    config.alignment = 16;
    config.segment_bytes = config.page_size;
    config.compression = flavour == Flavour::Int8;
    config.inline_value_bytes = 4 * DIMENSION as usize * 4;
    config.read_ahead_bytes = 0;
    config
}

pub(crate) fn values(seed: u64) -> Vec<f32> {
    (0..DIMENSION as u64)
        .map(|i| ((seed * 7 + i * 3) % 23) as f32 / 11.0 - 1.0)
        .collect()
}

pub(crate) fn record(id: u64, payload: &[u8]) -> Record {
    Record {
        id,
        values: values(id),
        payload: payload.to_vec(),
    }
}

fn records(ids: std::ops::RangeInclusive<u64>) -> Vec<Record> {
    ids.map(|id| record(id, format!("p{id}").as_bytes()))
        .collect()
}

/// Builds the store every store target starts from: 130 vectors checkpointed (placed in
/// batches, one replaced inline, two deleted), then a WAL tail written after the
/// checkpoint and never checkpointed, as a crash leaves it (inline and placed upserts, a
/// replaced payload, deletes), so every open replays it.
fn build_store(dir: &Path, flavour: Flavour) {
    let store = Store::open(config(dir, flavour)).expect("a new store opens");
    for first in (1..=130).step_by(10) {
        store.upsert(records(first..=first + 9)).expect("upsert");
    }
    store.delete(&[3, 4]).expect("delete");
    store.upsert(vec![record(5, b"")]).expect("upsert");
    store.close().expect("close");
    let store = Store::open(config(dir, flavour)).expect("the store reopens");
    store.upsert(records(131..=133)).expect("upsert");
    store.upsert(vec![record(7, b"replaced")]).expect("upsert");
    store.upsert(records(140..=149)).expect("upsert");
    store.delete(&[9, 200]).expect("delete");
    drop(store);
}

static SCRATCH: OnceLock<PathBuf> = OnceLock::new();

/// A directory of this process's own, removed at exit (libFuzzer ends with `exit`).
fn scratch() -> &'static Path {
    SCRATCH.get_or_init(|| {
        let base = Path::new("/dev/shm");
        let base = if base.is_dir() {
            base.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let root = base.join(format!("sutra-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&root).expect("create the scratch directory");
        // SAFETY: registers a function without arguments that only touches a static.
        unsafe { libc::atexit(remove_scratch) };
        root
    })
}

extern "C" fn remove_scratch() {
    if let Some(root) = SCRATCH.get() {
        let _ = std::fs::remove_dir_all(root);
    }
}

fn template(flavour: Flavour) -> &'static Path {
    static PLAIN: OnceLock<PathBuf> = OnceLock::new();
    static INT8: OnceLock<PathBuf> = OnceLock::new();
    let cell = match flavour {
        Flavour::Plain => &PLAIN,
        Flavour::Int8 => &INT8,
    };
    cell.get_or_init(|| {
        let dir = scratch().join(format!("template-{flavour:?}"));
        build_store(&dir, flavour);
        dir
    })
}

/// A fresh copy of a template store, removed on drop.
pub(crate) struct StoreCopy {
    pub(crate) dir: PathBuf,
}

impl StoreCopy {
    pub(crate) fn of(flavour: Flavour) -> StoreCopy {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = scratch().join(format!("run-{}", NEXT.fetch_add(1, Ordering::Relaxed)));
        std::fs::create_dir(&dir).expect("create a run directory");
        for entry in std::fs::read_dir(template(flavour)).expect("list the template") {
            let from = entry.expect("template entry").path();
            // Read and write rather than `fs::copy`: its `copy_file_range` fails with EINTR
            // when libFuzzer's timeout alarm goes off, where these retry.
            let bytes = std::fs::read(&from).expect("read a template file");
            std::fs::write(dir.join(from.file_name().expect("a file name")), bytes)
                .expect("copy a template file");
        }
        StoreCopy { dir }
    }

    /// The file of the store whose name starts with `prefix` (the last in name order:
    /// for the WAL, the newest).
    pub(crate) fn file(&self, prefix: &str) -> PathBuf {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .expect("list the store")
            .map(|entry| entry.expect("store entry").path())
            .filter(|path| {
                path.file_name()
                    .and_then(|name| name.to_str())
                    .is_some_and(|name| name.starts_with(prefix))
            })
            .collect();
        names.sort();
        names
            .pop()
            .unwrap_or_else(|| panic!("the store has no {prefix}* file"))
    }

    /// Opens the store and uses it through every public call that reads or writes it.
    pub(crate) fn open_and_use(&self, flavour: Flavour) -> Outcome {
        match Store::open(config(&self.dir, flavour)).and_then(exercise) {
            Ok(()) => Outcome::Accepted,
            Err(error) => Outcome::Refused(error.to_string()),
        }
    }
}

impl Drop for StoreCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn exercise(store: Store) -> Result<(), sutra_storage::storage::StoreError> {
    let ids: Vec<u64> = (0..=12).chain([131, 140, 149, 200, u64::MAX]).collect();
    store.get(&ids)?;
    let query = values(2);
    store.search(&query, 5, &SearchFilter::default())?;
    let filter = SearchFilter {
        id_range: Some(1..=140),
        payload_prefix: Some(b"p1".to_vec()),
    };
    store.search(&query, 3, &filter)?;
    store.stats();
    store.scrub(&AtomicBool::new(false), None)?;
    store.upsert(vec![record(7, b"after")])?;
    store.delete(&[8])?;
    store.compact()?;
    store.get(&ids)?;
    store.close()
}

pub(crate) fn overwrite(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).expect("write the fuzzed file");
}

/// Writes `bytes` over the start of the file (growing it when they run past its end).
pub(crate) fn patch(path: &Path, bytes: &[u8]) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|file| file.write_all_at(bytes, 0))
        .expect("patch the fuzzed file");
}
