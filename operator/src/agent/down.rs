//! `agent down`: stop a grid's supervisor and nodes, and delete its data on request.

use std::path::Path;
use std::time::{Duration, Instant};

use super::backends::AgentBackend;
use super::config::DEFAULT_STOP_GRACE;
use super::error::{AgentError, AgentResult};
use super::locate::grid_backends;
use super::record::{AgentRecord, remove};
use super::supervisor::stop_all;
use super::words::{agent_command, nodes};
use crate::backend::Backend;
use crate::host::ProcessId;
use crate::state_dir::GridDir;

/// How long `down` waits for the supervisor to exit after SIGTERM before killing it.
const SUPERVISOR_GRACE: Duration = Duration::from_secs(5);

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
    let backends = grid_backends(state_dir, grid, record.as_ref()).await?;
    if backends.is_empty() {
        return Err(AgentError::NoGrid(format!(
            "grid {grid} is not running and has no data under {}; start it with `sutra-grid agent up -f grid.yaml`",
            dir.root().display()
        )));
    }
    let grace = grace.unwrap_or_else(|| {
        record.as_ref().map_or(DEFAULT_STOP_GRACE, |record| {
            Duration::from_secs(record.stop_grace_seconds)
        })
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
    remove(&dir.lock_file())?;
    let locations: Vec<String> = backends.iter().map(AgentBackend::data_location).collect();
    let locations = locations.join(" and ");
    if purge {
        remove(dir.root())?;
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
    let signal = |signal| supervisor.signal_naming(signal, "the agent supervisor");
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::backends::BackendKind;
    use crate::agent::record::DataRecord;

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
