//! The fuzz targets of sutra-storage as plain functions of the input bytes. `fuzz_targets/`
//! hands each libFuzzer input to one of them; `storage-node/tests/fuzz_regressions.rs`
//! compiles this file too and replays the committed seeds and crash inputs through the
//! same functions in `cargo test`, and writes the seeds (see `docs/FUZZING.md`).
//!
//! The store targets are black-box: an input replaces or patches one file of a real store
//! (built once per process in a scratch directory, on tmpfs when there is one), which is
//! then opened (replaying its write-ahead log) and read and written through the public
//! API. The property: nothing panics, hangs or aborts; every call ends in `Ok` or a
//! `StoreError`. The wire targets decode client bytes and hold the result to prost and to
//! what the store gives back.
//!
//! The modules name each other through `super::`, not `crate::`: the regression test
//! compiles this tree as a module of its own crate.

mod allocation_limit;
pub mod manifest;
pub mod patched;
pub mod seeds;
pub mod store;
pub mod wal;
pub mod wire;

/// How a store target's run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The store opened and every call on it succeeded.
    Accepted,
    /// A call refused the input with this error.
    Refused(String),
}

/// A fuzz target: runs one input.
pub type Target = fn(&[u8]) -> Outcome;

/// Every target, by the name of its `fuzz_targets/` file.
pub const TARGETS: [(&str, Target); 6] = [
    ("wal_replay", wal::wal_replay),
    ("manifest", manifest::manifest),
    ("segment_meta", patched::segment_meta),
    ("payloads", patched::payloads),
    ("proto_vector", wire::proto_vector),
    ("values_le", wire::values_le),
];
