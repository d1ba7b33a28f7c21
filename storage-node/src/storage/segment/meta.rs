//! The 48-byte checksummed metadata of a slot, and the payload reference it carries.

/// Bytes of one [`SlotMeta`] on disk.
pub(crate) const SLOT_META_BYTES: usize = 48;
/// The bytes of a [`SlotMeta`] its own checksum covers: all but the checksum.
const SEALED_BYTES: usize = SLOT_META_BYTES - 4;

const LIVE: u32 = 1;

/// Per-slot metadata, stored little-endian in native layout (the engine targets x86_64 and
/// aarch64, both little-endian). Every change goes through [`SlotMeta::sealed`], which
/// writes `meta_crc`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct SlotMeta {
    pub id: u64,
    pub payload_offset: u64,
    pub payload_len: u32,
    pub(super) flags: u32,
    /// Euclidean norm of the stored vector (cosine and L2 use it).
    pub norm: f32,
    /// Scale of the int8 codes (0 when compression is off).
    pub code_scale: f32,
    /// CRC-32 of the slot's `dimension * 4` value bytes.
    pub values_crc: u32,
    /// CRC-32 of the slot's `dimension` int8 codes (0 when compression is off).
    pub codes_crc: u32,
    /// CRC-32 of the payload bytes (0 for an empty payload).
    pub payload_crc: u32,
    /// CRC-32 of the fields above; 0 in a slot never applied, whose bytes are all zero.
    pub(super) meta_crc: u32,
}

const _: () = assert!(std::mem::size_of::<SlotMeta>() == SLOT_META_BYTES);

impl SlotMeta {
    pub fn is_live(&self) -> bool {
        self.flags & LIVE != 0
    }

    /// The payload's location and checksum.
    pub fn payload(&self) -> PayloadRef {
        PayloadRef {
            offset: self.payload_offset,
            len: self.payload_len,
            crc: self.payload_crc,
        }
    }

    /// This metadata with its liveness set and its checksum written.
    pub(super) fn sealed(mut self, live: bool) -> SlotMeta {
        self.flags = if live { LIVE } else { 0 };
        self.meta_crc = crc32fast::hash(&self.bytes()[..SEALED_BYTES]);
        self
    }

    /// Whether the checksum matches, or the slot was never applied (all zero).
    pub(super) fn intact(&self) -> bool {
        let sealed = &self.bytes()[..SEALED_BYTES];
        if self.meta_crc == 0 && sealed.iter().all(|&b| b == 0) {
            return true;
        }
        crc32fast::hash(sealed) == self.meta_crc
    }

    pub(super) fn bytes(&self) -> &[u8; SLOT_META_BYTES] {
        // SAFETY: SlotMeta is repr(C) with no padding (checked by the size assertion:
        // 2 u64 then 8 four-byte fields) and every byte of it is initialised.
        unsafe { &*(self as *const SlotMeta).cast::<[u8; SLOT_META_BYTES]>() }
    }
}

/// Where a slot's payload lives in the payload file, and the CRC-32 of its bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct PayloadRef {
    pub offset: u64,
    pub len: u32,
    pub crc: u32,
}
