//! sutra-core: the model shared by the storage node, the operator and the local agent.
//!
//! No async runtime and no network here: CRD types, label keys, the variant catalog and
//! its rules, the pure planner, the `sutra-storage serve` command line, hardware detection
//! from an injectable filesystem root, and the retry schedule. The `signal` feature adds
//! the stop signal both binaries wait on.

pub mod backoff;
pub mod crd;
pub mod labels;
pub mod plan;
pub mod platform;
pub mod serve;
#[cfg(feature = "signal")]
pub mod signal;
pub mod variant;
pub mod vector;
