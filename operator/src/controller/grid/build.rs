//! Pure builder of the StorageNodes a plan asks for.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use sutra_core::crd::{StorageGrid, StorageNode, StorageNodeSpec};
use sutra_core::labels;
use sutra_core::plan::{ExistingNode, PlannedNode};

use crate::controller::MANAGER_NAME;

/// The StorageNode `<grid>-<ordinal>`, owned by the grid, pinned to the planned host.
pub fn build_storage_node(grid: &StorageGrid, planned: &PlannedNode) -> StorageNode {
    let grid_name = grid.metadata.name.clone().unwrap_or_default();
    let spec = &grid.spec;
    let mut node = StorageNode::new(
        &planned.name,
        StorageNodeSpec {
            grid: Some(grid_name.clone()),
            ordinal: planned.ordinal,
            node_name: Some(planned.host.clone()),
            variant: planned.variant.clone(),
            variant_policy: spec.effective_variant_policy(),
            image: spec.image.clone(),
            vector: spec.vector.clone(),
            storage: spec.storage.clone(),
            resources: spec.resources.clone(),
            startup_probe: spec.startup_probe,
            tolerations: spec.placement.tolerations.clone(),
            ports: spec.ports,
        },
    );
    node.metadata = ObjectMeta {
        name: Some(planned.name.clone()),
        namespace: grid.metadata.namespace.clone(),
        labels: Some(BTreeMap::from([
            (labels::MANAGED_BY.to_owned(), MANAGER_NAME.to_owned()),
            (labels::GRID_NAME.to_owned(), grid_name),
            (labels::VARIANT.to_owned(), planned.variant.clone()),
        ])),
        owner_references: grid.controller_owner_ref(&()).map(|owner| vec![owner]),
        ..ObjectMeta::default()
    };
    node
}

/// Whether `observed` lacks anything `desired` sets: spec, labels, annotations or owner.
pub fn needs_apply(observed: Option<&StorageNode>, desired: &StorageNode) -> bool {
    let Some(observed) = observed else {
        return true;
    };
    let contains = |have: &Option<BTreeMap<String, String>>,
                    want: &Option<BTreeMap<String, String>>| {
        want.iter()
            .flatten()
            .all(|(k, v)| have.as_ref().and_then(|h| h.get(k)) == Some(v))
    };
    let owned = desired
        .metadata
        .owner_references
        .iter()
        .flatten()
        .all(|owner| {
            observed
                .metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.uid == owner.uid && o.controller == Some(true))
        });
    observed.spec != desired.spec
        || !contains(&observed.metadata.labels, &desired.metadata.labels)
        || !contains(
            &observed.metadata.annotations,
            &desired.metadata.annotations,
        )
        || !owned
}

/// The planner's view of an existing StorageNode.
pub fn existing_node(node: &StorageNode) -> ExistingNode {
    ExistingNode {
        name: node.metadata.name.clone().unwrap_or_default(),
        ordinal: node.spec.ordinal,
        host: node.spec.node_name.clone(),
    }
}
