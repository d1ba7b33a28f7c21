//! Hardware detection and the platform config derived from it.

mod model;

pub use model::*;
