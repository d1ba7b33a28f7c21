//! sutra-api: the gRPC contract of sutra-storage, `sutra.storage.v1` (`proto/storage.proto`).
//!
//! The storage node serves it and the operator's probe and every test client call it; this
//! crate holds only the contract, so a client links no storage engine.

pub mod proto {
    //! Generated gRPC types for `sutra.storage.v1`.
    tonic::include_proto!("sutra.storage.v1");

    pub use crate::vector::Vector;

    /// Encoded file descriptor set, served by gRPC reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("storage_descriptor");
}

mod vector;

pub use vector::{extend_f32s_le, f32_bytes};
