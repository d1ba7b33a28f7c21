//! Replay of the WAL at start-up.
//!
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
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::format::{HEADER_BYTES, header_crc, lsn_of_file};
use crate::storage::config::MAX_BATCH_BYTES;
use crate::storage::error::{IoContext, StoreError};
use crate::storage::ops::{self, Op};

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
    use crate::storage::wal::format::Frame;

    fn record(lsn: u64, body: &[u8]) -> Vec<u8> {
        Frame::build(ops::KIND_DELETE, body.len(), |out| {
            out.extend_from_slice(body)
        })
        .seal(lsn)
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
