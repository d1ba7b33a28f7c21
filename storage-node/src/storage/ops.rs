//! The operations the WAL records, and their byte encoding.
//!
//! Place body (what upserts write): `count u32`, then per vector
//! `id u64, segment u32, slot u32, crc u32, payload_len u32, payload`; the values are not
//! in the log but already durable in the named slot, and `crc` (CRC-32 of their
//! little-endian bytes) lets replay prove it. Inline place body (small batches, whose values
//! ride in the log so the write needs one fsync, the WAL's, shared with other writers):
//! the place body with each vector's `dimension * 4` value bytes after its payload; replay
//! writes them into the slot. Delete body: `count u32`, then `count` u64
//! ids. All little-endian. Kind 1 is not used (it was an upsert record of an unreleased
//! format; the manifest's format version refuses such stores).

use super::Record;

pub(crate) const KIND_DELETE: u8 = 2;
pub(crate) const KIND_PLACE: u8 = 3;
pub(crate) const KIND_PLACE_INLINE: u8 = 4;

#[derive(Debug)]
pub(crate) enum Op {
    Delete(Vec<u64>),
    /// Vectors whose values were written to fresh slots before the record was logged.
    Place(Vec<Placed>),
}

/// One vector of a place record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Placed {
    pub id: u64,
    /// The segment's id (its file name), not its position, so records stay meaningful
    /// across segments created after the checkpoint.
    pub segment: u32,
    pub slot: u32,
    /// CRC-32 of the slot's `dimension * 4` value bytes.
    pub crc: u32,
    pub payload: Vec<u8>,
    /// The value bytes (little-endian f32s) when they are in the log rather than already
    /// durable in the slot: applying the record writes them there.
    pub values: Option<Vec<u8>>,
}

/// The record kind of a place body: inline when its entries carry their values (a body
/// holds either kind of entry, never both).
pub(crate) fn place_kind(entries: &[Placed]) -> u8 {
    if entries.first().is_some_and(|entry| entry.values.is_some()) {
        KIND_PLACE_INLINE
    } else {
        KIND_PLACE
    }
}

/// Bytes the place body of `entries` takes.
pub(crate) fn place_body_len(entries: &[Placed]) -> usize {
    4 + entries
        .iter()
        .map(|e| 24 + e.payload.len() + e.values.as_ref().map_or(0, Vec::len))
        .sum::<usize>()
}

/// Appends the place body (inline when the entries carry values) to `out`.
pub(crate) fn encode_place(entries: &[Placed], out: &mut Vec<u8>) {
    out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
    for entry in entries {
        out.extend_from_slice(&entry.id.to_le_bytes());
        out.extend_from_slice(&entry.segment.to_le_bytes());
        out.extend_from_slice(&entry.slot.to_le_bytes());
        out.extend_from_slice(&entry.crc.to_le_bytes());
        out.extend_from_slice(&(entry.payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&entry.payload);
        if let Some(values) = &entry.values {
            out.extend_from_slice(values);
        }
    }
}

/// Bytes the largest record of `records` can take: an inline place body, the values
/// included (the bound validation puts on a batch).
pub(crate) fn largest_body_len(records: &[Record], dim: usize) -> usize {
    4 + records
        .iter()
        .map(|r| 24 + r.payload.len() + dim * 4)
        .sum::<usize>()
}

/// Appends the delete body to `out`.
pub(crate) fn encode_delete(ids: &[u64], out: &mut Vec<u8>) {
    out.extend_from_slice(&(ids.len() as u32).to_le_bytes());
    for id in ids {
        out.extend_from_slice(&id.to_le_bytes());
    }
}

/// Decodes a body whose checksum already matched; an error here means the writer and
/// reader disagree on the format.
pub(crate) fn decode(kind: u8, body: &[u8], dim: usize) -> Result<Op, String> {
    let mut reader = Reader { bytes: body, at: 0 };
    let count = reader.u32()? as usize;
    let op = match kind {
        KIND_PLACE | KIND_PLACE_INLINE => {
            let inline = kind == KIND_PLACE_INLINE;
            let mut entries = Vec::with_capacity(count.min(body.len() / 24));
            for _ in 0..count {
                let id = reader.u64()?;
                let segment = reader.u32()?;
                let slot = reader.u32()?;
                let crc = reader.u32()?;
                let payload_len = reader.u32()? as usize;
                let payload = reader.take(payload_len)?.to_vec();
                let values = if inline {
                    Some(reader.take(dim * 4)?.to_vec())
                } else {
                    None
                };
                entries.push(Placed {
                    id,
                    segment,
                    slot,
                    crc,
                    payload,
                    values,
                });
            }
            Op::Place(entries)
        }
        KIND_DELETE => {
            let ids = (0..count).map(|_| reader.u64()).collect::<Result<_, _>>()?;
            Op::Delete(ids)
        }
        other => return Err(format!("unknown record kind {other}")),
    };
    if reader.at != body.len() {
        return Err(format!(
            "{} bytes left over after the last entry",
            body.len() - reader.at
        ));
    }
    Ok(op)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len());
        let end = end.ok_or_else(|| format!("body ends inside an entry at byte {}", self.at))?;
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn place_round_trips() {
        let entries = vec![
            Placed {
                id: 7,
                segment: 3,
                slot: 63,
                crc: 0xdead_beef,
                payload: b"abc".to_vec(),
                values: None,
            },
            Placed {
                id: u64::MAX,
                segment: 4,
                slot: 0,
                crc: 1,
                payload: vec![],
                values: None,
            },
        ];
        let mut body = Vec::new();
        encode_place(&entries, &mut body);
        assert_eq!(body.len(), place_body_len(&entries));
        let Op::Place(decoded) = decode(KIND_PLACE, &body, 2).unwrap() else {
            panic!("not a place record")
        };
        assert_eq!(decoded, entries);
        assert!(decode(KIND_PLACE, &body[..body.len() - 1], 2).is_err());
        assert_eq!(place_kind(&entries), KIND_PLACE);
    }

    #[test]
    fn inline_place_round_trips_with_its_values() {
        let value_bytes = |a: f32, b: f32| [a.to_le_bytes(), b.to_le_bytes()].concat();
        let entries = vec![
            Placed {
                id: 9,
                segment: 2,
                slot: 5,
                crc: crc32fast::hash(&value_bytes(1.0, -0.5)),
                payload: b"xy".to_vec(),
                values: Some(value_bytes(1.0, -0.5)),
            },
            Placed {
                id: 10,
                segment: 2,
                slot: 6,
                crc: crc32fast::hash(&value_bytes(3.0, 4.0)),
                payload: vec![],
                values: Some(value_bytes(3.0, 4.0)),
            },
        ];
        assert_eq!(place_kind(&entries), KIND_PLACE_INLINE);
        let mut body = Vec::new();
        encode_place(&entries, &mut body);
        assert_eq!(body.len(), place_body_len(&entries));
        assert_eq!(body.len(), 4 + 2 * 24 + 2 + 2 * 8);
        let records: Vec<Record> = [(9, b"xy".to_vec()), (10, vec![])]
            .into_iter()
            .map(|(id, payload)| Record {
                id,
                values: vec![0.0; 2],
                payload,
            })
            .collect();
        assert_eq!(largest_body_len(&records, 2), body.len());
        let Op::Place(decoded) = decode(KIND_PLACE_INLINE, &body, 2).unwrap() else {
            panic!("not a place record")
        };
        assert_eq!(decoded, entries);
        assert!(decode(KIND_PLACE_INLINE, &body[..body.len() - 1], 2).is_err());
        // Read as a plain place body, the values would be left over.
        assert!(decode(KIND_PLACE, &body, 2).is_err());
    }

    #[test]
    fn the_unused_kind_1_is_refused() {
        let mut body = Vec::new();
        encode_delete(&[1], &mut body);
        assert_eq!(decode(1, &body, 2).unwrap_err(), "unknown record kind 1");
    }

    #[test]
    fn truncated_body_is_an_error() {
        let mut body = Vec::new();
        encode_delete(&[1, 2, 3], &mut body);
        assert!(decode(KIND_DELETE, &body[..body.len() - 1], 2).is_err());
    }
}
