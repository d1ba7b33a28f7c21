//! The process backend: each storage node is a `sutra-storage serve` child process with its
//! own ports, data directory and log file, tracked in a state file that outlives the agent.
//!
//! Nodes run in their own process group, so a Ctrl-C meant for the agent in a terminal
//! does not reach them: the agent decides how they stop (SIGTERM, SIGKILL after a grace
//! period). Children this backend spawned are reaped through their `Child` handle; nodes a
//! previous agent started are followed by pid and start time.

mod binary;
mod launch;
mod memory;
mod state;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sutra_core::crd::NodePhase;
use tokio::process::Child;

pub use binary::{STORAGE_BIN, STORAGE_BIN_ENV, built_variant, locate_storage_bin};
pub use launch::{grpc_addr, metrics_addr, serve_args};
pub use state::{GridState, NodeRecord, StateStore};

use self::memory::{oom_killed, unreclaimable_bytes};
use super::{
    Backend, BackendError, BackendResult, MemoryKill, NodeHandle, NodeSpec, NodeStatus,
    Termination, TerminationReason, probe,
};
use crate::host::{ProcessId, last_lines, read_tail, remove_path};
use crate::state_dir::GridDir;

/// How often a stopping node is checked for having exited.
const EXIT_POLL: Duration = Duration::from_millis(10);
/// How long a node may take to die after SIGKILL before `stop` reports failure.
const KILL_WAIT: Duration = Duration::from_secs(5);
/// At most this much of a log file is read to find its last lines.
const LOG_TAIL_BYTES: u64 = 4 << 20;

/// Runs one grid's storage nodes as local processes.
#[derive(Debug)]
pub struct ProcessBackend {
    grid: String,
    dir: GridDir,
    storage_bin: PathBuf,
    store: StateStore,
    /// Nodes this backend spawned, reaped through their handle.
    children: Mutex<HashMap<String, Child>>,
    /// How reaped children ended, until their node is spawned again.
    exits: Mutex<HashMap<String, ExitStatus>>,
}

impl ProcessBackend {
    /// A backend for `grid` keeping its files under `<state_dir>/<grid>`.
    pub fn new(state_dir: &Path, grid: &str, storage_bin: PathBuf) -> ProcessBackend {
        let dir = GridDir::new(state_dir, grid);
        ProcessBackend {
            grid: grid.to_owned(),
            store: StateStore::new(dir.clone()),
            dir,
            storage_bin,
            children: Mutex::new(HashMap::new()),
            exits: Mutex::new(HashMap::new()),
        }
    }

    pub fn dir(&self) -> &GridDir {
        &self.dir
    }

    pub fn storage_bin(&self) -> &Path {
        &self.storage_bin
    }

    /// The recorded nodes, without probing them.
    pub fn records(&self) -> BackendResult<GridState> {
        self.store.load()
    }

    fn record(&self, name: &str) -> BackendResult<NodeRecord> {
        self.store
            .load()?
            .nodes
            .remove(name)
            .ok_or_else(|| BackendError::UnknownNode {
                grid: self.grid.clone(),
                name: name.to_owned(),
            })
    }

    /// Whether the recorded process runs, reaping it first when it is our child.
    fn process_alive(&self, name: &str, process: Option<ProcessId>) -> bool {
        let mut children = self.children.lock().expect("children lock");
        if let Some(child) = children.get_mut(name) {
            let exited = match child.try_wait() {
                Ok(None) => return true,
                Ok(Some(status)) => Some(status),
                Err(_) => None,
            };
            children.remove(name);
            if let Some(status) = exited {
                self.exits
                    .lock()
                    .expect("exits lock")
                    .insert(name.to_owned(), status);
            }
            return false;
        }
        process.is_some_and(|process| process.is_running())
    }

    async fn wait_for_exit(&self, name: &str, process: ProcessId, limit: Duration) -> bool {
        let child = self.children.lock().expect("children lock").remove(name);
        match child {
            Some(mut child) => {
                let exited = tokio::time::timeout(limit, child.wait()).await.is_ok();
                if !exited {
                    self.children
                        .lock()
                        .expect("children lock")
                        .insert(name.to_owned(), child);
                }
                exited
            }
            None => {
                let deadline = tokio::time::Instant::now() + limit;
                while process.is_running() {
                    if tokio::time::Instant::now() >= deadline {
                        return false;
                    }
                    tokio::time::sleep(EXIT_POLL).await;
                }
                true
            }
        }
    }

    /// How the previous run of a node ended, for the record of its next run: an OOM kill
    /// recorded during that run, else the exit status if this backend reaped it; unknown
    /// for a process a previous agent started. A node stopped on purpose keeps the record.
    fn termination_of(&self, previous: &NodeRecord) -> Option<Termination> {
        let reaped = self
            .exits
            .lock()
            .expect("exits lock")
            .remove(&previous.spec.name);
        if previous.process.is_none() {
            return previous.last_termination.clone();
        }
        let during_that_run = |termination: &&Termination| {
            previous
                .started_at
                .is_some_and(|started| termination.finished_at >= started)
        };
        previous
            .last_termination
            .as_ref()
            .filter(during_that_run)
            .cloned()
            .or_else(|| reaped.map(|status| exited(status, Utc::now())))
    }

    /// Kills the node's process if it holds more unreclaimable memory than its limit.
    fn enforce_limit(&self, record: &NodeRecord) -> BackendResult<Option<MemoryKill>> {
        let (Some(limit), Some(process)) = (record.spec.memory_limit, record.process) else {
            return Ok(None);
        };
        let name = &record.spec.name;
        if !self.process_alive(name, Some(process)) {
            return Ok(None);
        }
        let Some(used) = unreclaimable_bytes(process.pid).filter(|used| *used > limit) else {
            return Ok(None);
        };
        process.signal(libc::SIGKILL).map_err(|error| {
            BackendError::io(
                format!(
                    "killing node {name} (pid {}) over its memory limit",
                    process.pid
                ),
                error,
            )
        })?;
        Ok(Some(MemoryKill {
            node: name.clone(),
            used,
            limit,
        }))
    }

    async fn node_status(&self, record: NodeRecord) -> NodeStatus {
        let spec = &record.spec;
        let alive = self.process_alive(&spec.name, record.process);
        let ready = alive && probe::is_ready(metrics_addr(spec)).await;
        let platform = if ready {
            probe::platform(grpc_addr(spec)).await.ok()
        } else {
            None
        };
        let phase = match (record.process, alive, ready) {
            (_, true, true) => NodePhase::Ready,
            (_, true, false) => NodePhase::Running,
            (Some(_), false, _) => NodePhase::Failed,
            (None, false, _) => NodePhase::Pending,
        };
        // The variant the binary reports it runs as; the planned one until it has answered.
        let variant = platform
            .as_ref()
            .map_or_else(|| spec.variant.clone(), |platform| platform.variant.clone());
        NodeStatus {
            name: spec.name.clone(),
            variant,
            phase,
            ready,
            platform,
            started_at: record.started_at.filter(|_| alive),
            restarts: record.restarts,
            grpc_addr: grpc_addr(spec),
            metrics_addr: metrics_addr(spec),
            pid: record.process.filter(|_| alive).map(|process| process.pid),
            last_termination: record.last_termination,
        }
    }
}

/// The termination of a process that exited with `status`.
fn exited(status: ExitStatus, finished_at: DateTime<Utc>) -> Termination {
    let (reason, exit_code, message) = match (status.code(), status.signal()) {
        (Some(0), _) => (
            TerminationReason::Completed,
            Some(0),
            "exited with code 0".to_owned(),
        ),
        (Some(code), _) => (
            TerminationReason::Error,
            Some(code),
            format!("exited with code {code}"),
        ),
        (None, Some(signal)) => (
            TerminationReason::Error,
            Some(128 + signal),
            format!("killed by signal {signal}"),
        ),
        (None, None) => (TerminationReason::Error, None, status.to_string()),
    };
    Termination {
        reason,
        message,
        exit_code,
        finished_at,
    }
}

impl Backend for ProcessBackend {
    async fn spawn(&self, spec: &NodeSpec) -> BackendResult<NodeHandle> {
        let previous = self.store.load()?.nodes.remove(&spec.name);
        if let Some(previous) = &previous
            && let Some(process) = previous.process
            && self.process_alive(&spec.name, Some(process))
        {
            return Err(BackendError::AlreadyRunning {
                name: spec.name.clone(),
                id: format!("pid {}", process.pid),
            });
        }
        let child = launch::start(&self.storage_bin, &self.dir, spec)?;
        let pid = child.id().ok_or_else(|| BackendError::Spawn {
            name: spec.name.clone(),
            source: io::Error::other("the process exited before its pid was read"),
        })?;
        let process = ProcessId::of(pid);
        let last_termination = previous
            .as_ref()
            .and_then(|previous| self.termination_of(previous));
        let restarts = previous.map_or(0, |previous| previous.restarts + 1);
        self.children
            .lock()
            .expect("children lock")
            .insert(spec.name.clone(), child);
        let record = NodeRecord {
            spec: spec.clone(),
            process: Some(process),
            started_at: Some(Utc::now()),
            restarts,
            last_termination,
        };
        self.store
            .update(|state| state.nodes.insert(spec.name.clone(), record))?;
        Ok(NodeHandle {
            name: spec.name.clone(),
            id: pid.to_string(),
            grpc_addr: grpc_addr(spec),
            metrics_addr: metrics_addr(spec),
        })
    }

    async fn stop(&self, name: &str, grace: Duration) -> BackendResult<()> {
        let record = self.record(name)?;
        if let Some(process) = record.process {
            let signal = |signal| process.signal_naming(signal, &format!("node {name}"));
            signal(libc::SIGTERM)?;
            if !self.wait_for_exit(name, process, grace).await {
                signal(libc::SIGKILL)?;
                if !self.wait_for_exit(name, process, KILL_WAIT).await {
                    return Err(BackendError::Engine {
                        backend: "process",
                        message: format!(
                            "node {name} (pid {}) survived SIGKILL for {KILL_WAIT:?}; it may be stuck in the kernel (state D)",
                            process.pid
                        ),
                    });
                }
            }
        }
        self.store.update(|state| {
            if let Some(record) = state.nodes.get_mut(name) {
                record.process = None;
                record.started_at = None;
            }
        })
    }

    async fn remove(&self, name: &str, purge: bool) -> BackendResult<()> {
        let record = self.record(name)?;
        if self.process_alive(name, record.process) {
            return Err(BackendError::AlreadyRunning {
                name: name.to_owned(),
                id: record
                    .process
                    .map_or_else(String::new, |p| format!("pid {}", p.pid)),
            });
        }
        self.store.update(|state| state.nodes.remove(name))?;
        if purge {
            for path in [&record.spec.data_dir, &self.dir.node_log(name)] {
                remove_path(path).map_err(|error| {
                    BackendError::io(format!("removing {}", path.display()), error)
                })?;
            }
        }
        Ok(())
    }

    async fn is_alive(&self, name: &str) -> BackendResult<bool> {
        let record = self.record(name)?;
        Ok(self.process_alive(name, record.process))
    }

    async fn status(&self, name: &str) -> BackendResult<NodeStatus> {
        let record = self.record(name)?;
        Ok(self.node_status(record).await)
    }

    async fn list(&self) -> BackendResult<Vec<NodeStatus>> {
        let records = self.store.load()?.nodes.into_values();
        Ok(futures::future::join_all(records.map(|record| self.node_status(record))).await)
    }

    async fn logs(&self, name: &str, tail_lines: usize) -> BackendResult<String> {
        self.record(name)?;
        let path = self.dir.node_log(name);
        let text = read_tail(&path, LOG_TAIL_BYTES)
            .map_err(|error| BackendError::io(format!("reading {}", path.display()), error))?;
        Ok(last_lines(&text, tail_lines))
    }

    /// The watchdog: SIGKILL to every node over its memory limit (what the kernel does to
    /// a container over its cgroup limit), recorded as `OOMKilled` in its state.
    async fn enforce_memory_limits(&self) -> BackendResult<Vec<MemoryKill>> {
        let records = self.store.load()?.nodes;
        let mut kills = Vec::new();
        for record in records.values() {
            kills.extend(self.enforce_limit(record)?);
        }
        if !kills.is_empty() {
            let now = Utc::now();
            self.store.update(|state| {
                for kill in &kills {
                    if let Some(record) = state.nodes.get_mut(&kill.node) {
                        record.last_termination = Some(oom_killed(kill, now));
                    }
                }
            })?;
        }
        Ok(kills)
    }
}
