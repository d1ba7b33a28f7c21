//! sutra-core: the model shared by the storage node, the operator and the local agent.
//!
//! No async runtime and no network here: CRD types, label keys, the variant catalog and
//! its rules, the pure planner, the `sutra-storage serve` command line, and hardware
//! detection from an injectable filesystem root.

pub mod crd;
pub mod labels;
pub mod plan;
pub mod platform;
pub mod serve;
pub mod variant;
pub mod vector;
