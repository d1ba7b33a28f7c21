//! Live facts no file gives: page size, what the CPU and OS let us execute, SVE width.
//!
//! Detection reads files from an injectable root; these probes are the rest, behind a trait
//! so tests substitute [`FixedProbes`] and the real detector uses [`LiveProbes`].

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::model::SimdFeature;

/// Facts that only a running process can observe.
///
/// How they combine with the files: on Linux the `/proc/cpuinfo` flags are the primary
/// source of SIMD features, and [`Probes::cpu_features`], when it returns a list, is
/// intersected with them, because the kernel lists what the CPU has while the probe
/// (cpuid + XGETBV via `is_x86_feature_detected!`, HWCAPs via `is_aarch64_feature_detected!`)
/// also knows what the OS enabled, e.g. AVX-512 state disabled in XCR0. The probes must
/// describe the same machine as the filesystem root.
pub trait Probes {
    /// Page size in bytes as the kernel runs it.
    fn page_size(&self) -> u64;
    /// Features the CPU and OS both support, or `None` when this build has no probe for
    /// the architecture (then the cpuinfo flags stand alone).
    fn cpu_features(&self) -> Option<Vec<SimdFeature>>;
    /// SVE vector length in bytes, when SVE is present.
    fn sve_vector_bytes(&self) -> Option<u32>;
}

/// Probe values given up front: a fixture's `probes.json`, or a struct literal in a test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FixedProbes {
    pub page_size: u64,
    #[serde(default)]
    pub cpu_features: Option<Vec<SimdFeature>>,
    #[serde(default)]
    pub sve_vector_bytes: Option<u32>,
}

impl Probes for FixedProbes {
    fn page_size(&self) -> u64 {
        self.page_size
    }

    fn cpu_features(&self) -> Option<Vec<SimdFeature>> {
        self.cpu_features.clone()
    }

    fn sve_vector_bytes(&self) -> Option<u32> {
        self.sve_vector_bytes
    }
}

/// The probes of the machine this process runs on.
#[derive(Debug, Clone, Copy, Default)]
pub struct LiveProbes;

/// Page size when sysconf fails, which POSIX allows but no supported kernel does.
const FALLBACK_PAGE_SIZE: u64 = 4096;

impl Probes for LiveProbes {
    fn page_size(&self) -> u64 {
        // SAFETY: sysconf only reads a configuration value; _SC_PAGESIZE is always valid.
        let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        u64::try_from(size)
            .ok()
            .filter(|size| *size > 0)
            .unwrap_or(FALLBACK_PAGE_SIZE)
    }

    fn cpu_features(&self) -> Option<Vec<SimdFeature>> {
        live_cpu_features()
    }

    fn sve_vector_bytes(&self) -> Option<u32> {
        live_sve_vector_bytes()
    }
}

/// The features of `feature => "std name"` pairs that the detection macro
/// `std::arch::$detect!` finds on this CPU. A macro because the std macros take their
/// feature name as a literal token only (hence `tt`, which keeps it one).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
macro_rules! detected_features {
    ($detect:ident; $($feature:ident => $name:tt),+ $(,)?) => {
        [$((SimdFeature::$feature, std::arch::$detect!($name))),+]
            .into_iter()
            .filter_map(|(feature, found)| found.then_some(feature))
            .collect()
    };
}

#[cfg(target_arch = "x86_64")]
fn live_cpu_features() -> Option<Vec<SimdFeature>> {
    Some(detected_features!(is_x86_feature_detected;
        Sse42 => "sse4.2",
        Avx => "avx",
        Avx2 => "avx2",
        Fma => "fma",
        Avx512f => "avx512f",
        Avx512bw => "avx512bw",
        Avx512vl => "avx512vl",
        Avx512dq => "avx512dq",
        Avx512cd => "avx512cd",
        Avx512vnni => "avx512vnni",
    ))
}

#[cfg(target_arch = "aarch64")]
fn live_cpu_features() -> Option<Vec<SimdFeature>> {
    Some(detected_features!(is_aarch64_feature_detected;
        Neon => "asimd",
        Dotprod => "dotprod",
        I8mm => "i8mm",
        Sve => "sve",
        Sve2 => "sve2",
        Lse => "lse",
    ))
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn live_cpu_features() -> Option<Vec<SimdFeature>> {
    None
}

/// `PR_SVE_GET_VL` and `PR_SVE_VL_LEN_MASK` from `<linux/prctl.h>`; the libc crate only
/// defines them for Android.
#[cfg(all(target_arch = "aarch64", target_os = "linux"))]
const PR_SVE_GET_VL: libc::c_int = 51;
#[cfg(all(target_arch = "aarch64", target_os = "linux"))]
const PR_SVE_VL_LEN_MASK: libc::c_int = 0xffff;

#[cfg(all(target_arch = "aarch64", target_os = "linux"))]
fn live_sve_vector_bytes() -> Option<u32> {
    if !std::arch::is_aarch64_feature_detected!("sve") {
        return None;
    }
    // SAFETY: PR_SVE_GET_VL takes no further arguments and only reads this thread's
    // vector length; it returns -1 on kernels without SVE support.
    let result = unsafe { libc::prctl(PR_SVE_GET_VL) };
    u32::try_from(result & PR_SVE_VL_LEN_MASK)
        .ok()
        .filter(|_| result >= 0)
}

#[cfg(not(all(target_arch = "aarch64", target_os = "linux")))]
fn live_sve_vector_bytes() -> Option<u32> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_page_size_is_a_power_of_two_of_at_least_4_kib() {
        let size = LiveProbes.page_size();
        assert!(size >= 4096 && size.is_power_of_two(), "page size {size}");
    }

    #[test]
    fn live_probe_reports_only_features_of_this_architecture() {
        if let Some(features) = LiveProbes.cpu_features() {
            let arch = super::super::model::Arch::current();
            assert!(
                features.iter().all(|feature| feature.arch() == arch),
                "{features:?}"
            );
        }
    }
}
