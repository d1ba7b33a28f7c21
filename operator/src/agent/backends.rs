//! Which backend runs a grid. The agent code is generic over [`Backend`]; this enum picks
//! one at run time from `--backend` or the grid's record.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::error::AgentResult;
use super::log::log_line;
use crate::backend::docker::{DockerBackend, DockerNetwork, NetworkSetting, volume_name};
use crate::backend::process::{ProcessBackend, built_variant, locate_storage_bin};
use crate::backend::{
    Backend, BackendResult, ExitFeed, MemoryKill, NodeHandle, NodeSpec, NodeStatus,
};

/// The backends a local grid can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// `sutra-storage` child processes.
    #[default]
    Process,
    /// One Docker container per node.
    Docker,
}

impl BackendKind {
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Process => "process",
            BackendKind::Docker => "docker",
        }
    }
}

/// The backend of one grid.
#[derive(Debug)]
pub enum AgentBackend {
    Process(ProcessBackend),
    Docker(DockerBackend),
}

/// Opens the backend `kind` for `grid`. `storage_bin` is the recorded or requested
/// `sutra-storage` path; it is located (and its absence reported) only when `must_spawn`.
pub async fn open_backend(
    kind: BackendKind,
    state_dir: &Path,
    grid: &str,
    storage_bin: Option<&Path>,
    must_spawn: bool,
) -> AgentResult<AgentBackend> {
    match kind {
        BackendKind::Process => {
            let storage_bin = if must_spawn {
                locate_storage_bin(storage_bin)?
            } else {
                storage_bin.map_or_else(PathBuf::new, Path::to_path_buf)
            };
            Ok(AgentBackend::Process(ProcessBackend::new(
                state_dir,
                grid,
                storage_bin,
            )))
        }
        BackendKind::Docker => Ok(AgentBackend::Docker(DockerBackend::connect(grid).await?)),
    }
}

impl AgentBackend {
    pub fn kind(&self) -> BackendKind {
        match self {
            AgentBackend::Process(_) => BackendKind::Process,
            AgentBackend::Docker(_) => BackendKind::Docker,
        }
    }

    /// The `sutra-storage` binary nodes run from, when the backend runs binaries.
    pub fn storage_bin(&self) -> Option<&Path> {
        match self {
            AgentBackend::Process(backend) => Some(backend.storage_bin()),
            AgentBackend::Docker(_) => None,
        }
    }

    /// The variant every node of this backend runs, whatever the plan picked: the one the
    /// process backend's `sutra-storage` was built as. `None` for Docker, whose nodes run
    /// the image of their planned variant.
    pub fn built_variant(&self) -> AgentResult<Option<String>> {
        match self {
            AgentBackend::Process(backend) => Ok(Some(built_variant(backend.storage_bin())?)),
            AgentBackend::Docker(_) => Ok(None),
        }
    }

    /// Docker: resolves `setting` with the engine, puts the nodes spawned from now on in
    /// that network and logs the choice with its reason; returns it for the agent record.
    /// `None` for the process backend.
    pub async fn choose_docker_network(
        &mut self,
        setting: NetworkSetting,
    ) -> AgentResult<Option<DockerNetwork>> {
        let AgentBackend::Docker(backend) = self else {
            return Ok(None);
        };
        let (network, reason) = backend.resolve_network(setting).await?;
        log_line(&format!("docker network: {reason}"));
        backend.set_network(network);
        Ok(Some(network))
    }

    /// Docker: puts the nodes spawned from now on in `network` (the one `up` recorded).
    pub fn use_docker_network(&mut self, network: DockerNetwork) {
        if let AgentBackend::Docker(backend) = self {
            backend.set_network(network);
        }
    }

    /// Where the grid's data lives with this backend, for messages.
    pub fn data_location(&self) -> String {
        match self {
            AgentBackend::Process(backend) => backend.dir().data_root().display().to_string(),
            AgentBackend::Docker(backend) => format!(
                "the Docker volumes {}",
                volume_name(backend.grid(), "<node>")
            ),
        }
    }

    /// After every known node was removed with its data: deletes what else the backend
    /// holds of the grid (Docker: containers and volumes with its label, e.g. the volume
    /// of a node an earlier `down` removed). The process backend keeps everything under the
    /// grid's directory, which `down --purge` deletes as a whole.
    pub async fn purge_leftovers(&self) -> AgentResult<()> {
        match self {
            AgentBackend::Process(_) => Ok(()),
            AgentBackend::Docker(backend) => Ok(backend.purge_leftovers().await?),
        }
    }
}

impl Backend for AgentBackend {
    async fn spawn(&self, spec: &NodeSpec) -> BackendResult<NodeHandle> {
        match self {
            AgentBackend::Process(backend) => backend.spawn(spec).await,
            AgentBackend::Docker(backend) => backend.spawn(spec).await,
        }
    }

    async fn stop(&self, name: &str, grace: Duration) -> BackendResult<()> {
        match self {
            AgentBackend::Process(backend) => backend.stop(name, grace).await,
            AgentBackend::Docker(backend) => backend.stop(name, grace).await,
        }
    }

    async fn remove(&self, name: &str, purge: bool) -> BackendResult<()> {
        match self {
            AgentBackend::Process(backend) => backend.remove(name, purge).await,
            AgentBackend::Docker(backend) => backend.remove(name, purge).await,
        }
    }

    async fn is_alive(&self, name: &str) -> BackendResult<bool> {
        match self {
            AgentBackend::Process(backend) => backend.is_alive(name).await,
            AgentBackend::Docker(backend) => backend.is_alive(name).await,
        }
    }

    async fn status(&self, name: &str) -> BackendResult<NodeStatus> {
        match self {
            AgentBackend::Process(backend) => backend.status(name).await,
            AgentBackend::Docker(backend) => backend.status(name).await,
        }
    }

    async fn list(&self) -> BackendResult<Vec<NodeStatus>> {
        match self {
            AgentBackend::Process(backend) => backend.list().await,
            AgentBackend::Docker(backend) => backend.list().await,
        }
    }

    async fn logs(&self, name: &str, tail_lines: usize) -> BackendResult<String> {
        match self {
            AgentBackend::Process(backend) => backend.logs(name, tail_lines).await,
            AgentBackend::Docker(backend) => backend.logs(name, tail_lines).await,
        }
    }

    fn exits(&self) -> Option<ExitFeed> {
        match self {
            AgentBackend::Process(backend) => backend.exits(),
            AgentBackend::Docker(backend) => backend.exits(),
        }
    }

    async fn enforce_memory_limits(&self) -> BackendResult<Vec<MemoryKill>> {
        match self {
            AgentBackend::Process(backend) => backend.enforce_memory_limits().await,
            AgentBackend::Docker(backend) => backend.enforce_memory_limits().await,
        }
    }
}
