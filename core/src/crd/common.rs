//! Spec parts shared by `StorageGrid` and `StorageNode`: image, vector settings, storage,
//! ports.
//!
//! Every sub-object defaults field by field, so a minimal grid only names
//! `replicas` and `vector.dimension`. Spec structs deny unknown fields: the local agent
//! reads manifests without an API server and must reject a typo rather than ignore it.

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::rules;
use crate::vector::{Compression, Metric};

/// Repository used when a grid names none: where the release workflow pushes the images.
pub const DEFAULT_IMAGE_REPOSITORY: &str = "ghcr.io/sutra-ai/sutra-storage";
/// Tag used when a grid names none: the version of this crate, which is released together
/// with the storage image.
pub const DEFAULT_IMAGE_TAG: &str = env!("CARGO_PKG_VERSION");
pub const DEFAULT_STORAGE_SIZE: &str = "10Gi";
pub const DEFAULT_GRPC_PORT: i32 = 50051;
pub const DEFAULT_METRICS_PORT: i32 = 9090;

/// The storage image; the variant is appended to the tag: `<repository>:<tag>-<variant>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageSpec {
    /// Image repository, e.g. `ghcr.io/sutra-ai/sutra-storage`.
    #[serde(default = "default_repository")]
    pub repository: String,
    /// Tag before the variant suffix.
    #[serde(default = "default_tag")]
    pub tag: String,
    #[serde(default)]
    pub pull_policy: PullPolicy,
}

impl Default for ImageSpec {
    fn default() -> Self {
        ImageSpec {
            repository: default_repository(),
            tag: default_tag(),
            pull_policy: PullPolicy::default(),
        }
    }
}

impl ImageSpec {
    /// The full image reference for a variant: `ghcr.io/sutra-ai/sutra-storage:0.1.0-graviton3`.
    pub fn reference(&self, variant: &str) -> String {
        format!("{}:{}-{}", self.repository, self.tag, variant)
    }
}

fn default_repository() -> String {
    DEFAULT_IMAGE_REPOSITORY.to_owned()
}

fn default_tag() -> String {
    DEFAULT_IMAGE_TAG.to_owned()
}

/// When the kubelet pulls the image (Kubernetes `imagePullPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum PullPolicy {
    #[default]
    IfNotPresent,
    Always,
    Never,
}

impl PullPolicy {
    /// The value of a container's `imagePullPolicy`.
    pub fn as_str(self) -> &'static str {
        match self {
            PullPolicy::IfNotPresent => "IfNotPresent",
            PullPolicy::Always => "Always",
            PullPolicy::Never => "Never",
        }
    }
}

/// What is stored: vector dimension, distance metric and compression.
///
/// Dimension and metric cannot change after creation (CEL `self == oldSelf`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VectorSpec {
    /// Number of components per vector, 1..=65536. Immutable.
    #[schemars(range(min = 1, max = 65536))]
    #[x_kube(
        validation = rules::dimension_in_range(),
        validation = rules::immutable("dimension")
    )]
    pub dimension: u32,
    /// Distance metric. Immutable.
    #[serde(default)]
    #[x_kube(validation = rules::immutable("metric"))]
    pub metric: Metric,
    #[serde(default)]
    pub compression: Compression,
}

impl VectorSpec {
    /// Vector settings with the default metric and compression.
    pub fn with_dimension(dimension: u32) -> Self {
        VectorSpec {
            dimension,
            metric: Metric::default(),
            compression: Compression::default(),
        }
    }
}

/// How the operator chooses and changes a storage node's image variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum VariantPolicy {
    /// The host's labels pick the first variant; the node's own hardware report then wins:
    /// the operator switches once per generation to the variant the node reports as best,
    /// and falls back along the catalog's fallback chain when an image cannot be pulled.
    Auto,
    /// The host's labels pick the variant and nothing changes it: no switch to the
    /// reported best, no image fallback.
    Labels,
    /// `spec.variant` runs on every host, whatever the labels or the node report.
    #[default]
    Fixed,
}

impl VariantPolicy {
    /// Whether the host's labels pick the variant (`spec.variant: auto`).
    pub fn picks_from_labels(self) -> bool {
        self != VariantPolicy::Fixed
    }

    pub fn as_str(self) -> &'static str {
        match self {
            VariantPolicy::Auto => "Auto",
            VariantPolicy::Labels => "Labels",
            VariantPolicy::Fixed => "Fixed",
        }
    }
}

/// The gRPC startup probe of a storage node: the liveness probe waits until it passes, so
/// a large store may take its time to open.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartupProbeSpec {
    /// Seconds between attempts [default: 5].
    #[schemars(range(min = 1))]
    pub period_seconds: Option<i32>,
    /// Failed attempts before the kubelet restarts the container [default: sized from
    /// `storage.size`: 60 s plus 5 s per GiB, divided by the period].
    #[schemars(range(min = 1))]
    pub failure_threshold: Option<i32>,
}

/// The persistent volume of each storage node.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StorageSpec {
    /// Volume size as a Kubernetes quantity, e.g. `10Gi`.
    #[serde(default = "default_storage_size")]
    pub size: String,
    /// StorageClass of the volume claim; the cluster default when absent.
    pub storage_class_name: Option<String>,
    /// What happens to the volume when its storage node is deleted.
    #[serde(default)]
    pub reclaim_policy: ReclaimPolicy,
}

impl Default for StorageSpec {
    fn default() -> Self {
        StorageSpec {
            size: default_storage_size(),
            storage_class_name: None,
            reclaim_policy: ReclaimPolicy::default(),
        }
    }
}

fn default_storage_size() -> String {
    DEFAULT_STORAGE_SIZE.to_owned()
}

/// Fate of a storage node's volume when the node is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum ReclaimPolicy {
    /// Keep the volume (and the vectors on it); the safe default for data.
    #[default]
    Retain,
    Delete,
}

/// Ports a storage node listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PortsSpec {
    /// gRPC API port.
    #[serde(default = "default_grpc_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub grpc: i32,
    /// Prometheus metrics port.
    #[serde(default = "default_metrics_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub metrics: i32,
}

impl Default for PortsSpec {
    fn default() -> Self {
        PortsSpec {
            grpc: DEFAULT_GRPC_PORT,
            metrics: DEFAULT_METRICS_PORT,
        }
    }
}

fn default_grpc_port() -> i32 {
    DEFAULT_GRPC_PORT
}

fn default_metrics_port() -> i32 {
    DEFAULT_METRICS_PORT
}
