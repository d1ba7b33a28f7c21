//! What this node found out about its hardware, and reporting it: over the `Platform`
//! RPC everywhere, and into its `StorageNode` status when it runs in a cluster.

mod patch;
mod reporter;

use sutra_core::platform::{PlatformConfig, PlatformReport, ThpMode};
use sutra_core::variant::{VariantCatalog, VariantMatch};

pub use patch::{FIELD_MANAGER, status_patch};
pub use reporter::{ClusterIdentity, report_at, report_once, report_with_retry, spawn_reporter};

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
