//! The `segment_meta` and `payloads` targets: input bytes written over the start of one
//! file of the store.

use super::Outcome;
use super::store::{Flavour, StoreCopy, patch};

/// `.meta` slot metadata. Input: a mode byte, then bytes written over the start of the
/// first segment's `.meta` file.
pub fn segment_meta(data: &[u8]) -> Outcome {
    patched_store(data, "seg-000001.meta")
}

/// Payload bytes. Input: a mode byte, then bytes written over the start of the payload
/// file (`payloads-*.dat`).
pub fn payloads(data: &[u8]) -> Outcome {
    patched_store(data, "payloads-")
}

fn patched_store(data: &[u8], file_prefix: &str) -> Outcome {
    let Some((&mode, rest)) = data.split_first() else {
        return Outcome::Refused("empty input".into());
    };
    let flavour = Flavour::of(mode);
    let copy = StoreCopy::of(flavour);
    patch(&copy.file(file_prefix), rest);
    copy.open_and_use(flavour)
}
