//! The server-side-apply patch a storage node writes to its `StorageNode` status.
//!
//! It owns `platform`, `platformSummary`, `variant`, `bestVariant` and the
//! `PlatformDetected` and `VariantMatched` conditions (the conditions list is a map keyed
//! by `type`, so the operator keeps owning `Ready` and `phase`).

use serde_json::{Value, json};
use sutra_core::crd::condition::node::{PLATFORM_DETECTED, VARIANT_MATCHED};
use sutra_core::crd::condition::reason::DETECTED;
use sutra_core::crd::{
    Condition, ConditionStatus, GROUP, Time, VERSION, new_condition, set_condition,
};

use super::PlatformStatus;

/// The server-side apply field manager of every status write from a storage node.
pub const FIELD_MANAGER: &str = "sutra-storage";

/// The apply patch for StorageNode `name`.
///
/// `generation` is the object's `metadata.generation` when this process read it; it goes
/// into each condition's `observedGeneration`. `existing` are the conditions already in
/// the status: a condition whose status is unchanged keeps its `lastTransitionTime`, as
/// Kubernetes conventions ask, so a restart does not look like a transition.
pub fn status_patch(
    name: &str,
    status: &PlatformStatus,
    generation: Option<i64>,
    existing: &[Condition],
    now: Time,
) -> Value {
    let conditions = conditions(status, generation, existing, now);
    json!({
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "kind": "StorageNode",
        "metadata": { "name": name },
        "status": {
            "platform": status.report,
            "platformSummary": status.summary(),
            "variant": status.verdict.running,
            "bestVariant": status.verdict.best,
            "conditions": conditions,
        }
    })
}

fn conditions(
    status: &PlatformStatus,
    generation: Option<i64>,
    existing: &[Condition],
    now: Time,
) -> Vec<Condition> {
    let detected = new_condition(
        PLATFORM_DETECTED,
        ConditionStatus::True,
        DETECTED,
        format!("detected {}", status.summary()),
        generation,
        now.clone(),
    );
    let verdict = &status.verdict;
    let matched = new_condition(
        VARIANT_MATCHED,
        ConditionStatus::from(verdict.matched),
        &verdict.reason,
        verdict.message.clone(),
        generation,
        now,
    );
    let mut merged: Vec<Condition> = existing
        .iter()
        .filter(|c| c.type_ == PLATFORM_DETECTED || c.type_ == VARIANT_MATCHED)
        .cloned()
        .collect();
    set_condition(&mut merged, detected);
    set_condition(&mut merged, matched);
    merged.sort_by_key(|c| c.type_ != PLATFORM_DETECTED);
    merged
}

#[cfg(test)]
mod tests {
    use sutra_core::variant::VariantCatalog;

    use super::*;
    use crate::status::tests::graviton3;

    fn time(text: &str) -> Time {
        Time(text.parse().unwrap())
    }

    #[test]
    fn a_changed_status_moves_the_transition_time_and_an_unchanged_one_keeps_it() {
        let status = PlatformStatus::new(graviton3(), "universal", VariantCatalog::builtin());
        let earlier = time("2025-01-01T00:00:00Z");
        let first = conditions(&status, Some(1), &[], earlier.clone());
        let later = time("2025-06-01T00:00:00Z");
        let mut flipped = first.clone();
        flipped[1].status = "Unknown".into();
        let again = conditions(&status, Some(2), &flipped, later.clone());
        assert_eq!(again[0].last_transition_time, earlier);
        assert_eq!(again[0].observed_generation, Some(2));
        assert_eq!(again[1].last_transition_time, later);
    }
}
