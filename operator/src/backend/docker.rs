//! The Docker backend: each storage node is a container of the `sutra-storage` image for
//! its variant, created through the Docker Engine API on the local socket (bollard).
//!
//! * The node container `sutra-<grid>-<node>` runs `sutra-storage serve` with the named
//!   volume `sutra-<grid>-<node>-data` on `/data` and the grid's memory limit. Labels
//!   `sutra.grid=true`, `sutra.grid.name`, `sutra.node_id`, `sutra.role`, `sutra.variant`.
//! * Its network is one of two ([`network`], chosen at `up` and kept in the agent record):
//!   - **host** (where the engine runs on this machine's kernel, rootful): the server binds
//!     the node's ports on 127.0.0.1 in the host's namespace; a node is one container and
//!     a start sets up no network and no port proxy;
//!   - **bridge** (Docker Desktop, VMs, rootless engines): a node is two containers, like a
//!     Kubernetes Pod: `sutra-<grid>-<node>-pause` runs `/sutra-pause` from the same image,
//!     owns the network namespace and publishes the gRPC and metrics ports on 127.0.0.1;
//!     the server runs in that namespace.
//! * Crashes are the engine's to repair (restart policy `on-failure` on the node container),
//!   so nodes come back with the agent detached or gone; a restart never sets up a network
//!   again (the host's, or the pause container's). See [`container::create_body`].
//! * Nothing is remembered in the agent: every answer comes from the engine, and the
//!   containers of a grid are found again by the `sutra.grid.name` label.
//! * The node's data (`NodeSpec::data_dir` is for the process backend) lives in the named
//!   volume, which outlives its container until `remove(.., purge = true)`.

mod container;
mod engine;
pub mod network;
mod requests;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::models::ContainerInspectResponse;
use bollard::query_parameters::{EventsOptionsBuilder, LogsOptionsBuilder};
use futures::{StreamExt, TryStreamExt};

pub use container::{
    CONTAINER_GRPC_PORT, CONTAINER_METRICS_PORT, DATA_PATH, LABEL_GRID, LABEL_GRID_NAME,
    LABEL_NODE_ID, LABEL_ROLE, LABEL_VARIANT, PAUSE_PATH, ROLE_NODE, ROLE_PAUSE, container_name,
    pause_name, volume_name,
};
pub use engine::{DEFAULT_SOCKET, DockerError, build_command, local_socket};
pub use network::{DockerNetwork, NetworkSetting};

use self::container::{Carried, Liveness};
use self::engine::api;
use super::{
    Backend, BackendError, BackendResult, ExitFeed, NodeHandle, NodeSpec, NodeStatus,
    check_node_ports, probe,
};
use crate::host::loopback;

/// Storage nodes of one grid as Docker containers.
#[derive(Debug, Clone)]
pub struct DockerBackend {
    docker: Docker,
    grid: String,
    /// The network new node containers get; existing ones keep theirs.
    network: DockerNetwork,
}

/// A node container as inspected, with the pause container whose network it runs in.
struct Node {
    container: ContainerInspectResponse,
    pause: Option<ContainerInspectResponse>,
}

impl Node {
    /// Whether the server runs (or the engine is restarting it) in a network that is up.
    /// A node container that owns its network itself needs no pause container.
    fn liveness(&self) -> Liveness {
        let network_up = match container::network_container(&self.container) {
            None => true,
            Some(network) => self.pause.as_ref().is_some_and(|pause| {
                container::is_named(pause, network)
                    && Liveness::of(pause.state.as_ref()) == Liveness::Running
            }),
        };
        if network_up {
            Liveness::of(self.container.state.as_ref())
        } else {
            Liveness::Down
        }
    }
}

impl DockerBackend {
    /// Connects to the local engine ([`local_socket`]) for the nodes of `grid`; fails
    /// with a message naming the socket when the engine does not answer.
    pub async fn connect(grid: impl Into<String>) -> BackendResult<DockerBackend> {
        DockerBackend::connect_at(&local_socket(), grid).await
    }

    /// Connects to the engine listening on `socket`, a `unix://` address.
    pub async fn connect_at(socket: &str, grid: impl Into<String>) -> BackendResult<DockerBackend> {
        Ok(DockerBackend {
            docker: engine::connect(socket).await?,
            grid: grid.into(),
            network: DockerNetwork::default(),
        })
    }

    pub fn grid(&self) -> &str {
        &self.grid
    }

    /// The network new node containers get.
    pub fn network(&self) -> DockerNetwork {
        self.network
    }

    /// Puts nodes spawned from now on in `network`.
    pub fn set_network(&mut self, network: DockerNetwork) {
        self.network = network;
    }

    /// The network `setting` means with this engine, and why ([`network::choose`]); asks
    /// the engine what it runs on (`GET /info`).
    pub async fn resolve_network(
        &self,
        setting: NetworkSetting,
    ) -> BackendResult<(DockerNetwork, String)> {
        if setting == NetworkSetting::Bridge {
            return Ok(network::choose(
                setting,
                &network::EngineHost::default(),
                None,
            ));
        }
        let info = self.docker.info().await.map_err(|error| {
            api(
                "ask the engine what it runs on (GET /info)".to_owned(),
                error,
            )
        })?;
        let engine = network::EngineHost {
            os_type: info.os_type.unwrap_or_default(),
            kernel_version: info.kernel_version.unwrap_or_default(),
            operating_system: info.operating_system.unwrap_or_default(),
            security_options: info.security_options.unwrap_or_default(),
        };
        Ok(network::choose(
            setting,
            &engine,
            network::local_kernel().as_deref(),
        ))
    }

    /// The node's status from its containers, with readiness and platform asked from the
    /// server itself while it runs.
    async fn status_of(&self, node: &Node) -> BackendResult<NodeStatus> {
        let inspected = &node.container;
        let name = container::label(inspected, LABEL_NODE_ID)
            .unwrap_or_default()
            .to_owned();
        let grpc_addr = self.published(inspected, &name, CONTAINER_GRPC_PORT)?;
        let metrics_addr = self.published(inspected, &name, CONTAINER_METRICS_PORT)?;
        let state = inspected.state.as_ref();
        let liveness = node.liveness();
        let ready = liveness == Liveness::Running && probe::is_ready(metrics_addr).await;
        let platform = if ready {
            probe::platform(grpc_addr).await.ok()
        } else {
            None
        };
        Ok(NodeStatus {
            variant: container::label(inspected, LABEL_VARIANT)
                .unwrap_or_default()
                .to_owned(),
            phase: liveness.phase(ready),
            ready,
            platform,
            started_at: container::started_at(state),
            restarts: container::restarts(inspected),
            grpc_addr,
            metrics_addr,
            pid: container::host_pid(state),
            last_termination: container::last_termination(inspected),
            name,
        })
    }

    fn published(
        &self,
        inspected: &ContainerInspectResponse,
        node: &str,
        port: u16,
    ) -> BackendResult<SocketAddr> {
        container::node_addr(inspected, port).ok_or_else(|| {
            DockerError::PortNotPublished {
                container: self.container_name(node),
                port,
            }
            .into()
        })
    }
}

impl Backend for DockerBackend {
    /// Starts the node container. In the host network it is the node's only container (a
    /// pause container left from a bridge run is removed); in the bridge network it runs in
    /// a running pause container that publishes the node's ports, (re)created only when
    /// there is none, it stopped, or it publishes other ports.
    async fn spawn(&self, spec: &NodeSpec) -> BackendResult<NodeHandle> {
        if spec.grid != self.grid {
            return Err(BackendError::Engine {
                backend: "docker",
                message: format!(
                    "node {} belongs to grid {:?}, this backend serves grid {:?}",
                    spec.name, spec.grid, self.grid
                ),
            });
        }
        let name = self.container_name(&spec.name);
        let (existing, pause) = self.inspect_pair(&spec.name).await?;
        let pause_serves = pause.as_ref().is_some_and(|pause| {
            Liveness::of(pause.state.as_ref()) == Liveness::Running
                && container::publishes(pause, spec)
        });
        let mut carried = Carried::default();
        if let Some(existing) = existing {
            let node = Node {
                container: existing,
                pause: pause.clone(),
            };
            if node.liveness().is_alive() {
                return Err(BackendError::AlreadyRunning {
                    name: spec.name.clone(),
                    id: node.container.id.unwrap_or_default(),
                });
            }
            // The dead container's restarts carry over into its successor, this one included.
            self.remove_container(&name).await?;
            carried = Carried::from_dead(&node.container);
        }
        let host = self.network == DockerNetwork::Host;
        if pause.is_some() && (host || !pause_serves) {
            self.remove_container(&self.pause_name(&spec.name)).await?;
        }
        if host {
            // A taken port would only show as a server that fails to bind, again and
            // again under the restart policy: refuse it here, naming the port.
            check_node_ports(spec)?;
        }
        let new_pause = !host && !pause_serves;
        let id = self
            .create_node_containers(spec, &carried, new_pause)
            .await?;
        if let Err(error) = self.start(spec, &name).await {
            // Containers that never served would block the next spawn under their names.
            self.remove_node_containers(&spec.name).await?;
            return Err(error);
        }
        Ok(NodeHandle {
            name: spec.name.clone(),
            id,
            grpc_addr: loopback(spec.grpc_port),
            metrics_addr: loopback(spec.metrics_port),
        })
    }

    /// Stops the server, then its pause container (bridge network), which frees the
    /// published ports.
    async fn stop(&self, name: &str, grace: Duration) -> BackendResult<()> {
        self.stop_container(&self.container_name(name), grace)
            .await?;
        self.stop_container(&self.pause_name(name), grace).await
    }

    async fn remove(&self, name: &str, purge: bool) -> BackendResult<()> {
        let removed_containers = self.remove_node_containers(name).await?;
        let volume = volume_name(&self.grid, name);
        let volume_known = if purge {
            self.remove_volume(&volume).await?
        } else {
            self.volume_exists(&volume).await?
        };
        if removed_containers || volume_known {
            Ok(())
        } else {
            Err(BackendError::UnknownNode {
                grid: self.grid.clone(),
                name: name.to_owned(),
            })
        }
    }

    /// A node without a container is not alive (not an error): the agent may spawn it again.
    /// Neither is one whose pause container stopped: its server is cut off from the host.
    async fn is_alive(&self, name: &str) -> BackendResult<bool> {
        Ok(match self.inspect_pair(name).await? {
            (Some(container), pause) => Node { container, pause }.liveness().is_alive(),
            (None, _) => false,
        })
    }

    async fn status(&self, name: &str) -> BackendResult<NodeStatus> {
        let node = self.inspect_node(name).await?;
        self.status_of(&node).await
    }

    async fn list(&self) -> BackendResult<Vec<NodeStatus>> {
        let containers = self.grid_containers().await?;
        let inspections = futures::future::join_all(
            containers
                .iter()
                .filter_map(|summary| summary.id.as_deref())
                .map(|id| self.inspect(id)),
        )
        .await;
        // A container removed between list and inspect is simply no longer there.
        let mut nodes = Vec::new();
        let mut pauses = Vec::new();
        for inspected in inspections.into_iter().filter_map(Result::transpose) {
            let inspected = inspected?;
            if container::label(&inspected, LABEL_ROLE) == Some(ROLE_PAUSE) {
                pauses.push(inspected);
            } else {
                nodes.push(inspected);
            }
        }
        let nodes: Vec<Node> = nodes
            .into_iter()
            .map(|container| Node {
                pause: container::network_container(&container).and_then(|network| {
                    pauses
                        .iter()
                        .find(|pause| container::is_named(pause, network))
                        .cloned()
                }),
                container,
            })
            .collect();
        let mut statuses =
            futures::future::try_join_all(nodes.iter().map(|node| self.status_of(node))).await?;
        statuses.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(statuses)
    }

    async fn logs(&self, name: &str, tail_lines: usize) -> BackendResult<String> {
        let container = self.container_name(name);
        if self.inspect(&container).await?.is_none() {
            return Err(BackendError::UnknownNode {
                grid: self.grid.clone(),
                name: name.to_owned(),
            });
        }
        let options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .tail(&tail_lines.to_string())
            .build();
        let chunks: Vec<LogOutput> = self
            .docker
            .logs(&container, Some(options))
            .try_collect()
            .await
            .map_err(|error| api(format!("read the logs of node {name}"), error))?;
        Ok(chunks.iter().map(ToString::to_string).collect())
    }

    /// The engine's `die` events of the grid's containers (node and pause), as node names,
    /// from the moment of this call: the supervisor learns of a stopped node at once
    /// instead of asking the engine about every node many times a second.
    fn exits(&self) -> Option<ExitFeed> {
        let (sender, feed) = tokio::sync::mpsc::unbounded_channel();
        let since = chrono::Utc::now().timestamp().to_string();
        let filters = HashMap::from([
            ("type", vec!["container".to_owned()]),
            ("event", vec!["die".to_owned()]),
            ("label", vec![format!("{LABEL_GRID_NAME}={}", self.grid)]),
        ]);
        let options = EventsOptionsBuilder::default()
            .since(&since)
            .filters(&filters)
            .build();
        let docker = self.docker.clone();
        tokio::spawn(async move {
            let mut events = std::pin::pin!(docker.events(Some(options)));
            // The feed ends with the stream (engine restart, lost socket); the supervisor
            // then goes back to polling.
            while let Some(Ok(event)) = events.next().await {
                let node = event
                    .actor
                    .and_then(|actor| actor.attributes)
                    .and_then(|mut attributes| attributes.remove(LABEL_NODE_ID));
                if let Some(node) = node
                    && sender.send(node).is_err()
                {
                    return;
                }
            }
        });
        Some(feed)
    }
}
