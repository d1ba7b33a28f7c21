//! The process backend's memory: `<state-dir>/<grid>/state.json`, one record per node.
//!
//! The file outlives the agent so a restarted agent, `status`, `logs` and `down` find the
//! nodes a previous agent started. Writers take an exclusive `flock` on `state.lock` around
//! read-modify-write and replace the file atomically (write, fsync, rename), so readers
//! never see half a file and two agents never lose each other's updates.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io;
use std::os::fd::AsRawFd;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::backend::{BackendError, BackendResult, NodeSpec, Termination};
use crate::host::{ProcessId, remove_path, write_atomically};
use crate::state_dir::GridDir;

/// Everything the process backend knows about a grid's nodes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GridState {
    pub nodes: BTreeMap<String, NodeRecord>,
}

/// One node: how it was started and which process runs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeRecord {
    pub spec: NodeSpec,
    /// The process running the node; `None` once it was stopped.
    pub process: Option<ProcessId>,
    pub started_at: Option<DateTime<Utc>>,
    pub restarts: u32,
    /// How the node's previous run ended, when known; a record without it reads as unknown.
    #[serde(default)]
    pub last_termination: Option<Termination>,
}

/// Reads and writes one grid's `state.json`.
#[derive(Debug, Clone)]
pub struct StateStore {
    dir: GridDir,
}

impl StateStore {
    pub fn new(dir: GridDir) -> StateStore {
        StateStore { dir }
    }

    /// The current state; empty when the grid has none.
    pub fn load(&self) -> BackendResult<GridState> {
        let path = self.dir.state_file();
        match fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map_err(|error| BackendError::State {
                path,
                message: error.to_string(),
            }),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(GridState::default()),
            Err(error) => Err(BackendError::io(
                format!("reading {}", path.display()),
                error,
            )),
        }
    }

    /// Applies `change` to the state under the grid's lock and saves the result; an empty
    /// state removes the file.
    pub fn update<R>(&self, change: impl FnOnce(&mut GridState) -> R) -> BackendResult<R> {
        let _lock = self.lock()?;
        let mut state = self.load()?;
        let result = change(&mut state);
        self.save(&state)?;
        Ok(result)
    }

    fn lock(&self) -> BackendResult<File> {
        fs::create_dir_all(self.dir.root()).map_err(|error| {
            BackendError::io(format!("creating {}", self.dir.root().display()), error)
        })?;
        let path = self.dir.lock_file();
        let file = File::create(&path)
            .map_err(|error| BackendError::io(format!("opening {}", path.display()), error))?;
        // SAFETY: flock(2) on a descriptor this function owns; the lock is released when
        // the returned file is dropped.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            let error = io::Error::last_os_error();
            return Err(BackendError::io(
                format!("locking {}", path.display()),
                error,
            ));
        }
        Ok(file)
    }

    fn save(&self, state: &GridState) -> BackendResult<()> {
        let path = self.dir.state_file();
        if state.nodes.is_empty() {
            return remove_path(&path)
                .map_err(|error| BackendError::io(format!("removing {}", path.display()), error));
        }
        let text = serde_json::to_string_pretty(state).expect("the state serialises");
        write_atomically(&path, text.as_bytes())
            .map_err(|error| BackendError::io(format!("writing {}", path.display()), error))
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use sutra_core::crd::VectorSpec;

    use super::*;

    fn record(name: &str) -> NodeRecord {
        NodeRecord {
            spec: NodeSpec {
                grid: "local".to_owned(),
                name: name.to_owned(),
                ordinal: 0,
                variant: "universal".to_owned(),
                image: String::new(),
                vector: VectorSpec::with_dimension(4),
                grpc_port: 1,
                metrics_port: 2,
                data_dir: PathBuf::from("/data"),
                memory_limit: None,
                variant_rules: None,
            },
            process: Some(ProcessId {
                pid: 7,
                start_ticks: 9,
            }),
            started_at: None,
            restarts: 2,
            last_termination: None,
        }
    }

    #[test]
    fn updates_survive_a_reload_and_empty_state_removes_the_file() {
        let temp = tempfile::tempdir().unwrap();
        let dir = GridDir::new(temp.path(), "local");
        let store = StateStore::new(dir.clone());
        assert_eq!(store.load().unwrap(), GridState::default());

        store
            .update(|state| state.nodes.insert("local-0".to_owned(), record("local-0")))
            .unwrap();
        let reloaded = StateStore::new(dir.clone()).load().unwrap();
        assert_eq!(reloaded.nodes["local-0"], record("local-0"));

        store.update(|state| state.nodes.clear()).unwrap();
        assert!(!dir.state_file().exists());
    }

    #[test]
    fn a_corrupt_file_names_its_path() {
        let temp = tempfile::tempdir().unwrap();
        let dir = GridDir::new(temp.path(), "local");
        fs::create_dir_all(dir.root()).unwrap();
        fs::write(dir.state_file(), "{not json").unwrap();
        let error = StateStore::new(dir.clone()).load().unwrap_err().to_string();
        assert!(
            error.contains(&dir.state_file().display().to_string()),
            "{error}"
        );
    }
}
