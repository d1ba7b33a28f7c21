//! What this node found out about its hardware, and reporting it: over the `Platform`
//! RPC everywhere, and into its `StorageNode` status when it runs in a cluster.

mod patch;
mod reporter;

use sutra_core::platform::{PlatformConfig, PlatformReport, ThpMode};
use sutra_core::variant::{VariantCatalog, VariantMatch};

pub use patch::{FIELD_MANAGER, status_patch};
pub use reporter::{
    Backoff, ClusterIdentity, report_at, report_once, report_with_retry, spawn_reporter,
};

use crate::metrics::PlatformLabels;

/// The detected report, the config derived from it, and how the running variant compares
/// with the best one for it.
#[derive(Debug, Clone, PartialEq)]
pub struct PlatformStatus {
    pub report: PlatformReport,
    pub config: PlatformConfig,
    pub verdict: VariantMatch,
}

impl PlatformStatus {
    /// Judges `running` (the variant this process runs as) against `report`.
    pub fn new(report: PlatformReport, running: &str, catalog: &VariantCatalog) -> Self {
        PlatformStatus {
            config: PlatformConfig::derive(&report, catalog),
            verdict: catalog.evaluate(running, &report),
            report,
        }
    }

    /// One line for `kubectl get` and the info metric, e.g. `Neoverse-V1 arm64 sve 64KiB`.
    pub fn summary(&self) -> String {
        self.report.summary()
    }

    /// Labels of `sutra_storage_platform_info`; `simd` is the kernel dispatch in use.
    pub fn metric_labels(&self, simd: &str) -> PlatformLabels {
        PlatformLabels {
            arch: self.report.arch.label().to_string(),
            platform: self.summary(),
            variant: self.verdict.running.clone(),
            simd: simd.to_string(),
            page_size: self.report.page_size,
            thp: thp_name(self.report.thp).to_string(),
        }
    }
}

pub(crate) fn thp_name(mode: ThpMode) -> &'static str {
    match mode {
        ThpMode::Always => "always",
        ThpMode::Madvise => "madvise",
        ThpMode::Never => "never",
        ThpMode::Unavailable => "unavailable",
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use sutra_core::platform::{Arch, CpuInfo, MemoryInfo, Os, SimdFeature};

    use super::*;

    /// A Graviton3-like host with 64 KiB pages.
    pub(crate) fn graviton3() -> PlatformReport {
        PlatformReport {
            arch: Arch::Arm64,
            os: Os::Linux,
            cpu: CpuInfo {
                vendor: "ARM".into(),
                model: "Neoverse-V1".into(),
                implementer: Some(0x41),
                part: Some(0xd40),
                logical_cpus: 4,
                x86_64_level: None,
                flags: vec![],
            },
            simd: vec![
                SimdFeature::Neon,
                SimdFeature::Dotprod,
                SimdFeature::I8mm,
                SimdFeature::Sve,
                SimdFeature::Lse,
            ],
            sve_vector_bytes: Some(32),
            page_size: 65536,
            cache_line: 64,
            thp: ThpMode::Madvise,
            pi_model: None,
            board: None,
            instance_type: Some("c7g.xlarge".into()),
            memory: MemoryInfo {
                total_bytes: 8 << 30,
                limit_bytes: None,
            },
        }
    }

    #[test]
    fn summary_names_model_arch_simd_and_page_size() {
        assert_eq!(graviton3().summary(), "Neoverse-V1 arm64 sve 64KiB");
    }

    #[test]
    fn summary_falls_back_to_the_instance_type_and_scalar() {
        let mut report = graviton3();
        report.cpu.model = String::new();
        report.simd.clear();
        report.page_size = 4096;
        assert_eq!(report.summary(), "c7g.xlarge arm64 scalar 4KiB");
    }

    #[test]
    fn the_verdict_compares_the_running_variant_with_the_best() {
        let catalog = VariantCatalog::builtin();
        let status = PlatformStatus::new(graviton3(), "universal", catalog);
        let best = catalog.best_for_host(&graviton3()).variant;
        assert_eq!(status.verdict.best, best);
        assert_eq!(status.config.best_variant, best);
        assert_eq!(status.metric_labels("neon").variant, "universal");
        assert_eq!(status.metric_labels("neon").thp, "madvise");
    }
}
