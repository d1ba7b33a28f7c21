//! Opening a store: lock the directory, load the manifest (or write the first one) and
//! check it against the config, map the segments, replay the WAL.
//!
//! `open` loads the manifest, deletes files it does not list (keeping segments created
//! after the checkpoint until replay has seen them), maps the segments, checks every used
//! slot's metadata against its checksum and rebuilds the id→slot index from it (48 bytes
//! per slot: no vector is read), cuts the payload file back to the checkpointed length,
//! and replays WAL records after the checkpoint LSN, writing inline values into their
//! slots and checking each placed vector's values against its record's checksum (a
//! mismatch is corruption, reported with file and offset). Slots past the checkpointed
//! counts are ignored until a replayed record names them; slots reserved by upserts not
//! applied at the checkpoint are counted but dead (their metadata is still zero) until a
//! replayed record names them. Last it starts the read-ahead ([`readahead`](super::readahead)):
//! a background thread that queues reads of the scanned arrays a window at a time, in
//! scan order, up to `read_ahead_bytes`, so a first search on a cold page cache finds the
//! disk already busy with what it needs next.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, OnceLock, RwLock};

use super::error::{IoContext, StoreError};
use super::manifest::{self, Manifest, StoredLayout};
use super::order::{ApplyOrder, PlacingGate};
use super::readahead::{self, ReadAhead};
use super::segment::{self, Layout, MapHints};
use super::state::{self, State};
use super::wal::{self, Wal};
use super::{Counters, Store, StoreConfig};

impl Store {
    /// Opens (or creates) the store in `cfg.dir`: maps the segments, replays the WAL after
    /// the last checkpoint and checkpoints the result. Fails with `Corrupt` on damage.
    pub fn open(cfg: StoreConfig) -> Result<Store, StoreError> {
        let layout = Layout::new(&cfg)?;
        std::fs::create_dir_all(&cfg.dir).at(&cfg.dir)?;
        let dir_lock = lock_dir(&cfg)?;
        let manifest = load_or_create_manifest(&cfg)?;
        let listed: Vec<u32> = manifest.segments.iter().map(|s| s.id).collect();
        let keep_from = Some(manifest.next_segment_id);
        state::remove_orphans(&cfg.dir, &manifest, &listed, keep_from, cfg.compression)?;
        let hints = MapHints {
            huge_pages: cfg.huge_pages,
            compression: cfg.compression,
            read_ahead_window: readahead::window_for(&cfg.dir),
        };
        let mut state = State::load(&cfg.dir, &manifest, layout, hints)?;
        let replayed = wal::replay(&cfg.dir, manifest.checkpoint_lsn, layout.dim, &mut |op| {
            state.replay(op).map(drop)
        })?;
        state.verify_payload_refs()?;
        state.verify_no_doubled_ids()?;
        if replayed.applied > 0 {
            tracing::info!(
                records = replayed.applied,
                last_lsn = replayed.last_lsn,
                "replayed the write-ahead log"
            );
        }
        // Checkpoint what replay rebuilt, so that neither the replay nor the old WAL files
        // are needed again.
        state.flush()?;
        manifest::store(&cfg.dir, &state.manifest(replayed.last_lsn))?;
        let segments = state.segment_ids();
        state::remove_orphans(&cfg.dir, &manifest, &segments, None, cfg.compression)?;
        for path in &replayed.files {
            std::fs::remove_file(path).at(path)?;
        }
        let wal = Wal::start(&cfg.dir, replayed.last_lsn + 1)?;
        let scanned = state
            .segments
            .iter()
            .map(|segment| {
                let (path, len) = segment.scanned_file();
                (path.to_path_buf(), len)
            })
            .collect();
        let read_ahead = ReadAhead::start(scanned, hints.read_ahead_window, cfg.read_ahead_bytes);
        Ok(Store {
            config: cfg,
            layout,
            state: RwLock::new(state),
            wal,
            order: ApplyOrder::new(replayed.last_lsn),
            placing: PlacingGate::default(),
            apply_lock: Mutex::new(()),
            placed_bytes: AtomicU64::new(0),
            checkpoint_lock: Mutex::new(()),
            checkpoint_lsn: AtomicU64::new(replayed.last_lsn),
            stopped: Mutex::new(None),
            wal_truncated_records: replayed.truncated_records,
            stop_hook: OnceLock::new(),
            counters: Counters::default(),
            _read_ahead: read_ahead,
            _dir_lock: dir_lock,
        })
    }
}

/// Takes an exclusive `flock` on `dir/LOCK`, held for the life of the store.
fn lock_dir(cfg: &StoreConfig) -> Result<File, StoreError> {
    let path = cfg.dir.join("LOCK");
    // Appending never truncates: the file's content (none) does not matter, only its lock.
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .at(&path)?;
    // SAFETY: flock on a valid, owned descriptor; no memory is passed.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
    if !locked {
        return Err(StoreError::invalid(
            "dir",
            format!("{} is in use by another open store", cfg.dir.display()),
        ));
    }
    Ok(file)
}

/// Loads the manifest and checks it matches the config, or writes the first one.
fn load_or_create_manifest(cfg: &StoreConfig) -> Result<Manifest, StoreError> {
    match manifest::load(&cfg.dir)? {
        Some(manifest) => check_compatible(cfg, &manifest).map(|()| manifest),
        None => {
            refuse_files_without_manifest(cfg)?;
            let manifest = Manifest {
                format_version: manifest::FORMAT_VERSION,
                layout: StoredLayout::of(cfg),
                checkpoint_lsn: 0,
                next_segment_id: 1,
                segments: Vec::new(),
                payload_generation: 1,
                payload_bytes: 0,
            };
            manifest::store(&cfg.dir, &manifest)?;
            Ok(manifest)
        }
    }
}

fn check_compatible(cfg: &StoreConfig, stored: &Manifest) -> Result<(), StoreError> {
    let stored = &stored.layout;
    let fields = [
        (
            "dimension",
            cfg.dimension.to_string(),
            stored.dimension.to_string(),
        ),
        (
            "metric",
            cfg.metric.as_str().into(),
            stored.metric.as_str().into(),
        ),
        (
            "alignment",
            cfg.alignment.to_string(),
            stored.alignment.to_string(),
        ),
        (
            "page_size",
            cfg.page_size.to_string(),
            stored.page_size.to_string(),
        ),
        (
            "segment_bytes",
            cfg.segment_bytes.to_string(),
            stored.segment_bytes.to_string(),
        ),
    ];
    for (field, configured, found) in fields {
        if configured != found {
            return Err(StoreError::invalid(
                field,
                format!(
                    "configured {configured} but the store in {} was created with {found}",
                    cfg.dir.display()
                ),
            ));
        }
    }
    Ok(())
}

/// Segment or WAL files without a manifest mean the manifest was lost, not a new store.
fn refuse_files_without_manifest(cfg: &StoreConfig) -> Result<(), StoreError> {
    for entry in std::fs::read_dir(&cfg.dir).at(&cfg.dir)? {
        let name = entry.at(&cfg.dir)?.file_name();
        let name = name.to_string_lossy();
        if segment::segment_id_of(&name).is_some() || name.starts_with("wal-") {
            return Err(StoreError::corrupt(
                cfg.dir.join(manifest::MANIFEST),
                0,
                format!(
                    "the manifest is missing but {name} exists; refusing to start an empty store over existing data"
                ),
            ));
        }
    }
    Ok(())
}
