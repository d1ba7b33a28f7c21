//! Realises the built objects: server-side apply of what is missing or changed, and the
//! delete half of a Pod re-creation, gated so a grid rolls one node at a time. The
//! namespace's storage identity comes first: a Pod naming a ServiceAccount that does not
//! exist is refused.

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Service};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::events::EventType;
use kube::{Api, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sutra_core::crd::condition::node::READY;
use sutra_core::crd::{StorageNode, is_true};
use sutra_core::labels;

use super::build::{StorageIdentity, hash_of};
use super::dereference::{Observed, ObservedIdentity};
use super::identity::STORAGE_IDENTITY;
use crate::controller::{Context, FIELD_MANAGER, Result};

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
    node: &StorageNode,
    namespace: &str,
    observed: &Observed,
    desired: &Desired,
) -> Result<PodOutcome> {
    if let Some(current) = &observed.identity {
        apply_identity(ctx, node, namespace, current, &desired.identity).await?;
    }
    let outcome = apply_owned(ctx, node, namespace, observed, desired).await;
    if outcome.is_err() {
        // Perhaps the identity went away since it was checked (a Pod naming a missing
        // ServiceAccount is refused): look again next time.
        ctx.identities.forget(namespace);
    }
    outcome
}

/// Applies the ServiceAccount and RoleBinding when missing or different, and remembers the
/// namespace as checked once both are as desired.
async fn apply_identity(
    ctx: &Context,
    node: &StorageNode,
    namespace: &str,
    current: &ObservedIdentity,
    desired: &StorageIdentity,
) -> Result<()> {
    let account = &desired.service_account;
    if current
        .service_account
        .as_ref()
        .map(|a| hash_of(&a.metadata))
        != Some(hash_of(&account.metadata))
    {
        server_side_apply(ctx, namespace, account).await?;
    }
    let rules = &desired.variant_rules;
    if current.variant_rules.as_ref().map(|r| hash_of(&r.metadata))
        != Some(hash_of(&rules.metadata))
    {
        server_side_apply(ctx, namespace, rules).await?;
    }
    let binding = &desired.role_binding;
    match &current.role_binding {
        // A roleRef is immutable: only deleting the binding changes it, and the operator
        // may not delete RoleBindings. Say so, and leave the binding as it is.
        Some(found) if found.role_ref != binding.role_ref => {
            let note = format!(
                "RoleBinding {STORAGE_IDENTITY} binds {} {}, not ClusterRole {}; a roleRef cannot change: delete the RoleBinding and the operator re-creates it",
                found.role_ref.kind, found.role_ref.name, binding.role_ref.name
            );
            return super::publish(
                ctx,
                node,
                EventType::Warning,
                "StorageIdentityConflict",
                "ApplyIdentity",
                note,
            )
            .await;
        }
        found => {
            if found.as_ref().map(|b| hash_of(&b.metadata)) != Some(hash_of(&binding.metadata)) {
                server_side_apply(ctx, namespace, binding).await?;
            }
        }
    }
    ctx.identities.mark(namespace);
    Ok(())
}

async fn apply_owned(
    ctx: &Context,
    node: &StorageNode,
    namespace: &str,
    observed: &Observed,
    desired: &Desired,
) -> Result<PodOutcome> {
    if observed.service.as_ref().map(|s| hash_of(&s.metadata))
        != Some(hash_of(&desired.service.metadata))
    {
        server_side_apply(ctx, namespace, &desired.service).await?;
    }
    // A claim's spec is immutable once bound, so an existing one is left as it is.
    if observed.pvc.is_none() {
        server_side_apply(ctx, namespace, &desired.pvc).await?;
    }
    apply_pod(ctx, node, namespace, observed, &desired.pod).await
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
    // Replacing a Pod that does not serve anyway (or sits on a lost host) costs nothing,
    // so only a serving Pod waits for its siblings.
    if pod_is_ready(current)
        && !observed.host.is_unavailable()
        && let Some(blocker) = rollout_blocker(ctx, node, namespace).await?
    {
        return Ok(PodOutcome::WaitingForRollout(blocker));
    }
    // A Pod on a lost host never confirms its deletion; force it so the name frees up.
    let params = if observed.host.is_unavailable() {
        DeleteParams::default().grace_period(0)
    } else {
        DeleteParams::default()
    };
    let name = current.metadata.name.clone().unwrap_or_default();
    Api::<Pod>::namespaced(ctx.client.clone(), namespace)
        .delete(&name, &params)
        .await?;
    Ok(PodOutcome::Deleted)
}

/// Another StorageNode of the same grid that is not Ready, if any: replacing a serving Pod
/// while a sibling is down would take two replicas out at once.
async fn rollout_blocker(
    ctx: &Context,
    node: &StorageNode,
    namespace: &str,
) -> Result<Option<String>> {
    let Some(grid) = &node.spec.grid else {
        return Ok(None);
    };
    let siblings = Api::<StorageNode>::namespaced(ctx.client.clone(), namespace)
        .list(&ListParams::default().labels(&format!("{}={grid}", labels::GRID_NAME)))
        .await?;
    let own_name = node.metadata.name.as_deref();
    Ok(siblings
        .items
        .into_iter()
        .filter(|sibling| sibling.metadata.name.as_deref() != own_name)
        .find(|sibling| {
            !sibling
                .status
                .as_ref()
                .is_some_and(|status| is_true(&status.conditions, READY))
        })
        .and_then(|sibling| sibling.metadata.name))
}

pub fn pod_is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|status| status.conditions.as_ref())
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        })
}

/// Server-side apply with the operator's field manager, forcing ownership of the fields it
/// sets (it is the only writer of the objects it owns).
pub async fn server_side_apply<K>(ctx: &Context, namespace: &str, object: &K) -> Result<K>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + Serialize
        + DeserializeOwned
        + std::fmt::Debug,
{
    let name = object.meta().name.clone().unwrap_or_default();
    let mut body = serde_json::to_value(object).expect("k8s objects always serialise");
    body["apiVersion"] = K::api_version(&()).into();
    body["kind"] = K::kind(&()).into();
    let applied = Api::<K>::namespaced(ctx.client.clone(), namespace)
        .patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await?;
    Ok(applied)
}
