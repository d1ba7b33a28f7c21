//! sutra-storage: a vector storage server that detects its hardware.

pub mod cli;
pub mod config;
pub mod metrics;
pub mod report;
pub mod server;
pub mod simd;
pub mod storage;
