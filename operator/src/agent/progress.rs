//! The display while nodes come up: one line per node as it goes Pending → Running →
//! Ready, redrawn in place on a terminal, one plain line per change otherwise.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use sutra_core::crd::NodePhase;

use super::error::{AgentError, AgentResult};
use crate::backend::{Backend, NodeSpec};

/// How often node states are polled while waiting.
const POLL: Duration = Duration::from_millis(20);
/// Log lines shown for each node that did not become ready.
const LOG_LINES_ON_FAILURE: usize = 8;

/// A node's line in the display.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Line {
    phase: NodePhase,
    /// Time from the start of the wait to Ready.
    ready_after: Option<Duration>,
}

/// Waits until every node in `nodes` is Ready, showing progress on stdout.
///
/// `still_supervised` is asked on every poll and returns an error when whatever runs the
/// nodes is gone (a detached supervisor that died), which ends the wait at once.
pub async fn wait_until_ready<B: Backend>(
    backend: &B,
    nodes: &[NodeSpec],
    timeout: Duration,
    mut still_supervised: impl FnMut() -> AgentResult<()>,
) -> AgentResult<Duration> {
    let start = Instant::now();
    let terminal = std::io::stdout().is_terminal();
    let mut lines: BTreeMap<String, Line> = nodes
        .iter()
        .map(|node| {
            let line = Line {
                phase: NodePhase::Pending,
                ready_after: None,
            };
            (node.name.clone(), line)
        })
        .collect();
    let mut shown = false;
    loop {
        still_supervised()?;
        let mut changed = Vec::new();
        for node in nodes {
            let phase = backend
                .status(&node.name)
                .await
                .map_or(NodePhase::Pending, |s| s.phase);
            let line = lines.get_mut(&node.name).expect("every node has a line");
            if line.phase != phase {
                line.phase = phase;
                line.ready_after = (phase == NodePhase::Ready).then(|| start.elapsed());
                changed.push(node.name.clone());
            }
        }
        if terminal {
            redraw(nodes, &lines, shown);
            shown = true;
        } else {
            for name in &changed {
                println!("{}", describe(nodes, name, &lines[name]));
            }
        }
        if lines.values().all(|line| line.phase == NodePhase::Ready) {
            return Ok(start.elapsed());
        }
        if start.elapsed() >= timeout {
            return Err(not_ready(backend, &lines, timeout).await);
        }
        tokio::time::sleep(POLL).await;
    }
}

fn describe(nodes: &[NodeSpec], name: &str, line: &Line) -> String {
    let node = nodes
        .iter()
        .find(|node| node.name == name)
        .expect("a known node");
    let timing = line
        .ready_after
        .map_or_else(String::new, |after| format!("  ({} ms)", after.as_millis()));
    format!(
        "{:<16} {:<12} grpc 127.0.0.1:{:<6} {:?}{timing}",
        node.name, node.variant, node.grpc_port, line.phase
    )
}

fn redraw(nodes: &[NodeSpec], lines: &BTreeMap<String, Line>, shown: bool) {
    let mut out = std::io::stdout().lock();
    if shown {
        let _ = write!(out, "\x1b[{}A", nodes.len());
    }
    for node in nodes {
        let _ = writeln!(
            out,
            "\x1b[2K{}",
            describe(nodes, &node.name, &lines[&node.name])
        );
    }
    let _ = out.flush();
}

async fn not_ready<B: Backend>(
    backend: &B,
    lines: &BTreeMap<String, Line>,
    timeout: Duration,
) -> AgentError {
    let mut details = String::new();
    for (name, line) in lines
        .iter()
        .filter(|(_, line)| line.phase != NodePhase::Ready)
    {
        let logs = backend
            .logs(name, LOG_LINES_ON_FAILURE)
            .await
            .unwrap_or_default();
        details.push_str(&format!(
            "{name} is {:?}; its log ends with:\n{logs}",
            line.phase
        ));
    }
    AgentError::NotReady {
        seconds: timeout.as_secs(),
        details,
    }
}
