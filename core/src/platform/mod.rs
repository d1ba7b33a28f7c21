//! Hardware detection and the platform config derived from it.
//!
//! Linux detection reads `/proc` and `/sys` under an injectable root so every parser runs
//! on fixture files; the few facts no file gives come from [`Probes`].

mod arm;
mod config;
mod cpuinfo;
mod features;
#[cfg(feature = "test-support")]
pub mod fixture;
mod linux;
pub mod macos;
mod model;
mod probes;
mod sysfs;

pub use arm::{ArmCore, arm_core};
pub use config::{OptLevel, PlatformConfig, transparent_huge_page_bytes};
pub use cpuinfo::{CpuinfoFacts, parse_cpuinfo};
pub use features::x86_64_level;
pub use linux::detect_from;
pub use model::*;
pub use probes::{FixedProbes, LiveProbes, Probes};
pub use sysfs::{DEFAULT_CACHE_LINE, parse_thp, pi_model};

/// Detects the hardware this process runs on: `sysctl -a` on macOS, `/` and the live
/// probes elsewhere. Never panics; what cannot be read degrades to defaults.
pub fn detect() -> PlatformReport {
    if cfg!(target_os = "macos") {
        macos::detect_live()
    } else {
        detect_from(std::path::Path::new("/"), &LiveProbes)
    }
}
