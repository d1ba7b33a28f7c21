//! Keeping a grid's nodes running: start (or adopt) them, then restart any that exits, with
//! a [`Backoff`] between attempts, until told to stop.

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use sutra_core::backoff::Backoff;

use super::error::AgentResult;
use super::log::log_line;
use crate::backend::{Backend, BackendError, ExitFeed, NodeSpec};
use crate::host::human_bytes;

/// How often nodes are checked for having exited when the backend pushes no exits; a
/// restart starts within this of a crash (plus the backoff delay).
const POLL: Duration = Duration::from_millis(20);
/// How often nodes are checked anyway when the backend pushes their exits: a safety net
/// for an exit the feed missed, not the way crashes are found.
const POLL_WITH_FEED: Duration = Duration::from_secs(2);

/// Restart delays of a crashed node: the first crash after a healthy run restarts at once,
/// a node that crashes again waits 200 ms, doubling up to 30 s. A node that crashes at
/// start-up does not spin the CPU, and one that crashes rarely comes back as fast as a
/// process can start.
const RESTART_BACKOFF: Backoff =
    Backoff::new(Duration::from_millis(200), Duration::from_secs(30)).retrying_first_at_once();
/// Uptime after which a crash counts as a first one again.
const HEALTHY_AFTER: Duration = Duration::from_secs(60);

/// Starts every node that does not run yet and adopts the ones that do, all at once: a
/// Docker engine creates and starts containers in parallel.
pub async fn start_nodes<B: Backend>(backend: &B, nodes: &[NodeSpec]) -> AgentResult<()> {
    let started = futures::future::join_all(nodes.iter().map(|spec| async move {
        if backend.is_alive(&spec.name).await.unwrap_or(false) {
            log_line(&format!("{} already runs, adopted", spec.name));
            return Ok(());
        }
        let handle = backend.spawn(spec).await?;
        log_line(&format!("{} started ({})", spec.name, handle.id));
        Ok(())
    }))
    .await;
    started.into_iter().collect()
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

/// Watches the nodes until `shutdown` completes, restarting each one that exits: at once
/// when the backend reports the exit ([`Backend::exits`]), else on the next poll. Every
/// poll (the first one at once) also enforces the nodes' memory limits
/// ([`Backend::enforce_memory_limits`]).
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
    let mut exits = backend.exits();
    let mut wake = now;
    tokio::pin!(shutdown);
    loop {
        let exited = tokio::select! {
            biased;
            () = &mut shutdown => return,
            exited = next_exit(&mut exits) => exited,
            () = tokio::time::sleep(wake.saturating_duration_since(Instant::now())) => None,
        };
        if exited.is_none() {
            enforce_memory_limits(backend).await;
        }
        let mut restarted = false;
        for spec in nodes {
            if exited.as_ref().is_some_and(|name| *name != spec.name) {
                continue;
            }
            let watch = watch
                .get_mut(spec.name.as_str())
                .expect("every node is watched");
            restarted |= check_node(backend, spec, watch).await;
        }
        let poll = if exits.is_some() {
            POLL_WITH_FEED
        } else {
            POLL
        };
        // A node just restarted is held to its memory limit at once, like one just started.
        let first_check = if restarted {
            Instant::now()
        } else {
            Instant::now() + poll
        };
        wake = watch
            .values()
            .filter_map(|watch| watch.restart_at)
            .fold(first_check, Instant::min);
    }
}

/// Kills the nodes over their memory limit and says so, as Kubernetes reports an
/// `OOMKilled` container; the checks that follow restart them with backoff.
async fn enforce_memory_limits<B: Backend>(backend: &B) {
    match backend.enforce_memory_limits().await {
        Ok(kills) => {
            for kill in kills {
                log_line(&format!(
                    "{} OOMKilled: it used {} of memory, over its limit of {}",
                    kill.node,
                    human_bytes(kill.used),
                    human_bytes(kill.limit)
                ));
            }
        }
        Err(error) => log_line(&format!("could not check memory limits: {error}")),
    }
}

/// The next node the feed reports; never completes without a feed. A feed that ended is
/// dropped, so the supervisor polls from then on.
async fn next_exit(exits: &mut Option<ExitFeed>) -> Option<String> {
    let Some(feed) = exits else {
        return std::future::pending().await;
    };
    let exited = feed.recv().await;
    if exited.is_none() {
        log_line("the backend's exit feed ended; polling the nodes instead");
        *exits = None;
    }
    exited
}

/// One node's restart state.
struct Watch {
    backoff: Backoff,
    /// When the node's current run started, while it runs.
    started_at: Option<Instant>,
    /// When a restart is due, while the node is down.
    restart_at: Option<Instant>,
}

impl Watch {
    /// A node that runs since `now`.
    fn running(now: Instant) -> Watch {
        Watch {
            backoff: RESTART_BACKOFF,
            started_at: Some(now),
            restart_at: None,
        }
    }

    /// The node (re)started at `now`.
    fn started(&mut self, now: Instant) {
        self.started_at = Some(now);
    }

    /// The node was found dead at `now`: how long to wait before restarting it. A run of
    /// at least [`HEALTHY_AFTER`] makes this crash a first one.
    fn exited(&mut self, now: Instant) -> Duration {
        let ran_long_enough = self
            .started_at
            .take()
            .is_some_and(|started| now.saturating_duration_since(started) >= HEALTHY_AFTER);
        if ran_long_enough {
            self.backoff.reset();
        }
        self.backoff.next_delay()
    }
}

/// Notices a node that is down (scheduling its restart after the backoff delay) and
/// restarts it once that is due, in the same call when the delay is zero; returns whether
/// it restarted the node. A node whose state cannot be read is left alone until the next
/// check.
async fn check_node<B: Backend>(backend: &B, spec: &NodeSpec, watch: &mut Watch) -> bool {
    if watch.restart_at.is_none() {
        if backend.is_alive(&spec.name).await.unwrap_or(true) {
            return false;
        }
        let now = Instant::now();
        let delay = watch.exited(now);
        watch.restart_at = Some(now + delay);
        log_line(&format!("{} exited; {}", spec.name, restart_words(delay)));
    }
    let now = Instant::now();
    if watch.restart_at.is_some_and(|due| now < due) {
        return false;
    }
    match backend.spawn(spec).await {
        Ok(handle) => {
            watch.restart_at = None;
            watch.started(now);
            log_line(&format!("{} restarted ({})", spec.name, handle.id));
            true
        }
        // Something else (the Docker engine's restart policy) brought it back first.
        Err(BackendError::AlreadyRunning { .. }) => {
            watch.restart_at = None;
            watch.started(now);
            log_line(&format!("{} runs again", spec.name));
            false
        }
        Err(error) => {
            let delay = watch.exited(now);
            watch.restart_at = Some(now + delay);
            log_line(&format!(
                "{} could not be restarted: {error}; next try in {delay:?}",
                spec.name
            ));
            false
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

/// `restarting now` or `restarting in 400 ms` / `in 30 s`.
fn restart_words(delay: Duration) -> String {
    match delay.as_millis() {
        0 => "restarting now".to_owned(),
        millis @ 1..1000 => format!("restarting in {millis} ms"),
        _ => format!("restarting in {} s", delay.as_secs_f32()),
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::path::PathBuf;
    use std::sync::Mutex;

    use sutra_core::crd::{NodePhase, VectorSpec};
    use tokio::sync::{Notify, mpsc};

    use super::*;
    use crate::backend::{BackendResult, NodeHandle, NodeStatus};

    /// Nodes that are up or down as the test says; records what the supervisor asks.
    struct FakeBackend {
        down: Mutex<Vec<String>>,
        asked_alive: Mutex<Vec<String>>,
        spawned: Mutex<Vec<String>>,
        spawned_signal: Notify,
        feed: Mutex<Option<ExitFeed>>,
    }

    impl FakeBackend {
        fn new(feed: Option<ExitFeed>) -> FakeBackend {
            FakeBackend {
                down: Mutex::new(Vec::new()),
                asked_alive: Mutex::new(Vec::new()),
                spawned: Mutex::new(Vec::new()),
                spawned_signal: Notify::new(),
                feed: Mutex::new(feed),
            }
        }

        fn crash(&self, name: &str) {
            self.down.lock().unwrap().push(name.to_owned());
        }
    }

    impl Backend for FakeBackend {
        async fn spawn(&self, spec: &NodeSpec) -> BackendResult<NodeHandle> {
            self.down.lock().unwrap().retain(|name| *name != spec.name);
            self.spawned.lock().unwrap().push(spec.name.clone());
            self.spawned_signal.notify_one();
            let addr = SocketAddr::from(([127, 0, 0, 1], 1));
            Ok(NodeHandle {
                name: spec.name.clone(),
                id: "fake".to_owned(),
                grpc_addr: addr,
                metrics_addr: addr,
            })
        }

        async fn stop(&self, _: &str, _: Duration) -> BackendResult<()> {
            Ok(())
        }

        async fn remove(&self, _: &str, _: bool) -> BackendResult<()> {
            Ok(())
        }

        async fn is_alive(&self, name: &str) -> BackendResult<bool> {
            self.asked_alive.lock().unwrap().push(name.to_owned());
            Ok(!self.down.lock().unwrap().iter().any(|down| down == name))
        }

        async fn status(&self, name: &str) -> BackendResult<NodeStatus> {
            let addr = SocketAddr::from(([127, 0, 0, 1], 1));
            Ok(NodeStatus {
                name: name.to_owned(),
                variant: "universal".to_owned(),
                phase: NodePhase::Ready,
                ready: true,
                platform: None,
                started_at: None,
                restarts: 0,
                grpc_addr: addr,
                metrics_addr: addr,
                pid: None,
                last_termination: None,
            })
        }

        async fn list(&self) -> BackendResult<Vec<NodeStatus>> {
            Ok(Vec::new())
        }

        async fn logs(&self, _: &str, _: usize) -> BackendResult<String> {
            Ok(String::new())
        }

        fn exits(&self) -> Option<ExitFeed> {
            self.feed.lock().unwrap().take()
        }
    }

    fn specs(names: &[&str]) -> Vec<NodeSpec> {
        names
            .iter()
            .enumerate()
            .map(|(ordinal, name)| NodeSpec {
                grid: "local".to_owned(),
                name: (*name).to_owned(),
                ordinal: ordinal as u32,
                variant: "universal".to_owned(),
                image: String::new(),
                vector: VectorSpec::with_dimension(4),
                grpc_port: 1,
                metrics_port: 2,
                data_dir: PathBuf::new(),
                memory_limit: None,
                variant_rules: None,
            })
            .collect()
    }

    #[test]
    fn restart_delays_double_up_to_the_cap() {
        let now = Instant::now();
        let mut watch = Watch::running(now);
        let delays: Vec<u128> = (0..10)
            .map(|_| {
                watch.started(now);
                watch.exited(now).as_millis()
            })
            .collect();
        assert_eq!(
            delays,
            [0, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000]
        );
    }

    #[test]
    fn a_minute_of_uptime_resets_the_restart_delay() {
        let start = Instant::now();
        let mut watch = Watch::running(start);
        for _ in 0..4 {
            watch.started(start);
            watch.exited(start);
        }
        watch.started(start);
        assert_eq!(watch.exited(start + HEALTHY_AFTER), Duration::ZERO);
        watch.started(start);
        assert_eq!(
            watch.exited(start + Duration::from_secs(1)),
            Duration::from_millis(200)
        );
    }

    /// Time stands still (`start_paused`) until every task waits: the supervisor can only
    /// have acted on the feed, not on a poll.
    #[tokio::test(start_paused = true)]
    async fn an_exit_on_the_feed_restarts_that_node_without_asking_about_the_others() {
        let (sender, feed) = mpsc::unbounded_channel();
        let backend = FakeBackend::new(Some(feed));
        let nodes = specs(&["local-0", "local-1", "local-2"]);
        backend.crash("local-1");
        sender.send("local-1".to_owned()).unwrap();
        supervise(&backend, &nodes, backend.spawned_signal.notified()).await;
        assert_eq!(*backend.spawned.lock().unwrap(), ["local-1"]);
        assert_eq!(*backend.asked_alive.lock().unwrap(), ["local-1"]);
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_feed_every_node_is_polled_and_the_dead_one_restarted() {
        let backend = FakeBackend::new(None);
        let nodes = specs(&["local-0", "local-1"]);
        backend.crash("local-0");
        supervise(&backend, &nodes, backend.spawned_signal.notified()).await;
        assert_eq!(*backend.spawned.lock().unwrap(), ["local-0"]);
        assert_eq!(*backend.asked_alive.lock().unwrap(), ["local-0", "local-1"]);
    }

    #[tokio::test(start_paused = true)]
    async fn an_ended_feed_falls_back_to_polling() {
        let (sender, feed) = mpsc::unbounded_channel::<String>();
        drop(sender);
        let backend = FakeBackend::new(Some(feed));
        let nodes = specs(&["local-0"]);
        backend.crash("local-0");
        supervise(&backend, &nodes, backend.spawned_signal.notified()).await;
        assert_eq!(*backend.spawned.lock().unwrap(), ["local-0"]);
    }
}
