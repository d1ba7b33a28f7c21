//! The server-side-apply patch a storage node writes to its `StorageNode` status.
//!
//! It owns what only the node can know: `platform`, `platformSummary`, `bestVariant` (judged
//! with the rules the operator mounted, the same table it placed the node with) and the
//! `PlatformDetected` condition. The operator owns the rest, `variant` and `VariantMatched`
//! among it: it chose the image, and only it knows which images could not be pulled. The
//! conditions list is a map keyed by `type`, so each writer keeps its own entries.

use serde_json::{Value, json};
use sutra_core::crd::condition::node::PLATFORM_DETECTED;
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
    let detected = platform_detected(status, generation, existing, now);
    json!({
        "apiVersion": format!("{GROUP}/{VERSION}"),
        "kind": "StorageNode",
        "metadata": { "name": name },
        "status": {
            "platform": status.report,
            "platformSummary": status.summary(),
            "bestVariant": status.verdict.best,
            "conditions": [detected],
        }
    })
}

/// `PlatformDetected`, keeping its `lastTransitionTime` when it was True already.
fn platform_detected(
    status: &PlatformStatus,
    generation: Option<i64>,
    existing: &[Condition],
    now: Time,
) -> Condition {
    let mut merged: Vec<Condition> = existing
        .iter()
        .filter(|c| c.type_ == PLATFORM_DETECTED)
        .cloned()
        .collect();
    set_condition(
        &mut merged,
        new_condition(
            PLATFORM_DETECTED,
            ConditionStatus::True,
            DETECTED,
            format!(
                "detected {}; the best variant for it is {}",
                status.summary(),
                status.verdict.best
            ),
            generation,
            now,
        ),
    );
    merged.remove(0)
}

#[cfg(test)]
mod tests {
    use sutra_core::platform::detect;
    use sutra_core::variant::VariantCatalog;

    use super::*;

    fn time(text: &str) -> Time {
        Time(text.parse().unwrap())
    }

    /// Any report will do: the transition time follows the condition's status alone.
    #[test]
    fn a_changed_status_moves_the_transition_time_and_an_unchanged_one_keeps_it() {
        let status = PlatformStatus::new(detect(), "universal", VariantCatalog::builtin());
        let earlier = time("2025-01-01T00:00:00Z");
        let first = platform_detected(&status, Some(1), &[], earlier.clone());
        let later = time("2025-06-01T00:00:00Z");
        let again = platform_detected(
            &status,
            Some(2),
            std::slice::from_ref(&first),
            later.clone(),
        );
        assert_eq!(again.last_transition_time, earlier);
        assert_eq!(again.observed_generation, Some(2));
        let mut flipped = first;
        flipped.status = "Unknown".into();
        let moved = platform_detected(&status, Some(2), &[flipped], later.clone());
        assert_eq!(moved.last_transition_time, later);
    }
}
