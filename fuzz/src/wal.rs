//! The `wal_replay` target and the WAL record framing it shares with the seeds.

use std::path::Path;

use super::Outcome;
use super::store::{Flavour, StoreCopy, overwrite};

/// WAL replay. Input: a mode byte, then the newest WAL file's content. Mode bit 0 clear:
/// the bytes as they are (reaching framing, checksums and torn-tail handling); set: a
/// list of records `[kind u8][body length u16 LE][body]` that the harness seals as the
/// engine does, with LSNs following the checkpoint and good checksums, so the input
/// reaches the record decoder and replay itself; bytes after the last whole record are
/// appended as they are (a torn tail).
pub fn wal_replay(data: &[u8]) -> Outcome {
    let Some((&mode, rest)) = data.split_first() else {
        return Outcome::Refused("empty input".into());
    };
    let flavour = Flavour::of(mode);
    let copy = StoreCopy::of(flavour);
    let wal = copy.file("wal-");
    let content = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        seal_records(first_lsn(&wal), rest)
    };
    overwrite(&wal, &content);
    copy.open_and_use(flavour)
}

/// The LSN in a WAL file's name, `wal-<first LSN, 20 digits>.log`.
fn first_lsn(wal: &Path) -> u64 {
    let name = wal.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.trim_start_matches("wal-")
        .trim_end_matches(".log")
        .parse()
        .unwrap_or_else(|_| panic!("WAL file name {name:?} does not carry an LSN"))
}

/// Bytes of a WAL record header: `[len u32][crc u32][lsn u64][kind u8]`.
const WAL_HEADER_BYTES: usize = 17;

/// One WAL record as the engine writes it: the CRC-32 covers length, LSN, kind and body.
pub fn seal_record(lsn: u64, kind: u8, body: &[u8]) -> Vec<u8> {
    let len = (body.len() as u32).to_le_bytes();
    let mut crc = crc32fast::Hasher::new();
    crc.update(&len);
    crc.update(&lsn.to_le_bytes());
    crc.update(&[kind]);
    crc.update(body);
    let mut record = Vec::with_capacity(WAL_HEADER_BYTES + body.len());
    record.extend_from_slice(&len);
    record.extend_from_slice(&crc.finalize().to_le_bytes());
    record.extend_from_slice(&lsn.to_le_bytes());
    record.push(kind);
    record.extend_from_slice(body);
    record
}

fn seal_records(first_lsn: u64, mut input: &[u8]) -> Vec<u8> {
    let mut wal = Vec::new();
    let mut lsn = first_lsn;
    while input.len() >= 3 {
        let kind = input[0];
        let len = u16::from_le_bytes([input[1], input[2]]) as usize;
        let Some(body) = input.get(3..3 + len) else {
            break;
        };
        wal.extend(seal_record(lsn, kind, body));
        lsn += 1;
        input = &input[3 + len..];
    }
    wal.extend_from_slice(input);
    wal
}

/// The records of a WAL file, as (kind, body), for the framed WAL seeds.
pub fn unseal_records(mut wal: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut records = Vec::new();
    while wal.len() >= WAL_HEADER_BYTES {
        let len = u32::from_le_bytes(wal[0..4].try_into().expect("4 bytes")) as usize;
        let Some(body) = wal.get(WAL_HEADER_BYTES..WAL_HEADER_BYTES + len) else {
            break;
        };
        records.push((wal[16], body.to_vec()));
        wal = &wal[WAL_HEADER_BYTES + len..];
    }
    records
}

/// Encodes records in the framed input format of [`wal_replay`].
pub fn framed_wal_input(flavour: Flavour, records: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut input = vec![1 | flavour.mode_bit()];
    for (kind, body) in records {
        input.push(*kind);
        input.extend_from_slice(&(body.len() as u16).to_le_bytes());
        input.extend_from_slice(body);
    }
    input
}
