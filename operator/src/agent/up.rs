//! `agent up` and `agent supervise`: check the manifest, plan the grid on this host, start
//! the nodes, show them coming up, then supervise in the foreground or in a detached
//! background process.

use std::fs::OpenOptions;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sutra_core::plan::ExistingNode;
use sutra_core::platform::detect;
use sutra_core::signal::shutdown_signal;
use sutra_core::variant::VariantRules;

use super::backends::{AgentBackend, open_backend};
use super::config::UpSettings;
use super::error::{AgentError, AgentResult};
use super::grid::{grid_name, load_grid, local_host, node_specs, plan_local};
use super::log::log_line;
use super::metrics;
use super::progress::wait_until_ready;
use super::record::{AgentRecord, DataRecord};
use super::supervisor::{start_nodes, stop_all, stop_changed, supervise};
use super::words::{agent_command, nodes};
use crate::backend::{Backend, NodeSpec, check_node_ports};
use crate::host::{ProcessId, last_lines};
use crate::state_dir::GridDir;

/// What `agent up` was asked to do.
#[derive(Debug, Clone)]
pub struct UpRequest {
    pub manifest: PathBuf,
    pub settings: UpSettings,
    /// Supervise from a background process and return once the grid is ready.
    pub detach: bool,
}

/// Runs `agent up`. Every check that can fail on the user's input runs before anything is
/// created on disk or started.
pub async fn up(request: &UpRequest) -> AgentResult<()> {
    let started = Instant::now();
    let settings = &request.settings;
    let grid = load_grid(&request.manifest)?;
    let name = grid_name(&grid).to_owned();
    let mut backend = open_backend(
        settings.backend,
        &settings.state_dir,
        &name,
        settings.storage_bin.as_deref(),
        true,
    )
    .await?;
    let docker_network = backend
        .choose_docker_network(settings.docker_network)
        .await?;
    let dir = GridDir::new(&settings.state_dir, &name);
    let previous = AgentRecord::load(&dir)?;
    if let Some(supervisor) = previous.as_ref().and_then(AgentRecord::live_supervisor) {
        return Err(AgentError::AlreadyRunning {
            status: agent_command("status", &settings.state_dir, &name),
            down: agent_command("down", &settings.state_dir, &name),
            grid: name,
            pid: supervisor.pid,
        });
    }
    let host = local_host(&detect());
    let running = backend.list().await?;
    let existing: Vec<ExistingNode> = running
        .iter()
        .map(|node| ExistingNode {
            name: node.name.clone(),
            ordinal: ordinal_of(&name, &node.name),
            host: Some(host.name.clone()),
        })
        .collect();
    let rules = VariantRules::load(settings.variant_rules.as_deref())?;
    let plan = plan_local(&grid, &host, &existing, &rules.catalog)?;
    let mut nodes = node_specs(
        &grid,
        &plan,
        &dir,
        settings.port_base,
        settings.variant_rules.as_deref(),
    )?;
    let built = backend.built_variant()?;
    let running_names: Vec<&str> = running
        .iter()
        .filter(|node| node.pid.is_some())
        .map(|node| node.name.as_str())
        .collect();
    check_ports(&nodes, &running_names, settings)?;
    for node in &plan.nodes {
        log_line(&format!(
            "{} planned with variant {}: {}",
            node.name, node.variant, node.reason
        ));
    }
    if let Some(built) = built {
        log_line(&format!(
            "the process backend runs {} on every node, built as variant {built}",
            backend
                .storage_bin()
                .unwrap_or(Path::new("sutra-storage"))
                .display()
        ));
        for node in &mut nodes {
            node.variant.clone_from(&built);
        }
    }

    DataRecord::add(&dir, settings.backend)?;
    for removed in &plan.remove {
        backend.stop(removed, settings.stop_grace).await?;
        backend.remove(removed, false).await?;
    }
    let record = AgentRecord {
        grid: name,
        backend: settings.backend,
        docker_network,
        supervisor: None,
        detached: request.detach,
        metrics_addr: settings.metrics_addr,
        storage_bin: backend.storage_bin().map(Path::to_path_buf),
        host: host.name.clone(),
        stop_grace_seconds: settings.stop_grace.as_secs(),
        nodes,
    };
    let previous_nodes = previous.map(|record| record.nodes).unwrap_or_default();
    stop_changed(
        &backend,
        &record.nodes,
        &previous_nodes,
        settings.stop_grace,
    )
    .await?;
    let launch = Launch {
        backend,
        record,
        dir: &dir,
        settings,
        started,
    };
    if request.detach {
        launch.detached().await
    } else {
        launch.foreground().await
    }
}

/// A planned grid whose changed nodes are stopped, ready to start in the foreground or
/// under a detached supervisor.
struct Launch<'a> {
    backend: AgentBackend,
    record: AgentRecord,
    dir: &'a GridDir,
    settings: &'a UpSettings,
    started: Instant,
}

/// `<grid>-<n>` → n; anything else → -1, which the planner removes.
fn ordinal_of(grid: &str, node: &str) -> i32 {
    node.strip_prefix(grid)
        .and_then(|rest| rest.strip_prefix('-'))
        .and_then(|ordinal| ordinal.parse().ok())
        .unwrap_or(-1)
}

/// Every port a new node needs is free, and so is the agent's metrics address.
fn check_ports(nodes: &[NodeSpec], running: &[&str], settings: &UpSettings) -> AgentResult<()> {
    for node in nodes
        .iter()
        .filter(|node| !running.contains(&node.name.as_str()))
    {
        check_node_ports(node)?;
    }
    std::net::TcpListener::bind(settings.metrics_addr)
        .map(drop)
        .map_err(|source| AgentError::MetricsAddr {
            addr: settings.metrics_addr,
            source,
        })
}

impl Launch<'_> {
    /// Supervises the grid in this process until Ctrl-C or SIGTERM, then stops it.
    async fn foreground(self) -> AgentResult<()> {
        let (dir, settings) = (self.dir, self.settings);
        let mut record = self.record;
        record.supervisor = Some(ProcessId::current());
        record.save(dir)?;
        let backend = Arc::new(self.backend);
        let server = metrics::start_server(record.metrics_addr, Arc::clone(&backend)).await?;
        let result = match start_nodes(&*backend, &record.nodes).await {
            Ok(()) => supervise_until_signal(&*backend, &record, settings, self.started).await,
            Err(error) => Err(error),
        };
        server.abort();
        let stopped = stop_all(&*backend, settings.stop_grace, false).await;
        AgentRecord::remove(dir)?;
        let _ = std::fs::remove_file(dir.lock_file());
        result?;
        stopped?;
        println!(
            "grid {} stopped; data kept in {} (`{}` deletes it)",
            record.grid,
            backend.data_location(),
            agent_command("down --purge", &settings.state_dir, &record.grid)
        );
        Ok(())
    }

    /// Hands the grid to a supervisor in the background and returns once it is ready.
    async fn detached(self) -> AgentResult<()> {
        let (backend, dir, settings) = (self.backend, self.dir, self.settings);
        let mut record = self.record;
        record.save(dir)?;
        let log = dir.agent_log();
        let mut child = spawn_supervisor(&settings.state_dir, &record.grid, &log)?;
        record.supervisor = Some(ProcessId::of(child.id()));
        record.save(dir)?;
        let still_supervised = || match child.try_wait() {
            Ok(None) => Ok(()),
            _ => Err(AgentError::SupervisorDied {
                log: log.clone(),
                tail: last_lines(&std::fs::read_to_string(&log).unwrap_or_default(), 20),
            }),
        };
        let ready = wait_until_ready(
            &backend,
            &record.nodes,
            settings.ready_timeout,
            still_supervised,
        )
        .await;
        if let Err(error) = ready {
            if let Some(supervisor) = record.supervisor {
                let _ = supervisor.signal(libc::SIGTERM);
            }
            let _ = child.wait();
            let _ = stop_all(&backend, settings.stop_grace, false).await;
            AgentRecord::remove(dir)?;
            return Err(error);
        }
        print_ready(&record, self.started.elapsed());
        println!(
            "supervisor pid {} runs in the background (log {}); stop with `{}`",
            child.id(),
            log.display(),
            agent_command("down", &settings.state_dir, &record.grid)
        );
        Ok(())
    }
}

/// Restarts crashed nodes from the moment they are started, while the display waits for
/// them to become ready and then until Ctrl-C or SIGTERM.
async fn supervise_until_signal<B: Backend>(
    backend: &B,
    record: &AgentRecord,
    settings: &UpSettings,
    started: Instant,
) -> AgentResult<()> {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let supervision = supervise(backend, &record.nodes, async {
        let _ = stop_rx.await;
    });
    let main = async {
        let ready =
            wait_until_ready(backend, &record.nodes, settings.ready_timeout, || Ok(())).await;
        if ready.is_ok() {
            print_ready(record, started.elapsed());
            println!("supervising in the foreground; Ctrl-C stops the grid (data is kept)");
            shutdown_signal().await;
            log_line("stopping the grid");
        }
        let _ = stop_tx.send(());
        ready
    };
    let ((), ready) = tokio::join!(supervision, main);
    ready.map(drop)
}

fn print_ready(record: &AgentRecord, elapsed: Duration) {
    println!(
        "grid {}: {} ready in {} ms; metrics on http://{}/metrics",
        record.grid,
        nodes(record.nodes.len()),
        elapsed.as_millis(),
        record.metrics_addr
    );
    if let Some(first) = record.nodes.first() {
        println!(
            "try: grpcurl -plaintext 127.0.0.1:{} sutra.storage.v1.Storage/Stats",
            first.grpc_port
        );
    }
}

/// Re-executes this binary as `sutra-grid agent supervise` in a new session, so it survives
/// the terminal that started it; its output goes to `log`.
fn spawn_supervisor(state_dir: &Path, grid: &str, log: &Path) -> AgentResult<Child> {
    let exe = std::env::current_exe()
        .map_err(|error| AgentError::io("finding the sutra-grid executable", error))?;
    std::fs::create_dir_all(log.parent().expect("a log file has a directory"))
        .map_err(|error| AgentError::io(format!("creating {}", log.display()), error))?;
    let open = || {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|error| AgentError::io(format!("opening {}", log.display()), error))
    };
    let mut command = Command::new(exe);
    command
        .args(["agent", "supervise", "--grid", grid, "--state-dir"])
        .arg(state_dir)
        .stdin(Stdio::null())
        .stdout(open()?)
        .stderr(open()?);
    // SAFETY: setsid(2) is async-signal-safe and touches no memory of the parent; it only
    // makes the child the leader of a new session, detached from our terminal.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command
        .spawn()
        .map_err(|error| AgentError::io("starting the background supervisor", error))
}

/// Runs `agent supervise`: the background half of `up --detach`. Starts the recorded
/// nodes, serves metrics and restarts crashed nodes until SIGTERM, then exits and leaves
/// the nodes running for `down` to stop.
pub async fn supervise_detached(state_dir: &Path, grid: &str) -> AgentResult<()> {
    let dir = GridDir::new(state_dir, grid);
    let record = AgentRecord::load(&dir)?.ok_or_else(|| {
        AgentError::NoGrid(format!(
            "grid {grid} has no agent record under {}; start it with `sutra-grid agent up`",
            dir.root().display()
        ))
    })?;
    let mut backend = open_backend(
        record.backend,
        state_dir,
        grid,
        record.storage_bin.as_deref(),
        true,
    )
    .await?;
    backend.use_docker_network(record.docker_network.unwrap_or_default());
    let backend = Arc::new(backend);
    let server = metrics::start_server(record.metrics_addr, Arc::clone(&backend)).await?;
    start_nodes(&*backend, &record.nodes).await?;
    log_line(&format!(
        "supervising {} of grid {grid}",
        nodes(record.nodes.len())
    ));
    supervise(&*backend, &record.nodes, shutdown_signal()).await;
    log_line(&format!(
        "supervisor stopping; nodes keep running until `{}`",
        agent_command("down", state_dir, grid)
    ));
    server.abort();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinals_come_from_the_node_name() {
        assert_eq!(ordinal_of("local", "local-2"), 2);
        assert_eq!(ordinal_of("local", "other-2"), -1);
        assert_eq!(ordinal_of("local", "local-x"), -1);
    }
}
