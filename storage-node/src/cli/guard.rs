//! The start-up guard: a binary compiled for CPU features this CPU lacks exits with an
//! error naming them and the variant to use instead, rather than dying of SIGILL later.
//!
//! It runs first in `main`. Code before it (argument-free start-up, the detection itself)
//! is ordinary library code that the compiler rarely vectorises with the optional
//! features; the kernels, which use them on purpose, only run after it.

use sutra_core::platform::{PlatformReport, SimdFeature};
use sutra_core::variant::VariantCatalog;

use crate::config::build_variant;

/// Exit code of a binary that cannot run on this CPU.
pub const EXIT_WRONG_CPU: u8 = 3;

/// The optional CPU features this binary was compiled to execute unconditionally.
pub fn compiled_features() -> Vec<SimdFeature> {
    let mut features = Vec::new();
    let mut add = |compiled: bool, feature: SimdFeature| {
        if compiled {
            features.push(feature);
        }
    };
    add(cfg!(target_feature = "sse4.2"), SimdFeature::Sse42);
    add(cfg!(target_feature = "avx"), SimdFeature::Avx);
    add(cfg!(target_feature = "avx2"), SimdFeature::Avx2);
    add(cfg!(target_feature = "fma"), SimdFeature::Fma);
    add(cfg!(target_feature = "avx512f"), SimdFeature::Avx512f);
    add(cfg!(target_feature = "avx512bw"), SimdFeature::Avx512bw);
    add(cfg!(target_feature = "avx512vl"), SimdFeature::Avx512vl);
    add(cfg!(target_feature = "avx512dq"), SimdFeature::Avx512dq);
    add(cfg!(target_feature = "avx512cd"), SimdFeature::Avx512cd);
    add(cfg!(target_feature = "avx512vnni"), SimdFeature::Avx512vnni);
    add(cfg!(target_feature = "neon"), SimdFeature::Neon);
    add(cfg!(target_feature = "dotprod"), SimdFeature::Dotprod);
    add(cfg!(target_feature = "i8mm"), SimdFeature::I8mm);
    add(cfg!(target_feature = "sve"), SimdFeature::Sve);
    add(cfg!(target_feature = "sve2"), SimdFeature::Sve2);
    add(cfg!(target_feature = "lse"), SimdFeature::Lse);
    features
}

/// Compiled features the detected CPU does not offer, in the order given.
pub fn missing_features(compiled: &[SimdFeature], report: &PlatformReport) -> Vec<SimdFeature> {
    compiled
        .iter()
        .copied()
        .filter(|feature| !report.has(*feature))
        .collect()
}

/// The refusal printed when features are missing; `None` when the binary can run.
pub fn refusal(
    variant: &str,
    compiled: &[SimdFeature],
    report: &PlatformReport,
    catalog: &VariantCatalog,
) -> Option<String> {
    let missing = missing_features(compiled, report);
    if missing.is_empty() {
        return None;
    }
    let best = catalog.best_for_host(report).variant;
    Some(format!(
        "error: this sutra-storage binary was built for {variant} ({}) but this CPU lacks: {}; use the {best} image variant",
        names(compiled),
        names(&missing)
    ))
}

/// The refusal for this binary on this host, if any.
pub fn check_this_binary(report: &PlatformReport) -> Option<String> {
    refusal(
        build_variant(),
        &compiled_features(),
        report,
        VariantCatalog::builtin(),
    )
}

fn names(features: &[SimdFeature]) -> String {
    features
        .iter()
        .map(|feature| feature.name())
        .collect::<Vec<_>>()
        .join(", ")
}
