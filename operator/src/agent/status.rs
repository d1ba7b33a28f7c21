//! `agent status` and `agent logs`: a grid's nodes as the backends see them now.

use std::path::Path;

use chrono::Utc;

use super::error::AgentResult;
use super::locate::open_grid;
use super::record::AgentRecord;
use super::table::render_table;
use crate::backend::{Backend, NodeStatus};

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
    let (record, backend) = open_grid(state_dir, grid).await?;
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
    let (_, backend) = open_grid(state_dir, grid).await?;
    Ok(backend.logs(node, tail_lines).await?)
}
