//! The manifest: what a checkpoint made durable.
//!
//! One small file, `MANIFEST`: a header line `sutra-manifest crc32=XXXXXXXX` followed by a
//! JSON body whose CRC-32 the header carries. The body's `format_version` names the on-disk
//! format of the whole store; a store of any other version is refused with both versions
//! named (nothing has been released, so there is no reader for older formats). It holds
//! the layout the store was created with in full (alignment and page size, not only the
//! slot size they produce), so a reopen derives exactly the same file sizes. It is
//! replaced atomically (write
//! `MANIFEST.tmp`, fsync, rename, fsync the directory), so after a crash it is either the
//! old or the new one, never a mix.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sutra_core::vector::Metric;

use super::config::StoreConfig;
use super::error::{IoContext, StoreError};

pub(crate) const MANIFEST: &str = "MANIFEST";
const MANIFEST_TMP: &str = "MANIFEST.tmp";
const HEADER_PREFIX: &str = "sutra-manifest crc32=";

/// The on-disk format this build reads and writes: the manifest, the 48-byte checksummed
/// slot metadata (values, codes, payload and the metadata itself each carry a CRC-32), and
/// the WAL record kinds delete, place and inline place.
pub(crate) const FORMAT_VERSION: u32 = 2;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    pub format_version: u32,
    /// Stored as top-level fields of the body, next to `format_version`.
    #[serde(flatten)]
    pub layout: StoredLayout,
    /// Every WAL record up to this LSN is reflected in the files below.
    pub checkpoint_lsn: u64,
    pub next_segment_id: u32,
    pub segments: Vec<SegmentEntry>,
    /// The payload file is `payloads-<generation>.dat`; compaction writes the next one.
    pub payload_generation: u32,
    pub payload_bytes: u64,
}

/// How the store in a directory was created, read from its manifest without opening it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredLayout {
    pub dimension: u32,
    pub metric: Metric,
    /// Slot alignment and page size as created: together with the dimension and segment
    /// size they fix every file size, so a reopen must use them, whatever this host has.
    pub alignment: usize,
    pub page_size: u64,
    pub segment_bytes: u64,
    /// Whether the segments carry int8 files.
    pub compression: bool,
}

impl StoredLayout {
    /// The layout `cfg` creates a store with.
    pub(crate) fn of(cfg: &StoreConfig) -> StoredLayout {
        StoredLayout {
            dimension: cfg.dimension,
            metric: cfg.metric,
            alignment: cfg.alignment,
            page_size: cfg.page_size,
            segment_bytes: cfg.segment_bytes,
            compression: cfg.compression,
        }
    }
}

/// The layout of the store in `dir`; `None` when `dir` holds no store yet.
pub fn stored_layout(dir: &Path) -> Result<Option<StoredLayout>, StoreError> {
    Ok(load(dir)?.map(|m| m.layout))
}

pub(crate) fn payload_file_name(generation: u32) -> String {
    format!("payloads-{generation:06}.dat")
}

/// Parses `payloads-000003.dat` into 3.
pub(crate) fn payload_generation_of(file_name: &str) -> Option<u32> {
    file_name
        .strip_prefix("payloads-")?
        .strip_suffix(".dat")?
        .parse()
        .ok()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SegmentEntry {
    pub id: u32,
    /// Slots written at the checkpoint.
    pub used: usize,
}

/// Reads the manifest; `None` when the directory holds none (a new store).
pub(crate) fn load(dir: &Path) -> Result<Option<Manifest>, StoreError> {
    let path = dir.join(MANIFEST);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(StoreError::Io { path, source }),
    };
    decode(&bytes)
        .map(Some)
        .map_err(|(offset, detail)| StoreError::corrupt(&path, offset, detail))
}

fn decode(bytes: &[u8]) -> Result<Manifest, (u64, String)> {
    let newline = bytes
        .iter()
        .position(|&b| b == b'\n')
        .ok_or((0, "no header line".to_string()))?;
    let header = std::str::from_utf8(&bytes[..newline])
        .map_err(|_| (0, "header is not UTF-8".to_string()))?;
    let expected = header
        .strip_prefix(HEADER_PREFIX)
        .and_then(|hex| u32::from_str_radix(hex, 16).ok())
        .ok_or((
            0,
            format!("header {header:?} is not `{HEADER_PREFIX}<8 hex digits>`"),
        ))?;
    let body = &bytes[newline + 1..];
    let body_offset = (newline + 1) as u64;
    let actual = crc32fast::hash(body);
    if actual != expected {
        return Err((
            body_offset,
            format!("checksum mismatch: header says {expected:08x}, body has {actual:08x}"),
        ));
    }
    check_version(body).map_err(|detail| (body_offset, detail))?;
    serde_json::from_slice(body).map_err(|e| (body_offset, format!("body does not parse: {e}")))
}

/// Refuses a store of another format before its body is parsed as this one.
fn check_version(body: &[u8]) -> Result<(), String> {
    #[derive(Deserialize)]
    struct Versioned {
        format_version: Option<u32>,
    }
    let versioned: Versioned =
        serde_json::from_slice(body).map_err(|e| format!("body does not parse: {e}"))?;
    match versioned.format_version {
        Some(FORMAT_VERSION) => Ok(()),
        found => Err(format!(
            "the store has on-disk format version {}, this build reads version {FORMAT_VERSION} only; \
             open it with the build that wrote it, or start this one on an empty data directory",
            found.map_or_else(
                || "1 (no format_version field)".to_string(),
                |v| v.to_string()
            )
        )),
    }
}

/// Atomically replaces the manifest.
pub(crate) fn store(dir: &Path, manifest: &Manifest) -> Result<(), StoreError> {
    let body = serde_json::to_vec_pretty(manifest).expect("manifest serialises");
    let tmp = dir.join(MANIFEST_TMP);
    let mut file = File::create(&tmp).at(&tmp)?;
    writeln!(file, "{HEADER_PREFIX}{:08x}", crc32fast::hash(&body)).at(&tmp)?;
    file.write_all(&body).at(&tmp)?;
    file.sync_all().at(&tmp)?;
    let path = dir.join(MANIFEST);
    std::fs::rename(&tmp, &path).at(&path)?;
    sync_dir(dir)
}

/// Makes file creations, renames and deletions in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|d| d.sync_all()).at(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Manifest {
        Manifest {
            format_version: FORMAT_VERSION,
            layout: StoredLayout {
                dimension: 4,
                metric: Metric::Cosine,
                alignment: 16,
                page_size: 4096,
                segment_bytes: 4096,
                compression: false,
            },
            checkpoint_lsn: 9,
            next_segment_id: 2,
            segments: vec![SegmentEntry { id: 1, used: 3 }],
            payload_generation: 1,
            payload_bytes: 12,
        }
    }

    #[test]
    fn round_trips_and_detects_a_flipped_byte() {
        let dir = tempfile::tempdir().unwrap();
        store(dir.path(), &sample()).unwrap();
        assert_eq!(load(dir.path()).unwrap(), Some(sample()));
        let path = dir.path().join(MANIFEST);
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 3;
        bytes[last] ^= 0x20;
        std::fs::write(&path, bytes).unwrap();
        let error = load(dir.path()).unwrap_err();
        assert!(matches!(error, StoreError::Corrupt { .. }), "{error}");
        assert!(error.to_string().contains("checksum mismatch"), "{error}");
    }

    #[test]
    fn refuses_another_format_version_naming_both() {
        let dir = tempfile::tempdir().unwrap();
        for (version, named) in [
            (Some(1), "version 1,"),
            (Some(3), "version 3,"),
            (None, "1 (no format_version field)"),
        ] {
            let mut body = serde_json::to_value(sample()).unwrap();
            match version {
                Some(v) => body["format_version"] = v.into(),
                None => drop(body.as_object_mut().unwrap().remove("format_version")),
            }
            let body = serde_json::to_vec(&body).unwrap();
            let mut bytes = format!("{HEADER_PREFIX}{:08x}\n", crc32fast::hash(&body)).into_bytes();
            bytes.extend(&body);
            std::fs::write(dir.path().join(MANIFEST), bytes).unwrap();
            let error = load(dir.path()).unwrap_err().to_string();
            assert!(error.contains(named), "{error}");
            assert!(error.contains("reads version 2 only"), "{error}");
        }
    }
}
