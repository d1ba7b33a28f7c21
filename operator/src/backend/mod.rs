//! Backends realise storage nodes off Kubernetes: as child processes ([`process`]) or as
//! Docker containers. The local agent drives them through one trait, [`Backend`], the
//! same operations the Kubernetes side performs on Pods: spawn a node, stop it, ask whether
//! it lives, read its status (with the platform it detected), list nodes, read its logs.

pub mod docker;
pub mod probe;
pub mod process;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sutra_core::crd::{NodePhase, VectorSpec};
use sutra_core::platform::PlatformReport;

use crate::host::{IoError, port_is_free};

/// Everything a backend needs to start one storage node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSpec {
    /// Name of the StorageGrid the node belongs to.
    pub grid: String,
    /// Node name, unique in its grid, e.g. `local-0`.
    pub name: String,
    /// Position of the node in its grid (0-based).
    pub ordinal: u32,
    /// Resolved image variant (a catalog name, never `auto`).
    pub variant: String,
    /// Full image reference, `<repository>:<tag>-<variant>`; only the Docker backend uses it.
    pub image: String,
    pub vector: VectorSpec,
    pub grpc_port: u16,
    pub metrics_port: u16,
    /// Where the node keeps its vectors; survives restarts and `down` without `--purge`.
    pub data_dir: PathBuf,
    /// Memory limit in bytes, when the grid sets `resources.limits.memory`.
    pub memory_limit: Option<u64>,
    /// The agent's variant rules file (absolute), which the node judges its hardware with;
    /// `None` when the agent uses the builtin rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant_rules: Option<PathBuf>,
}

/// What a backend returns for a node it started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeHandle {
    pub name: String,
    /// Process id (process backend) or container id (Docker backend).
    pub id: String,
    pub grpc_addr: SocketAddr,
    pub metrics_addr: SocketAddr,
}

/// What the node reported about its hardware through the `Platform` RPC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodePlatform {
    /// One line for a table column, e.g. `Neoverse-V1 arm64 sve 64KiB`.
    pub summary: String,
    /// The variant the node runs as: the plan's pick when the backend declares it
    /// (`--variant`), else the one its binary was built as.
    pub variant: String,
    /// The variant its binary was built as.
    pub built_variant: String,
    /// The variant this host should run: the best for the detected hardware.
    pub best_variant: String,
    /// Whether the running variant is the best one or an allowed fallback.
    pub variant_matched: bool,
    pub variant_message: String,
    pub report: PlatformReport,
}

/// How a node's last run ended, like a Kubernetes container's `lastState.terminated`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Termination {
    pub reason: TerminationReason,
    /// What happened, e.g. the memory use and the limit of an OOM kill.
    pub message: String,
    /// The exit code, 128 + the signal number for a killed process.
    pub exit_code: Option<i32>,
    pub finished_at: DateTime<Utc>,
}

/// Why a node's run ended, in Kubernetes' words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TerminationReason {
    /// Killed for using more memory than its limit.
    #[serde(rename = "OOMKilled")]
    OomKilled,
    /// Exited with a non-zero code or was killed by a signal.
    Error,
    /// Exited with code 0.
    Completed,
}

impl std::fmt::Display for TerminationReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TerminationReason::OomKilled => "OOMKilled",
            TerminationReason::Error => "Error",
            TerminationReason::Completed => "Completed",
        })
    }
}

/// A node killed for using more memory than its limit; see
/// [`Backend::enforce_memory_limits`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryKill {
    pub node: String,
    /// The memory the node used, in bytes.
    pub used: u64,
    pub limit: u64,
}

/// Observed state of one node, the columns of `kubectl get storagenodes` and a bit more.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    pub name: String,
    pub variant: String,
    pub phase: NodePhase,
    /// The node answers its readiness check.
    pub ready: bool,
    /// Present once the node answered the `Platform` RPC.
    pub platform: Option<NodePlatform>,
    /// When the current process or container started.
    pub started_at: Option<DateTime<Utc>>,
    /// How often the node was restarted after a crash.
    pub restarts: u32,
    pub grpc_addr: SocketAddr,
    pub metrics_addr: SocketAddr,
    /// Process id on this host, when one runs (for a container: its init process).
    pub pid: Option<u32>,
    /// How the previous run ended, when the backend knows.
    pub last_termination: Option<Termination>,
}

/// The operations the local agent performs on storage nodes.
///
/// `spawn` of a name the backend already holds replaces a node that is no longer alive and
/// counts a restart; it fails with [`BackendError::AlreadyRunning`] while the node lives.
/// Every method returns a `Send` future so the agent can drive nodes from spawned tasks.
pub trait Backend: Send + Sync {
    /// Starts a node; returns once the process or container exists, not once it is ready.
    fn spawn(&self, spec: &NodeSpec) -> impl Future<Output = BackendResult<NodeHandle>> + Send;

    /// Asks the node to shut down (SIGTERM), kills it after `grace`; waits until it is gone.
    /// Stopping a node that is not running succeeds.
    fn stop(&self, name: &str, grace: Duration) -> impl Future<Output = BackendResult<()>> + Send;

    /// Forgets a stopped node; deletes its data too when `purge` is set.
    fn remove(&self, name: &str, purge: bool) -> impl Future<Output = BackendResult<()>> + Send;

    /// Whether the node's process or container runs.
    fn is_alive(&self, name: &str) -> impl Future<Output = BackendResult<bool>> + Send;

    fn status(&self, name: &str) -> impl Future<Output = BackendResult<NodeStatus>> + Send;

    /// Every node the backend holds, sorted by name.
    fn list(&self) -> impl Future<Output = BackendResult<Vec<NodeStatus>>> + Send;

    /// The last `tail_lines` lines the node wrote (stdout and stderr).
    fn logs(
        &self,
        name: &str,
        tail_lines: usize,
    ) -> impl Future<Output = BackendResult<String>> + Send;

    /// Names of nodes as they stop, pushed by the backend (the Docker engine's events), so
    /// the supervisor need not poll [`Backend::is_alive`] often; `None` when the backend has
    /// no such feed. The feed may end (a lost connection): polling then takes over.
    fn exits(&self) -> Option<ExitFeed> {
        None
    }

    /// Kills every node that uses more memory than its limit, as the kernel kills a
    /// container over its cgroup limit, records it as `OOMKilled`, and returns the kills.
    /// The supervisor calls it on every poll; a backend whose runtime enforces the limit
    /// itself (Docker) has nothing to do.
    fn enforce_memory_limits(&self) -> impl Future<Output = BackendResult<Vec<MemoryKill>>> + Send {
        async { Ok(Vec::new()) }
    }
}

/// Node names as their process or container stops; see [`Backend::exits`].
pub type ExitFeed = tokio::sync::mpsc::UnboundedReceiver<String>;

pub type BackendResult<T> = Result<T, BackendError>;

/// Why a backend operation failed; each message says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error(
        "the sutra-storage binary was not found (looked at {}); build it with `cargo build --release -p sutra-storage`, or pass --storage-bin / set SUTRA_STORAGE_BIN",
        looked.iter().map(|path| path.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    BinaryNotFound { looked: Vec<PathBuf> },
    #[error(
        "port {port} ({purpose} of node {node}) is already in use; stop what listens there, or pick other ports with --port-base"
    )]
    PortInUse {
        node: String,
        purpose: &'static str,
        port: u16,
    },
    #[error("no node named {name:?} in grid {grid:?}; `sutra-grid agent status` lists the nodes")]
    UnknownNode { grid: String, name: String },
    #[error("node {name} is already running ({id}); stop it first with `sutra-grid agent down`")]
    AlreadyRunning { name: String, id: String },
    #[error("could not start node {name}: {source}")]
    Spawn {
        name: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(
        "state file {} is unreadable: {message}; stop leftover nodes by their pids and delete the file",
        path.display()
    )]
    State { path: PathBuf, message: String },
    #[error("the {backend} backend failed: {message}")]
    Engine {
        backend: &'static str,
        message: String,
    },
}

impl BackendError {
    /// An I/O error with what was being done when it happened.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> BackendError {
        IoError::new(context, source).into()
    }
}

/// Fails with [`BackendError::PortInUse`] when something listens on the node's gRPC or
/// metrics port already, so the user reads which port is taken instead of a node dying on
/// a bind error.
pub fn check_node_ports(spec: &NodeSpec) -> BackendResult<()> {
    for (purpose, port) in [
        ("gRPC port", spec.grpc_port),
        ("metrics port", spec.metrics_port),
    ] {
        if !port_is_free(port) {
            return Err(BackendError::PortInUse {
                node: spec.name.clone(),
                purpose,
                port,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;

    use sutra_core::crd::VectorSpec;

    use super::*;

    #[test]
    fn a_taken_port_is_named() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let spec = NodeSpec {
            grid: "local".to_owned(),
            name: "local-0".to_owned(),
            ordinal: 0,
            variant: "universal".to_owned(),
            image: String::new(),
            vector: VectorSpec::with_dimension(4),
            grpc_port: port,
            metrics_port: 0,
            data_dir: PathBuf::new(),
            memory_limit: None,
            variant_rules: None,
        };
        let error = check_node_ports(&spec).unwrap_err().to_string();
        assert!(
            error.contains(&format!("port {port} (gRPC port of node local-0)")),
            "{error}"
        );
    }
}
