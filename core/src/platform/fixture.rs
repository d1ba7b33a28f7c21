//! [`PlatformReport`]s for tests, in this crate and in the crates that read reports: one
//! common Linux host that each test overrides where its host differs, and detection on a
//! root that holds only the files a test writes.

use super::linux::detect_from;
use super::model::{Arch, CpuInfo, MemoryInfo, Os, PlatformReport, SimdFeature, ThpMode};
use super::probes::FixedProbes;

/// A Linux host with 4 KiB pages, 64-byte cache lines, THP on `madvise`, no SVE, no Pi
/// model, no board or instance type and no memory limit.
pub fn linux_host(
    arch: Arch,
    cpu: CpuInfo,
    simd: &[SimdFeature],
    total_bytes: u64,
) -> PlatformReport {
    PlatformReport {
        arch,
        os: Os::Linux,
        cpu,
        simd: simd.to_vec(),
        sve_vector_bytes: None,
        page_size: 4096,
        cache_line: 64,
        thp: ThpMode::Madvise,
        pi_model: None,
        board: None,
        instance_type: None,
        memory: MemoryInfo {
            total_bytes,
            limit_bytes: None,
        },
    }
}

/// Detects a host whose `/` holds only `files` (each a path below `/`, e.g. `proc/meminfo`,
/// and its text), with 4 KiB pages and no CPU-feature or SVE probe: for a test of what one
/// `/proc` or `/sys` reading does to the report.
///
/// # Panics
/// When the temporary root cannot be written.
pub fn detect_with_files(files: &[(&str, &str)]) -> PlatformReport {
    let root = tempfile::tempdir().expect("a temporary directory for the root");
    for (relative, text) in files {
        let path = root.path().join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("the root's directories");
        }
        std::fs::write(&path, text).expect("a file under the root");
    }
    let probes = FixedProbes {
        page_size: 4096,
        cpu_features: None,
        sve_vector_bytes: None,
    };
    detect_from(root.path(), &probes)
}
