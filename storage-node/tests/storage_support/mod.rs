//! What the engine tests share: temporary directories under the target dir, deterministic
//! vectors, and the report of a call that found damage.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::path::{Path, PathBuf};

use sutra_storage::storage::StoreError;

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

/// Deterministic pseudo-random numbers (SplitMix64), no rng crate needed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in [-1, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }

    pub fn vector(&mut self, dim: usize) -> Vec<f32> {
        (0..dim).map(|_| self.unit()).collect()
    }
}

/// The file, offset and detail of a `Corrupt` result; panics on anything else.
pub fn corrupt<T>(result: Result<T, StoreError>) -> (PathBuf, u64, String) {
    match result {
        Err(StoreError::Corrupt {
            file,
            offset,
            detail,
        }) => (file, offset, detail),
        Err(other) => panic!("expected Corrupt, got {other}"),
        Ok(_) => panic!("expected Corrupt, the call succeeded"),
    }
}

/// Flips the bits of `mask` in the byte at `offset` of the file at `path`.
pub fn flip(path: &Path, offset: u64, mask: u8) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[offset as usize] ^= mask;
    std::fs::write(path, bytes).unwrap();
}
