//! Reads the host inventory and the grid's StorageNodes.

use k8s_openapi::api::core::v1::Node;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::ListParams;
use sutra_core::crd::StorageNode;
use sutra_core::labels;
use sutra_core::plan::{Host, host_from_node};

use crate::controller::apply::list_labelled;
use crate::controller::{Context, Error, Result, Verb};

pub struct Observed {
    pub hosts: Vec<Host>,
    pub nodes: Vec<StorageNode>,
}

pub async fn observe(ctx: &Context, grid: &str, namespace: &str) -> Result<Observed> {
    let now = Timestamp::now();
    let hosts = Api::<Node>::all(ctx.client.clone())
        .list(&ListParams::default())
        .await
        .map_err(Error::api::<Node>(Verb::List, None, "(all)"))?
        .items
        .iter()
        .map(|node| host_from_node(node, now))
        .collect();
    let nodes = list_labelled(ctx, namespace, labels::GRID_NAME, grid).await?;
    Ok(Observed { hosts, nodes })
}
