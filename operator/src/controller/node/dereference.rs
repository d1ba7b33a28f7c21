//! Reads what a StorageNode owns and the host it is pinned to.

use k8s_openapi::api::core::v1::{Node, PersistentVolumeClaim, Pod, Service};
use kube::Api;
use sutra_core::crd::StorageNode;

use super::build::{pod_name, pvc_name, service_name};
use crate::controller::{Context, Result};
use crate::plan::{Host, host_from_node};

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
}

pub async fn observe(ctx: &Context, node: &StorageNode, namespace: &str) -> Result<Observed> {
    let client = ctx.client.clone();
    let pod = Api::<Pod>::namespaced(client.clone(), namespace)
        .get_opt(&pod_name(node))
        .await?;
    let pvc = Api::<PersistentVolumeClaim>::namespaced(client.clone(), namespace)
        .get_opt(&pvc_name(node))
        .await?;
    let service = Api::<Service>::namespaced(client.clone(), namespace)
        .get_opt(&service_name(node))
        .await?;
    let host = match &node.spec.node_name {
        None => HostObservation::Unpinned,
        Some(name) => match Api::<Node>::all(client).get_opt(name).await? {
            Some(found) => HostObservation::Present(Box::new(host_from_node(
                &found,
                k8s_openapi::jiff::Timestamp::now(),
            ))),
            None => HostObservation::Missing(name.clone()),
        },
    };
    Ok(Observed {
        pod,
        pvc,
        service,
        host,
    })
}
