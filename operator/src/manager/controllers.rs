//! Wires the two controllers to their watches and runs them until told to stop.
//!
//! * StorageGrid: its own objects, the StorageNodes it owns, and every Node: a Node that
//!   appears or goes, or whose labels, taints, schedulability or readiness change, re-plans
//!   every grid; heartbeats do not ([`NodeChanges`]);
//! * StorageNode: its own objects and the Pods, PVCs and Services it owns.
//!
//! Reconciles issue no writes when nothing changed, so a status update caused by a
//! reconcile triggers one more reconcile that ends without writing, not a storm.

use std::sync::Arc;

use futures::{Stream, StreamExt, future};
use k8s_openapi::api::core::v1::{Node, PersistentVolumeClaim, Pod, Service};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use sutra_core::crd::{StorageGrid, StorageNode};
use tokio::sync::watch;

use super::http::Health;
use crate::controller::grid::node_changes::NodeChanges;
use crate::controller::{Context, grid, node};

fn scoped<K>(ctx: &Context) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    match &ctx.config.namespace {
        Some(namespace) => Api::namespaced(ctx.client.clone(), namespace),
        None => Api::all(ctx.client.clone()),
    }
}

/// Runs both controllers until `stop` turns true; marks `health` synced once their
/// caches are filled.
pub async fn run(ctx: Arc<Context>, health: Health, stop: watch::Receiver<bool>) {
    let config = watcher::Config::default().any_semantic();
    let grids = Controller::new(scoped::<StorageGrid>(&ctx), config.clone());
    let grid_store = grids.store();
    let grids = grids
        .owns(scoped::<StorageNode>(&ctx), config.clone())
        .reconcile_all_on(node_changes(ctx.client.clone(), config.clone()))
        .graceful_shutdown_on(stopped(stop.clone()))
        .run(grid::reconcile, grid::error_policy, ctx.clone())
        .for_each(|_| future::ready(()));

    let nodes = Controller::new(scoped::<StorageNode>(&ctx), config.clone());
    let node_store = nodes.store();
    let nodes = nodes
        .owns(scoped::<Pod>(&ctx), config.clone())
        .owns(scoped::<PersistentVolumeClaim>(&ctx), config.clone())
        .owns(scoped::<Service>(&ctx), config)
        .graceful_shutdown_on(stopped(stop))
        .run(node::reconcile, node::error_policy, ctx)
        .for_each(|_| future::ready(()));

    let synced = tokio::spawn({
        let health = health.clone();
        async move {
            if grid_store.wait_until_ready().await.is_ok()
                && node_store.wait_until_ready().await.is_ok()
            {
                tracing::info!("watch caches synced");
                health.set_synced(true);
            }
        }
    });
    futures::join!(grids, nodes);
    synced.abort();
}

/// One item per Node change that may alter a plan.
fn node_changes(client: Client, config: watcher::Config) -> impl Stream<Item = ()> + Send {
    watcher(Api::<Node>::all(client), config)
        .default_backoff()
        .scan(NodeChanges::default(), |changes, event| {
            let replan = match event {
                Ok(event) => changes.replans(&event),
                Err(error) => {
                    tracing::warn!(%error, "watching Nodes failed; retrying");
                    false
                }
            };
            future::ready(Some(replan))
        })
        .filter_map(|replan| future::ready(replan.then_some(())))
}

async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopping| *stopping).await;
}
