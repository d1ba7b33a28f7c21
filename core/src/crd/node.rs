//! `StorageNode`: one sutra-storage instance. The grid controller writes one per replica
//! with the variant it resolved; a StorageNode can also be created on its own.

use k8s_openapi::api::core::v1::{ResourceRequirements, Toleration};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    ImageSpec, PortsSpec, StartupProbeSpec, StorageSpec, VariantPolicy, VectorSpec,
};
use super::condition::Condition;
use super::rules;
use crate::platform::PlatformReport;

/// Desired state of one storage node.
#[serde_with::skip_serializing_none]
// Each `printcolumn(...)` repeats keys such as `type_`, which clippy mistakes for
// duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "grid.sutra.ai",
    version = "v1alpha1",
    kind = "StorageNode",
    plural = "storagenodes",
    shortname = "sn",
    namespaced,
    status = "StorageNodeStatus",
    derive = "PartialEq",
    doc = "One sutra-storage instance, pinned to a host, running a resolved image variant.",
    printcolumn(
        name = "Node",
        type_ = "string",
        json_path = ".status.nodeName",
        description = "Host the storage node runs on"
    ),
    printcolumn(
        name = "Variant",
        type_ = "string",
        json_path = ".status.variant",
        description = "Image variant running"
    ),
    printcolumn(
        name = "Platform",
        type_ = "string",
        json_path = ".status.platformSummary",
        description = "Hardware the storage node detected"
    ),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#
    ),
    printcolumn(
        name = "Best",
        type_ = "string",
        json_path = ".status.bestVariant",
        description = "Best variant for the detected hardware",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StorageNodeSpec {
    /// Name of the StorageGrid that owns this node; absent for a standalone node.
    pub grid: Option<String>,
    /// Position of this node in its grid (0-based).
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub ordinal: i32,
    /// Kubernetes Node (or local host) the storage node is pinned to; the scheduler
    /// chooses when absent.
    pub node_name: Option<String>,
    /// Resolved image variant (a catalog name, never `auto`).
    #[schemars(length(max = rules::MAX_VARIANT_NAME_LENGTH))]
    #[x_kube(validation = rules::node_variant_resolved())]
    pub variant: String,
    /// Whether the operator may change the variant: `Auto` switches to the variant the
    /// node reports as best and falls back when an image cannot be pulled; `Labels` and
    /// `Fixed` keep `variant`.
    #[serde(default)]
    pub variant_policy: VariantPolicy,
    #[serde(default)]
    pub image: ImageSpec,
    pub vector: VectorSpec,
    #[serde(default)]
    pub storage: StorageSpec,
    /// CPU and memory of the storage node's container.
    pub resources: Option<ResourceRequirements>,
    #[serde(default)]
    pub startup_probe: StartupProbeSpec,
    /// Taints the storage node tolerates, copied from the grid's placement.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    #[serde(default)]
    pub ports: PortsSpec,
}

/// Lifecycle of a storage node, coarse enough for a `kubectl get` column; the conditions
/// carry the detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum NodePhase {
    /// Accepted, nothing created yet.
    #[default]
    Pending,
    /// Its Pod or process exists and has a host.
    Scheduled,
    /// The storage process runs.
    Running,
    /// The storage process serves requests.
    Ready,
    /// The storage process exited or cannot start.
    Failed,
}

/// Observed state of one storage node, reported by the operator and the node itself.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageNodeStatus {
    /// The `metadata.generation` this status was computed for.
    pub observed_generation: Option<i64>,
    #[serde(default)]
    pub phase: NodePhase,
    /// Host the storage node runs on.
    pub node_name: Option<String>,
    /// Pod (Kubernetes) or container/process name (local agent) running the node.
    pub pod_name: Option<String>,
    /// Variant of the image the Pod runs (written by the operator, which chose it).
    pub variant: Option<String>,
    /// Best variant for the detected hardware (reported by the storage node).
    pub best_variant: Option<String>,
    /// What hardware detection found on the host.
    pub platform: Option<PlatformReport>,
    /// One-line summary of `platform` for `kubectl get`, e.g. `Neoverse-V1 arm64 sve 64KiB`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub platform_summary: String,
    /// `PlatformDetected`, `VariantMatched`, `Ready`.
    #[serde(default)]
    #[schemars(extend(
        "x-kubernetes-list-type" = "map",
        "x-kubernetes-list-map-keys" = ["type"]
    ))]
    pub conditions: Vec<Condition>,
    /// Generation at which the operator last recreated this node to switch it to
    /// `bestVariant`; it recreates at most once per generation, so a wrong detection cannot
    /// make it loop.
    pub variant_recreated_generation: Option<i64>,
    /// Images of this generation that could not be pulled; `Auto` never picks their
    /// variants again until the spec changes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unavailable_images: Vec<UnavailableImage>,
}

/// An image the kubelet could not pull.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnavailableImage {
    pub variant: String,
    /// The image reference, e.g. `sutra-storage:0.1.0-x86-64-v4`.
    pub image: String,
    /// The `metadata.generation` it failed at.
    pub observed_generation: i64,
}
