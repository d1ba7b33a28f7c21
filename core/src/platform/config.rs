//! [`PlatformConfig`]: how the storage engine runs on this host, computed from detected facts.
//!
//! Nothing here looks at a platform's name: a Pi 5 with a 16 KiB-page kernel gets 16 KiB
//! pages because sysconf said so, a Graviton3 gets 32-byte alignment because its SVE vector
//! length is 32 bytes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::model::{PlatformReport, SimdFeature, ThpMode};
use crate::variant::VariantCatalog;
use crate::vector::ResolvedCompression;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// Below this much usable memory a host is memory-poor: int8 vectors and small segments.
pub const MEMORY_POOR_BELOW: u64 = 8 * GIB;
/// Below this much usable memory huge pages are not worth their rounding waste.
pub const HUGE_PAGES_MIN_USABLE: u64 = 2 * GIB;
/// Below this much usable memory segments shrink to [`TINY_SEGMENT`].
pub const TINY_HOST_BELOW: u64 = 2 * GIB;

const LARGE_SEGMENT: u64 = 64 * MIB;
const SMALL_SEGMENT: u64 = 16 * MIB;
const TINY_SEGMENT: u64 = 4 * MIB;

/// The widest SIMD the kernels may use.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum OptLevel {
    /// Scalar code only.
    Baseline,
    /// 128-bit vectors: SSE4.2, NEON, 128-bit SVE.
    Simd128,
    /// 256-bit vectors: AVX2 + FMA, 256-bit SVE.
    Simd256,
    /// 512-bit vectors: AVX-512 F/BW/VL, SVE of 512 bits or more.
    Simd512,
}

impl OptLevel {
    /// Vector width in bytes; scalar code still wants 8-byte (f64/u64) alignment.
    pub fn vector_bytes(self) -> u32 {
        match self {
            OptLevel::Baseline => 8,
            OptLevel::Simd128 => 16,
            OptLevel::Simd256 => 32,
            OptLevel::Simd512 => 64,
        }
    }
}

/// How the storage engine runs on a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlatformConfig {
    /// Page size in bytes; mmap offsets and segment sizes are multiples of it.
    pub page_size: u64,
    /// Vector buffer alignment in bytes: the widest usable vector.
    pub simd_alignment: u32,
    /// Size of one vector segment file, a multiple of the page size.
    pub segment_bytes: u64,
    /// Whether to `madvise(MADV_HUGEPAGE)` segment mappings.
    pub huge_pages: bool,
    /// What `compression: auto` comes to on this host.
    pub compression: ResolvedCompression,
    /// The variant this host should run: the best of the catalog for its hardware (not
    /// the one this binary was built as, which the `Platform` RPC's `variant` names).
    pub best_variant: String,
    pub opt_level: OptLevel,
    /// Cache line in bytes, for padding shared counters.
    pub cache_line: u32,
}

impl PlatformConfig {
    pub fn derive(report: &PlatformReport, catalog: &VariantCatalog) -> PlatformConfig {
        let opt_level = opt_level(report);
        let segment_bytes = segment_bytes(report);
        PlatformConfig {
            page_size: report.page_size,
            simd_alignment: opt_level.vector_bytes(),
            segment_bytes,
            huge_pages: huge_pages(report, segment_bytes),
            compression: compression(report),
            best_variant: catalog.best_for_host(report).variant,
            opt_level,
            cache_line: report.cache_line,
        }
    }
}

/// The widest vector the host can really execute. SVE counts at its actual vector length
/// (Graviton3: 32 bytes, Graviton4: 16 bytes), not at its architectural maximum.
pub fn opt_level(report: &PlatformReport) -> OptLevel {
    use SimdFeature::*;
    let has_all = |features: &[SimdFeature]| features.iter().all(|f| report.has(*f));
    let sve_bytes = report
        .sve_vector_bytes
        .filter(|_| report.has(Sve))
        .unwrap_or(0);
    if has_all(&[Avx512f, Avx512bw, Avx512vl]) || sve_bytes >= 64 {
        OptLevel::Simd512
    } else if has_all(&[Avx2, Fma]) || sve_bytes >= 32 {
        OptLevel::Simd256
    } else if report.has(Sse42) || report.has(Neon) || sve_bytes >= 16 {
        OptLevel::Simd128
    } else {
        OptLevel::Baseline
    }
}

/// Pi-class boards have little memory bandwidth; hosts under 8 GiB little memory. Both
/// gain from int8's 4x smaller scanned array, and lose no precision: the storage node's
/// compressed search bounds the int8 error and re-ranks in f32, so its results are exact.
pub fn compression(report: &PlatformReport) -> ResolvedCompression {
    if report.pi_model.is_some() || report.memory.usable_bytes() < MEMORY_POOR_BELOW {
        ResolvedCompression::Int8
    } else {
        ResolvedCompression::None
    }
}

/// Segment files: 64 MiB on roomy hosts, 16 MiB under 8 GiB, 4 MiB under 2 GiB, so a few
/// open segments never crowd a small host; rounded up to a multiple of the page size.
pub fn segment_bytes(report: &PlatformReport) -> u64 {
    let usable = report.memory.usable_bytes();
    let target = if usable < TINY_HOST_BELOW {
        TINY_SEGMENT
    } else if usable < MEMORY_POOR_BELOW {
        SMALL_SEGMENT
    } else {
        LARGE_SEGMENT
    };
    round_up_to_multiple(target, report.page_size.max(1))
}

/// A transparent huge page is one page-table page of pages: 2 MiB with 4 KiB pages,
/// 32 MiB with 16 KiB, 512 MiB with 64 KiB.
pub fn transparent_huge_page_bytes(page_size: u64) -> u64 {
    const ENTRY_BYTES: u64 = 8;
    page_size.saturating_mul(page_size / ENTRY_BYTES)
}

/// Ask for huge pages when the kernel grants them on request (`always` or `madvise`), the
/// host has memory to spare, and a huge page fits in a segment: with 64 KiB pages a huge
/// page is 512 MiB, and asking would pin far more memory than a segment needs.
pub fn huge_pages(report: &PlatformReport, segment_bytes: u64) -> bool {
    matches!(report.thp, ThpMode::Always | ThpMode::Madvise)
        && report.memory.usable_bytes() >= HUGE_PAGES_MIN_USABLE
        && transparent_huge_page_bytes(report.page_size) <= segment_bytes
}

fn round_up_to_multiple(value: u64, multiple: u64) -> u64 {
    value.div_ceil(multiple) * multiple
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_page_size_follows_the_page_size() {
        assert_eq!(transparent_huge_page_bytes(4096), 2 * MIB);
        assert_eq!(transparent_huge_page_bytes(16384), 32 * MIB);
        assert_eq!(transparent_huge_page_bytes(65536), 512 * MIB);
    }

    #[test]
    fn odd_page_sizes_still_give_whole_pages_per_segment() {
        assert_eq!(round_up_to_multiple(16 * MIB, 3 * 4096), 16_785_408);
        assert_eq!(round_up_to_multiple(16 * MIB, 4096), 16 * MIB);
    }
}
