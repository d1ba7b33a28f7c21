//! A detected host seen through the same labels a Kubernetes Node carries, and the checks
//! of a running variant against what the host really has.

use std::collections::BTreeMap;

use crate::labels;
use crate::platform::{PlatformReport, SimdFeature, arm_core};

use super::catalog::VariantCatalog;
use super::select::Selection;

/// `reason` values of [`VariantMatch`], CamelCase as Kubernetes conditions want them.
pub mod reason {
    /// The running variant is the best one for this host.
    pub const BEST_VARIANT: &str = "BestVariant";
    /// The running variant is in the best variant's fallback chain: safe, maybe slower.
    pub const ALLOWED_FALLBACK: &str = "AllowedFallback";
    /// The running variant runs here but is not in the best variant's fallback chain.
    pub const BETTER_VARIANT_AVAILABLE: &str = "BetterVariantAvailable";
    /// The running variant needs CPU features (or an arch) the host lacks.
    pub const MISSING_FEATURES: &str = "MissingFeatures";
    /// The running variant is not in the catalog.
    pub const UNKNOWN_VARIANT: &str = "UnknownVariant";
}

/// How the running variant compares with the best one for the detected host; feeds the
/// `VariantMatched` condition of a `StorageNode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariantMatch {
    pub running: String,
    pub best: String,
    pub matched: bool,
    /// One of [`reason`].
    pub reason: String,
    pub message: String,
}

/// The labels a Kubernetes Node on this hardware would carry (arch, instance type, Pi model,
/// CPU core, NFD cpuid features and vendor), so one rule table serves Nodes and local hosts.
pub fn host_labels(report: &PlatformReport) -> BTreeMap<String, String> {
    let mut host = BTreeMap::new();
    host.insert(labels::ARCH.to_string(), report.arch.label().to_string());
    if let Some(instance_type) = &report.instance_type {
        host.insert(labels::INSTANCE_TYPE.to_string(), instance_type.clone());
    }
    if let Some(pi_model) = report.pi_model {
        host.insert(labels::PI_MODEL.to_string(), pi_model.to_string());
    }
    if let Some(core) = report
        .cpu
        .implementer
        .zip(report.cpu.part)
        .and_then(|(implementer, part)| arm_core(implementer, part))
    {
        host.insert(labels::CPU_CORE.to_string(), core.label.to_string());
    }
    if let Some(vendor) = nfd_vendor(&report.cpu.vendor) {
        host.insert(labels::NFD_CPU_VENDOR.to_string(), vendor);
    }
    for feature in report
        .simd
        .iter()
        .filter(|feature| feature.nfd_published_by_default())
    {
        let key = format!("{}{}", labels::NFD_CPUID_PREFIX, feature.nfd_name());
        host.insert(key, "true".to_string());
    }
    host
}

/// NFD's `cpu-model.vendor_id` value: `Intel`, `AMD`, `ARM`, or the vendor reduced to the
/// characters a label value allows.
fn nfd_vendor(vendor: &str) -> Option<String> {
    let value = match vendor {
        "GenuineIntel" => "Intel".to_string(),
        "AuthenticAMD" => "AMD".to_string(),
        other => other
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .take(63)
            .collect(),
    };
    (!value.is_empty()).then_some(value)
}

impl VariantCatalog {
    /// The best variant for a detected host: [`VariantCatalog::select`] on its
    /// [`host_labels`], then a direct check of the required features against the report,
    /// falling back while any is missing.
    pub fn best_for_host(&self, report: &PlatformReport) -> Selection {
        let by_labels = self.select(&host_labels(report));
        let mut notes = vec![by_labels.reason];
        let variant = self.first_with_features(
            &by_labels.variant,
            "this CPU lacks",
            &mut notes,
            |feature| report.has(feature),
        );
        Selection {
            variant: variant.name.clone(),
            rule: by_labels.rule,
            reason: notes.join("; "),
        }
    }

    /// Required features of `variant` the host lacks, sorted; empty when it can run (or the
    /// variant is unknown, which [`VariantCatalog::evaluate`] reports instead).
    pub fn missing_features(&self, variant: &str, report: &PlatformReport) -> Vec<SimdFeature> {
        self.get(variant)
            .map(|variant| {
                variant
                    .requires
                    .iter()
                    .copied()
                    .filter(|feature| !report.has(*feature))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Compares the variant this process runs with the best one for `report`.
    ///
    /// Matched when `running` is the best variant or in its fallback chain (so it runs
    /// correctly, perhaps slower); not matched when it is unknown, needs something the host
    /// lacks, or is a different line of builds than the best one.
    pub fn evaluate(&self, running: &str, report: &PlatformReport) -> VariantMatch {
        let best = self.best_for_host(report);
        let verdict = |matched: bool, reason: &str, message: String| VariantMatch {
            running: running.to_string(),
            best: best.variant.clone(),
            matched,
            reason: reason.to_string(),
            message,
        };
        let Some(variant) = self.get(running) else {
            return verdict(
                false,
                reason::UNKNOWN_VARIANT,
                format!(
                    "variant {running:?} is not in the catalog (known: {}); the best for this host is {}",
                    self.names().join(", "),
                    best.variant
                ),
            );
        };
        if !variant.runs_on(report.arch) {
            return verdict(
                false,
                reason::MISSING_FEATURES,
                format!(
                    "{running} is built for {} but this host is {}; the best for it is {}",
                    variant.arch_name(),
                    report.arch.label(),
                    best.variant
                ),
            );
        }
        let missing = self.missing_features(running, report);
        if !missing.is_empty() {
            let names: Vec<&str> = missing.iter().map(|feature| feature.name()).collect();
            return verdict(
                false,
                reason::MISSING_FEATURES,
                format!(
                    "{running} needs {} which this CPU lacks; the best for this host is {}",
                    names.join(", "),
                    best.variant
                ),
            );
        }
        if running == best.variant {
            return verdict(
                true,
                reason::BEST_VARIANT,
                format!(
                    "{running} is the best variant for this host: {}",
                    best.reason
                ),
            );
        }
        let in_chain = self
            .fallback_chain(&best.variant)
            .iter()
            .any(|fallback| fallback.name == running);
        if in_chain {
            verdict(
                true,
                reason::ALLOWED_FALLBACK,
                format!(
                    "{running} is a safe fallback of {}, the best variant for this host, which would be faster",
                    best.variant
                ),
            )
        } else {
            verdict(
                false,
                reason::BETTER_VARIANT_AVAILABLE,
                format!(
                    "{running} runs here but {} is the variant built for this host: {}",
                    best.variant, best.reason
                ),
            )
        }
    }
}
