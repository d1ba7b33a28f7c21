//! The display while nodes come up: one line per node as it goes Pending → Running →
//! Ready, redrawn in place on a terminal, one plain line per change otherwise.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::io::{IsTerminal, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};

use sutra_core::crd::NodePhase;

use super::error::{AgentError, AgentResult};
use crate::backend::{Backend, NodeSpec, probe};

/// How often a node that is not ready yet is asked `/readyz` on its metrics port: a
/// refused or answered local connection costs well under a millisecond.
const POLL: Duration = Duration::from_millis(5);
/// Checks of one node that may be under way at once. A new check starts every [`POLL`]
/// without waiting for the earlier ones: while a container starts, Docker's port proxy
/// accepts a connection and then holds it for up to ~300 ms, and a check that waited
/// for it would see the node ready that much late.
const CHECKS_IN_FLIGHT: usize = 8;
/// How often at most the backend is asked for the phases of nodes not ready yet, for the
/// display. That costs more (two engine requests per node on Docker), and the engine
/// answers about a container only once it has finished starting it, so it runs beside the
/// readiness checks instead of holding them up.
const STATUS_EVERY: Duration = Duration::from_millis(50);
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
    let mut sweep: Option<PhaseSweep<'_>> = None;
    let mut last_sweep = start;
    let mut checks = FuturesUnordered::new();
    let mut in_flight: HashMap<&str, usize> = HashMap::new();
    loop {
        still_supervised()?;
        let waiting: Vec<&NodeSpec> = nodes
            .iter()
            .filter(|node| lines[&node.name].phase != NodePhase::Ready)
            .collect();
        for node in &waiting {
            let count = in_flight.entry(node.name.as_str()).or_default();
            if *count < CHECKS_IN_FLIGHT {
                *count += 1;
                checks.push(answers_ready(node));
            }
        }
        let mut observed = Vec::new();
        let tick = tokio::time::sleep(POLL);
        tokio::pin!(tick);
        loop {
            tokio::select! {
                Some((name, ready)) = checks.next() => {
                    *in_flight.get_mut(name).expect("a started check") -= 1;
                    if ready {
                        observed.push((name.to_owned(), NodePhase::Ready));
                    }
                }
                () = &mut tick => break,
            }
        }
        if sweep.is_none() && last_sweep.elapsed() >= STATUS_EVERY {
            last_sweep = Instant::now();
            sweep = Some(Box::pin(phases_of(backend, waiting)));
        }
        if let Some(phases) = sweep.as_mut().and_then(FutureExt::now_or_never) {
            sweep = None;
            observed.extend(phases);
        }
        let mut changed = Vec::new();
        for (name, phase) in observed {
            let line = lines.get_mut(&name).expect("every node has a line");
            // A phase asked before the node answered `/readyz` must not take Ready back.
            if line.phase != phase && line.phase != NodePhase::Ready {
                line.phase = phase;
                line.ready_after = (phase == NodePhase::Ready).then(|| start.elapsed());
                changed.push(name);
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
    }
}

/// The backend's phases of some nodes, being asked.
type PhaseSweep<'a> = Pin<Box<dyn Future<Output = Vec<(String, NodePhase)>> + Send + 'a>>;

/// The node and whether it answers `/readyz` on its metrics port.
async fn answers_ready(node: &NodeSpec) -> (&str, bool) {
    let metrics_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, node.metrics_port));
    (node.name.as_str(), probe::is_ready(metrics_addr).await)
}

/// Each node's phase as the backend reports it; Pending when it cannot tell.
async fn phases_of<B: Backend>(backend: &B, nodes: Vec<&NodeSpec>) -> Vec<(String, NodePhase)> {
    futures::future::join_all(nodes.into_iter().map(|node| async move {
        let phase = backend
            .status(&node.name)
            .await
            .map_or(NodePhase::Pending, |status| status.phase);
        (node.name.clone(), phase)
    }))
    .await
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
        let history = match backend.status(name).await {
            Ok(status) => match status.last_termination {
                Some(last) => format!(
                    " after {} restarts, the last run {}: {}",
                    status.restarts, last.reason, last.message
                ),
                None if status.restarts > 0 => format!(" after {} restarts", status.restarts),
                None => String::new(),
            },
            Err(_) => String::new(),
        };
        details.push_str(&format!(
            "{name} is {:?}{history}; its log ends with:\n{logs}",
            line.phase
        ));
    }
    AgentError::NotReady {
        seconds: timeout.as_secs(),
        details,
    }
}
