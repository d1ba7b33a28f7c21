//! `<state-dir>/<grid>/agent.json`: what the agent of a grid was asked to run and which
//! process supervises it, so `status`, `logs` and `down` work from any shell.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::backends::BackendKind;
use super::error::{AgentError, AgentResult};
use crate::backend::NodeSpec;
use crate::backend::docker::DockerNetwork;
use crate::host::{ProcessId, remove_path, write_atomically};
use crate::state_dir::GridDir;

/// One grid's agent record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentRecord {
    pub grid: String,
    pub backend: BackendKind,
    /// The network of the grid's node containers (Docker backend), chosen by `up`; none
    /// means bridge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_network: Option<DockerNetwork>,
    /// The supervising agent process, while one runs.
    pub supervisor: Option<ProcessId>,
    /// Whether the supervisor runs in the background (`up --detach`).
    pub detached: bool,
    pub metrics_addr: SocketAddr,
    pub storage_bin: Option<PathBuf>,
    /// Host the nodes run on.
    pub host: String,
    pub stop_grace_seconds: u64,
    /// The nodes the grid should have.
    pub nodes: Vec<NodeSpec>,
}

impl AgentRecord {
    /// The grid's record, `None` when the grid was never started or is down.
    pub fn load(dir: &GridDir) -> AgentResult<Option<AgentRecord>> {
        load_json(
            dir.agent_record(),
            "is not an agent record; delete it after stopping the grid's processes",
        )
    }

    pub fn save(&self, dir: &GridDir) -> AgentResult<()> {
        let text = serde_json::to_string_pretty(self).expect("the agent record serialises");
        save_json(dir, &dir.agent_record(), &text)
    }

    pub fn remove(dir: &GridDir) -> AgentResult<()> {
        remove(&dir.agent_record())
    }

    /// The supervisor, when it still runs.
    pub fn live_supervisor(&self) -> Option<ProcessId> {
        self.supervisor.filter(ProcessId::is_running)
    }
}

/// `<state-dir>/<grid>/data.json`: the backends that hold data of the grid. `up` adds its
/// backend before it starts anything; only `down --purge` deletes the file, with the data,
/// so a `down --purge` after a plain `down` still finds the Docker volumes to delete.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataRecord {
    pub backends: Vec<BackendKind>,
}

impl DataRecord {
    /// The grid's data record; `None` when no `up` ran since the last `down --purge`.
    pub fn load(dir: &GridDir) -> AgentResult<Option<DataRecord>> {
        load_json(
            dir.data_record(),
            "is not a data record; it should list the grid's backends, e.g. {\"backends\":[\"docker\"]}",
        )
    }

    /// Records that `backend` holds data of the grid.
    pub fn add(dir: &GridDir, backend: BackendKind) -> AgentResult<()> {
        let mut record = DataRecord::load(dir)?.unwrap_or_default();
        if record.backends.contains(&backend) {
            return Ok(());
        }
        record.backends.push(backend);
        let text = serde_json::to_string(&record).expect("the data record serialises");
        save_json(dir, &dir.data_record(), &text)
    }
}

/// The JSON record at `path`, `None` when there is none; a file that does not parse is an
/// error saying `<path> <not_this>`.
fn load_json<T: DeserializeOwned>(path: PathBuf, not_this: &str) -> AgentResult<Option<T>> {
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).map(Some).map_err(|error| {
            AgentError::io(
                format!("{} {not_this}", path.display()),
                std::io::Error::other(error),
            )
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(AgentError::Read { path, source }),
    }
}

/// Writes `text` to `path` in the grid's directory atomically, creating the directory.
fn save_json(dir: &GridDir, path: &Path, text: &str) -> AgentResult<()> {
    std::fs::create_dir_all(dir.root())
        .map_err(|error| AgentError::io(format!("creating {}", dir.root().display()), error))?;
    write_atomically(path, text.as_bytes())
        .map_err(|error| AgentError::io(format!("writing {}", path.display()), error))
}

/// Removes a file or a directory of the grid's; one that is already gone is fine.
pub(super) fn remove(path: &Path) -> AgentResult<()> {
    remove_path(path).map_err(|error| AgentError::io(format!("removing {}", path.display()), error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_accumulate_once_each() {
        let temp = tempfile::tempdir().unwrap();
        let dir = GridDir::new(temp.path(), "local");
        assert_eq!(DataRecord::load(&dir).unwrap(), None);
        DataRecord::add(&dir, BackendKind::Docker).unwrap();
        DataRecord::add(&dir, BackendKind::Process).unwrap();
        DataRecord::add(&dir, BackendKind::Docker).unwrap();
        assert_eq!(
            DataRecord::load(&dir).unwrap().unwrap().backends,
            [BackendKind::Docker, BackendKind::Process]
        );
    }
}
