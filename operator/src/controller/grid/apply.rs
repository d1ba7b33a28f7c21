//! Applies the planned StorageNodes that differ from what exists and deletes the removed
//! ones, each with an Event saying why.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::DeleteParams;
use kube::runtime::events::EventType;
use kube::{Api, Resource};
use sutra_core::crd::{StorageGrid, StorageNode};

use super::build::{build_storage_node, needs_apply};
use super::publish;
use crate::controller::node::apply::server_side_apply;
use crate::controller::{Context, Result};
use crate::plan::{LossAction, Plan};

/// Issues the writes the plan needs; returns how many.
pub async fn apply(
    ctx: &Context,
    grid: &StorageGrid,
    namespace: &str,
    existing: &[StorageNode],
    plan: &Plan,
) -> Result<usize> {
    let mut writes = 0;
    for planned in &plan.nodes {
        let desired = build_storage_node(grid, planned);
        let observed = existing
            .iter()
            .find(|node| node.metadata.name.as_deref() == Some(planned.name.as_str()));
        if !needs_apply(observed, &desired) {
            continue;
        }
        server_side_apply(ctx, namespace, &desired).await?;
        writes += 1;
        let moved = plan.lost.iter().find(|lost| {
            lost.name == planned.name && matches!(lost.action, LossAction::MovedTo(_))
        });
        let (reason, note) = match (observed, moved) {
            (_, Some(lost)) => (
                "StorageNodeRescheduled",
                format!(
                    "{} moved from {} to {}: {}",
                    planned.name, lost.host, planned.host, lost.why
                ),
            ),
            (None, None) => (
                "StorageNodeCreated",
                format!(
                    "{} on {} with variant {}: {}",
                    planned.name, planned.host, planned.variant, planned.reason
                ),
            ),
            (Some(_), None) => (
                "StorageNodeUpdated",
                format!(
                    "{} on {} with variant {}: {}",
                    planned.name, planned.host, planned.variant, planned.reason
                ),
            ),
        };
        let related = desired.object_ref(&());
        publish(
            ctx,
            grid,
            EventType::Normal,
            reason,
            "Apply",
            note,
            Some(related),
        )
        .await?;
    }
    let api = Api::<StorageNode>::namespaced(ctx.client.clone(), namespace);
    for name in &plan.remove {
        api.delete(name, &DeleteParams::default()).await?;
        writes += 1;
        publish(
            ctx,
            grid,
            EventType::Normal,
            "StorageNodeRemoved",
            "Delete",
            format!("{name} is beyond spec.replicas={}", grid.spec.replicas),
            Some(removed_ref(grid, name)),
        )
        .await?;
    }
    Ok(writes)
}

fn removed_ref(grid: &StorageGrid, name: &str) -> ObjectReference {
    ObjectReference {
        api_version: Some(StorageNode::api_version(&()).into_owned()),
        kind: Some(StorageNode::kind(&()).into_owned()),
        name: Some(name.to_owned()),
        namespace: grid.metadata.namespace.clone(),
        ..ObjectReference::default()
    }
}
