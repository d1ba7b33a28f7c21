//! Applies the planned StorageNodes that differ from what exists and deletes the removed
//! ones, each with an Event saying why.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Resource;
use kube::api::DeleteParams;
use sutra_core::crd::{StorageGrid, StorageNode};

use super::build::{build_storage_node, needs_apply};
use crate::controller::apply::{delete, server_side_apply};
use crate::controller::events::Note;
use crate::controller::validate::Validated;
use crate::controller::{Context, Result};
use sutra_core::plan::{LossAction, Plan, PlannedNode};

/// Issues the writes the plan needs; returns how many.
pub async fn apply(
    ctx: &Context,
    grid: Validated<'_, StorageGrid>,
    namespace: &str,
    existing: &[StorageNode],
    plan: &Plan,
) -> Result<usize> {
    let mut writes = 0;
    for planned in &plan.nodes {
        let desired = build_storage_node(&grid, planned);
        let observed = existing
            .iter()
            .find(|node| node.metadata.name.as_deref() == Some(planned.name.as_str()));
        if !needs_apply(observed, &desired) {
            continue;
        }
        server_side_apply(ctx, namespace, &desired).await?;
        writes += 1;
        let (reason, note) = applied_note(plan, planned, observed.is_some());
        let note = Note::normal(reason, "Apply", note).related(desired.object_ref(&()));
        ctx.publish(&*grid, note).await?;
    }
    for name in &plan.remove {
        delete::<StorageNode>(ctx, namespace, name, &DeleteParams::default()).await?;
        writes += 1;
        let note = Note::normal(
            "StorageNodeRemoved",
            "Delete",
            format!("{name} is beyond spec.replicas={}", grid.spec.replicas),
        );
        ctx.publish(&*grid, note.related(removed_ref(&grid, name)))
            .await?;
    }
    Ok(writes)
}

/// The Event for an applied StorageNode: moved off a lost host, created, or updated.
fn applied_note(plan: &Plan, planned: &PlannedNode, existed: bool) -> (&'static str, String) {
    let moved = plan
        .lost
        .iter()
        .find(|lost| lost.name == planned.name && matches!(lost.action, LossAction::MovedTo(_)));
    if let Some(lost) = moved {
        return (
            "StorageNodeRescheduled",
            format!(
                "{} moved from {} to {}: {}",
                planned.name, lost.host, planned.host, lost.why
            ),
        );
    }
    let reason = if existed {
        "StorageNodeUpdated"
    } else {
        "StorageNodeCreated"
    };
    let note = format!(
        "{} on {} with variant {}: {}",
        planned.name, planned.host, planned.variant, planned.reason
    );
    (reason, note)
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
