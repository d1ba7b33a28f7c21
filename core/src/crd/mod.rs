//! Custom resource types `StorageGrid` and `StorageNode` (`grid.sutra.ai/v1alpha1`).
//!
//! The same types serve the operator (through the API server) and the local agent (which
//! reads manifests itself), so validation exists twice: CEL rules in the CRD for the API
//! server, and [`StorageGrid::validate`] / [`parse_storage_grid_yaml`] for everyone else.

mod common;
pub mod condition;
mod generate;
mod grid;
mod manifest;
mod node;
mod quantity;
mod rules;
pub mod structural;
mod validate;

pub use common::{
    DEFAULT_GRPC_PORT, DEFAULT_IMAGE_REPOSITORY, DEFAULT_IMAGE_TAG, DEFAULT_METRICS_PORT,
    DEFAULT_STORAGE_SIZE, ImageSpec, PortsSpec, PullPolicy, ReclaimPolicy, StartupProbeSpec,
    StorageSpec, VariantPolicy, VectorSpec,
};
pub use condition::{
    Condition, ConditionStatus, Time, find, is_true, new_condition, set_condition,
};
pub use generate::{CrdFile, GENERATED_HEADER, crd_files, crds, generate_crds_yaml};
pub use grid::{
    DEFAULT_NODE_LOSS_GRACE_PERIOD_SECONDS, NodeLossPolicy, PlacementSpec, StorageGrid,
    StorageGridSpec, StorageGridStatus,
};
pub use manifest::{ManifestError, parse_storage_grid_yaml, parse_storage_node_yaml};
pub use node::{NodePhase, StorageNode, StorageNodeSpec, StorageNodeStatus, UnavailableImage};
pub use quantity::{QUANTITY_FORMS, QuantityError, is_quantity, quantity_value};
pub use rules::{AUTO_VARIANT, MAX_VARIANT_NAME_LENGTH, catalog_names};
pub use validate::{FieldError, InvalidSpec, MAX_LABEL_LENGTH, is_dns_label};

/// API group of both kinds.
pub const GROUP: &str = "grid.sutra.ai";
/// API version of both kinds.
pub const VERSION: &str = "v1alpha1";
