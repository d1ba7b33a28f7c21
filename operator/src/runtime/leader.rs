//! Leader election on a coordination.k8s.io Lease: only the holder runs the controllers,
//! and losing the Lease stops them until it is won again.

use std::sync::Arc;

use anyhow::Context as _;
use kube_lease_manager::LeaseManagerBuilder;
use tokio::sync::watch;

use super::OperatorOptions;
use super::controllers;
use super::http::Health;
use crate::controller::{Context, FIELD_MANAGER};

/// Seconds a Lease stays valid without renewal.
const LEASE_DURATION_SECONDS: u64 = 15;

pub async fn run_as_leader(
    options: &OperatorOptions,
    client: kube::Client,
    context: Arc<Context>,
    health: Health,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let namespace = options
        .lease_namespace
        .clone()
        .or_else(|| std::env::var("POD_NAMESPACE").ok())
        .unwrap_or_else(|| client.default_namespace().to_owned());
    let identity = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| format!("sutra-grid-{}", std::process::id()));
    let manager = LeaseManagerBuilder::new(client, &options.lease_name)
        .with_namespace(&namespace)
        .with_identity(&identity)
        .with_duration(LEASE_DURATION_SECONDS)
        .with_field_manager(FIELD_MANAGER)
        .build()
        .await
        .with_context(|| format!("setting up the Lease {namespace}/{}", options.lease_name))?;
    let (mut leading, lease_task) = manager.watch().await;
    health.set_standby_or_leader(true);
    tracing::info!(%identity, lease = %options.lease_name, %namespace, "waiting for leadership");
    while !*stop.borrow() {
        if *leading.borrow_and_update() {
            tracing::info!("acquired the Lease, starting controllers");
            health.set_leading(true);
            let (lost_tx, lost_rx) = watch::channel(false);
            let mut watch_leading = leading.clone();
            let mut watch_stop = stop.clone();
            let relay = tokio::spawn(async move {
                tokio::select! {
                    _ = watch_leading.wait_for(|is_leader| !*is_leader) => {}
                    _ = watch_stop.wait_for(|stopping| *stopping) => {}
                }
                let _ = lost_tx.send(true);
            });
            controllers::run(context.clone(), health.clone(), lost_rx).await;
            relay.abort();
            health.set_leading(false);
            tracing::info!("controllers stopped");
            continue;
        }
        tokio::select! {
            changed = leading.changed() => {
                if changed.is_err() {
                    anyhow::bail!("the Lease manager stopped");
                }
            }
            _ = stop.changed() => {}
        }
    }
    // Dropping the receiver makes the manager release the Lease, so a standby takes over
    // at once instead of after the lease duration.
    drop(leading);
    lease_task
        .await
        .context("the Lease manager task panicked")?
        .context("releasing the Lease")?;
    Ok(())
}
