//! Realises the built objects: server-side apply of what is missing or changed, and the
//! delete half of a Pod re-creation, gated by [`super::rollout`]. The
//! namespace's storage identity comes first: a Pod naming a ServiceAccount that does not
//! exist is refused.

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Service};
use sutra_core::crd::StorageNode;

use super::build::StorageIdentity;
use super::dereference::{Observed, ObservedIdentity};
use super::identity::STORAGE_IDENTITY;
use super::rollout;
use crate::controller::apply::{apply_if_changed, delete, hash_of, server_side_apply};
use crate::controller::events::Note;
use crate::controller::validate::Validated;
use crate::controller::{Context, Result};

/// What happened to the Pod in this reconcile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PodOutcome {
    /// It matches the desired spec.
    UpToDate,
    Created,
    /// Deleted to be re-created with a new spec on a later reconcile.
    Deleted,
    /// The old Pod is still terminating.
    Terminating,
    /// Another node of the grid is not Ready; the named one blocks the roll.
    WaitingForRollout(String),
}

pub struct Desired {
    pub pod: Pod,
    pub pvc: PersistentVolumeClaim,
    pub service: Service,
    pub identity: StorageIdentity,
}

pub async fn apply(
    ctx: &Context,
    node: Validated<'_, StorageNode>,
    namespace: &str,
    observed: &Observed,
    desired: &Desired,
) -> Result<PodOutcome> {
    let outcome = async {
        if let Some(current) = &observed.identity {
            apply_identity(ctx, &node, namespace, current, &desired.identity).await?;
        }
        apply_if_changed(ctx, namespace, observed.service.as_ref(), &desired.service).await?;
        // A claim's spec is immutable once bound, so an existing one is left as it is.
        if observed.pvc.is_none() {
            server_side_apply(ctx, namespace, &desired.pvc).await?;
        }
        apply_pod(ctx, &node, namespace, observed, &desired.pod).await
    }
    .await;
    if outcome.is_err() {
        // Perhaps the identity went away since it was checked (a Pod naming a missing
        // ServiceAccount is refused): look again next time.
        ctx.identities.forget(namespace);
    }
    outcome
}

/// Applies the ServiceAccount, the variant rules and the RoleBinding when missing or
/// different, and remembers the namespace as checked once all are as desired.
async fn apply_identity(
    ctx: &Context,
    node: &StorageNode,
    namespace: &str,
    current: &ObservedIdentity,
    desired: &StorageIdentity,
) -> Result<()> {
    let account = current.service_account.as_ref();
    apply_if_changed(ctx, namespace, account, &desired.service_account).await?;
    let rules = current.variant_rules.as_ref();
    apply_if_changed(ctx, namespace, rules, &desired.variant_rules).await?;
    let binding = &desired.role_binding;
    match &current.role_binding {
        // A roleRef is immutable: only deleting the binding changes it, and the operator
        // may not delete RoleBindings. Say so, and leave the binding as it is.
        Some(found) if found.role_ref != binding.role_ref => {
            let note = format!(
                "RoleBinding {STORAGE_IDENTITY} binds {} {}, not ClusterRole {}; a roleRef cannot change: delete the RoleBinding and the operator re-creates it",
                found.role_ref.kind, found.role_ref.name, binding.role_ref.name
            );
            let note = Note::warning("StorageIdentityConflict", "ApplyIdentity", note);
            return ctx.publish(node, note).await;
        }
        found => {
            apply_if_changed(ctx, namespace, found.as_ref(), binding).await?;
        }
    }
    ctx.identities.mark(namespace);
    Ok(())
}

async fn apply_pod(
    ctx: &Context,
    node: &StorageNode,
    namespace: &str,
    observed: &Observed,
    desired: &Pod,
) -> Result<PodOutcome> {
    let Some(current) = &observed.pod else {
        server_side_apply(ctx, namespace, desired).await?;
        return Ok(PodOutcome::Created);
    };
    if current.metadata.deletion_timestamp.is_some() {
        return Ok(PodOutcome::Terminating);
    }
    if hash_of(&current.metadata) == hash_of(&desired.metadata) {
        return Ok(PodOutcome::UpToDate);
    }
    if let Some(blocker) = rollout::blocker(ctx, node, namespace, current, &observed.host).await? {
        return Ok(PodOutcome::WaitingForRollout(blocker));
    }
    let name = current.metadata.name.clone().unwrap_or_default();
    let params = rollout::delete_params(&observed.host);
    delete::<Pod>(ctx, namespace, &name, &params).await?;
    Ok(PodOutcome::Deleted)
}
