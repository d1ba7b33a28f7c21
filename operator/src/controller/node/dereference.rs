//! Reads what a StorageNode owns, the host it is pinned to and, unless checked lately, the
//! identity its Pod runs as.

use k8s_openapi::api::core::v1::{
    ConfigMap, Node, PersistentVolumeClaim, Pod, Service, ServiceAccount,
};
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::Api;
use sutra_core::crd::StorageNode;
use sutra_core::plan::{Host, host_from_node};

use super::build::{pod_name, pvc_name, service_name};
use super::identity::{STORAGE_IDENTITY, VARIANT_RULES_CONFIG_MAP};
use crate::controller::apply::get;
use crate::controller::{Context, Error, Result, Verb};

/// The host a StorageNode is pinned to, as observed.
#[derive(Debug, Clone, PartialEq)]
pub enum HostObservation {
    /// No `spec.nodeName`: the scheduler places it.
    Unpinned,
    Present(Box<Host>),
    /// The Node no longer exists.
    Missing(String),
}

impl HostObservation {
    /// Deleted or NotReady: a Pod there will not come back by itself.
    pub fn is_unavailable(&self) -> bool {
        match self {
            HostObservation::Unpinned => false,
            HostObservation::Present(host) => !host.ready,
            HostObservation::Missing(_) => true,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Observed {
    pub pod: Option<Pod>,
    pub pvc: Option<PersistentVolumeClaim>,
    pub service: Option<Service>,
    pub host: HostObservation,
    /// `None` when the namespace's identity was checked lately and is not read again.
    pub identity: Option<ObservedIdentity>,
}

/// The namespace's `sutra-storage` ServiceAccount, RoleBinding and variant rules, as found.
#[derive(Debug, Clone, Default)]
pub struct ObservedIdentity {
    pub service_account: Option<ServiceAccount>,
    pub role_binding: Option<RoleBinding>,
    pub variant_rules: Option<ConfigMap>,
}

pub async fn observe(ctx: &Context, node: &StorageNode, namespace: &str) -> Result<Observed> {
    let pod = get(ctx, namespace, &pod_name(node)).await?;
    let pvc = get(ctx, namespace, &pvc_name(node)).await?;
    let service = get(ctx, namespace, &service_name(node)).await?;
    let host = match &node.spec.node_name {
        None => HostObservation::Unpinned,
        Some(name) => match Api::<Node>::all(ctx.client.clone())
            .get_opt(name)
            .await
            .map_err(Error::api::<Node>(Verb::Get, None, name))?
        {
            Some(found) => HostObservation::Present(Box::new(host_from_node(
                &found,
                k8s_openapi::jiff::Timestamp::now(),
            ))),
            None => HostObservation::Missing(name.clone()),
        },
    };
    let identity = if ctx.identities.is_fresh(namespace) {
        None
    } else {
        Some(ObservedIdentity {
            service_account: get(ctx, namespace, STORAGE_IDENTITY).await?,
            role_binding: get(ctx, namespace, STORAGE_IDENTITY).await?,
            variant_rules: get(ctx, namespace, VARIANT_RULES_CONFIG_MAP).await?,
        })
    };
    Ok(Observed {
        pod,
        pvc,
        service,
        host,
        identity,
    })
}
