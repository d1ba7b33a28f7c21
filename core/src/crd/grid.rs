//! `StorageGrid`: a set of storage nodes, one per replica, each running the image variant
//! that fits the host it landed on.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ResourceRequirements, Toleration};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::common::{
    ImageSpec, PortsSpec, StartupProbeSpec, StorageSpec, VariantPolicy, VectorSpec,
};
use super::condition::Condition;
use super::rules::{self, AUTO_VARIANT};

/// Desired state of a grid of sutra-storage nodes.
#[serde_with::skip_serializing_none]
// Each `printcolumn(...)` repeats keys such as `type_`, which clippy mistakes for
// duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "grid.sutra.ai",
    version = "v1alpha1",
    kind = "StorageGrid",
    plural = "storagegrids",
    shortname = "sg",
    namespaced,
    status = "StorageGridStatus",
    derive = "PartialEq",
    doc = "A grid of sutra-storage nodes, one per replica, each running the image variant that fits its host.",
    scale(
        spec_replicas_path = ".spec.replicas",
        status_replicas_path = ".status.replicas"
    ),
    printcolumn(
        name = "Replicas",
        type_ = "integer",
        json_path = ".spec.replicas",
        description = "Desired storage nodes"
    ),
    printcolumn(
        name = "Ready",
        type_ = "integer",
        json_path = ".status.readyReplicas",
        description = "Storage nodes whose Ready condition is True"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[x_kube(validation = rules::variant_policy_agrees())]
pub struct StorageGridSpec {
    /// Number of storage nodes.
    #[serde(default = "default_replicas")]
    #[schemars(range(min = 0))]
    #[x_kube(validation = rules::replicas_not_negative())]
    pub replicas: i32,
    #[serde(default)]
    pub image: ImageSpec,
    /// Image variant: `auto` picks the best variant per host from its labels, a variant
    /// name (e.g. `universal`) forces it on every host.
    #[serde(default = "default_variant")]
    #[schemars(length(max = rules::MAX_VARIANT_NAME_LENGTH))]
    #[x_kube(validation = rules::grid_variant_known())]
    pub variant: String,
    /// How variants are chosen and changed: `Auto` (the labels pick, the node's own
    /// hardware report and the images that exist correct it), `Labels` (the labels only)
    /// or `Fixed` (`variant` on every host). Absent: `Auto` when `variant` is `auto`,
    /// else `Fixed`.
    // A plain (not nullable) enum in the schema: the API server rejects `null` against an
    // enum that does not list it; `default` keeps it optional there.
    #[schemars(with = "VariantPolicy")]
    #[serde(default)]
    pub variant_policy: Option<VariantPolicy>,
    #[serde(default)]
    pub placement: PlacementSpec,
    #[serde(default)]
    pub storage: StorageSpec,
    /// CPU and memory of each storage node's container; the operator's defaults (the
    /// chart's `storageNode.resources`) fill what is not given.
    pub resources: Option<ResourceRequirements>,
    #[serde(default)]
    pub startup_probe: StartupProbeSpec,
    pub vector: VectorSpec,
    #[serde(default)]
    pub ports: PortsSpec,
}

impl StorageGridSpec {
    /// `variantPolicy` as given, else what `variant` implies.
    pub fn effective_variant_policy(&self) -> VariantPolicy {
        self.variant_policy
            .unwrap_or(if self.variant == AUTO_VARIANT {
                VariantPolicy::Auto
            } else {
                VariantPolicy::Fixed
            })
    }
}

fn default_replicas() -> i32 {
    1
}

fn default_variant() -> String {
    AUTO_VARIANT.to_owned()
}

/// Where storage nodes may run and what happens when their host disappears.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlacementSpec {
    /// Only hosts carrying all these labels receive storage nodes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Taints the storage nodes tolerate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    #[serde(default)]
    pub on_node_loss: NodeLossPolicy,
    /// How long a host may be unreachable before `onNodeLoss` applies.
    #[serde(default = "default_node_loss_grace_period_seconds")]
    #[schemars(range(min = 0))]
    pub node_loss_grace_period_seconds: i64,
}

impl Default for PlacementSpec {
    fn default() -> Self {
        PlacementSpec {
            node_selector: BTreeMap::new(),
            tolerations: Vec::new(),
            on_node_loss: NodeLossPolicy::default(),
            node_loss_grace_period_seconds: default_node_loss_grace_period_seconds(),
        }
    }
}

pub const DEFAULT_NODE_LOSS_GRACE_PERIOD_SECONDS: i64 = 300;

fn default_node_loss_grace_period_seconds() -> i64 {
    DEFAULT_NODE_LOSS_GRACE_PERIOD_SECONDS
}

/// What the operator does with a storage node whose host is lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum NodeLossPolicy {
    /// Keep the storage node bound to its host and wait for the host (its local data
    /// survives a reboot).
    #[default]
    Wait,
    /// Recreate the storage node on another host once the grace period has passed.
    Reschedule,
}

/// Observed state of a grid, computed from its storage nodes.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageGridStatus {
    /// The `metadata.generation` this status was computed for.
    pub observed_generation: Option<i64>,
    /// Storage nodes that exist.
    #[serde(default)]
    pub replicas: i32,
    /// Storage nodes whose Ready condition is True.
    #[serde(default)]
    pub ready_replicas: i32,
    /// Storage nodes per running variant, e.g. `{graviton3: 2, universal: 1}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variants: BTreeMap<String, i32>,
    /// `Ready`, `Progressing`, `Degraded`.
    #[serde(default)]
    #[schemars(extend(
        "x-kubernetes-list-type" = "map",
        "x-kubernetes-list-map-keys" = ["type"]
    ))]
    pub conditions: Vec<Condition>,
}
