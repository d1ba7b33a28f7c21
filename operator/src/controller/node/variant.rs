//! Which variant a StorageNode's Pod runs, and how it compares with the node's hardware.
//!
//! `spec.variant` is where every generation starts (the grid's planner picked it from the
//! host's labels, or the user named it). Under `variantPolicy: Auto` two facts change it,
//! each at most once per variant and generation, so nothing can make it flap:
//! * the node reports a different `bestVariant` (judged from its detected hardware with the
//!   same rules): the Pod is re-created with it once (`status.variantRecreatedGeneration`);
//! * the kubelet cannot pull the image (`ImagePullBackOff`): the variant is recorded in
//!   `status.unavailableImages` and the Pod falls back along the catalog's fallback chain to
//!   the next variant not known to be missing. `VariantMatched=False`, reason
//!   `ImageUnavailable`, names the missing image.
//!
//! `Labels` and `Fixed` keep `spec.variant`; a missing image then leaves the node `Failed`,
//! as it does under `Auto` once the chain is exhausted.

use k8s_openapi::api::core::v1::Pod;
use sutra_core::crd::condition::node::PLATFORM_DETECTED;
use sutra_core::crd::condition::reason::{AWAITING_REPORT, IMAGE_UNAVAILABLE};
use sutra_core::crd::{
    ConditionStatus, StorageNode, StorageNodeStatus, UnavailableImage, VariantPolicy, find,
};
use sutra_core::variant::VariantCatalog;

use super::build::CONTAINER;

/// The kubelet's first pull failure; it retries once before backing off.
pub const ERR_IMAGE_PULL: &str = "ErrImagePull";
/// The kubelet gave up pulling for now: the image is taken as unavailable.
pub const IMAGE_PULL_BACK_OFF: &str = "ImagePullBackOff";

/// The storage container waiting on an image it cannot pull, as the kubelet reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullFailure {
    /// `ErrImagePull` or `ImagePullBackOff`.
    pub reason: String,
    pub image: String,
    /// The kubelet's message (registry, error).
    pub message: String,
}

impl PullFailure {
    /// The storage container's pull failure, when it is waiting on one.
    pub fn of(pod: &Pod) -> Option<PullFailure> {
        let container = pod
            .status
            .as_ref()?
            .container_statuses
            .as_ref()?
            .iter()
            .find(|c| c.name == CONTAINER)?;
        let waiting = container.state.as_ref()?.waiting.as_ref()?;
        let reason = waiting.reason.as_deref()?;
        matches!(reason, ERR_IMAGE_PULL | IMAGE_PULL_BACK_OFF).then(|| PullFailure {
            reason: reason.to_owned(),
            image: container.image.clone(),
            message: waiting.message.clone().unwrap_or_default(),
        })
    }

    /// One line for conditions and Events.
    pub fn describe(&self) -> String {
        let detail = if self.message.is_empty() {
            String::new()
        } else {
            format!(": {}", self.message)
        };
        format!("cannot pull image {} ({}{detail})", self.image, self.reason)
    }
}

/// Why this reconcile changes the variant; each becomes an Event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VariantChange {
    /// The node reported a different best variant for its hardware.
    Learned {
        from: String,
        to: String,
        why: String,
    },
    /// `from`'s image cannot be pulled; `to` is the next in its fallback chain.
    ImageFallback {
        from: String,
        to: String,
        image: String,
    },
}

/// The variant to run, and what this reconcile learned on the way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariantDecision {
    pub variant: String,
    pub change: Option<VariantChange>,
    /// Generation of the last switch to the reported best variant.
    pub recreated_generation: Option<i64>,
    /// Images of this generation that could not be pulled, including any found now.
    pub unavailable: Vec<UnavailableImage>,
    /// Set when this reconcile found an image unavailable: the image, for the Event.
    pub newly_unavailable: Option<PullFailure>,
    /// The running variant's image cannot be pulled and no fallback is left.
    pub exhausted: bool,
}

pub fn decide_variant(
    node: &StorageNode,
    pod: Option<&Pod>,
    catalog: &VariantCatalog,
) -> VariantDecision {
    let generation = node.metadata.generation.unwrap_or_default();
    let status = node.status.clone().unwrap_or_default();
    let unavailable: Vec<UnavailableImage> = status
        .unavailable_images
        .iter()
        .filter(|u| u.observed_generation == generation)
        .cloned()
        .collect();
    let recreated_generation = status.variant_recreated_generation;
    let decided_this_generation =
        recreated_generation == Some(generation) || !unavailable.is_empty();
    let current = status
        .variant
        .clone()
        .filter(|v| decided_this_generation && catalog.get(v).is_some())
        .unwrap_or_else(|| node.spec.variant.clone());
    let mut decision = VariantDecision {
        variant: current.clone(),
        change: None,
        recreated_generation,
        unavailable,
        newly_unavailable: None,
        exhausted: false,
    };
    let policy = node.spec.variant_policy;
    let failure = pod
        .and_then(PullFailure::of)
        .filter(|f| f.image == node.spec.image.reference(&current));
    if let Some(failure) = failure {
        if failure.reason == IMAGE_PULL_BACK_OFF {
            decision.fall_back(&current, failure, policy, catalog, generation);
        }
        return decision;
    }
    if policy == VariantPolicy::Auto && recreated_generation != Some(generation) {
        decision.learn(&current, &status, generation, catalog);
    }
    decision
}

impl VariantDecision {
    fn is_unavailable(&self, variant: &str) -> bool {
        self.unavailable.iter().any(|u| u.variant == variant)
    }

    /// Records `current`'s image as unavailable and, under `Auto`, picks the next variant
    /// of its fallback chain whose image is not known to be missing.
    fn fall_back(
        &mut self,
        current: &str,
        failure: PullFailure,
        policy: VariantPolicy,
        catalog: &VariantCatalog,
        generation: i64,
    ) {
        if !self.is_unavailable(current) {
            self.unavailable.push(UnavailableImage {
                variant: current.to_owned(),
                image: failure.image.clone(),
                observed_generation: generation,
            });
            self.newly_unavailable = Some(failure.clone());
        }
        let next = (policy == VariantPolicy::Auto)
            .then(|| {
                catalog
                    .fallback_chain(current)
                    .into_iter()
                    .skip(1)
                    .find(|v| !self.is_unavailable(&v.name))
            })
            .flatten();
        match next {
            Some(next) => {
                self.variant = next.name.clone();
                self.change = Some(VariantChange::ImageFallback {
                    from: current.to_owned(),
                    to: next.name.clone(),
                    image: failure.image,
                });
            }
            None => self.exhausted = true,
        }
    }

    /// Switches to the node's reported best variant when it differs, has an image not known
    /// to be missing, and was reported for this generation.
    fn learn(
        &mut self,
        current: &str,
        status: &StorageNodeStatus,
        generation: i64,
        catalog: &VariantCatalog,
    ) {
        let Some(detected) = find(&status.conditions, PLATFORM_DETECTED)
            .filter(|c| c.observed_generation == Some(generation))
        else {
            return;
        };
        let Some(best) = status.best_variant.as_deref().filter(|best| {
            *best != current && catalog.get(best).is_some() && !self.is_unavailable(best)
        }) else {
            return;
        };
        self.variant = best.to_owned();
        self.recreated_generation = Some(generation);
        self.change = Some(VariantChange::Learned {
            from: current.to_owned(),
            to: best.to_owned(),
            why: format!(
                "the node reports {best} as its best variant ({})",
                detected.message
            ),
        });
    }

    /// The `VariantMatched` condition: how the running variant compares with the node's
    /// report, or which image was missing when a fallback runs.
    pub fn matched(
        &self,
        status: Option<&StorageNodeStatus>,
        catalog: &VariantCatalog,
    ) -> (ConditionStatus, String, String) {
        if let Some(missing) = self.unavailable.first() {
            let running = if self.exhausted {
                "no other image of its fallback chain is allowed or available".to_owned()
            } else {
                format!("running {} instead", self.variant)
            };
            return (
                ConditionStatus::False,
                IMAGE_UNAVAILABLE.to_owned(),
                format!(
                    "image {} could not be pulled for variant {}; {running}",
                    missing.image, missing.variant
                ),
            );
        }
        let Some(platform) = status.and_then(|s| s.platform.as_ref()) else {
            return (
                ConditionStatus::Unknown,
                AWAITING_REPORT.to_owned(),
                format!(
                    "running {}; the node has not reported its hardware yet",
                    self.variant
                ),
            );
        };
        let verdict = catalog.evaluate(&self.variant, platform);
        (verdict.matched.into(), verdict.reason, verdict.message)
    }
}

impl VariantChange {
    /// The Event: reason and note.
    pub fn event(&self) -> (&'static str, String) {
        match self {
            VariantChange::Learned { from, to, why } => (
                "VariantSwitched",
                format!("re-creating the Pod with variant {to} instead of {from}: {why}"),
            ),
            VariantChange::ImageFallback { from, to, image } => (
                "VariantSwitched",
                format!(
                    "re-creating the Pod with variant {to} instead of {from}: image {image} cannot be pulled, and {to} is next in the fallback chain"
                ),
            ),
        }
    }
}
