//! The `manifest` target and the MANIFEST resealing it shares with the seeds.

use super::Outcome;
use super::store::{Flavour, StoreCopy, overwrite};

/// MANIFEST parsing. Input: a mode byte, then the file. Mode bit 0 clear: the bytes as
/// they are; set: the bytes are the body, and the harness writes the store's own header
/// line before it with the body's CRC-32 in place of the header's (the 8 hex digits after
/// `crc32=`), so the input reaches the body's parser and what open does with its fields.
pub fn manifest(data: &[u8]) -> Outcome {
    let Some((&mode, rest)) = data.split_first() else {
        return Outcome::Refused("empty input".into());
    };
    let flavour = Flavour::of(mode);
    let copy = StoreCopy::of(flavour);
    let path = copy.dir.join("MANIFEST");
    let content = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        let stored = std::fs::read(&path).expect("read the MANIFEST");
        reseal_manifest(&stored, rest)
    };
    overwrite(&path, &content);
    copy.open_and_use(flavour)
}

/// `body` under `stored`'s header line, with the header's checksum replaced by `body`'s.
pub fn reseal_manifest(stored: &[u8], body: &[u8]) -> Vec<u8> {
    let header_end = stored.iter().position(|&b| b == b'\n').unwrap_or(0);
    let mut header = stored[..header_end].to_vec();
    let crc = format!("{:08x}", crc32fast::hash(body));
    if let Some(at) = header.windows(6).position(|w| w == b"crc32=") {
        let digits = at + 6..(at + 14).min(header.len());
        header.splice(digits, crc.into_bytes());
    }
    header.push(b'\n');
    header.extend_from_slice(body);
    header
}

/// Splits a MANIFEST into (header line, body) for the resealed manifest seeds.
pub fn manifest_body(stored: &[u8]) -> &[u8] {
    let header_end = stored
        .iter()
        .position(|&b| b == b'\n')
        .map_or(0, |at| at + 1);
    &stored[header_end..]
}
