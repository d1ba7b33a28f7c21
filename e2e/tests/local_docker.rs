//! The Docker backend against the real engine with the locally built image. Without an
//! engine (`docker info` fails) the test prints `skipped: no Docker engine` and returns
//! without claiming a run.
//!
//! With an engine it:
//! 1. builds `ghcr.io/sutra-ai/sutra-storage:<version>-universal` with `scripts/build-image.sh universal`
//!    unless the image exists and is newer than the static binaries it holds,
//! 2. checks that spawning a node of an image the engine lacks fails naming the image and
//!    the build command, and leaves no container behind,
//! 3. spawns a 3-node grid through `DockerBackend` (concurrently), waits until every node answers
//!    `/readyz`, and prints the time from the first spawn to all ready; each node's ports are
//!    published by its pause container, whose network the server container joined,
//! 4. upserts vectors into each node over gRPC and finds each by search,
//! 5. finds the grid's containers again from a second backend (as after an agent restart),
//! 6. crashes one node (SIGKILL to its process on the host): the engine restarts it, its
//!    vectors are still there; prints the time from the kill to ready,
//! 7. `docker kill`s a node, which Docker treats as stopped on purpose: it stays down until
//!    the backend spawns it again, with its data and the restart counted,
//! 8. `docker kill`s a node's pause container: the node counts as down (its server is cut
//!    off) until a spawn replaces both containers, with its data,
//! 9. moves that node to the host network (where the engine shares this machine's, else
//!    says the step is skipped): its pause container goes, the server binds the node's
//!    ports on loopback with its data, and a SIGKILL there is repaired by the engine,
//! 10. stops and removes every node with purge (`down --purge`): no container and no volume
//!     with the grid's label remains,
//! 11. runs the agent itself, `sutra-grid agent up --backend docker --detach` on a 3-node
//!     manifest (`--docker-network` auto: it must report the network the engine allows and
//!     have a pause container per node only in the bridge network), and prints its wall
//!     time; SIGKILLs a node and prints the time until it
//!     answers again; `docker kill`s it and prints the time until the supervisor has it
//!     back; `agent down` removes every container and keeps the data volumes, and a later
//!     `agent down --purge` deletes them and the grid's state directory.
//!
//! Every grid is also cleaned up when a step fails.
//!
//! Run it: `cargo test -p sutra-e2e --test local_docker`
//!
//! No libtest harness (`harness = false` in e2e/Cargo.toml): libtest would count a skipped
//! run as `1 passed`. A run ends with `1 passed, 0 failed`; a failure exits non-zero.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Output};
use std::time::{Duration, Instant, SystemTime};
use sutra_e2e::{Profile, bin, build_binaries, free_port_range, workspace_root};

use anyhow::{Context, Result, bail, ensure};
use sutra_api::proto::storage_client::StorageClient;
use sutra_api::proto::{GetRequest, SearchRequest, UpsertRequest, Vector};
use sutra_core::crd::{DEFAULT_IMAGE_REPOSITORY, DEFAULT_IMAGE_TAG, VectorSpec};
use sutra_grid::agent::DEFAULT_STOP_GRACE;
use sutra_grid::backend::docker::{
    DockerBackend, DockerNetwork, LABEL_GRID_NAME, LABEL_ROLE, NetworkSetting, PAUSE_PATH,
    ROLE_PAUSE, pause_name,
};
use sutra_grid::backend::{Backend, NodeSpec, probe};

const VARIANT: &str = "universal";
const NODES: u32 = 3;
const DIMENSION: u32 = 8;
/// How long a node may take to become ready before the test gives up on it.
const READY_LIMIT: Duration = Duration::from_secs(60);
const POLL_EVERY: Duration = Duration::from_millis(10);

fn main() -> ExitCode {
    if !docker_engine_answers() {
        println!("skipped: no Docker engine");
        return ExitCode::SUCCESS;
    }
    let result = build_image_if_stale().and_then(|image| {
        let runtime = tokio::runtime::Runtime::new().context("start a tokio runtime")?;
        runtime.block_on(run_all(&image))
    });
    match result {
        Ok(()) => {
            println!("1 passed, 0 failed");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("local docker e2e failed: {error:#}");
            println!("0 passed, 1 failed");
            ExitCode::FAILURE
        }
    }
}

async fn run_all(image: &str) -> Result<()> {
    let grid = format!("e2e-docker-{}", std::process::id());
    let _cleanup = GridCleanup(grid.clone());
    let backend = DockerBackend::connect(grid.as_str()).await?;
    missing_image_names_the_build_command(&backend, &grid).await?;
    grid_survives_crashes_and_down_purge_leaves_nothing(&backend, &grid, image).await?;
    agent_runs_a_docker_grid().await
}

async fn missing_image_names_the_build_command(backend: &DockerBackend, grid: &str) -> Result<()> {
    let mut spec = node_spec(
        grid,
        0,
        &format!("{DEFAULT_IMAGE_REPOSITORY}:0.0.0-missing-universal"),
    )?;
    spec.name = "never-started".to_owned();
    let error = backend
        .spawn(&spec)
        .await
        .err()
        .context("spawning a node of a missing image succeeded")?
        .to_string();
    ensure!(
        error.contains(&format!(
            "image {DEFAULT_IMAGE_REPOSITORY}:0.0.0-missing-universal not found locally; build it with scripts/build-image.sh universal 0.0.0-missing"
        )),
        "the missing-image error does not name the image and the build command: {error}"
    );
    ensure!(
        docker_lines(&[
            "ps",
            "-aq",
            "--filter",
            &format!("name=sutra-{grid}-never-started")
        ])?
        .is_empty(),
        "a container (node or pause) was left behind by the failed spawn"
    );
    Ok(())
}

async fn grid_survives_crashes_and_down_purge_leaves_nothing(
    backend: &DockerBackend,
    grid: &str,
    image: &str,
) -> Result<()> {
    let specs = (0..NODES)
        .map(|ordinal| node_spec(grid, ordinal, image))
        .collect::<Result<Vec<_>>>()?;

    let up = Instant::now();
    spawn_all(backend, &specs).await?;
    for spec in &specs {
        wait_answers(metrics_addr(spec)).await?;
    }
    println!(
        "figure: docker backend spawn -> ready, {NODES} nodes: {} ms",
        up.elapsed().as_millis()
    );
    for spec in &specs {
        wait_ready(backend, &spec.name, 0).await?;
    }
    for spec in &specs {
        ports_belong_to_the_pause_container(spec)?;
    }

    for spec in &specs {
        upsert_and_find(spec).await?;
        let logs = backend.logs(&spec.name, 20).await?;
        ensure!(
            logs.contains("sutra-storage listening"),
            "the logs of {} lack the listening line:\n{logs}",
            spec.name
        );
    }

    let after_agent_restart = DockerBackend::connect(grid).await?;
    let found: Vec<String> = after_agent_restart
        .list()
        .await?
        .into_iter()
        .map(|node| node.name)
        .collect();
    let expected: Vec<String> = specs.iter().map(|spec| spec.name.clone()).collect();
    ensure!(
        found == expected,
        "a new backend lists {found:?}, expected {expected:?}"
    );

    node_comes_back_with_its_data(backend, &specs[1], Kill::Server { network: "bridge" }).await?;
    let node = format!("sutra-{grid}-{}", specs[2].name);
    node_comes_back_with_its_data(backend, &specs[2], Kill::Container(&node)).await?;
    let pause = pause_name(grid, &specs[0].name);
    node_comes_back_with_its_data(backend, &specs[0], Kill::Container(&pause)).await?;
    ports_belong_to_the_pause_container(&specs[0])?;
    let backend = moved_to_the_host_network_keeps_its_data(backend, &specs[0]).await?;
    down_purge_leaves_nothing(&backend, grid, &specs).await
}

/// Stops a bridge-network node and spawns it again from a backend in the host network
/// (what `up --docker-network host` after a bridge run does): its pause container is
/// gone, the server runs in the host's network on the node's own ports with its data, and
/// a crash there is repaired by the engine. Returns that backend. Where the engine does
/// not share this machine's network the step says so and is skipped.
async fn moved_to_the_host_network_keeps_its_data(
    backend: &DockerBackend,
    spec: &NodeSpec,
) -> Result<DockerBackend> {
    let (network, reason) = backend.resolve_network(NetworkSetting::Auto).await?;
    if network != DockerNetwork::Host {
        println!("host network step skipped: {reason}");
        return Ok(backend.clone());
    }
    let mut host = backend.clone();
    host.set_network(DockerNetwork::Host);
    let before = backend.status(&spec.name).await?;
    host.stop(&spec.name, DEFAULT_STOP_GRACE).await?;
    let started = Instant::now();
    host.spawn(spec).await?;
    wait_answers(metrics_addr(spec)).await?;
    println!(
        "figure: docker backend spawn -> ready, 1 node, host network: {} ms",
        started.elapsed().as_millis()
    );
    wait_ready(&host, &spec.name, before.restarts + 1).await?;
    let pause = pause_name(&spec.grid, &spec.name);
    ensure!(
        docker_lines(&["ps", "-aq", "--filter", &format!("name=^/{pause}$")])?.is_empty(),
        "{pause} is left beside a node in the host network"
    );
    let node = format!("sutra-{}-{}", spec.grid, spec.name);
    let network = docker_lines(&["inspect", "--format", "{{.HostConfig.NetworkMode}}", &node])?;
    ensure!(
        network == ["host"],
        "{node} runs in network {network:?}, expected host"
    );
    vectors_still_there(spec).await?;
    node_comes_back_with_its_data(&host, spec, Kill::Server { network: "host" }).await?;
    Ok(host)
}

/// The pause container publishes the node's ports; the server container has none of its
/// own and runs in the pause container's network.
fn ports_belong_to_the_pause_container(spec: &NodeSpec) -> Result<()> {
    let pause = pause_name(&spec.grid, &spec.name);
    let published = docker_lines(&["port", &pause])?;
    for port in [spec.grpc_port, spec.metrics_port] {
        ensure!(
            published
                .iter()
                .any(|line| line.ends_with(&format!("127.0.0.1:{port}"))),
            "{pause} does not publish port {port}: {published:?}"
        );
    }
    let node = format!("sutra-{}-{}", spec.grid, spec.name);
    let network = docker_lines(&["inspect", "--format", "{{.HostConfig.NetworkMode}}", &node])?;
    let pause_id = docker_lines(&["inspect", "--format", "{{.Id}}", &pause])?;
    ensure!(
        network
            == pause_id
                .iter()
                .map(|id| format!("container:{id}"))
                .collect::<Vec<_>>(),
        "{node} runs in network {network:?}, expected its pause container's ({pause_id:?})"
    );
    Ok(())
}

/// Spawns the nodes concurrently, as the agent's `up` does: the engine creates and starts
/// containers in parallel.
async fn spawn_all(backend: &DockerBackend, specs: &[NodeSpec]) -> Result<()> {
    let mut spawning = tokio::task::JoinSet::new();
    for spec in specs {
        let (backend, spec) = (backend.clone(), spec.clone());
        spawning.spawn(async move { backend.spawn(&spec).await });
    }
    while let Some(spawned) = spawning.join_next().await {
        spawned.context("a spawn task panicked")??;
    }
    Ok(())
}

/// How a test takes a node down.
enum Kill<'a> {
    /// SIGKILL of the node's server on the host: the engine restarts it in `network` (named
    /// in the printed figure, the time from the kill to ready).
    Server { network: &'a str },
    /// `docker kill` of one of the node's containers (the server's, which Docker treats as
    /// stopped on purpose, or its pause container, which cuts the server off): the node
    /// counts as down until a spawn brings it back.
    Container(&'a str),
}

/// Takes the node down as `kill` says; it comes back with its vectors and the restart
/// counted.
async fn node_comes_back_with_its_data(
    backend: &DockerBackend,
    spec: &NodeSpec,
    kill: Kill<'_>,
) -> Result<()> {
    let before = backend.status(&spec.name).await?;
    let mut killed_pid = None;
    match kill {
        Kill::Server { network } => {
            let pid = before
                .pid
                .with_context(|| format!("node {} runs without a host pid", spec.name))?;
            let crash = Instant::now();
            run("kill", &["-KILL", &pid.to_string()])?;
            wait_down_then_ready(metrics_addr(spec)).await?;
            println!(
                "figure: docker crash (SIGKILL) -> ready again, {network} network: {} ms",
                crash.elapsed().as_millis()
            );
            killed_pid = Some(pid);
        }
        Kill::Container(container) => {
            run("docker", &["kill", container])?;
            ensure!(
                !backend.is_alive(&spec.name).await?,
                "node {} is alive right after docker kill {container}",
                spec.name
            );
            backend.spawn(spec).await?;
        }
    }
    let after = wait_ready(backend, &spec.name, before.restarts + 1).await?;
    ensure!(
        killed_pid.is_none() || after.pid != killed_pid,
        "node {} still reports the killed pid",
        spec.name
    );
    vectors_still_there(spec).await
}

async fn down_purge_leaves_nothing(
    backend: &DockerBackend,
    grid: &str,
    specs: &[NodeSpec],
) -> Result<()> {
    for spec in specs {
        backend.stop(&spec.name, DEFAULT_STOP_GRACE).await?;
        ensure!(
            !backend.is_alive(&spec.name).await?,
            "node {} runs after stop",
            spec.name
        );
        backend.remove(&spec.name, true).await?;
    }
    let (containers, volumes) = grid_leftovers(grid)?;
    ensure!(
        containers.is_empty(),
        "containers left after down --purge: {containers:?}"
    );
    ensure!(
        volumes.is_empty(),
        "volumes left after down --purge: {volumes:?}"
    );
    ensure!(
        backend.list().await?.is_empty(),
        "the backend still lists nodes"
    );
    Ok(())
}

/// The agent's own `up --backend docker --detach`, a crash under it, a deliberate stop it
/// repairs, and its `down --purge`.
async fn agent_runs_a_docker_grid() -> Result<()> {
    build_binaries(Profile::Debug);
    let grid = format!("e2e-agent-{}", std::process::id());
    let _cleanup = GridCleanup(grid.clone());
    let agent = Agent::new(&grid)?;

    let up = Instant::now();
    let output = agent.run(&[
        "up",
        "-f",
        agent.manifest.to_str().context("a UTF-8 temp path")?,
        "--backend",
        "docker",
        "--detach",
        "--port-base",
        &agent.port_base.to_string(),
        "--metrics-addr",
        &format!("127.0.0.1:{}", agent.metrics_port),
    ])?;
    let up_time = up.elapsed();
    let said = String::from_utf8_lossy(&output.stdout);
    // `auto` must pick what the engine allows, say so, and build the nodes that way.
    let (expected, _) = DockerBackend::connect(grid.as_str())
        .await?
        .resolve_network(NetworkSetting::Auto)
        .await?;
    ensure!(
        said.contains(&format!("docker network: {expected}")),
        "`agent up` does not report the {expected} network it should have chosen:\n{said}"
    );
    let pauses = docker_lines(&[
        "ps",
        "-aq",
        "--filter",
        &format!("label={LABEL_GRID_NAME}={grid}"),
        "--filter",
        &format!("label={LABEL_ROLE}={ROLE_PAUSE}"),
    ])?;
    let expected_pauses = match expected {
        DockerNetwork::Host => 0,
        DockerNetwork::Bridge => NODES as usize,
    };
    ensure!(
        pauses.len() == expected_pauses,
        "the agent's grid in the {expected} network has pause containers {pauses:?}"
    );
    let reported = said
        .lines()
        .find(|line| line.contains("nodes ready in"))
        .with_context(|| format!("`agent up` did not report the grid ready:\n{said}"))?;
    println!(
        "figure: docker agent up --detach -> {NODES} nodes ready, {expected} network: {} ms (the agent says: {reported})",
        up_time.as_millis()
    );

    let nodes = agent.status()?;
    ensure!(
        nodes.len() == NODES as usize,
        "agent status lists {nodes:?}"
    );
    let victim = &nodes[1];
    let metrics: SocketAddr = victim["metricsAddr"]
        .as_str()
        .context("a metrics address")?
        .parse()?;
    let pid = victim["pid"].as_u64().context("the node's host pid")?;
    let crash = Instant::now();
    run("kill", &["-KILL", &pid.to_string()])?;
    wait_down_then_ready(metrics).await?;
    println!(
        "figure: docker agent crash (SIGKILL) -> ready again: {} ms",
        crash.elapsed().as_millis()
    );

    let name = victim["name"].as_str().context("a node name")?;
    let stop = Instant::now();
    run("docker", &["kill", &format!("sutra-{grid}-{name}")])?;
    wait_down_then_ready(metrics).await?;
    println!(
        "figure: docker agent docker-kill -> respawned by the supervisor, ready: {} ms",
        stop.elapsed().as_millis()
    );
    let status = agent.status()?;
    let restarts = status[1]["restarts"].as_u64();
    ensure!(
        restarts >= Some(2),
        "node {name} counts {restarts:?} restarts after a crash and a respawn"
    );
    // As for a process node: RESTARTS says how the last run ended, though the engine
    // forgot the container that ran it.
    let last = &status[1]["lastTermination"];
    ensure!(
        last["reason"] == "Error" && last["exitCode"] == 137,
        "node {name} after `docker kill` and a respawn reports its last run as {last}"
    );

    agent.run(&["down"])?;
    let (containers, volumes) = grid_leftovers(&grid)?;
    ensure!(
        containers.is_empty() && volumes.len() == NODES as usize,
        "agent down left containers {containers:?} and volumes {volumes:?}, expected only the {NODES} data volumes"
    );

    let said = agent.run(&["down", "--purge"])?;
    let said = String::from_utf8_lossy(&said.stdout);
    ensure!(
        said.starts_with(&format!(
            "grid {grid}: stopped 0 nodes and deleted the Docker volumes"
        )),
        "agent down --purge after down says: {said}"
    );
    let (containers, volumes) = grid_leftovers(&grid)?;
    ensure!(
        containers.is_empty() && volumes.is_empty(),
        "agent down --purge after down left containers {containers:?} and volumes {volumes:?}"
    );
    let grid_dir = agent.state.path().join(&grid);
    ensure!(
        !grid_dir.exists(),
        "agent down --purge left {}",
        grid_dir.display()
    );
    Ok(())
}

/// Waits until the node stops answering `/readyz` (it may have already), then until it
/// answers again. A live server answers in well under the check's 20 ms, so a check that
/// gets no answer in time counts as down.
async fn wait_down_then_ready(metrics: SocketAddr) -> Result<()> {
    let deadline = Instant::now() + READY_LIMIT;
    let answers = |timeout| async move {
        matches!(
            probe::http_get(metrics, "/readyz", timeout).await,
            Ok((200, _))
        )
    };
    while answers(Duration::from_millis(20)).await {
        ensure!(Instant::now() < deadline, "{metrics} never went down");
        tokio::time::sleep(Duration::from_micros(500)).await;
    }
    wait_answers(metrics).await
}

/// Waits until the node at `metrics` answers `/readyz`, starting a check every
/// millisecond without waiting for the earlier ones: while a container starts, Docker's
/// port proxy may hold a connection for ~300 ms, which would otherwise add to the figure.
async fn wait_answers(metrics: SocketAddr) -> Result<()> {
    const IN_FLIGHT: usize = 16;
    let deadline = Instant::now() + READY_LIMIT;
    let mut checks = tokio::task::JoinSet::new();
    loop {
        if checks.len() < IN_FLIGHT {
            checks.spawn(probe::is_ready(metrics));
        }
        let next = tokio::time::timeout(Duration::from_millis(1), checks.join_next()).await;
        if let Ok(Some(Ok(true))) = next {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "{metrics} not ready within {READY_LIMIT:?}"
        );
    }
}

/// A grid run through the `sutra-grid agent` command line, with its own state directory
/// and ports; `down --purge` runs on drop, so a failed step leaves no supervisor behind.
struct Agent {
    state: tempfile::TempDir,
    manifest: PathBuf,
    port_base: u16,
    metrics_port: u16,
}

impl Agent {
    fn new(grid: &str) -> Result<Agent> {
        let state = tempfile::tempdir()?;
        let manifest = state.path().join("grid.yaml");
        std::fs::write(
            &manifest,
            format!(
                "apiVersion: grid.sutra.ai/v1alpha1\nkind: StorageGrid\nmetadata:\n  name: {grid}\n\
                 spec:\n  replicas: {NODES}\n  variant: {VARIANT}\n  vector:\n    dimension: {DIMENSION}\n\
                 \x20 resources:\n    limits:\n      memory: 256Mi\n"
            ),
        )?;
        let (port_base, metrics_port) = free_port_range(2 * NODES as u16 + 1);
        Ok(Agent {
            state,
            manifest,
            port_base,
            metrics_port,
        })
    }

    /// Runs `sutra-grid agent <args>`; fails with its output when it fails.
    fn run(&self, args: &[&str]) -> Result<Output> {
        let output = Command::new(bin(Profile::Debug, "sutra-grid"))
            .arg("agent")
            .args(args)
            .arg("--state-dir")
            .arg(self.state.path())
            .output()
            .context("run sutra-grid agent")?;
        ensure!(
            output.status.success(),
            "sutra-grid agent {} failed ({}):\nstdout:\n{}\nstderr:\n{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        Ok(output)
    }

    fn status(&self) -> Result<Vec<serde_json::Value>> {
        let output = self.run(&["status", "--output", "json"])?;
        Ok(serde_json::from_slice(&output.stdout)?)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.run(&["down", "--purge", "--grace", "2"]);
    }
}

/// Polls until the node is ready with at least `min_restarts` restarts counted.
async fn wait_ready(
    backend: &DockerBackend,
    name: &str,
    min_restarts: u32,
) -> Result<sutra_grid::backend::NodeStatus> {
    let deadline = Instant::now() + READY_LIMIT;
    loop {
        let status = backend.status(name).await?;
        if status.ready && status.restarts >= min_restarts {
            return Ok(status);
        }
        if Instant::now() > deadline {
            let logs = backend.logs(name, 30).await.unwrap_or_default();
            bail!("node {name} not ready within {READY_LIMIT:?}: {status:?}\nlogs:\n{logs}");
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// Two vectors per node with ids of its own; each must be its own best hit.
fn vectors_of(spec: &NodeSpec) -> Vec<Vector> {
    (0..2u64)
        .map(|index| {
            let id = u64::from(spec.ordinal) * 100 + index;
            let mut values = vec![0.0f32; DIMENSION as usize];
            values[(id as usize) % DIMENSION as usize] = 1.0;
            values[(id as usize + 3) % DIMENSION as usize] = 0.5;
            Vector {
                id,
                values,
                payload: Vec::new(),
                values_le: Vec::new(),
            }
        })
        .collect()
}

async fn client(spec: &NodeSpec) -> Result<StorageClient<tonic::transport::Channel>> {
    let addr = format!("http://127.0.0.1:{}", spec.grpc_port);
    StorageClient::connect(addr.clone())
        .await
        .with_context(|| format!("connect to node {} at {addr}", spec.name))
}

async fn upsert_and_find(spec: &NodeSpec) -> Result<()> {
    let mut client = client(spec).await?;
    let vectors = vectors_of(spec);
    let upserted = client
        .upsert(UpsertRequest {
            vectors: vectors.clone(),
        })
        .await?
        .into_inner()
        .upserted;
    ensure!(
        upserted == 2,
        "node {} upserted {upserted} of 2 vectors",
        spec.name
    );
    for vector in &vectors {
        let hits = client
            .search(SearchRequest {
                query: vector.values.clone(),
                k: 1,
                ..Default::default()
            })
            .await?
            .into_inner()
            .hits;
        let best = hits.first().map(|hit| hit.id);
        ensure!(
            best == Some(vector.id),
            "node {}: search for vector {} found {best:?}",
            spec.name,
            vector.id
        );
    }
    Ok(())
}

async fn vectors_still_there(spec: &NodeSpec) -> Result<()> {
    let expected = vectors_of(spec);
    let response = client(spec)
        .await?
        .get(GetRequest {
            ids: expected.iter().map(|vector| vector.id).collect(),
        })
        .await?
        .into_inner();
    ensure!(
        response.missing.is_empty(),
        "node {} lost vectors {:?} across the restart",
        spec.name,
        response.missing
    );
    let values: Vec<_> = response
        .vectors
        .iter()
        .map(|vector| &vector.values)
        .collect();
    let stored: Vec<_> = expected.iter().map(|vector| &vector.values).collect();
    ensure!(
        values == stored,
        "node {} returns other values after the restart",
        spec.name
    );
    Ok(())
}

fn node_spec(grid: &str, ordinal: u32, image: &str) -> Result<NodeSpec> {
    Ok(NodeSpec {
        grid: grid.to_owned(),
        name: format!("local-{ordinal}"),
        ordinal,
        variant: VARIANT.to_owned(),
        image: image.to_owned(),
        vector: VectorSpec::with_dimension(DIMENSION),
        grpc_port: free_port()?,
        metrics_port: free_port()?,
        // The Docker backend keeps data in a named volume, not in this directory.
        data_dir: PathBuf::new(),
        memory_limit: Some(256 * 1024 * 1024),
        variant_rules: None,
    })
}

fn metrics_addr(spec: &NodeSpec) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], spec.metrics_port))
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    Ok(listener.local_addr()?.port())
}

fn docker_engine_answers() -> bool {
    Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|output| output.status.success())
}

/// Builds the universal image unless it exists and is newer than both static binaries
/// (where `scripts/build-variant.sh` leaves them), so `make test`, whose `e2e-image` step
/// built it, does not build it again.
fn build_image_if_stale() -> Result<String> {
    let image = format!("{DEFAULT_IMAGE_REPOSITORY}:{DEFAULT_IMAGE_TAG}-{VARIANT}");
    let root = workspace_root();
    let arch = match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "amd64",
    };
    let binaries = root.join(format!("target/variants/bin/{arch}-{VARIANT}"));
    let mut fresh = true;
    for binary in ["sutra-storage", "sutra-pause"] {
        fresh &= image_is_newer_than(&image, &binaries.join(binary))?;
    }
    if fresh {
        return Ok(image);
    }
    let mut build = Command::new(root.join("scripts/build-image.sh"));
    // Cargo sets these for this test; a build script that watches one of them (ring's
    // does) would make the nested cargo rebuild what `make e2e-image` just built.
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let per_crate = name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_BIN_")
            || [
                "CARGO_MANIFEST_DIR",
                "CARGO_MANIFEST_PATH",
                "CARGO_CRATE_NAME",
            ]
            .contains(&name.as_ref())
            || ["CARGO_PRIMARY_PACKAGE", "CARGO_TARGET_TMPDIR"].contains(&name.as_ref());
        if per_crate {
            build.env_remove(name.as_ref());
        }
    }
    let status = build
        .arg(VARIANT)
        .current_dir(&root)
        .status()
        .context("run scripts/build-image.sh")?;
    ensure!(
        status.success(),
        "scripts/build-image.sh {VARIANT} failed ({status})"
    );
    Ok(image)
}

/// Whether `image` exists, holds the pause program (an image built before it does not)
/// and was built after `binary`.
fn image_is_newer_than(image: &str, binary: &Path) -> Result<bool> {
    let Ok(binary_time) = binary.metadata().and_then(|meta| meta.modified()) else {
        return Ok(false);
    };
    let format = "{{.Created}} {{index .Config.Labels \"ai.sutra.grid.pause\"}}";
    let inspected =
        docker_lines(&["image", "inspect", "--format", format, image]).unwrap_or_default();
    let Some((created, pause)) = inspected.first().and_then(|line| line.split_once(' ')) else {
        return Ok(false);
    };
    if pause != PAUSE_PATH {
        return Ok(false);
    }
    let created = chrono::DateTime::parse_from_rfc3339(created)
        .with_context(|| format!("image {image} has an unreadable creation time {created:?}"))?;
    Ok(SystemTime::from(created) >= binary_time)
}

fn run(program: &str, args: &[&str]) -> Result<()> {
    let output = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("run {program}"))?;
    ensure!(
        output.status.success(),
        "{program} {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

/// The containers and volumes that carry `grid`'s label.
fn grid_leftovers(grid: &str) -> Result<(Vec<String>, Vec<String>)> {
    let label = format!("label={LABEL_GRID_NAME}={grid}");
    Ok((
        docker_lines(&["ps", "-aq", "--filter", &label])?,
        docker_lines(&["volume", "ls", "-q", "--filter", &label])?,
    ))
}

fn docker_lines(args: &[&str]) -> Result<Vec<String>> {
    let output = Command::new("docker")
        .args(args)
        .output()
        .context("run docker")?;
    ensure!(
        output.status.success(),
        "docker {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .filter(|line| !line.is_empty())
        .collect())
}

/// Removes the grid's containers and volumes when the test ends, also after a failure.
struct GridCleanup(String);

impl Drop for GridCleanup {
    fn drop(&mut self) {
        let label = format!("label={LABEL_GRID_NAME}={}", self.0);
        if let Ok(containers) = docker_lines(&["ps", "-aq", "--filter", &label]) {
            for container in containers {
                let _ = run("docker", &["rm", "-f", &container]);
            }
        }
        if let Ok(volumes) = docker_lines(&["volume", "ls", "-q", "--filter", &label]) {
            for volume in volumes {
                let _ = run("docker", &["volume", "rm", "-f", &volume]);
            }
        }
    }
}
