//! The controller manager: logging, the health/metrics server, leader election, the
//! controllers, and a graceful shutdown on SIGTERM or Ctrl-C.

pub mod controllers;
pub mod http;
pub mod leader;
pub mod logging;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use k8s_openapi::api::core::v1::ResourceRequirements;
use sutra_core::signal::shutdown_signal;
use sutra_core::variant::VariantRules;
use tokio::sync::watch;

use crate::controller::{Config, Context, Metrics};
use http::Health;
pub use logging::LogFormat;

/// Everything the `operator` subcommand configures.
#[derive(Debug, Clone, PartialEq)]
pub struct OperatorOptions {
    pub namespace: Option<String>,
    pub metrics_addr: SocketAddr,
    pub variant_rules: Option<PathBuf>,
    pub log_format: LogFormat,
    pub leader_election: bool,
    pub lease_name: String,
    pub lease_namespace: Option<String>,
    pub storage_node_cluster_role: String,
    pub storage_node_resources: Option<ResourceRequirements>,
}

/// Runs until SIGTERM/Ctrl-C, or until leadership is lost for good.
pub async fn run(options: OperatorOptions) -> anyhow::Result<()> {
    logging::init(options.log_format);
    let rules = VariantRules::load(options.variant_rules.as_deref())?;
    let client = kube::Client::try_default()
        .await
        .context("connecting to the Kubernetes API (in-cluster config or KUBECONFIG)")?;
    let metrics = Arc::new(Metrics::new());
    let health = Health::default();
    let server = http::serve(options.metrics_addr, metrics.clone(), health.clone()).await?;
    let context = Context::new(
        client.clone(),
        metrics,
        Arc::new(rules),
        Config {
            namespace: options.namespace.clone(),
            storage_node_cluster_role: options.storage_node_cluster_role.clone(),
            storage_node_resources: options.storage_node_resources.clone(),
        },
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutdown requested");
        let _ = stop_tx.send(true);
    });
    let result = if options.leader_election {
        leader::run_as_leader(&options, client, context, health, stop_rx).await
    } else {
        health.set_standby_or_leader(true);
        controllers::run(context, health, stop_rx).await;
        Ok(())
    };
    server.abort();
    result
}
