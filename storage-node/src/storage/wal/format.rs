//! The record format and file names of the WAL (see the [`wal`](super) header).

use std::path::Path;

/// Bytes before the body of a record.
pub(crate) const HEADER_BYTES: usize = 17;

/// A record being built: header space, then the body; sealed with its LSN on append.
pub(crate) struct Frame {
    bytes: Vec<u8>,
    kind: u8,
    body_crc: crc32fast::Hasher,
}

impl Frame {
    /// Builds a record of `kind` whose body `encode` appends (`body_len` reserves space).
    pub fn build(kind: u8, body_len: usize, encode: impl FnOnce(&mut Vec<u8>)) -> Frame {
        let mut bytes = Vec::with_capacity(HEADER_BYTES + body_len);
        bytes.resize(HEADER_BYTES, 0);
        encode(&mut bytes);
        let mut body_crc = crc32fast::Hasher::new();
        body_crc.update(&bytes[HEADER_BYTES..]);
        Frame {
            bytes,
            kind,
            body_crc,
        }
    }

    pub fn body_len(&self) -> usize {
        self.bytes.len() - HEADER_BYTES
    }

    pub(super) fn seal(mut self, lsn: u64) -> Vec<u8> {
        let len = (self.body_len() as u32).to_le_bytes();
        let crc = header_crc(len, lsn, self.kind, &self.body_crc);
        self.bytes[0..4].copy_from_slice(&len);
        self.bytes[4..8].copy_from_slice(&crc.to_le_bytes());
        self.bytes[8..16].copy_from_slice(&lsn.to_le_bytes());
        self.bytes[16] = self.kind;
        self.bytes
    }
}

pub(super) fn header_crc(len: [u8; 4], lsn: u64, kind: u8, body_crc: &crc32fast::Hasher) -> u32 {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&len);
    crc.update(&lsn.to_le_bytes());
    crc.update(&[kind]);
    crc.combine(body_crc);
    crc.finalize()
}

/// `wal-<first lsn, 20 digits>.log`.
pub(super) fn file_name(lsn: u64) -> String {
    format!("wal-{lsn:020}.log")
}

pub(super) fn lsn_of_file(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    name.strip_prefix("wal-")?
        .strip_suffix(".log")?
        .parse()
        .ok()
}
