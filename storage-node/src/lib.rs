//! sutra-storage: a vector storage server that detects its hardware.

pub mod proto {
    //! Generated gRPC types for `sutra.storage.v1`.
    tonic::include_proto!("sutra.storage.v1");

    pub use crate::proto_vector::Vector;

    /// Encoded file descriptor set, served by gRPC reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("storage_descriptor");
}

pub mod cli;
pub mod config;
pub mod metrics;
mod proto_vector;
pub mod server;
pub mod simd;
pub mod status;
pub mod storage;
