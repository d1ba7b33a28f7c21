//! The StorageNode controller: a Pod pinned to the node's host, a volume claim for `/data`
//! and a headless Service, and a status computed from what it observes.
//!
//! Pipeline: [`dereference`] (read Pod, PVC, Service, Node, and the namespace's
//! [`identity`] unless checked lately) → [`validate`](crate::controller::validate) →
//! [`variant`] and [`build`] (pure) → [`apply`] (only what differs; a changed Pod is
//! replaced as the [`rollout`] allows) → [`status`] (only when it changed).
//!
//! # Node loss and the data left behind
//!
//! When a StorageNode's Node is deleted or NotReady, the `NodeAvailable` condition turns
//! False and a `NodeLost` Event is recorded. The grid's planner decides what follows:
//! * `onNodeLoss: Wait` (default): nothing moves. A Node that comes back finds its Pod
//!   and its volume as they were; the vectors on it were never touched.
//! * `onNodeLoss: Reschedule`, after `nodeLossGracePeriodSeconds`: the StorageNode gets a
//!   new `spec.nodeName`, the old Pod is force-deleted (a lost kubelet never confirms a
//!   delete) and a new one is created on the new host with the **same** claim
//!   `<storagenode>-data`. With network-attached volumes (EBS, Ceph, ...) the data follows
//!   if the new host can attach it (same zone). With node-local volumes (local-path, local
//!   PVs) the data stays on the lost host: the claim is bound there, so the new Pod stays
//!   Pending and says so in its events; delete the claim (after copying anything worth
//!   keeping) to start the node empty on its new host. The operator never deletes a
//!   claim on its own except under `reclaimPolicy: Delete` when the StorageNode goes.

pub mod apply;
pub mod build;
pub mod dereference;
pub mod identity;
pub mod rollout;
pub mod status;
pub mod variant;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::api::DeleteParams;
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::{Api, ResourceExt};
use sutra_core::crd::condition::reason::IMAGE_UNAVAILABLE;
use sutra_core::crd::{ReclaimPolicy, StorageNode};

use crate::controller::apply::delete;
use crate::controller::events::Note;
use crate::controller::status::{is_news, update};
use crate::controller::validate::{Validated, validate};
use crate::controller::{Context, Error, FINALIZER, Result, object_key};
use apply::{Desired, PodOutcome};
use dereference::{HostObservation, Observed};

/// The `controller` label of the metrics.
pub const CONTROLLER: &str = "storagenode";

/// How soon to look again while a Pod is being replaced.
const REPLACING: Duration = Duration::from_secs(5);
/// How soon to look again while the roll waits for a sibling.
const WAITING_FOR_ROLLOUT: Duration = Duration::from_secs(15);
/// Periodic re-check of a settled StorageNode.
const SETTLED: Duration = Duration::from_secs(300);

/// Reconciles one StorageNode, recording metrics.
pub async fn reconcile(node: Arc<StorageNode>, ctx: Arc<Context>) -> Result<Action> {
    let key = object_key(node.as_ref());
    let result = ctx
        .metrics
        .measure(CONTROLLER, reconcile_with_finalizer(node, &ctx))
        .await;
    if result.is_ok() {
        ctx.backoff.reset(&key);
    }
    result
}

/// Requeue after a failure, with backoff per object.
pub fn error_policy(node: Arc<StorageNode>, error: &Error, ctx: Arc<Context>) -> Action {
    let key = object_key(node.as_ref());
    tracing::warn!(storagenode = %key, %error, "reconcile failed");
    Action::requeue(ctx.backoff.next(&key, error))
}

async fn reconcile_with_finalizer(node: Arc<StorageNode>, ctx: &Context) -> Result<Action> {
    let namespace = node.namespace().ok_or(Error::MissingField {
        kind: "StorageNode",
        field: "metadata.namespace",
    })?;
    let key = object_key(node.as_ref());
    let api = Api::<StorageNode>::namespaced(ctx.client.clone(), &namespace);
    finalizer(&api, FINALIZER, node, |event| async {
        match event {
            Finalizer::Apply(node) => reconcile_live(&node, ctx, &namespace).await,
            Finalizer::Cleanup(node) => cleanup(&node, ctx, &namespace).await,
        }
    })
    .await
    .map_err(|error| match error {
        kube::runtime::finalizer::Error::ApplyFailed(inner)
        | kube::runtime::finalizer::Error::CleanupFailed(inner) => inner,
        other => Error::Finalizer(format!("{key}: {other}")),
    })
}

async fn reconcile_live(node: &StorageNode, ctx: &Context, namespace: &str) -> Result<Action> {
    let observed = dereference::observe(ctx, node, namespace).await?;
    let node = validate(ctx, node).await?;
    reconcile_valid(ctx, node, namespace, &observed).await
}

async fn reconcile_valid(
    ctx: &Context,
    node: Validated<'_, StorageNode>,
    namespace: &str,
    observed: &Observed,
) -> Result<Action> {
    let decision = variant::decide_variant(&node, observed.pod.as_ref(), ctx.catalog());
    report_variant_decision(ctx, &node, &decision).await?;
    let desired = Desired {
        pod: build::build_pod(
            &node,
            &decision.variant,
            ctx.config.storage_node_resources.as_ref(),
        ),
        pvc: build::build_pvc(&node),
        service: build::build_service(&node),
        identity: build::build_storage_identity(
            namespace,
            &ctx.config.storage_node_cluster_role,
            &ctx.rules.yaml,
        ),
    };
    let outcome = apply::apply(ctx, node, namespace, observed, &desired).await?;
    report_pod_outcome(ctx, &node, &outcome, &decision.variant).await?;
    let pod = match outcome {
        PodOutcome::Created => Some(&desired.pod),
        _ => observed.pod.as_ref(),
    };
    let wanted = status::desired_status(
        &node,
        pod,
        &outcome,
        &observed.host,
        &decision,
        ctx.catalog(),
    );
    report_host_loss(ctx, &node, &observed.host).await?;
    ctx.metrics.set_storagenode(
        &object_key(&*node),
        Some((&format!("{:?}", wanted.phase), &wanted.variant)),
    );
    update(ctx, namespace, &*node, &wanted).await?;
    Ok(match outcome {
        PodOutcome::Deleted | PodOutcome::Terminating => Action::requeue(REPLACING),
        PodOutcome::WaitingForRollout(_) => Action::requeue(WAITING_FOR_ROLLOUT),
        PodOutcome::UpToDate | PodOutcome::Created => Action::requeue(SETTLED),
    })
}

/// An Event per variant decision: the image found missing, then the switch (from, to, why).
async fn report_variant_decision(
    ctx: &Context,
    node: &StorageNode,
    decision: &variant::VariantDecision,
) -> Result<()> {
    if let Some(failure) = &decision.newly_unavailable {
        let next = if decision.exhausted {
            "no other variant may run, so the node is Failed until an image is pushed or the spec changes".to_owned()
        } else {
            format!("falling back to {}", decision.variant)
        };
        let note = format!("variant image unavailable: {}; {next}", failure.describe());
        let note = Note::warning(IMAGE_UNAVAILABLE, "PullImage", note);
        ctx.publish(node, note).await?;
    }
    if let Some(change) = &decision.change {
        let (reason, note) = change.event();
        ctx.publish(node, Note::normal(reason, "SwitchVariant", note))
            .await?;
    }
    Ok(())
}

async fn report_pod_outcome(
    ctx: &Context,
    node: &StorageNode,
    outcome: &PodOutcome,
    variant: &str,
) -> Result<()> {
    let (reason, note) = match outcome {
        PodOutcome::Created => (
            "PodCreated",
            format!(
                "created Pod running variant {variant} (image {})",
                node.spec.image.reference(variant)
            ),
        ),
        PodOutcome::Deleted => (
            "PodDeleted",
            "deleted the Pod to re-create it with a new spec".to_owned(),
        ),
        PodOutcome::WaitingForRollout(blocker) => (
            "RolloutWaiting",
            format!(
                "the Pod needs re-creating for a new spec; waiting until {blocker} is Ready (one node of a grid at a time)"
            ),
        ),
        PodOutcome::UpToDate | PodOutcome::Terminating => return Ok(()),
    };
    ctx.publish(node, Note::normal(reason, "Reconcile", note))
        .await
}

/// An Event when the host turns unavailable; the `NodeAvailable` condition carries it on.
async fn report_host_loss(ctx: &Context, node: &StorageNode, host: &HostObservation) -> Result<()> {
    let note = match host {
        HostObservation::Missing(name) => format!("Node {name} was deleted"),
        HostObservation::Present(host) if !host.ready => format!("Node {} is NotReady", host.name),
        HostObservation::Present(_) | HostObservation::Unpinned => return Ok(()),
    };
    let current = node.status.as_ref().map(|s| s.conditions.as_slice());
    let news = status::host_condition(host, node.metadata.generation)
        .is_some_and(|lost| is_news(current, &lost, false));
    if !news {
        return Ok(());
    }
    ctx.publish(node, Note::warning("NodeLost", "WatchNode", note))
        .await
}

/// Deletes the claim when `reclaimPolicy: Delete`; with `Retain` it stays for whoever
/// needs the vectors on it.
async fn cleanup(node: &StorageNode, ctx: &Context, namespace: &str) -> Result<Action> {
    ctx.metrics.set_storagenode(&object_key(node), None);
    if node.spec.storage.reclaim_policy == ReclaimPolicy::Delete {
        let name = build::pvc_name(node);
        match delete::<PersistentVolumeClaim>(ctx, namespace, &name, &DeleteParams::default()).await
        {
            Err(error) if !error.is_not_found() => return Err(error),
            _ => {}
        }
        let note = format!("deleted PersistentVolumeClaim {name} (reclaimPolicy Delete)");
        ctx.publish(node, Note::normal("VolumeDeleted", "Cleanup", note))
            .await?;
    }
    Ok(Action::await_change())
}
