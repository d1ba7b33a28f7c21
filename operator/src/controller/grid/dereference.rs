//! Reads the host inventory and the grid's StorageNodes.

use k8s_openapi::api::core::v1::Node;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::ListParams;
use sutra_core::crd::StorageNode;
use sutra_core::labels;

use crate::controller::{Context, Result};
use crate::plan::{Host, host_from_node};

pub struct Observed {
    pub hosts: Vec<Host>,
    pub nodes: Vec<StorageNode>,
}

pub async fn observe(ctx: &Context, grid: &str, namespace: &str) -> Result<Observed> {
    let now = Timestamp::now();
    let hosts = Api::<Node>::all(ctx.client.clone())
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .map(|node| host_from_node(node, now))
        .collect();
    let nodes = Api::<StorageNode>::namespaced(ctx.client.clone(), namespace)
        .list(&ListParams::default().labels(&format!("{}={grid}", labels::GRID_NAME)))
        .await?
        .items;
    Ok(Observed { hosts, nodes })
}
