//! `agent status`, `agent logs` and `agent down`: they work from the state files, whether
//! a supervisor still runs or not.

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::Utc;

use super::backends::{AgentBackend, BackendKind, open_backend};
use super::error::{AgentError, AgentResult};
use super::record::{AgentRecord, DataRecord, remove_file};
use super::supervisor::stop_all;
use super::table::render_table;
use super::words::{agent_command, nodes};
use crate::backend::process::{GridDir, ProcessId};
use crate::backend::{Backend, NodeStatus};

/// How long `down` waits for the supervisor to exit after SIGTERM before killing it.
const SUPERVISOR_GRACE: Duration = Duration::from_secs(5);

/// The grid to act on: the one named, or the only one under `state_dir`.
pub fn resolve_grid(state_dir: &Path, grid: Option<&str>) -> AgentResult<String> {
    if let Some(grid) = grid {
        return Ok(grid.to_owned());
    }
    let grids = grids_in(state_dir);
    match grids.as_slice() {
        [only] => Ok(only.clone()),
        [] => Err(AgentError::NoGrid(format!(
            "no local grid under {}; start one with `sutra-grid agent up -f grid.yaml`, or pass --state-dir",
            state_dir.display()
        ))),
        several => Err(AgentError::NoGrid(format!(
            "several grids under {} ({}); pick one with --grid",
            state_dir.display(),
            several.join(", ")
        ))),
    }
}

/// Grids with an agent record, node state or kept data, sorted.
fn grids_in(state_dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(state_dir) else {
        return Vec::new();
    };
    let mut grids: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|entry| {
            let dir = GridDir::new(state_dir, &entry.file_name().to_string_lossy());
            AgentRecord::path(&dir).exists()
                || dir.state_file().exists()
                || DataRecord::path(&dir).exists()
        })
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    grids.sort();
    grids
}

/// The grid's record (if any) and its backend, opened for reading and stopping.
fn open_grid(state_dir: &Path, grid: &str) -> AgentResult<(Option<AgentRecord>, AgentBackend)> {
    let dir = GridDir::new(state_dir, grid);
    let record = AgentRecord::load(&dir)?;
    if record.is_none() && !dir.state_file().exists() {
        let kept = if DataRecord::path(&dir).exists() {
            format!(
                "; its data is kept (`{}` deletes it)",
                agent_command("down --purge", state_dir, grid)
            )
        } else {
            String::new()
        };
        return Err(AgentError::NoGrid(format!(
            "grid {grid} is not running{kept}; start it with `sutra-grid agent up -f grid.yaml`"
        )));
    }
    let kind = record
        .as_ref()
        .map_or(BackendKind::Process, |record| record.backend);
    let storage_bin = record
        .as_ref()
        .and_then(|record| record.storage_bin.clone());
    let backend = open_backend(kind, state_dir, grid, storage_bin.as_deref(), false)?;
    Ok((record, backend))
}

/// Every backend that runs nodes of the grid or holds its data: the running one (from the
/// agent record, or the process backend's state file) and those `up` recorded as holding
/// data. Empty when the state directory knows nothing of the grid.
fn grid_backends(
    state_dir: &Path,
    grid: &str,
    record: Option<&AgentRecord>,
) -> AgentResult<Vec<AgentBackend>> {
    let dir = GridDir::new(state_dir, grid);
    let mut kinds: Vec<BackendKind> = record.map(|record| record.backend).into_iter().collect();
    if dir.state_file().exists() {
        kinds.push(BackendKind::Process);
    }
    kinds.extend(
        DataRecord::load(&dir)?
            .map(|data| data.backends)
            .unwrap_or_default(),
    );
    let mut unique = Vec::new();
    for kind in kinds {
        if !unique.contains(&kind) {
            unique.push(kind);
        }
    }
    let storage_bin = record.and_then(|record| record.storage_bin.clone());
    unique
        .into_iter()
        .map(|kind| open_backend(kind, state_dir, grid, storage_bin.as_deref(), false))
        .collect()
}

/// How `status` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    #[default]
    Table,
    Json,
}

/// Every node of the grid with its live state.
pub async fn node_statuses(
    state_dir: &Path,
    grid: &str,
) -> AgentResult<(Option<AgentRecord>, Vec<NodeStatus>)> {
    let (record, backend) = open_grid(state_dir, grid)?;
    Ok((record, backend.list().await?))
}

/// `agent status`: the table (or JSON) on stdout; a warning on stderr when no supervisor
/// runs, since crashed nodes are then not restarted.
pub async fn status(state_dir: &Path, grid: &str, format: OutputFormat) -> AgentResult<String> {
    let (record, nodes) = node_statuses(state_dir, grid).await?;
    if record
        .as_ref()
        .and_then(AgentRecord::live_supervisor)
        .is_none()
    {
        eprintln!(
            "warning: no agent supervises grid {grid}: crashed nodes are not restarted; run `sutra-grid agent up` again"
        );
    }
    Ok(match format {
        OutputFormat::Json => {
            serde_json::to_string_pretty(&nodes).expect("statuses serialise") + "\n"
        }
        OutputFormat::Table => {
            let host = record.map_or_else(String::new, |record| record.host);
            render_table(&host, &nodes, Utc::now())
        }
    })
}

/// `agent logs NODE`: the node's last lines.
pub async fn logs(
    state_dir: &Path,
    grid: &str,
    node: &str,
    tail_lines: usize,
) -> AgentResult<String> {
    let (_, backend) = open_grid(state_dir, grid)?;
    Ok(backend.logs(node, tail_lines).await?)
}

/// `agent down`: stops the supervisor (so it restarts nothing), then every node, and
/// removes the grid's state; the data stays unless `purge`. With `purge` it also deletes
/// data an earlier `down` kept, in every backend `up` used for the grid.
pub async fn down(
    state_dir: &Path,
    grid: &str,
    grace: Option<Duration>,
    purge: bool,
) -> AgentResult<String> {
    let dir = GridDir::new(state_dir, grid);
    let record = AgentRecord::load(&dir)?;
    let backends = grid_backends(state_dir, grid, record.as_ref())?;
    if backends.is_empty() {
        return Err(AgentError::NoGrid(format!(
            "grid {grid} is not running and has no data under {}; start it with `sutra-grid agent up -f grid.yaml`",
            dir.root().display()
        )));
    }
    let grace = grace.unwrap_or_else(|| {
        Duration::from_secs(
            record
                .as_ref()
                .map_or(super::config::DEFAULT_STOP_GRACE_SECONDS, |r| {
                    r.stop_grace_seconds
                }),
        )
    });
    // Counted first: a foreground supervisor stops the nodes itself when signalled.
    let mut running = 0;
    for backend in &backends {
        running += backend
            .list()
            .await?
            .iter()
            .filter(|node| node.pid.is_some())
            .count();
    }
    if let Some(supervisor) = record.as_ref().and_then(AgentRecord::live_supervisor) {
        stop_supervisor(supervisor).await?;
    }
    for backend in &backends {
        stop_all(backend, grace, purge).await?;
        if purge {
            backend.purge_leftovers().await?;
        }
    }
    AgentRecord::remove(&dir)?;
    remove_file(&dir.lock_file())?;
    let locations: Vec<String> = backends.iter().map(AgentBackend::data_location).collect();
    let locations = locations.join(" and ");
    if purge {
        remove_dir(dir.root())?;
        Ok(format!(
            "grid {grid}: stopped {} and deleted {locations} and {}\n",
            nodes(running),
            dir.root().display()
        ))
    } else {
        Ok(format!(
            "grid {grid}: stopped {}; data kept in {locations} (delete it with `{}`)\n",
            nodes(running),
            agent_command("down --purge", state_dir, grid)
        ))
    }
}

async fn stop_supervisor(supervisor: ProcessId) -> AgentResult<()> {
    let signal = |signal| {
        supervisor.signal(signal).map_err(|error| {
            AgentError::io(
                format!("signalling the agent supervisor (pid {})", supervisor.pid),
                error,
            )
        })
    };
    signal(libc::SIGTERM)?;
    let deadline = Instant::now() + SUPERVISOR_GRACE;
    while supervisor.is_running() {
        if Instant::now() >= deadline {
            signal(libc::SIGKILL)?;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

fn remove_dir(path: &Path) -> AgentResult<()> {
    match std::fs::remove_dir_all(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(AgentError::io(
            format!("removing {}", path.display()),
            error,
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_only_grid_is_picked_and_several_must_be_named() {
        let temp = tempfile::tempdir().unwrap();
        let error = resolve_grid(temp.path(), None).unwrap_err().to_string();
        assert!(error.contains("no local grid"), "{error}");

        for grid in ["a", "b"] {
            let dir = GridDir::new(temp.path(), grid);
            std::fs::create_dir_all(dir.root()).unwrap();
            std::fs::write(dir.state_file(), "{}").unwrap();
            if grid == "a" {
                assert_eq!(resolve_grid(temp.path(), None).unwrap(), "a");
            }
        }
        let error = resolve_grid(temp.path(), None).unwrap_err().to_string();
        assert!(error.contains("(a, b); pick one with --grid"), "{error}");
        assert_eq!(resolve_grid(temp.path(), Some("b")).unwrap(), "b");
    }

    #[test]
    fn a_grid_that_is_down_but_keeps_data_is_found_for_purging() {
        let temp = tempfile::tempdir().unwrap();
        let dir = GridDir::new(temp.path(), "kept");
        DataRecord::add(&dir, BackendKind::Process).unwrap();
        assert_eq!(resolve_grid(temp.path(), None).unwrap(), "kept");
        let error = open_grid(temp.path(), "kept").unwrap_err().to_string();
        assert_eq!(
            error,
            format!(
                "grid kept is not running; its data is kept (`sutra-grid agent down --purge --state-dir {} --grid kept` deletes it); start it with `sutra-grid agent up -f grid.yaml`",
                temp.path().display()
            )
        );
        let backends = grid_backends(temp.path(), "kept", None).unwrap();
        let kinds: Vec<BackendKind> = backends.iter().map(AgentBackend::kind).collect();
        assert_eq!(kinds, [BackendKind::Process]);
    }

    #[tokio::test]
    async fn down_purge_after_down_deletes_the_kept_process_data() {
        let temp = tempfile::tempdir().unwrap();
        let dir = GridDir::new(temp.path(), "kept");
        DataRecord::add(&dir, BackendKind::Process).unwrap();
        std::fs::create_dir_all(dir.data_dir("kept-0")).unwrap();
        std::fs::write(dir.data_dir("kept-0").join("wal"), b"vectors").unwrap();
        let said = down(temp.path(), "kept", None, true).await.unwrap();
        assert!(
            said.starts_with("grid kept: stopped 0 nodes and deleted "),
            "{said}"
        );
        assert!(!dir.root().exists());
        let error = down(temp.path(), "kept", None, true).await.unwrap_err();
        assert!(error.to_string().contains("has no data"), "{error}");
    }
}
