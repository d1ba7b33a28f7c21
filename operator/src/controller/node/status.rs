//! A StorageNode's status as the operator sees it: phase and `Ready` from the Pod,
//! `NodeAvailable` from its host, `variant` and `VariantMatched` from the variant decision
//! ([`super::variant`]). The node's own report (`PlatformDetected`, `platform`,
//! `platformSummary`, `bestVariant`) belongs to the storage node's field manager and is
//! never written here: each status field has one writer.

use k8s_openapi::api::core::v1::Pod;
use serde_json::{Value, json};
use sutra_core::crd::condition::node::{NODE_AVAILABLE, READY, VARIANT_MATCHED};
use sutra_core::crd::condition::reason;
use sutra_core::crd::{
    Condition, ConditionStatus, NodePhase, StorageNode, UnavailableImage, set_condition,
};
use sutra_core::variant::VariantCatalog;

use super::apply::PodOutcome;
use super::dereference::HostObservation;
use super::variant::{PullFailure, VariantDecision};
use crate::controller::apply::pod_is_ready;
use crate::controller::status::{DesiredStatus, condition};

/// The status fields the operator owns; the storage node writes the rest (its report)
/// under its own field manager.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedStatus {
    /// The StorageNode generation this status describes.
    pub observed_generation: Option<i64>,
    /// From the Pod's state ([`phase_of`]).
    pub phase: NodePhase,
    /// The Kubernetes Node the Pod runs on, once scheduled.
    pub node_name: Option<String>,
    pub pod_name: Option<String>,
    /// The variant whose image the Pod runs (the operator chose it).
    pub variant: String,
    /// Generation of the last switch to the variant the node reported as its best.
    pub variant_recreated_generation: Option<i64>,
    /// Images of this generation the kubelet could not pull.
    pub unavailable_images: Vec<UnavailableImage>,
    /// `Ready`, `NodeAvailable` and `VariantMatched`.
    pub conditions: Vec<Condition>,
}

/// The phase a Pod puts the storage node in. A Pod waiting on an image it cannot pull is
/// `Pending` while another image may still run (`exhausted` false), `Failed` after.
pub fn phase_of(pod: Option<&Pod>, outcome: &PodOutcome, exhausted: bool) -> NodePhase {
    let Some(pod) = pod else {
        return NodePhase::Pending;
    };
    if matches!(outcome, PodOutcome::Deleted | PodOutcome::Terminating) {
        return NodePhase::Pending;
    }
    let status = pod.status.as_ref();
    let crashing = status
        .and_then(|s| s.container_statuses.as_ref())
        .is_some_and(|containers| {
            containers.iter().any(|c| {
                c.state
                    .as_ref()
                    .and_then(|state| state.waiting.as_ref())
                    .and_then(|waiting| waiting.reason.as_deref())
                    .is_some_and(|reason| matches!(reason, "CrashLoopBackOff" | "InvalidImageName"))
            })
        });
    let pulling = PullFailure::of(pod).is_some();
    match status.and_then(|s| s.phase.as_deref()) {
        _ if crashing || (pulling && exhausted) => NodePhase::Failed,
        _ if pulling => NodePhase::Pending,
        Some("Failed" | "Succeeded") => NodePhase::Failed,
        Some("Running") if pod_is_ready(pod) => NodePhase::Ready,
        Some("Running") => NodePhase::Running,
        _ if pod
            .spec
            .as_ref()
            .and_then(|s| s.node_name.as_ref())
            .is_some() =>
        {
            NodePhase::Scheduled
        }
        _ => NodePhase::Pending,
    }
}

/// The owned status for this reconcile, starting from the current conditions so
/// unchanged ones keep their `lastTransitionTime`.
pub fn desired_status(
    node: &StorageNode,
    pod: Option<&Pod>,
    outcome: &PodOutcome,
    host: &HostObservation,
    decision: &VariantDecision,
    catalog: &VariantCatalog,
) -> OwnedStatus {
    let generation = node.metadata.generation;
    let phase = phase_of(pod, outcome, decision.exhausted);
    let mut conditions: Vec<Condition> = node
        .status
        .as_ref()
        .map(|s| {
            s.conditions
                .iter()
                .filter(|c| [READY, NODE_AVAILABLE, VARIANT_MATCHED].contains(&c.type_.as_str()))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let ready = phase == NodePhase::Ready;
    let pull_failure = pod.and_then(PullFailure::of);
    let (ready_reason, ready_message) = match (&pull_failure, ready) {
        (_, true) => (
            reason::SERVING.to_owned(),
            "the storage node serves requests".to_owned(),
        ),
        (Some(failure), false) => (failure.reason.clone(), failure.describe()),
        (None, false) => (
            reason::NOT_SERVING.to_owned(),
            not_ready_message(phase, outcome),
        ),
    };
    set_condition(
        &mut conditions,
        condition(
            READY,
            ready.into(),
            &ready_reason,
            ready_message,
            generation,
        ),
    );
    let (matched, matched_reason, matched_message) =
        decision.matched(node.status.as_ref(), catalog);
    set_condition(
        &mut conditions,
        condition(
            VARIANT_MATCHED,
            matched,
            &matched_reason,
            matched_message,
            generation,
        ),
    );
    if let Some(condition) = host_condition(host, generation) {
        set_condition(&mut conditions, condition);
    }
    OwnedStatus {
        observed_generation: generation,
        phase,
        node_name: pod
            .and_then(|p| p.spec.as_ref())
            .and_then(|s| s.node_name.clone())
            .or_else(|| node.spec.node_name.clone()),
        pod_name: pod.and_then(|p| p.metadata.name.clone()),
        variant: decision.variant.clone(),
        variant_recreated_generation: decision.recreated_generation,
        unavailable_images: decision.unavailable.clone(),
        conditions,
    }
}

fn not_ready_message(phase: NodePhase, outcome: &PodOutcome) -> String {
    match outcome {
        PodOutcome::WaitingForRollout(blocker) => {
            format!("Pod update waits until {blocker} is Ready (one node of a grid at a time)")
        }
        PodOutcome::Deleted | PodOutcome::Terminating => {
            "the Pod is being re-created with a new spec".to_owned()
        }
        _ => format!("the storage node is {phase:?}"),
    }
}

/// `NodeAvailable` for the host the node is pinned to; none for an unpinned node.
pub fn host_condition(host: &HostObservation, generation: Option<i64>) -> Option<Condition> {
    let (status, reason, message) = match host {
        HostObservation::Unpinned => return None,
        HostObservation::Present(host) if host.ready => (
            ConditionStatus::True,
            reason::NODE_READY,
            format!("Node {} is Ready", host.name),
        ),
        HostObservation::Present(host) => (
            ConditionStatus::False,
            reason::NODE_NOT_READY,
            format!("Node {} is NotReady", host.name),
        ),
        HostObservation::Missing(name) => (
            ConditionStatus::False,
            reason::NODE_DELETED,
            format!("Node {name} no longer exists; its local data is unreachable"),
        ),
    };
    Some(condition(
        NODE_AVAILABLE,
        status,
        reason,
        message,
        generation,
    ))
}

impl DesiredStatus for OwnedStatus {
    type Object = StorageNode;

    fn current(node: &StorageNode) -> Option<Self> {
        let status = node.status.as_ref()?;
        Some(OwnedStatus {
            observed_generation: status.observed_generation,
            phase: status.phase,
            node_name: status.node_name.clone(),
            pod_name: status.pod_name.clone(),
            variant: status.variant.clone().unwrap_or_default(),
            variant_recreated_generation: status.variant_recreated_generation,
            unavailable_images: status.unavailable_images.clone(),
            conditions: status.conditions.clone(),
        })
    }

    fn conditions_mut(&mut self) -> &mut Vec<Condition> {
        &mut self.conditions
    }

    /// Only the owned fields: the node's own report stays with its field manager.
    fn fields(&self) -> Value {
        let mut status = json!({
            "phase": self.phase,
            "variant": self.variant,
            "unavailableImages": self.unavailable_images,
            "conditions": self.conditions,
        });
        let optional = [
            (
                "observedGeneration",
                self.observed_generation.map(Value::from),
            ),
            ("nodeName", self.node_name.clone().map(Value::from)),
            ("podName", self.pod_name.clone().map(Value::from)),
            (
                "variantRecreatedGeneration",
                self.variant_recreated_generation.map(Value::from),
            ),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                status[key] = value;
            }
        }
        status
    }
}
