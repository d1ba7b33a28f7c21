//! Keeping a grid's nodes running: start (or adopt) them, then restart any that exits, with
//! [`Backoff`] between attempts, until told to stop.

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use chrono::Utc;

use super::backoff::Backoff;
use super::error::AgentResult;
use crate::backend::{Backend, NodeSpec};

/// How often nodes are checked for having exited; a restart starts within this of a crash
/// (plus the backoff delay).
const POLL: Duration = Duration::from_millis(20);

/// A line in the agent's log, timestamped.
pub fn log_line(message: &str) {
    println!("{} {message}", Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ"));
}

/// Starts every node that does not run yet and adopts the ones that do.
pub async fn start_nodes<B: Backend>(backend: &B, nodes: &[NodeSpec]) -> AgentResult<()> {
    for spec in nodes {
        if backend.is_alive(&spec.name).await.unwrap_or(false) {
            log_line(&format!("{} already runs, adopted", spec.name));
            continue;
        }
        let handle = backend.spawn(spec).await?;
        log_line(&format!("{} started ({})", spec.name, handle.id));
    }
    Ok(())
}

/// Stops running nodes whose spec differs from the one they were started with (`previous`),
/// so [`start_nodes`] starts them afresh instead of adopting them.
pub async fn stop_changed<B: Backend>(
    backend: &B,
    nodes: &[NodeSpec],
    previous: &[NodeSpec],
    grace: Duration,
) -> AgentResult<()> {
    for spec in nodes {
        let unchanged = previous.iter().any(|old| old == spec);
        if !unchanged && backend.is_alive(&spec.name).await.unwrap_or(false) {
            log_line(&format!(
                "{} runs with another spec, restarting it",
                spec.name
            ));
            backend.stop(&spec.name, grace).await?;
        }
    }
    Ok(())
}

/// Watches the nodes until `shutdown` completes, restarting each one that exits.
pub async fn supervise<B: Backend>(
    backend: &B,
    nodes: &[NodeSpec],
    shutdown: impl Future<Output = ()>,
) {
    let now = Instant::now();
    let mut watch: HashMap<&str, Watch> = nodes
        .iter()
        .map(|spec| (spec.name.as_str(), Watch::running(now)))
        .collect();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(POLL) => {}
        }
        for spec in nodes {
            let watch = watch
                .get_mut(spec.name.as_str())
                .expect("every node is watched");
            check_node(backend, spec, watch).await;
        }
    }
}

/// One node's restart state.
struct Watch {
    backoff: Backoff,
    /// When a restart is due, while the node is down.
    restart_at: Option<Instant>,
}

impl Watch {
    fn running(now: Instant) -> Watch {
        let mut backoff = Backoff::default();
        backoff.started(now);
        Watch {
            backoff,
            restart_at: None,
        }
    }
}

async fn check_node<B: Backend>(backend: &B, spec: &NodeSpec, watch: &mut Watch) {
    let now = Instant::now();
    match watch.restart_at {
        Some(due) if now >= due => match backend.spawn(spec).await {
            Ok(handle) => {
                watch.restart_at = None;
                watch.backoff.started(now);
                log_line(&format!("{} restarted ({})", spec.name, handle.id));
            }
            Err(error) => {
                let delay = watch.backoff.exited(now);
                watch.restart_at = Some(now + delay);
                log_line(&format!(
                    "{} could not be restarted: {error}; next try in {delay:?}",
                    spec.name
                ));
            }
        },
        Some(_) => {}
        None => {
            if !backend.is_alive(&spec.name).await.unwrap_or(false) {
                let delay = watch.backoff.exited(now);
                watch.restart_at = Some(now + delay);
                log_line(&format!("{} exited; restarting in {delay:?}", spec.name));
            }
        }
    }
}

/// Stops every node of the backend (all at once, each SIGTERM then SIGKILL after
/// `grace`) and forgets them; data is deleted only with `purge`.
pub async fn stop_all<B: Backend>(backend: &B, grace: Duration, purge: bool) -> AgentResult<usize> {
    let nodes = backend.list().await?;
    let stops =
        futures::future::join_all(nodes.iter().map(|node| backend.stop(&node.name, grace))).await;
    for result in stops {
        result?;
    }
    for node in &nodes {
        backend.remove(&node.name, purge).await?;
    }
    Ok(nodes.len())
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
