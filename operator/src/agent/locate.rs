//! Finding a local grid in the state directory: which grid a command means, its agent
//! record, and the backends that run its nodes or hold its data. `status`, `logs` and
//! `down` work from these, whether a supervisor still runs or not.

use std::path::Path;

use super::backends::{AgentBackend, BackendKind, open_backend};
use super::error::{AgentError, AgentResult};
use super::record::{AgentRecord, DataRecord};
use super::words::agent_command;
use crate::state_dir::GridDir;

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
            dir.agent_record().exists() || dir.state_file().exists() || dir.data_record().exists()
        })
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    grids.sort();
    grids
}

/// The grid's record (if any) and its backend, opened for reading and stopping.
pub(super) async fn open_grid(
    state_dir: &Path,
    grid: &str,
) -> AgentResult<(Option<AgentRecord>, AgentBackend)> {
    let dir = GridDir::new(state_dir, grid);
    let record = AgentRecord::load(&dir)?;
    if record.is_none() && !dir.state_file().exists() {
        let kept = if dir.data_record().exists() {
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
    let backend = open_backend(kind, state_dir, grid, storage_bin.as_deref(), false).await?;
    Ok((record, backend))
}

/// Every backend that runs nodes of the grid or holds its data: the running one (from the
/// agent record, or the process backend's state file) and those `up` recorded as holding
/// data. Empty when the state directory knows nothing of the grid.
pub(super) async fn grid_backends(
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
    let mut backends = Vec::with_capacity(unique.len());
    for kind in unique {
        backends.push(open_backend(kind, state_dir, grid, storage_bin.as_deref(), false).await?);
    }
    Ok(backends)
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

    #[tokio::test]
    async fn a_grid_that_is_down_but_keeps_data_is_found_for_purging() {
        let temp = tempfile::tempdir().unwrap();
        let dir = GridDir::new(temp.path(), "kept");
        DataRecord::add(&dir, BackendKind::Process).unwrap();
        assert_eq!(resolve_grid(temp.path(), None).unwrap(), "kept");
        let error = open_grid(temp.path(), "kept")
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(
            error,
            format!(
                "grid kept is not running; its data is kept (`sutra-grid agent down --purge --state-dir {} --grid kept` deletes it); start it with `sutra-grid agent up -f grid.yaml`",
                temp.path().display()
            )
        );
        let backends = grid_backends(temp.path(), "kept", None).await.unwrap();
        let kinds: Vec<BackendKind> = backends.iter().map(AgentBackend::kind).collect();
        assert_eq!(kinds, [BackendKind::Process]);
    }
}
