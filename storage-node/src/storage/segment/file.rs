//! The files of a segment: their names, their memory maps, and the vector file written
//! with `pwritev` outside the store's state lock.

use std::fs::{File, OpenOptions};
use std::io::IoSlice;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::{Advice, MmapMut, MmapOptions};
use sutra_api::f32_bytes;

use crate::storage::error::{IoContext, StoreError};

/// The vector file of a segment, for writing values into reserved slots without holding
/// the store's state lock. The same page cache backs the segment's mapping, so what is
/// written here is what searches read once the slot is applied.
#[derive(Clone)]
pub(crate) struct VectorFile {
    pub(super) file: Arc<File>,
    path: Arc<PathBuf>,
    slot_bytes: usize,
}

impl VectorFile {
    pub(super) fn new(file: File, path: &Path, slot_bytes: usize) -> VectorFile {
        VectorFile {
            file: Arc::new(file),
            path: Arc::new(path.to_path_buf()),
            slot_bytes,
        }
    }

    /// Writes one vector per slot from `first_slot` on, straight from the vectors' memory
    /// with `pwritev` (no staging copy): each slot gets the vector's f32s, then zeros up to
    /// `slot_bytes`. Every vector must hold the same number of values, at most a slot.
    pub fn write_vectors(&self, first_slot: usize, vectors: &[&[f32]]) -> Result<(), StoreError> {
        let Some(first) = vectors.first() else {
            return Ok(());
        };
        let value_bytes = std::mem::size_of_val(*first);
        assert!(
            value_bytes <= self.slot_bytes,
            "a vector larger than its slot"
        );
        let zeros = vec![0u8; self.slot_bytes - value_bytes];
        // Two iovecs a vector when slots are padded; IOV_MAX is 1024 on Linux and macOS.
        let per_call = if zeros.is_empty() { 1024 } else { 512 };
        let mut offset = (first_slot * self.slot_bytes) as u64;
        let mut slices = Vec::with_capacity(vectors.len().min(per_call) * 2);
        for chunk in vectors.chunks(per_call) {
            slices.clear();
            for values in chunk {
                assert_eq!(
                    std::mem::size_of_val(*values),
                    value_bytes,
                    "vectors differ in length"
                );
                slices.push(IoSlice::new(f32_bytes(values)));
                if !zeros.is_empty() {
                    slices.push(IoSlice::new(&zeros));
                }
            }
            pwritev_all(&self.file, &mut slices, offset).at(&self.path)?;
            offset += (chunk.len() * self.slot_bytes) as u64;
        }
        Ok(())
    }

    /// `fdatasync`: the written slots (and the blocks allocated for them) are on disk.
    pub fn sync(&self) -> Result<(), StoreError> {
        self.file.sync_data().at(&self.path)
    }

    /// Whether two handles write the same file.
    pub fn same_file(&self, other: &VectorFile) -> bool {
        Arc::ptr_eq(&self.file, &other.file)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct SegmentPaths {
    pub vectors: PathBuf,
    pub meta: PathBuf,
    pub codes: PathBuf,
}

impl SegmentPaths {
    pub fn new(dir: &Path, id: u32) -> SegmentPaths {
        SegmentPaths {
            vectors: dir.join(format!("seg-{id:06}.vec")),
            meta: dir.join(format!("seg-{id:06}.meta")),
            codes: dir.join(format!("seg-{id:06}.i8")),
        }
    }

    pub fn all(&self) -> [&Path; 3] {
        [&self.vectors, &self.meta, &self.codes]
    }
}

/// Parses `seg-000042.vec` (or `.meta`, `.i8`) into 42.
pub(crate) fn segment_id_of(file_name: &str) -> Option<u32> {
    let rest = file_name.strip_prefix("seg-")?;
    let (digits, ext) = rest.split_once('.')?;
    matches!(ext, "vec" | "meta" | "i8")
        .then(|| digits.parse().ok())
        .flatten()
}

/// How [`map`] gets a segment file: created empty (sparse) or opened at its exact size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mapping {
    Create,
    Existing,
}

/// Maps the file at `path` whole, `len` bytes long (created, or checked to be that long).
pub(super) fn map(path: &Path, len: usize, how: Mapping) -> Result<(MmapMut, File), StoreError> {
    let mut options = OpenOptions::new();
    options.read(true).write(true);
    if how == Mapping::Create {
        options.create(true).truncate(true);
    }
    let file = options.open(path).at(path)?;
    match how {
        Mapping::Create => file.set_len(len as u64).at(path)?,
        Mapping::Existing => {
            let actual = file.metadata().at(path)?.len();
            if actual != len as u64 {
                return Err(StoreError::corrupt(
                    path,
                    actual,
                    format!("file is {actual} bytes, the layout needs exactly {len}"),
                ));
            }
        }
    }
    Ok((map_file(&file, path, len)?, file))
}

fn map_file(file: &File, path: &Path, len: usize) -> Result<MmapMut, StoreError> {
    // SAFETY: the store owns its directory (guarded by an exclusive lock file) and never
    // truncates a mapped file, so the mapping stays valid while the MmapMut lives.
    unsafe { MmapOptions::new().len(len).map_mut(file) }.at(path)
}

pub(super) fn advise(map: &MmapMut, advice: Advice) {
    if let Err(error) = map.advise(advice) {
        tracing::debug!(?advice, %error, "madvise hint not applied");
    }
}

/// Writes all of `slices` at `offset`, resuming after short writes and interrupts.
fn pwritev_all(
    file: &File,
    mut slices: &mut [IoSlice<'_>],
    mut offset: u64,
) -> std::io::Result<()> {
    while !slices.is_empty() {
        let count = slices.len().min(1024) as libc::c_int;
        // SAFETY: `IoSlice` is ABI-compatible with `struct iovec` on Unix, and every slice
        // borrows memory that outlives the call; the descriptor is owned by `file`.
        let written = unsafe {
            libc::pwritev(
                file.as_raw_fd(),
                slices.as_ptr().cast::<libc::iovec>(),
                count,
                offset as libc::off_t,
            )
        };
        match written {
            -1 => {
                let error = std::io::Error::last_os_error();
                if error.kind() != std::io::ErrorKind::Interrupted {
                    return Err(error);
                }
            }
            0 => return Err(std::io::ErrorKind::WriteZero.into()),
            written => {
                offset += written as u64;
                IoSlice::advance_slices(&mut slices, written as usize);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Padded slots, more vectors than one `pwritev` takes, at an offset: each slot holds
    /// its vector's bytes then zeros, and bytes outside the slots are untouched.
    #[test]
    fn write_vectors_fills_whole_slots_across_several_pwritev_calls() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v");
        std::fs::write(&path, vec![0xEEu8; 48 * 1600]).unwrap();
        let file = VectorFile::new(
            OpenOptions::new().write(true).open(&path).unwrap(),
            &path,
            48,
        );
        let vectors: Vec<Vec<f32>> = (0..1500)
            .map(|i| (0..10).map(|d| (i * 10 + d) as f32).collect())
            .collect();
        let slices: Vec<&[f32]> = vectors.iter().map(Vec::as_slice).collect();
        file.write_vectors(3, &slices).unwrap();

        let mut expected = vec![0xEEu8; 48 * 3];
        for values in &vectors {
            expected.extend(values.iter().flat_map(|v| v.to_le_bytes()));
            expected.extend([0u8; 8]);
        }
        expected.resize(48 * 1600, 0xEE);
        assert!(std::fs::read(&path).unwrap() == expected);
    }

    #[test]
    fn parses_segment_file_names() {
        assert_eq!(segment_id_of("seg-000042.vec"), Some(42));
        assert_eq!(segment_id_of("seg-000007.i8"), Some(7));
        assert_eq!(segment_id_of("seg-000007.tmp"), None);
        assert_eq!(segment_id_of("wal-1.log"), None);
    }
}
