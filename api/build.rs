//! Compiles the gRPC API with the vendored protoc, so no system protoc is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded; nothing else reads the environment here.
    unsafe { std::env::set_var("PROTOC", protoc) };
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out.join("storage_descriptor.bin"))
        // Hand-written (src/vector.rs): packed floats in one copy each way.
        .extern_path(".sutra.storage.v1.Vector", "crate::proto::Vector")
        .compile_protos(&["proto/storage.proto"], &["proto"])?;
    println!("cargo:rerun-if-changed=proto/storage.proto");
    Ok(())
}
