//! `sutra.storage.v1.Vector`, written by hand instead of generated (`build.rs` maps the
//! proto type here with `extern_path`), so that the packed `repeated float values` field
//! is encoded and decoded as one block of little-endian bytes. prost's generated code
//! handles a packed float at a time (a bounds check, a read and a push per value), which
//! cost the stock field a third of the bulk-load throughput of `values_le` on 2 cores.
//! The wire format is the proto's exactly: any client's encoding decodes here, and what is
//! encoded here is what prost would encode; the tests hold it to a prost-derived twin.

use prost::bytes::{Buf, BufMut};
use prost::encoding::{self, DecodeContext, WireType};
use prost::{DecodeError, Message};

const ID: u32 = 1;
const VALUES: u32 = 2;
const PAYLOAD: u32 = 3;
const VALUES_LE: u32 = 4;

/// A vector with its id and optional payload (see `proto/storage.proto`).
#[derive(Clone, PartialEq, Default, Debug)]
pub struct Vector {
    pub id: u64,
    pub values: Vec<f32>,
    /// Optional small payload, at most 64 KiB.
    pub payload: Vec<u8>,
    /// The values as packed little-endian f32 (dimension * 4 bytes), instead of `values`:
    /// the same bytes on the wire, for clients whose protobuf library encodes floats one
    /// at a time. Requests set one of the two; responses use `values`.
    pub values_le: Vec<u8>,
}

impl Message for Vector {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        if self.id != 0 {
            encoding::uint64::encode(ID, &self.id, buf);
        }
        if !self.values.is_empty() {
            encoding::encode_key(VALUES, WireType::LengthDelimited, buf);
            let bytes = f32_bytes(&self.values);
            encoding::encode_varint(bytes.len() as u64, buf);
            buf.put_slice(bytes);
        }
        if !self.payload.is_empty() {
            encoding::bytes::encode(PAYLOAD, &self.payload, buf);
        }
        if !self.values_le.is_empty() {
            encoding::bytes::encode(VALUES_LE, &self.values_le, buf);
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        let (result, field) = match tag {
            ID => (
                encoding::uint64::merge(wire_type, &mut self.id, buf, ctx),
                "id",
            ),
            VALUES => (
                merge_values(wire_type, &mut self.values, buf, ctx),
                "values",
            ),
            PAYLOAD => (
                encoding::bytes::merge(wire_type, &mut self.payload, buf, ctx),
                "payload",
            ),
            VALUES_LE => (
                encoding::bytes::merge(wire_type, &mut self.values_le, buf, ctx),
                "values_le",
            ),
            _ => return encoding::skip_field(wire_type, tag, buf, ctx),
        };
        result.map_err(|mut error| {
            error.push("Vector", field);
            error
        })
    }

    fn encoded_len(&self) -> usize {
        let id = if self.id != 0 {
            encoding::uint64::encoded_len(ID, &self.id)
        } else {
            0
        };
        let values = if self.values.is_empty() {
            0
        } else {
            let len = std::mem::size_of_val(self.values.as_slice());
            encoding::key_len(VALUES) + encoding::encoded_len_varint(len as u64) + len
        };
        let bytes = |tag, field: &Vec<u8>| {
            if field.is_empty() {
                0
            } else {
                encoding::bytes::encoded_len(tag, field)
            }
        };
        id + values + bytes(PAYLOAD, &self.payload) + bytes(VALUES_LE, &self.values_le)
    }

    fn clear(&mut self) {
        self.id = 0;
        self.values.clear();
        self.payload.clear();
        self.values_le.clear();
    }
}

/// The bytes of f32 values in memory order, which is little-endian on every supported
/// target: the packed wire form of `values`, and how the storage engine keeps them.
pub fn f32_bytes(values: &[f32]) -> &[u8] {
    // SAFETY: any initialised memory may be read as bytes; the length is the same memory.
    unsafe { std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), size_of_val(values)) }
}

#[cfg(target_endian = "big")]
compile_error!("the packed values are little-endian f32s, encoded and stored in place");

/// Appends little-endian f32s (`bytes` holds a whole number of them), in one pass the
/// compiler turns into a copy.
pub fn extend_f32s_le(values: &mut Vec<f32>, bytes: &[u8]) {
    values.extend(
        bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
    );
}

/// `repeated float`: packed (one length-delimited block) read a buffer chunk at a time; a
/// value split across two chunks and the unpacked form go through prost.
fn merge_values(
    wire_type: WireType,
    values: &mut Vec<f32>,
    buf: &mut impl Buf,
    ctx: DecodeContext,
) -> Result<(), DecodeError> {
    if wire_type != WireType::LengthDelimited {
        return encoding::float::merge_repeated(wire_type, values, buf, ctx);
    }
    let len = encoding::decode_varint(buf)?;
    if len > buf.remaining() as u64 {
        return Err(malformed(
            "the packed values run past the end of the message",
        ));
    }
    if !len.is_multiple_of(4) {
        return Err(malformed(
            "the packed values are not a whole number of 4-byte floats",
        ));
    }
    let mut left = len as usize;
    values.reserve(left / 4);
    while left > 0 {
        let chunk = buf.chunk();
        let whole = chunk.len().min(left) / 4 * 4;
        if whole == 0 {
            values.push(buf.get_f32_le());
            left -= 4;
            continue;
        }
        extend_f32s_le(values, &chunk[..whole]);
        buf.advance(whole);
        left -= whole;
    }
    Ok(())
}

#[allow(deprecated)] // prost offers no other way for a hand-written Message to fail.
fn malformed(description: &'static str) -> DecodeError {
    DecodeError::new(description)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use prost::bytes::Buf;

    use super::*;

    /// What prost generates for the same proto message.
    #[derive(Clone, PartialEq, prost::Message)]
    struct Generated {
        #[prost(uint64, tag = "1")]
        id: u64,
        #[prost(float, repeated, tag = "2")]
        values: Vec<f32>,
        #[prost(bytes = "vec", tag = "3")]
        payload: Vec<u8>,
        #[prost(bytes = "vec", tag = "4")]
        values_le: Vec<u8>,
    }

    fn pair(
        id: u64,
        values: Vec<f32>,
        payload: Vec<u8>,
        values_le: Vec<u8>,
    ) -> (Vector, Generated) {
        (
            Vector {
                id,
                values: values.clone(),
                payload: payload.clone(),
                values_le: values_le.clone(),
            },
            Generated {
                id,
                values,
                payload,
                values_le,
            },
        )
    }

    fn same(ours: &Vector, generated: &Generated) -> bool {
        ours.id == generated.id
            && ours.values.len() == generated.values.len()
            && ours
                .values
                .iter()
                .zip(&generated.values)
                .all(|(a, b)| a.to_bits() == b.to_bits())
            && ours.payload == generated.payload
            && ours.values_le == generated.values_le
    }

    /// `bytes` in pieces of the given sizes, so values straddle chunk boundaries.
    fn chunked(bytes: &[u8], sizes: &[usize]) -> impl Buf {
        let mut pieces = std::collections::VecDeque::new();
        let mut at = 0;
        for size in sizes.iter().cycle() {
            if at >= bytes.len() {
                break;
            }
            let end = (at + size).min(bytes.len());
            pieces.push_back(prost::bytes::Bytes::copy_from_slice(&bytes[at..end]));
            at = end;
        }
        Pieces(pieces)
    }

    struct Pieces(std::collections::VecDeque<prost::bytes::Bytes>);

    impl Buf for Pieces {
        fn remaining(&self) -> usize {
            self.0.iter().map(|p| p.len()).sum()
        }
        fn chunk(&self) -> &[u8] {
            self.0.front().map_or(&[], |p| p.as_ref())
        }
        fn advance(&mut self, mut count: usize) {
            while count > 0 {
                let front = self.0.front_mut().expect("advance past the end");
                let step = count.min(front.len());
                front.advance(step);
                count -= step;
                if front.is_empty() {
                    self.0.pop_front();
                }
            }
        }
    }

    proptest! {
        #[test]
        fn encodes_byte_for_byte_as_prost_and_decodes_prost_in_any_chunking(
            id in any::<u64>(),
            bits in proptest::collection::vec(any::<u32>(), 0..300),
            payload in proptest::collection::vec(any::<u8>(), 0..40),
            values_le in proptest::collection::vec(any::<u8>(), 0..40),
            sizes in proptest::collection::vec(1usize..13, 1..6),
        ) {
            let values: Vec<f32> = bits.into_iter().map(f32::from_bits).collect();
            let (ours, generated) = pair(id, values, payload, values_le);
            let wire = generated.encode_to_vec();
            prop_assert_eq!(ours.encode_to_vec(), wire.clone());
            prop_assert_eq!(ours.encoded_len(), generated.encoded_len());
            let decoded = Vector::decode(chunked(&wire, &sizes)).unwrap();
            prop_assert!(same(&decoded, &generated));
            let back = Generated::decode(ours.encode_to_vec().as_slice()).unwrap();
            prop_assert!(same(&ours, &back));
        }
    }

    #[test]
    fn unpacked_values_and_unknown_fields_decode_as_prost_does() {
        let mut wire = Vec::new();
        encoding::uint64::encode(ID, &7, &mut wire);
        for value in [1.5f32, -2.0, 3.25] {
            encoding::float::encode(VALUES, &value, &mut wire);
        }
        encoding::string::encode(9, &"from a newer client".to_string(), &mut wire);
        let ours = Vector::decode(wire.as_slice()).unwrap();
        let generated = Generated::decode(wire.as_slice()).unwrap();
        assert_eq!(ours.values, vec![1.5, -2.0, 3.25]);
        assert!(same(&ours, &generated));
    }

    #[test]
    fn packed_values_that_are_not_whole_floats_or_overrun_fail_as_with_prost() {
        // Tag 2, length-delimited, 6 bytes: one float and a half.
        let ragged = [0x12, 6, 0, 0, 128, 63, 0, 0];
        // Tag 2, length 8, but only 4 bytes follow.
        let overrun = [0x12, 8, 0, 0, 128, 63];
        for wire in [&ragged[..], &overrun[..]] {
            let error = Vector::decode(wire).unwrap_err().to_string();
            assert!(error.contains("Vector.values"), "{error}");
            assert!(Generated::decode(wire).is_err());
        }
    }

    #[test]
    fn clear_resets_every_field() {
        let (mut ours, _) = pair(3, vec![1.0; 4], vec![1], vec![2; 4]);
        ours.clear();
        assert_eq!(ours, Vector::default());
        assert_eq!(ours.encoded_len(), 0);
    }
}
