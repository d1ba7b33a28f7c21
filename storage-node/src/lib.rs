//! sutra-storage: a vector storage server that detects its hardware.

pub mod cli;
pub mod config;
pub mod metrics;
pub mod server;
pub mod simd;
pub mod status;
pub mod storage;
