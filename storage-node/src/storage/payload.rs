//! The payload file: an append-only heap of payload bytes, addressed by (offset, len).
//!
//! Replacing a vector appends its new payload; the old bytes stay until compaction writes
//! a fresh file with only live payloads. Each payload's CRC-32 lives in its slot's
//! metadata (through [`PayloadRef`]) and is checked on every read. Writes use `pwrite` at the end under the store's
//! write lock; reads use `pread`, so searches read payloads concurrently.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use super::error::{IoContext, StoreError};
use super::segment::PayloadRef;

pub(crate) struct PayloadFile {
    path: PathBuf,
    file: File,
    len: u64,
    dirty: AtomicBool,
}

impl PayloadFile {
    /// Opens (or creates) the file and cuts it back to `checkpointed_len`: bytes past the
    /// checkpoint were written by WAL records that replay appends again.
    pub fn open(path: &Path, checkpointed_len: u64) -> Result<PayloadFile, StoreError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .at(path)?;
        let actual = file.metadata().at(path)?.len();
        if actual < checkpointed_len {
            return Err(StoreError::corrupt(
                path,
                actual,
                format!("payload file is {actual} bytes, the manifest records {checkpointed_len}"),
            ));
        }
        if actual > checkpointed_len {
            file.set_len(checkpointed_len).at(path)?;
        }
        Ok(PayloadFile {
            path: path.to_path_buf(),
            file,
            len: checkpointed_len,
            dirty: AtomicBool::new(false),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn append(&mut self, bytes: &[u8]) -> Result<PayloadRef, StoreError> {
        if bytes.is_empty() {
            return Ok(PayloadRef::default());
        }
        self.file.write_all_at(bytes, self.len).at(&self.path)?;
        let stored = PayloadRef {
            offset: self.len,
            len: bytes.len() as u32,
            crc: crc32fast::hash(bytes),
        };
        self.len += bytes.len() as u64;
        *self.dirty.get_mut() = true;
        Ok(stored)
    }

    /// The payload at `at`, checked against its checksum. A reference past the end of the
    /// file or a mismatch is corruption, reported with this file and the offset.
    pub fn read(&self, at: PayloadRef) -> Result<Vec<u8>, StoreError> {
        let end = at.offset.checked_add(u64::from(at.len));
        if end.is_none_or(|end| end > self.len) {
            return Err(StoreError::corrupt(
                &self.path,
                at.offset,
                format!(
                    "a payload of {} bytes at offset {} reaches past the end of the file ({} bytes)",
                    at.len, at.offset, self.len
                ),
            ));
        }
        let mut bytes = vec![0; at.len as usize];
        self.file
            .read_exact_at(&mut bytes, at.offset)
            .at(&self.path)?;
        let found = crc32fast::hash(&bytes);
        if found != at.crc {
            return Err(StoreError::corrupt(
                &self.path,
                at.offset,
                format!(
                    "the {} payload bytes here have checksum {found:#010x}, the slot's metadata holds {:#010x}",
                    at.len, at.crc
                ),
            ));
        }
        Ok(bytes)
    }

    /// Whether the payload at `at` starts with `prefix`; reads and checks it whole.
    pub fn starts_with(&self, at: PayloadRef, prefix: &[u8]) -> Result<bool, StoreError> {
        if prefix.len() > at.len as usize {
            return Ok(false);
        }
        Ok(self.read(at)?.starts_with(prefix))
    }

    pub fn sync(&self) -> Result<(), StoreError> {
        if self.dirty.swap(false, Ordering::AcqRel) {
            self.file.sync_data().at(&self.path)?;
        }
        Ok(())
    }
}
