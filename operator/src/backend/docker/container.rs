//! What a storage node's containers look like, as pure functions of its [`NodeSpec`]:
//! names, labels, the `serve` command, ports, memory and restart policy; and the way back,
//! from an inspected container to the node's phase, ports and restart count.
//!
//! In the bridge network a node is two containers, like a Kubernetes Pod: the pause
//! container (`sutra-<grid>-<node>-pause`, running `/sutra-pause` from the same image) owns
//! the network namespace and the published ports; the node container runs `sutra-storage`
//! in that namespace. A crashed server is restarted without tearing down and setting up its
//! network again, which is most of the cost of a container start on Docker.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use sutra_core::serve::ServeCommand;

use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerState, ContainerStateStatusEnum,
    HostConfig, Mount, MountTmpfsOptions, MountType, PortBinding, PortMap, RestartPolicy,
    RestartPolicyNameEnum,
};
use chrono::{DateTime, Utc};
use sutra_core::crd::NodePhase;

use super::super::{NodeSpec, Termination, TerminationReason};
use super::network::DockerNetwork;

/// Every container and volume the agent creates carries this label with value `true`.
pub const LABEL_GRID: &str = "sutra.grid";
/// The grid a container or volume belongs to; `list` filters on it after an agent restart.
pub const LABEL_GRID_NAME: &str = "sutra.grid.name";
/// The node name within its grid.
pub const LABEL_NODE_ID: &str = "sutra.node_id";
/// The image variant the container runs.
pub const LABEL_VARIANT: &str = "sutra.variant";
/// Restarts of earlier containers of this node, carried over when the agent recreates it
/// (the engine's own `RestartCount` starts again at zero in each new container).
pub const LABEL_PRIOR_RESTARTS: &str = "sutra.restarts";
/// How the node's previous container ended (a [`Termination`] as JSON), carried over when
/// the agent recreates it, so RESTARTS says how the last run ended as it does for process
/// nodes.
pub const LABEL_PRIOR_TERMINATION: &str = "sutra.last_termination";

/// The host ports of the node's gRPC and metrics servers (published by its pause
/// container), kept on the node container so its addresses are known without the pause.
pub const LABEL_GRPC_PORT: &str = "sutra.grpc_port";
pub const LABEL_METRICS_PORT: &str = "sutra.metrics_port";
/// What a container is to its node: [`ROLE_NODE`] or [`ROLE_PAUSE`].
pub const LABEL_ROLE: &str = "sutra.role";
/// The container running `sutra-storage`.
pub const ROLE_NODE: &str = "node";
/// The container holding the node's network namespace and published ports.
pub const ROLE_PAUSE: &str = "pause";

/// Where the image keeps its data volume and the ports its server listens on.
pub const DATA_PATH: &str = "/data";
pub const CONTAINER_GRPC_PORT: u16 = 50051;
pub const CONTAINER_METRICS_PORT: u16 = 9090;
/// The pause program in the image (built by `scripts/build-image.sh` from `pause/`).
pub const PAUSE_PATH: &str = "/sutra-pause";

/// Size of the tmpfs on the pause container's unused `/data`.
const PAUSE_TMPFS_BYTES: i64 = 64 * 1024;

/// Published ports bind to loopback only: the local agent's nodes serve this host.
const HOST_IP: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// What a node's new container carries over from the one it replaces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Carried {
    pub restarts: u32,
    pub last_termination: Option<Termination>,
}

impl Carried {
    /// Carried over from `dead`, whose own end counts as one more restart.
    pub fn from_dead(dead: &ContainerInspectResponse) -> Carried {
        Carried {
            restarts: restarts(dead).saturating_add(1),
            last_termination: last_termination(dead),
        }
    }
}

/// `sutra-<grid>-<node>`, e.g. `sutra-demo-local-0`: the node container.
pub fn container_name(grid: &str, node: &str) -> String {
    format!("sutra-{grid}-{node}")
}

/// `sutra-<grid>-<node>-pause`: the container holding the node's network.
pub fn pause_name(grid: &str, node: &str) -> String {
    format!("{}-pause", container_name(grid, node))
}

/// `sutra-<grid>-<node>-data`: survives container removal until `down --purge`.
pub fn volume_name(grid: &str, node: &str) -> String {
    format!("{}-data", container_name(grid, node))
}

/// Labels of a node's volume: enough to find every volume of a grid.
pub fn volume_labels(grid: &str, node: &str) -> HashMap<String, String> {
    HashMap::from([
        (LABEL_GRID.to_owned(), "true".to_owned()),
        (LABEL_GRID_NAME.to_owned(), grid.to_owned()),
        (LABEL_NODE_ID.to_owned(), node.to_owned()),
    ])
}

/// Labels of a node container: the volume's plus role, variant, host ports and what it
/// carries over from its predecessor.
pub fn container_labels(spec: &NodeSpec, carried: &Carried) -> HashMap<String, String> {
    let mut labels = volume_labels(&spec.grid, &spec.name);
    labels.extend([
        (LABEL_ROLE.to_owned(), ROLE_NODE.to_owned()),
        (LABEL_VARIANT.to_owned(), spec.variant.clone()),
        (LABEL_GRPC_PORT.to_owned(), spec.grpc_port.to_string()),
        (LABEL_METRICS_PORT.to_owned(), spec.metrics_port.to_string()),
        (
            LABEL_PRIOR_RESTARTS.to_owned(),
            carried.restarts.to_string(),
        ),
    ]);
    if let Some(termination) = &carried.last_termination {
        let json = serde_json::to_string(termination).expect("a termination serialises");
        labels.insert(LABEL_PRIOR_TERMINATION.to_owned(), json);
    }
    labels
}

/// Labels of a node's pause container: the volume's plus its role.
pub fn pause_labels(spec: &NodeSpec) -> HashMap<String, String> {
    let mut labels = volume_labels(&spec.grid, &spec.name);
    labels.insert(LABEL_ROLE.to_owned(), ROLE_PAUSE.to_owned());
    labels
}

/// Arguments after the image's entrypoint: `sutra-storage serve ...`.
///
/// In the bridge network the server listens on the fixed container ports on all interfaces
/// of its namespace, so the pause container's published ports reach it; in the host
/// network it listens on the node's own ports on loopback, as a process-backend node does.
pub fn serve_command(spec: &NodeSpec, network: DockerNetwork) -> Vec<String> {
    let (grpc_addr, metrics_addr) = match network {
        DockerNetwork::Bridge => (
            format!("0.0.0.0:{CONTAINER_GRPC_PORT}"),
            format!("0.0.0.0:{CONTAINER_METRICS_PORT}"),
        ),
        DockerNetwork::Host => (
            SocketAddr::from((HOST_IP, spec.grpc_port)).to_string(),
            SocketAddr::from((HOST_IP, spec.metrics_port)).to_string(),
        ),
    };
    ServeCommand {
        data_dir: DATA_PATH,
        vector: &spec.vector,
        grpc_addr,
        metrics_addr,
        variant: Some(&spec.variant),
        variant_rules: spec
            .variant_rules
            .is_some()
            .then_some(CONTAINER_VARIANT_RULES),
    }
    .args()
}

fn tcp(port: u16) -> String {
    format!("{port}/tcp")
}

fn published(host_port: u16) -> Option<Vec<PortBinding>> {
    Some(vec![PortBinding {
        host_ip: Some(HOST_IP.to_string()),
        host_port: Some(host_port.to_string()),
    }])
}

/// The create request of a node's pause container: `/sutra-pause` from the node's image,
/// publishing the node's gRPC and metrics ports on loopback.
///
/// No restart policy: a new pause container means a new network namespace, which the node
/// container (joined to the old one) cannot follow; the agent replaces both instead. A
/// small tmpfs covers the image's `VOLUME /data`, which would otherwise cost an anonymous
/// volume per pause container.
pub fn pause_body(spec: &NodeSpec) -> ContainerCreateBody {
    let port_bindings: PortMap = HashMap::from([
        (tcp(CONTAINER_GRPC_PORT), published(spec.grpc_port)),
        (tcp(CONTAINER_METRICS_PORT), published(spec.metrics_port)),
    ]);
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        entrypoint: Some(vec![PAUSE_PATH.to_owned()]),
        labels: Some(pause_labels(spec)),
        exposed_ports: Some(vec![tcp(CONTAINER_GRPC_PORT), tcp(CONTAINER_METRICS_PORT)]),
        host_config: Some(HostConfig {
            port_bindings: Some(port_bindings),
            mounts: Some(vec![Mount {
                target: Some(DATA_PATH.to_owned()),
                typ: Some(MountType::TMPFS),
                tmpfs_options: Some(MountTmpfsOptions {
                    size_bytes: Some(PAUSE_TMPFS_BYTES),
                    ..Default::default()
                }),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The create request of a node container: in the network of its pause container
/// ([`DockerNetwork::Bridge`]) or in the host's ([`DockerNetwork::Host`]).
///
/// Restart policy `on-failure`: the engine restarts a crashed server itself, 100 ms after
/// the crash and without the agent running (`up --detach`); in either network that restart
/// costs a process start, not a network set-up. A container the user stops or `docker
/// kill`s counts as stopped on purpose in Docker's rules and stays down until the agent
/// spawns it again.
pub fn create_body(
    spec: &NodeSpec,
    carried: &Carried,
    network: DockerNetwork,
) -> ContainerCreateBody {
    let network_mode = match network {
        DockerNetwork::Bridge => format!("container:{}", pause_name(&spec.grid, &spec.name)),
        DockerNetwork::Host => "host".to_owned(),
    };
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        cmd: Some(serve_command(spec, network)),
        labels: Some(container_labels(spec, carried)),
        host_config: Some(HostConfig {
            network_mode: Some(network_mode),
            mounts: Some(node_mounts(spec)),
            memory: spec.memory_limit.map(saturating_i64),
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::ON_FAILURE),
                maximum_retry_count: None,
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Where a node container finds the agent's variant rules (bind-mounted read-only).
pub const CONTAINER_VARIANT_RULES: &str = "/etc/sutra-storage/variants.yaml";

/// The node's data volume and, when the agent has its own rules, that file.
fn node_mounts(spec: &NodeSpec) -> Vec<Mount> {
    let data = Mount {
        target: Some(DATA_PATH.to_owned()),
        source: Some(volume_name(&spec.grid, &spec.name)),
        typ: Some(MountType::VOLUME),
        ..Default::default()
    };
    let rules = spec.variant_rules.as_ref().map(|path| Mount {
        target: Some(CONTAINER_VARIANT_RULES.to_owned()),
        source: Some(path.display().to_string()),
        typ: Some(MountType::BIND),
        read_only: Some(true),
        ..Default::default()
    });
    std::iter::once(data).chain(rules).collect()
}

/// The container whose network a node container joined (`container:<name>`), if any.
pub fn network_container(container: &ContainerInspectResponse) -> Option<&str> {
    container
        .host_config
        .as_ref()?
        .network_mode
        .as_deref()?
        .strip_prefix("container:")
}

/// Whether `reference` (a name, as the agent writes it, or an id, as the engine reports a
/// joined network) denotes the inspected container.
pub fn is_named(container: &ContainerInspectResponse, reference: &str) -> bool {
    container.id.as_deref() == Some(reference)
        || container
            .name
            .as_deref()
            .is_some_and(|name| name.trim_start_matches('/') == reference)
}

/// Whether a pause container publishes the node's ports as `spec` wants them.
pub fn publishes(pause: &ContainerInspectResponse, spec: &NodeSpec) -> bool {
    published_addr(pause, CONTAINER_GRPC_PORT) == Some(SocketAddr::from((HOST_IP, spec.grpc_port)))
        && published_addr(pause, CONTAINER_METRICS_PORT)
            == Some(SocketAddr::from((HOST_IP, spec.metrics_port)))
}

fn saturating_i64(bytes: u64) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}

/// The engine state of a container, reduced to what the agent decides on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// Created, not started yet: `spawn` is between creating and starting it.
    Created,
    /// Exited: nothing runs, and the engine will not start it by itself.
    Down,
    /// The server process runs (or is paused).
    Running,
    /// The server crashed and the engine is about to start it again.
    Restarting,
}

impl Liveness {
    pub fn of(state: Option<&ContainerState>) -> Liveness {
        let Some(state) = state else {
            return Liveness::Down;
        };
        if state.restarting == Some(true) {
            return Liveness::Restarting;
        }
        match state.status {
            Some(ContainerStateStatusEnum::RUNNING | ContainerStateStatusEnum::PAUSED) => {
                Liveness::Running
            }
            Some(ContainerStateStatusEnum::RESTARTING) => Liveness::Restarting,
            Some(ContainerStateStatusEnum::CREATED) => Liveness::Created,
            _ if state.running == Some(true) => Liveness::Running,
            _ => Liveness::Down,
        }
    }

    /// A restarting container counts as alive: the engine brings it back, and a second
    /// start by the agent would race it.
    pub fn is_alive(self) -> bool {
        matches!(self, Liveness::Running | Liveness::Restarting)
    }

    /// The node phase before readiness is known; a running container becomes `Ready`
    /// once the server answers `/readyz`.
    pub fn phase(self, ready: bool) -> NodePhase {
        match self {
            Liveness::Running if ready => NodePhase::Ready,
            Liveness::Running => NodePhase::Running,
            Liveness::Created | Liveness::Restarting => NodePhase::Scheduled,
            Liveness::Down => NodePhase::Failed,
        }
    }
}

/// Restarts of this node so far: those of earlier containers (label) plus the engine's
/// restarts of the current one.
pub fn restarts(container: &ContainerInspectResponse) -> u32 {
    let prior = label(container, LABEL_PRIOR_RESTARTS)
        .and_then(|value| value.parse::<u32>().ok())
        .unwrap_or(0);
    let engine = container
        .restart_count
        .and_then(|count| u32::try_from(count).ok())
        .unwrap_or(0);
    prior.saturating_add(engine)
}

pub fn label<'a>(container: &'a ContainerInspectResponse, key: &str) -> Option<&'a str> {
    container
        .config
        .as_ref()?
        .labels
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

/// The loopback address a container port is published on, from the container's own
/// configuration (present whether or not it runs).
pub fn published_addr(
    container: &ContainerInspectResponse,
    container_port: u16,
) -> Option<SocketAddr> {
    let bindings = container.host_config.as_ref()?.port_bindings.as_ref()?;
    let binding = bindings.get(&tcp(container_port))?.as_ref()?.first()?;
    let port = binding.host_port.as_deref()?.parse::<u16>().ok()?;
    Some(SocketAddr::from((HOST_IP, port)))
}

/// The loopback address of a node container's server on `container_port`: from its port
/// labels, or else from its own published ports (a container that owns its network).
pub fn node_addr(container: &ContainerInspectResponse, container_port: u16) -> Option<SocketAddr> {
    let key = match container_port {
        CONTAINER_GRPC_PORT => LABEL_GRPC_PORT,
        CONTAINER_METRICS_PORT => LABEL_METRICS_PORT,
        _ => return published_addr(container, container_port),
    };
    label(container, key)
        .and_then(|port| port.parse::<u16>().ok())
        .map(|port| SocketAddr::from((HOST_IP, port)))
        .or_else(|| published_addr(container, container_port))
}

/// When the current run started; the engine reports `0001-01-01T00:00:00Z` for a container
/// that never ran.
pub fn started_at(state: Option<&ContainerState>) -> Option<DateTime<Utc>> {
    let started = DateTime::parse_from_rfc3339(state?.started_at.as_deref()?).ok()?;
    (started.timestamp() > 0).then(|| started.with_timezone(&Utc))
}

/// How the node's last run ended: this container's, else the one its predecessor carried
/// over.
pub fn last_termination(container: &ContainerInspectResponse) -> Option<Termination> {
    engine_termination(container).or_else(|| {
        label(container, LABEL_PRIOR_TERMINATION).and_then(|json| serde_json::from_str(json).ok())
    })
}

/// How this container's last run ended, as the engine reports it. Once the engine has
/// restarted the container (restart policy `on-failure`: only after a failed run) it keeps
/// when that run ended but no longer its exit code.
fn engine_termination(container: &ContainerInspectResponse) -> Option<Termination> {
    let state = container.state.as_ref()?;
    let finished_at = DateTime::parse_from_rfc3339(state.finished_at.as_deref()?).ok()?;
    if finished_at.timestamp() <= 0 {
        return None;
    }
    if state.running == Some(true) && state.restarting != Some(true) {
        let restarted = container.restart_count.is_some_and(|count| count > 0);
        return restarted.then(|| Termination {
            reason: TerminationReason::Error,
            message: "failed; the engine restarted it".to_owned(),
            exit_code: None,
            finished_at: finished_at.with_timezone(&Utc),
        });
    }
    let exit_code = state.exit_code.and_then(|code| i32::try_from(code).ok());
    let (reason, message) = if state.oom_killed == Some(true) {
        (
            TerminationReason::OomKilled,
            "killed by the kernel over the container's memory limit".to_owned(),
        )
    } else {
        let code = exit_code.map_or_else(|| "?".to_owned(), |code| code.to_string());
        let reason = if exit_code == Some(0) {
            TerminationReason::Completed
        } else {
            TerminationReason::Error
        };
        (reason, format!("exited with code {code}"))
    };
    Some(Termination {
        reason,
        message,
        exit_code,
        finished_at: finished_at.with_timezone(&Utc),
    })
}

/// The host pid of the container's init process, while one runs.
pub fn host_pid(state: Option<&ContainerState>) -> Option<u32> {
    state?
        .pid
        .and_then(|pid| u32::try_from(pid).ok())
        .filter(|pid| *pid > 0)
}

#[cfg(test)]
mod tests;
