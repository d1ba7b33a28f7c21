//! `sutra-grid operator`: runs the controllers.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{ArgAction, Args};
use k8s_openapi::api::core::v1::ResourceRequirements;

use crate::manager::{LogFormat, OperatorOptions};

#[derive(Debug, Args)]
pub struct OperatorArgs {
    /// Namespace to watch; all namespaces when absent.
    #[arg(long, env = "SUTRA_GRID_NAMESPACE")]
    pub namespace: Option<String>,
    /// Address of /healthz, /readyz and /metrics.
    #[arg(long, env = "SUTRA_GRID_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,
    /// Variant rules file (the mounted ConfigMap); the builtin rules when absent.
    #[arg(long, env = "SUTRA_GRID_VARIANT_RULES", value_name = "FILE")]
    pub variant_rules: Option<PathBuf>,
    #[arg(
        long,
        env = "SUTRA_GRID_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormat,
    /// Run the controllers only while holding the Lease (one active replica).
    #[arg(long = "leader-election", env = "SUTRA_GRID_LEADER_ELECTION", action = ArgAction::SetTrue, overrides_with = "no_leader_election")]
    pub leader_election: bool,
    /// Run the controllers without a Lease (a single replica).
    #[arg(long = "no-leader-election", action = ArgAction::SetTrue)]
    pub no_leader_election: bool,
    #[arg(
        long,
        env = "SUTRA_GRID_LEASE_NAME",
        default_value = "sutra-grid-operator"
    )]
    pub lease_name: String,
    /// Namespace of the Lease; `POD_NAMESPACE` or the client's default when absent.
    #[arg(long, env = "SUTRA_GRID_LEASE_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// ClusterRole bound to the storage nodes' `sutra-storage` ServiceAccount in each
    /// namespace with StorageNodes (the chart's `<fullname>-storage-node`).
    #[arg(
        long,
        env = "SUTRA_GRID_STORAGE_NODE_CLUSTER_ROLE",
        default_value = crate::controller::DEFAULT_STORAGE_NODE_CLUSTER_ROLE
    )]
    pub storage_node_cluster_role: String,
    /// Requests and limits (JSON, as a container's `resources`) of storage containers
    /// whose grid sets none (the chart's `storageNode.resources`).
    #[arg(long, env = "SUTRA_GRID_STORAGE_NODE_RESOURCES", value_name = "JSON", value_parser = parse_resources)]
    pub storage_node_resources: Option<ResourceRequirements>,
}

fn parse_resources(text: &str) -> Result<ResourceRequirements, String> {
    serde_json::from_str(text).map_err(|error| {
        format!("expected a container's resources as JSON, e.g. {{\"requests\":{{\"memory\":\"1Gi\"}}}}: {error}")
    })
}

impl OperatorArgs {
    pub fn options(&self) -> OperatorOptions {
        OperatorOptions {
            namespace: self.namespace.clone(),
            metrics_addr: self.metrics_addr,
            variant_rules: self.variant_rules.clone(),
            log_format: self.log_format,
            leader_election: self.leader_election && !self.no_leader_election,
            lease_name: self.lease_name.clone(),
            lease_namespace: self.lease_namespace.clone(),
            storage_node_cluster_role: self.storage_node_cluster_role.clone(),
            storage_node_resources: self.storage_node_resources.clone(),
        }
    }
}

pub fn run(args: &OperatorArgs) -> anyhow::Result<()> {
    let options = args.options();
    tokio::runtime::Runtime::new()?.block_on(crate::manager::run(options))
}
