//! Closing the loop: which variant a StorageNode's Pod runs.
//!
//! Normally `spec.variant`. When the node itself reports `VariantMatched=False` with a
//! better `bestVariant`, and its grid picks variants automatically, the operator switches
//! the Pod to the reported variant, at most once per generation: the switch is recorded in
//! `status.variantRecreatedGeneration`, so a wrong report cannot make it flap.

use sutra_core::crd::condition::node::VARIANT_MATCHED;
use sutra_core::crd::{AUTO_VARIANT, StorageNode, find};
use sutra_core::variant::VariantCatalog;

use crate::controller::VARIANT_POLICY_ANNOTATION;

/// The variant to run and whether this reconcile decided a switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariantDecision {
    pub variant: String,
    /// Set when this reconcile switches to the reported best variant: the reason, for the
    /// Event.
    pub switched: Option<String>,
}

pub fn decide_variant(node: &StorageNode, catalog: &VariantCatalog) -> VariantDecision {
    let spec_variant = VariantDecision {
        variant: node.spec.variant.clone(),
        switched: None,
    };
    let generation = node.metadata.generation;
    let Some(status) = &node.status else {
        return spec_variant;
    };
    if generation.is_some() && status.variant_recreated_generation == generation {
        // Already switched in this generation: keep what was chosen then.
        return VariantDecision {
            variant: status.variant.clone().unwrap_or(spec_variant.variant),
            switched: None,
        };
    }
    if !picks_automatically(node) {
        return spec_variant;
    }
    let mismatch = find(&status.conditions, VARIANT_MATCHED).filter(|c| c.status == "False");
    let best = status.best_variant.as_deref().filter(|best| {
        *best != node.spec.variant && *best != AUTO_VARIANT && catalog.get(best).is_some()
    });
    match (mismatch, best) {
        (Some(condition), Some(best)) => VariantDecision {
            variant: best.to_owned(),
            switched: Some(format!(
                "the node reports VariantMatched=False ({}: {}); re-creating its Pod with {best} instead of {}",
                condition.reason, condition.message, node.spec.variant
            )),
        },
        _ => spec_variant,
    }
}

fn picks_automatically(node: &StorageNode) -> bool {
    node.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(VARIANT_POLICY_ANNOTATION))
        .is_some_and(|policy| policy == AUTO_VARIANT)
}
