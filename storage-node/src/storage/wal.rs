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
//! Records up to the checkpoint LSN are skipped, later ones applied in order. A bad record
//! at the very end of the newest file, with no valid record after it, is cut off (the file
//! is truncated to the last good record), logged as a warning and counted
//! ([`Replayed::truncated_records`], exported as `sutra_storage_wal_truncated_records_total`).
//! What it was cannot be known: a record cut short never finished its fsync, so it was
//! never acknowledged (unless the file itself was cut); a record of full length whose
//! checksum does not match is either a write torn by a crash or damage to a record that may
//! have been acknowledged, whose write is then lost. A bad record followed anywhere by a
//! valid one is corruption: open fails naming file and offset.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Instant;

use super::config::MAX_BATCH_BYTES;
use super::error::{IoContext, StoreError};
use super::manifest::sync_dir;
use super::ops::{self, Op};

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

    fn seal(mut self, lsn: u64) -> Vec<u8> {
        let len = (self.body_len() as u32).to_le_bytes();
        let crc = header_crc(len, lsn, self.kind, &self.body_crc);
        self.bytes[0..4].copy_from_slice(&len);
        self.bytes[4..8].copy_from_slice(&crc.to_le_bytes());
        self.bytes[8..16].copy_from_slice(&lsn.to_le_bytes());
        self.bytes[16] = self.kind;
        self.bytes
    }
}

fn header_crc(len: [u8; 4], lsn: u64, kind: u8, body_crc: &crc32fast::Hasher) -> u32 {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&len);
    crc.update(&lsn.to_le_bytes());
    crc.update(&[kind]);
    crc.combine(body_crc);
    crc.finalize()
}

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
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
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
                self.flushed
                    .wait(inner)
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
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
            inner = self
                .flushed
                .wait(inner)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
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

fn file_name(lsn: u64) -> String {
    format!("wal-{lsn:020}.log")
}

fn lsn_of_file(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    name.strip_prefix("wal-")?
        .strip_suffix(".log")?
        .parse()
        .ok()
}

fn create_file(dir: &Path, first_lsn: u64) -> Result<(File, PathBuf), StoreError> {
    let path = dir.join(file_name(first_lsn));
    let file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)
        .at(&path)?;
    // The file must exist after a crash before any record in it is acknowledged.
    sync_dir(dir)?;
    Ok((file, path))
}

/// The WAL files of `dir`, oldest first.
pub(crate) fn list_files(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StoreError> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).at(dir)? {
        let path = entry.at(dir)?.path();
        if let Some(lsn) = lsn_of_file(&path) {
            files.push((lsn, path));
        }
    }
    files.sort();
    Ok(files)
}

/// What replay found.
#[derive(Debug, Default)]
pub(crate) struct Replayed {
    /// Highest LSN seen (the checkpoint LSN when there was nothing newer).
    pub last_lsn: u64,
    /// Records applied (those after the checkpoint).
    pub applied: u64,
    /// The files read; all of them are covered once the replayed state is checkpointed.
    pub files: Vec<PathBuf>,
    /// Bad records cut off the end of the newest file (0 or 1).
    pub truncated_records: u64,
}

/// Applies every record after `checkpoint_lsn` in LSN order.
pub(crate) fn replay(
    dir: &Path,
    checkpoint_lsn: u64,
    dim: usize,
    apply: &mut dyn FnMut(Op) -> Result<(), StoreError>,
) -> Result<Replayed, StoreError> {
    let files = list_files(dir)?;
    let mut replayed = Replayed {
        last_lsn: checkpoint_lsn,
        ..Replayed::default()
    };
    let mut expected_next: Option<u64> = None;
    for (index, (first_lsn, path)) in files.iter().enumerate() {
        check_continuity(path, *first_lsn, expected_next, checkpoint_lsn)?;
        let is_last = index + 1 == files.len();
        let mut reader = FileReplay {
            path,
            dim,
            checkpoint_lsn,
            last_lsn: first_lsn - 1,
            applied: 0,
            truncated: false,
        };
        reader.run(is_last, apply)?;
        replayed.truncated_records += u64::from(reader.truncated);
        expected_next = Some(reader.last_lsn + 1);
        replayed.last_lsn = replayed.last_lsn.max(reader.last_lsn);
        replayed.applied += reader.applied;
        replayed.files.push(path.clone());
    }
    Ok(replayed)
}

fn check_continuity(
    path: &Path,
    first_lsn: u64,
    expected_next: Option<u64>,
    checkpoint_lsn: u64,
) -> Result<(), StoreError> {
    let problem = match expected_next {
        None if first_lsn > checkpoint_lsn + 1 => Some(format!(
            "the oldest WAL file starts at LSN {first_lsn} but the checkpoint covers only up to {checkpoint_lsn}: records are missing"
        )),
        Some(expected) if first_lsn != expected => Some(format!(
            "file starts at LSN {first_lsn} but the previous file ended before LSN {expected}"
        )),
        _ => None,
    };
    match problem {
        Some(detail) => Err(StoreError::corrupt(path, 0, detail)),
        None => Ok(()),
    }
}

struct FileReplay<'a> {
    path: &'a Path,
    dim: usize,
    checkpoint_lsn: u64,
    last_lsn: u64,
    applied: u64,
    /// Whether a bad last record was cut off.
    truncated: bool,
}

/// Why a record could not be read.
enum BadRecord {
    Short,
    Checksum,
    Implausible(String),
}

impl BadRecord {
    fn describe(&self) -> String {
        match self {
            BadRecord::Short => "record is cut short".into(),
            BadRecord::Checksum => "record checksum does not match".into(),
            BadRecord::Implausible(why) => why.clone(),
        }
    }

    /// What a bad last record means for the writes it held, as far as can be known.
    fn consequence(&self) -> &'static str {
        match self {
            BadRecord::Short => {
                "its fsync never completed, so its write was never acknowledged (unless the file was cut short by damage)"
            }
            BadRecord::Checksum | BadRecord::Implausible(_) => {
                "either a write torn by a crash, never acknowledged, or damage to a record that may have been acknowledged, whose write is lost"
            }
        }
    }
}

impl FileReplay<'_> {
    fn run(
        &mut self,
        is_last: bool,
        apply: &mut dyn FnMut(Op) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let file = File::open(self.path).at(self.path)?;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut offset = 0u64;
        let mut body = Vec::new();
        loop {
            match read_record(&mut reader, &mut body, self.last_lsn + 1).at(self.path)? {
                RecordRead::End => return Ok(()),
                RecordRead::Good { lsn, kind } => {
                    self.apply_record(offset, lsn, kind, &body, apply)?;
                    offset += (HEADER_BYTES + body.len()) as u64;
                }
                RecordRead::Bad(bad) => return self.handle_bad_record(offset, bad, is_last),
            }
        }
    }

    fn apply_record(
        &mut self,
        offset: u64,
        lsn: u64,
        kind: u8,
        body: &[u8],
        apply: &mut dyn FnMut(Op) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        if lsn != self.last_lsn + 1 {
            return Err(StoreError::corrupt(
                self.path,
                offset,
                format!("record has LSN {lsn}, expected {}", self.last_lsn + 1),
            ));
        }
        self.last_lsn = lsn;
        if lsn <= self.checkpoint_lsn {
            return Ok(());
        }
        let op = ops::decode(kind, body, self.dim).map_err(|detail| {
            StoreError::corrupt(self.path, offset, format!("record LSN {lsn}: {detail}"))
        })?;
        apply(op)?;
        self.applied += 1;
        Ok(())
    }

    /// A bad record at the very end of the newest file is a torn write: cut it off. Any
    /// other bad record is corruption.
    fn handle_bad_record(
        &mut self,
        offset: u64,
        bad: BadRecord,
        is_last: bool,
    ) -> Result<(), StoreError> {
        if !is_last {
            return Err(StoreError::corrupt(
                self.path,
                offset,
                format!("{} in a WAL file that is not the newest", bad.describe()),
            ));
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(self.path)
            .at(self.path)?;
        file.seek(SeekFrom::Start(offset)).at(self.path)?;
        let mut rest = Vec::new();
        file.read_to_end(&mut rest).at(self.path)?;
        if let Some((at, lsn)) = find_valid_record(&rest[1.min(rest.len())..], self.last_lsn) {
            let at = offset + 1 + at as u64;
            return Err(StoreError::corrupt(
                self.path,
                offset,
                format!(
                    "{}, but a valid record (LSN {lsn}) follows at offset {at}",
                    bad.describe()
                ),
            ));
        }
        tracing::warn!(
            file = %self.path.display(), offset, dropped_bytes = rest.len(),
            last_good_lsn = self.last_lsn, reason = bad.describe(), meaning = bad.consequence(),
            "cutting a bad last record off the end of the WAL"
        );
        file.set_len(offset).at(self.path)?;
        self.truncated = true;
        file.sync_all().at(self.path)
    }
}

enum RecordRead {
    End,
    Good { lsn: u64, kind: u8 },
    Bad(BadRecord),
}

fn read_record(
    reader: &mut impl Read,
    body: &mut Vec<u8>,
    expected_lsn: u64,
) -> std::io::Result<RecordRead> {
    let mut header = [0u8; HEADER_BYTES];
    match read_full(reader, &mut header)? {
        0 => return Ok(RecordRead::End),
        n if n < HEADER_BYTES => return Ok(RecordRead::Bad(BadRecord::Short)),
        _ => {}
    }
    let (len, crc, lsn, kind) = parse_header(&header);
    if len == 0 || len > MAX_BATCH_BYTES {
        let why = format!(
            "record length {len} is outside 1..={MAX_BATCH_BYTES} (LSN field {lsn}, expected {expected_lsn})"
        );
        return Ok(RecordRead::Bad(BadRecord::Implausible(why)));
    }
    // Grow the body with what the file holds, not to the length the header claims: a
    // damaged length must not make start-up allocate up to a GiB for a short file.
    body.clear();
    reader.take(len as u64).read_to_end(body)?;
    if body.len() < len {
        return Ok(RecordRead::Bad(BadRecord::Short));
    }
    if checksum(&header, body) != crc {
        return Ok(RecordRead::Bad(BadRecord::Checksum));
    }
    Ok(RecordRead::Good { lsn, kind })
}

fn parse_header(header: &[u8; HEADER_BYTES]) -> (usize, u32, u64, u8) {
    let len = u32::from_le_bytes(header[0..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(header[4..8].try_into().expect("4 bytes"));
    let lsn = u64::from_le_bytes(header[8..16].try_into().expect("8 bytes"));
    (len, crc, lsn, header[16])
}

fn checksum(header: &[u8; HEADER_BYTES], body: &[u8]) -> u32 {
    let mut body_crc = crc32fast::Hasher::new();
    body_crc.update(body);
    let len = header[0..4].try_into().expect("4 bytes");
    let (_, _, lsn, kind) = parse_header(header);
    header_crc(len, lsn, kind, &body_crc)
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

/// Looks for a complete record with a good checksum and an LSN after `last_lsn` at any
/// byte position of `bytes`; returns its position and LSN.
fn find_valid_record(bytes: &[u8], last_lsn: u64) -> Option<(usize, u64)> {
    let most_records = (bytes.len() / HEADER_BYTES) as u64 + 1;
    (0..bytes.len().saturating_sub(HEADER_BYTES)).find_map(|at| {
        let header: &[u8; HEADER_BYTES] = bytes[at..at + HEADER_BYTES]
            .try_into()
            .expect("header length");
        let (len, crc, lsn, _) = parse_header(header);
        let plausible = lsn > last_lsn
            && lsn <= last_lsn + most_records + 1
            && len > 0
            && len <= bytes.len() - at - HEADER_BYTES;
        let body = &bytes[at + HEADER_BYTES..at + HEADER_BYTES + if plausible { len } else { 0 }];
        (plausible && checksum(header, body) == crc).then_some((at, lsn))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(lsn: u64, body: &[u8]) -> Vec<u8> {
        Frame::build(ops::KIND_DELETE, body.len(), |out| {
            out.extend_from_slice(body)
        })
        .seal(lsn)
    }

    #[test]
    fn values_fall_in_the_first_bucket_that_holds_them() {
        assert_eq!(bucket(&GROUP_SIZE_BOUNDS, 1.0), 0);
        assert_eq!(bucket(&GROUP_SIZE_BOUNDS, 3.0), 2);
        assert_eq!(bucket(&GROUP_SIZE_BOUNDS, 256.0), 8);
        assert_eq!(bucket(&GROUP_SIZE_BOUNDS, 257.0), 9);
        assert_eq!(bucket(&FSYNC_SECONDS_BOUNDS, 0.0002), 0);
        assert_eq!(bucket(&FSYNC_SECONDS_BOUNDS, 0.003), 3);
    }

    #[test]
    fn sealed_record_reads_back() {
        let bytes = record(5, b"hello");
        let mut body = Vec::new();
        let read = read_record(&mut bytes.as_slice(), &mut body, 5).unwrap();
        assert!(matches!(
            read,
            RecordRead::Good {
                lsn: 5,
                kind: ops::KIND_DELETE
            }
        ));
        assert_eq!(body, b"hello");
    }

    #[test]
    fn flipped_body_byte_fails_the_checksum() {
        let mut bytes = record(5, b"hello");
        bytes[HEADER_BYTES + 1] ^= 1;
        let read = read_record(&mut bytes.as_slice(), &mut Vec::new(), 5).unwrap();
        assert!(matches!(read, RecordRead::Bad(BadRecord::Checksum)));
    }

    #[test]
    fn finds_a_valid_record_after_garbage() {
        let mut bytes = vec![0xAB; 40];
        bytes.extend(record(8, b"payload"));
        assert_eq!(find_valid_record(&bytes, 7), Some((40, 8)));
        assert_eq!(find_valid_record(&bytes[..50], 7), None);
    }
}
