//! The write-ahead log with group commit.
//!
//! # Format
//! Files `wal-<first lsn, 20 digits>.log`, each a sequence of records
//! `[len u32][crc u32][lsn u64][kind u8][body: len bytes]`, little-endian. The CRC-32 covers
//! `len`, `lsn`, `kind` and the body. LSNs increase by one from record to record and from
//! file to file.
//!
//! # Group commit
//! A writer seals its record with the next LSN and queues it under the mutex. If no flush
//! is running it becomes the leader: it takes the whole queue, writes it and calls
//! `fdatasync` with the mutex released, then marks everything it wrote durable and wakes
//! all waiters. Writers that queued meanwhile are covered by the next leader's single
//! fsync. A writer returns once its LSN is durable. After a failed write or fsync the log
//! refuses all further appends: the page cache can no longer be trusted to match the disk.
//!
//! # Replay
//! At start-up ([`replay()`]): records after the checkpoint are applied in order, a bad
//! record at the very end of the newest file is cut off, and any other bad record is
//! corruption.

mod format;
mod replay;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use super::error::{IoContext, StoreError};
use super::manifest::sync_dir;
use super::order::Unpoison;
pub(crate) use format::Frame;
use format::{file_name, lsn_of_file};
pub(crate) use replay::replay;

/// Upper bounds (seconds) of the fsync latency buckets in [`WalMetrics::fsync_buckets`].
pub const FSYNC_SECONDS_BOUNDS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];
/// Upper bounds of the group size buckets in [`WalMetrics::group_buckets`].
pub const GROUP_SIZE_BOUNDS: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// Counters of the log since open, read with [`Wal::metrics`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalMetrics {
    /// `fdatasync` calls on WAL files.
    pub fsyncs: u64,
    /// Total time spent in those calls, nanoseconds.
    pub fsync_nanos: u64,
    /// Records made durable (one per upsert or delete call).
    pub records: u64,
    /// Bytes written to WAL files.
    pub bytes: u64,
    /// Most records covered by a single fsync.
    pub largest_group: u64,
    /// Fsyncs per latency bucket of [`FSYNC_SECONDS_BOUNDS`] (not cumulative); the last
    /// entry counts those above the largest bound.
    pub fsync_buckets: [u64; FSYNC_SECONDS_BOUNDS.len() + 1],
    /// Fsyncs per group size bucket of [`GROUP_SIZE_BOUNDS`], likewise.
    pub group_buckets: [u64; GROUP_SIZE_BOUNDS.len() + 1],
}

#[derive(Default)]
struct Counters {
    fsyncs: AtomicU64,
    fsync_nanos: AtomicU64,
    records: AtomicU64,
    bytes: AtomicU64,
    largest_group: AtomicU64,
    fsync_buckets: [AtomicU64; FSYNC_SECONDS_BOUNDS.len() + 1],
    group_buckets: [AtomicU64; GROUP_SIZE_BOUNDS.len() + 1],
}

/// The bucket of `value`: the first bound it does not exceed, or the overflow bucket.
fn bucket(bounds: &[f64], value: f64) -> usize {
    bounds
        .iter()
        .position(|&bound| value <= bound)
        .unwrap_or(bounds.len())
}

pub(crate) struct Wal {
    dir: PathBuf,
    inner: Mutex<Inner>,
    flushed: Condvar,
    counters: Counters,
}

struct Inner {
    pending: Vec<Vec<u8>>,
    next_lsn: u64,
    durable_lsn: u64,
    flushing: bool,
    current: Arc<File>,
    current_path: PathBuf,
    current_bytes: u64,
    /// Closed files, oldest first, with their first LSN and size.
    closed: Vec<(u64, PathBuf, u64)>,
    failure: Option<String>,
}

impl Wal {
    /// Starts a fresh file for LSNs from `next_lsn` on.
    pub fn start(dir: &Path, next_lsn: u64) -> Result<Wal, StoreError> {
        let (file, path) = create_file(dir, next_lsn)?;
        let inner = Inner {
            pending: Vec::new(),
            next_lsn,
            durable_lsn: next_lsn - 1,
            flushing: false,
            current: Arc::new(file),
            current_path: path,
            current_bytes: 0,
            closed: Vec::new(),
            failure: None,
        };
        Ok(Wal {
            dir: dir.to_path_buf(),
            inner: Mutex::new(inner),
            flushed: Condvar::new(),
            counters: Counters::default(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unpoisoned()
    }

    /// Queues a record for the next group commit and returns its LSN at once. Records are
    /// written in LSN order; [`wait_durable`](Self::wait_durable) waits for one.
    pub fn enqueue(&self, frame: Frame) -> Result<u64, StoreError> {
        let mut inner = self.lock();
        if let Some(failure) = &inner.failure {
            return Err(StoreError::Failed(failure.clone()));
        }
        let lsn = inner.next_lsn;
        inner.next_lsn += 1;
        inner.pending.push(frame.seal(lsn));
        Ok(lsn)
    }

    /// Returns once the record with `lsn` is on disk, leading a group commit (one write and
    /// one `fdatasync` for everything queued) when none is running.
    pub fn wait_durable(&self, lsn: u64) -> Result<(), StoreError> {
        let mut inner = self.lock();
        loop {
            if inner.durable_lsn >= lsn {
                return Ok(());
            }
            if let Some(failure) = &inner.failure {
                return Err(StoreError::Failed(failure.clone()));
            }
            inner = if inner.flushing {
                self.flushed.wait(inner).unpoisoned()
            } else {
                self.flush_as_leader(inner)
            };
        }
    }

    fn flush_as_leader<'a>(&'a self, mut inner: MutexGuard<'a, Inner>) -> MutexGuard<'a, Inner> {
        inner.flushing = true;
        let batch = std::mem::take(&mut inner.pending);
        let covered_lsn = inner.next_lsn - 1;
        let file = Arc::clone(&inner.current);
        let path = inner.current_path.clone();
        drop(inner);

        let written = self.write_and_sync(&file, &batch);

        let mut inner = self.lock();
        inner.flushing = false;
        match written {
            Ok(bytes) => {
                inner.durable_lsn = covered_lsn;
                inner.current_bytes += bytes;
            }
            Err(error) => {
                inner.failure = Some(format!("WAL write to {} failed: {error}", path.display()))
            }
        }
        self.flushed.notify_all();
        inner
    }

    fn write_and_sync(&self, file: &File, batch: &[Vec<u8>]) -> std::io::Result<u64> {
        let mut writer = file;
        for record in batch {
            writer.write_all(record)?;
        }
        let started = Instant::now();
        file.sync_data()?;
        let elapsed = started.elapsed();
        let bytes: u64 = batch.iter().map(|r| r.len() as u64).sum();
        let c = &self.counters;
        c.fsync_nanos
            .fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
        c.fsync_buckets[bucket(&FSYNC_SECONDS_BOUNDS, elapsed.as_secs_f64())]
            .fetch_add(1, Ordering::Relaxed);
        c.group_buckets[bucket(&GROUP_SIZE_BOUNDS, batch.len() as f64)]
            .fetch_add(1, Ordering::Relaxed);
        c.fsyncs.fetch_add(1, Ordering::Relaxed);
        c.records.fetch_add(batch.len() as u64, Ordering::Relaxed);
        c.bytes.fetch_add(bytes, Ordering::Relaxed);
        c.largest_group
            .fetch_max(batch.len() as u64, Ordering::Relaxed);
        Ok(bytes)
    }

    /// Closes the current file and starts the next, so that a checkpoint can delete the
    /// closed ones. Does nothing while the current file is empty.
    pub fn rotate(&self) -> Result<(), StoreError> {
        let mut inner = self.lock();
        while inner.flushing {
            inner = self.flushed.wait(inner).unpoisoned();
        }
        if let Some(failure) = &inner.failure {
            return Err(StoreError::Failed(failure.clone()));
        }
        if inner.current_bytes == 0 {
            return Ok(());
        }
        let start = inner.durable_lsn + 1;
        let (file, path) = create_file(&self.dir, start)?;
        let old_path = std::mem::replace(&mut inner.current_path, path);
        let old_start = lsn_of_file(&old_path).expect("WAL file names carry their LSN");
        let old_bytes = std::mem::replace(&mut inner.current_bytes, 0);
        inner.current = Arc::new(file);
        inner.closed.push((old_start, old_path, old_bytes));
        Ok(())
    }

    /// Deletes closed files whose records all have LSN <= `lsn`.
    pub fn remove_through(&self, lsn: u64) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let current_start =
            lsn_of_file(&inner.current_path).expect("WAL file names carry their LSN");
        let mut removed = false;
        while let Some((_, path, _)) = inner.closed.first() {
            let next_start = inner
                .closed
                .get(1)
                .map_or(current_start, |(start, _, _)| *start);
            if next_start - 1 > lsn {
                break;
            }
            std::fs::remove_file(path).at(path)?;
            inner.closed.remove(0);
            removed = true;
        }
        drop(inner);
        if removed { sync_dir(&self.dir) } else { Ok(()) }
    }

    /// Bytes in all WAL files still on disk.
    pub fn bytes_on_disk(&self) -> u64 {
        let inner = self.lock();
        inner.current_bytes + inner.closed.iter().map(|(_, _, bytes)| bytes).sum::<u64>()
    }

    pub fn metrics(&self) -> WalMetrics {
        let c = &self.counters;
        WalMetrics {
            fsyncs: c.fsyncs.load(Ordering::Relaxed),
            fsync_nanos: c.fsync_nanos.load(Ordering::Relaxed),
            records: c.records.load(Ordering::Relaxed),
            bytes: c.bytes.load(Ordering::Relaxed),
            largest_group: c.largest_group.load(Ordering::Relaxed),
            fsync_buckets: c
                .fsync_buckets
                .each_ref()
                .map(|n| n.load(Ordering::Relaxed)),
            group_buckets: c
                .group_buckets
                .each_ref()
                .map(|n| n.load(Ordering::Relaxed)),
        }
    }
}

fn create_file(dir: &Path, first_lsn: u64) -> Result<(File, PathBuf), StoreError> {
    let path = dir.join(file_name(first_lsn));
    let file = File::create(&path).at(&path)?;
    // The file must exist after a crash before any record in it is acknowledged.
    sync_dir(dir)?;
    Ok((file, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_fall_in_the_first_bucket_that_holds_them() {
        assert_eq!(bucket(&GROUP_SIZE_BOUNDS, 1.0), 0);
        assert_eq!(bucket(&GROUP_SIZE_BOUNDS, 3.0), 2);
        assert_eq!(bucket(&GROUP_SIZE_BOUNDS, 256.0), 8);
        assert_eq!(bucket(&GROUP_SIZE_BOUNDS, 257.0), 9);
        assert_eq!(bucket(&FSYNC_SECONDS_BOUNDS, 0.0002), 0);
        assert_eq!(bucket(&FSYNC_SECONDS_BOUNDS, 0.003), 3);
    }
}
