//! The Docker backend: each storage node is a container of the `sutra-storage` image for
//! its variant, created through the Docker Engine API on the local socket (bollard).
//!
//! * Container `sutra-<grid>-<node>`, labels `sutra.grid=true`, `sutra.grid.name`,
//!   `sutra.node_id`, `sutra.variant`; named volume `sutra-<grid>-<node>-data` on `/data`;
//!   gRPC and metrics ports published on 127.0.0.1 at the node's ports; memory limit from
//!   the grid's resources.
//! * Crashes are the engine's to repair (restart policy `on-failure`), so nodes come back
//!   with the agent detached or gone; see [`container::create_body`].
//! * Nothing is remembered in the agent: every answer comes from the engine, and the
//!   containers of a grid are found again by the `sutra.grid.name` label.
//! * The node's data (`NodeSpec::data_dir` is for the process backend) lives in the named
//!   volume, which outlives its container until `remove(.., purge = true)`.

mod container;
mod engine;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::errors::Error as ApiError;
use bollard::models::{ContainerInspectResponse, VolumeCreateRequest};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, InspectContainerOptions, ListContainersOptionsBuilder,
    ListVolumesOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveVolumeOptions, StartContainerOptions, StopContainerOptionsBuilder,
};
use futures::TryStreamExt;

pub use container::{
    CONTAINER_GRPC_PORT, CONTAINER_METRICS_PORT, DATA_PATH, LABEL_GRID, LABEL_GRID_NAME,
    LABEL_NODE_ID, LABEL_VARIANT, container_name, volume_name,
};
pub use engine::{DEFAULT_SOCKET, DockerError, build_command, local_socket};

use self::container::Liveness;
use super::{Backend, BackendError, BackendResult, NodeHandle, NodeSpec, NodeStatus, probe};

/// Storage nodes of one grid as Docker containers.
#[derive(Debug, Clone)]
pub struct DockerBackend {
    docker: Docker,
    grid: String,
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
        })
    }

    pub fn grid(&self) -> &str {
        &self.grid
    }

    /// Fails with the command that builds `image` when the engine does not hold it: there
    /// is no registry to pull from, images are built locally.
    pub async fn ensure_image(&self, image: &str, variant: &str) -> BackendResult<()> {
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(()),
            Err(error) if is_not_found(&error) => Err(DockerError::ImageMissing {
                image: image.to_owned(),
                build_command: build_command(image, variant),
            }
            .into()),
            Err(error) => Err(api(format!("inspect image {image}"), error)),
        }
    }

    /// Names of the data volumes the grid holds, including those of removed containers.
    pub async fn volumes(&self) -> BackendResult<Vec<String>> {
        let options = ListVolumesOptionsBuilder::default()
            .filters(&self.grid_filter())
            .build();
        let listed = self
            .docker
            .list_volumes(Some(options))
            .await
            .map_err(|error| api(format!("list volumes of grid {}", self.grid), error))?;
        let mut names: Vec<String> = listed
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|volume| volume.name)
            .collect();
        names.sort();
        Ok(names)
    }

    /// Deletes every data volume of the grid whose container is gone: what `down --purge`
    /// must also clear after an earlier `down` removed the containers but kept the data.
    pub async fn purge_volumes(&self) -> BackendResult<()> {
        for volume in self.volumes().await? {
            self.remove_volume(&volume).await?;
        }
        Ok(())
    }

    fn grid_filter(&self) -> HashMap<&'static str, Vec<String>> {
        HashMap::from([("label", vec![format!("{LABEL_GRID_NAME}={}", self.grid)])])
    }

    fn container_name(&self, node: &str) -> String {
        container_name(&self.grid, node)
    }

    async fn inspect(&self, container: &str) -> BackendResult<Option<ContainerInspectResponse>> {
        match self
            .docker
            .inspect_container(container, None::<InspectContainerOptions>)
            .await
        {
            Ok(inspected) => Ok(Some(inspected)),
            Err(error) if is_not_found(&error) => Ok(None),
            Err(error) => Err(api(format!("inspect container {container}"), error)),
        }
    }

    async fn inspect_node(&self, node: &str) -> BackendResult<ContainerInspectResponse> {
        self.inspect(&self.container_name(node))
            .await?
            .ok_or_else(|| BackendError::UnknownNode {
                grid: self.grid.clone(),
                name: node.to_owned(),
            })
    }

    /// Removes the dead container a node left behind; returns the restarts to carry over
    /// into its successor, this replacement included.
    async fn replace_dead(&self, spec: &NodeSpec, container: &str) -> BackendResult<u32> {
        let Some(existing) = self.inspect(container).await? else {
            return Ok(0);
        };
        if Liveness::of(existing.state.as_ref()).is_alive() {
            return Err(BackendError::AlreadyRunning {
                name: spec.name.clone(),
                id: existing.id.unwrap_or_default(),
            });
        }
        self.remove_container(container).await?;
        Ok(container::restarts(&existing).saturating_add(1))
    }

    async fn create_volume(&self, spec: &NodeSpec) -> BackendResult<()> {
        let name = volume_name(&spec.grid, &spec.name);
        let request = VolumeCreateRequest {
            name: Some(name.clone()),
            labels: Some(container::volume_labels(&spec.grid, &spec.name)),
            ..Default::default()
        };
        // Creating an existing volume returns it unchanged: the data of an earlier run stays.
        self.docker
            .create_volume(request)
            .await
            .map(drop)
            .map_err(|error| api(format!("create volume {name}"), error))
    }

    async fn create_and_start(
        &self,
        spec: &NodeSpec,
        container: &str,
        prior_restarts: u32,
    ) -> BackendResult<String> {
        let options = CreateContainerOptionsBuilder::default()
            .name(container)
            .build();
        let created = self
            .docker
            .create_container(Some(options), container::create_body(spec, prior_restarts))
            .await
            .map_err(|error| api(format!("create container {container}"), error))?;
        if let Err(error) = self
            .docker
            .start_container(container, None::<StartContainerOptions>)
            .await
        {
            // A container that never started would block the next spawn under its name.
            self.remove_container(container).await?;
            return Err(start_error(spec, container, error));
        }
        Ok(created.id)
    }

    async fn remove_container(&self, container: &str) -> BackendResult<bool> {
        let options = RemoveContainerOptionsBuilder::default().force(true).build();
        match self.docker.remove_container(container, Some(options)).await {
            Ok(()) => Ok(true),
            Err(error) if is_not_found(&error) => Ok(false),
            Err(error) => Err(api(format!("remove container {container}"), error)),
        }
    }

    async fn remove_volume(&self, volume: &str) -> BackendResult<bool> {
        match self
            .docker
            .remove_volume(volume, None::<RemoveVolumeOptions>)
            .await
        {
            Ok(()) => Ok(true),
            Err(error) if is_not_found(&error) => Ok(false),
            Err(error) => Err(api(format!("remove volume {volume}"), error)),
        }
    }

    async fn volume_exists(&self, volume: &str) -> BackendResult<bool> {
        match self.docker.inspect_volume(volume).await {
            Ok(_) => Ok(true),
            Err(error) if is_not_found(&error) => Ok(false),
            Err(error) => Err(api(format!("inspect volume {volume}"), error)),
        }
    }

    /// The node's status from its container, with readiness and platform asked from the
    /// server itself while it runs.
    async fn status_of(&self, inspected: &ContainerInspectResponse) -> BackendResult<NodeStatus> {
        let name = container::label(inspected, LABEL_NODE_ID)
            .unwrap_or_default()
            .to_owned();
        let grpc_addr = self.published(inspected, &name, CONTAINER_GRPC_PORT)?;
        let metrics_addr = self.published(inspected, &name, CONTAINER_METRICS_PORT)?;
        let state = inspected.state.as_ref();
        let liveness = Liveness::of(state);
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
            name,
        })
    }

    fn published(
        &self,
        inspected: &ContainerInspectResponse,
        node: &str,
        port: u16,
    ) -> BackendResult<SocketAddr> {
        container::published_addr(inspected, port).ok_or_else(|| {
            DockerError::PortNotPublished {
                container: self.container_name(node),
                port,
            }
            .into()
        })
    }
}

impl Backend for DockerBackend {
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
        self.ensure_image(&spec.image, &spec.variant).await?;
        let container = self.container_name(&spec.name);
        let prior_restarts = self.replace_dead(spec, &container).await?;
        self.create_volume(spec).await?;
        let id = self
            .create_and_start(spec, &container, prior_restarts)
            .await?;
        Ok(NodeHandle {
            name: spec.name.clone(),
            id,
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], spec.grpc_port)),
            metrics_addr: SocketAddr::from(([127, 0, 0, 1], spec.metrics_port)),
        })
    }

    async fn stop(&self, name: &str, grace: Duration) -> BackendResult<()> {
        let container = self.container_name(name);
        let seconds = i32::try_from(grace.as_secs_f64().ceil() as u64).unwrap_or(i32::MAX);
        let options = StopContainerOptionsBuilder::default().t(seconds).build();
        match self.docker.stop_container(&container, Some(options)).await {
            Ok(()) => Ok(()),
            Err(error) if is_not_found(&error) => Ok(()),
            Err(error) => Err(api(format!("stop container {container}"), error)),
        }
    }

    async fn remove(&self, name: &str, purge: bool) -> BackendResult<()> {
        let removed_container = self.remove_container(&self.container_name(name)).await?;
        let volume = volume_name(&self.grid, name);
        let volume_known = if purge {
            self.remove_volume(&volume).await?
        } else {
            self.volume_exists(&volume).await?
        };
        if removed_container || volume_known {
            Ok(())
        } else {
            Err(BackendError::UnknownNode {
                grid: self.grid.clone(),
                name: name.to_owned(),
            })
        }
    }

    /// A node without a container is not alive (not an error): the agent may spawn it again.
    async fn is_alive(&self, name: &str) -> BackendResult<bool> {
        Ok(self
            .inspect(&self.container_name(name))
            .await?
            .is_some_and(|inspected| Liveness::of(inspected.state.as_ref()).is_alive()))
    }

    async fn status(&self, name: &str) -> BackendResult<NodeStatus> {
        let inspected = self.inspect_node(name).await?;
        self.status_of(&inspected).await
    }

    async fn list(&self) -> BackendResult<Vec<NodeStatus>> {
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&self.grid_filter())
            .build();
        let containers = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|error| api(format!("list containers of grid {}", self.grid), error))?;
        let mut nodes = Vec::with_capacity(containers.len());
        for summary in containers {
            let Some(id) = summary.id else { continue };
            // A container removed between list and inspect is simply no longer a node.
            if let Some(inspected) = self.inspect(&id).await? {
                nodes.push(self.status_of(&inspected).await?);
            }
        }
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(nodes)
    }

    async fn logs(&self, name: &str, tail_lines: usize) -> BackendResult<String> {
        let container = self.inspect_node(name).await?.id.unwrap_or_default();
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
}

fn is_not_found(error: &ApiError) -> bool {
    matches!(
        error,
        ApiError::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

fn api(action: String, source: ApiError) -> BackendError {
    DockerError::Api { action, source }.into()
}

/// A start that failed on a taken host port becomes [`BackendError::PortInUse`], which says
/// how to pick other ports.
fn start_error(spec: &NodeSpec, container: &str, error: ApiError) -> BackendError {
    let message = error.to_string();
    let port_taken =
        message.contains("port is already allocated") || message.contains("address already in use");
    if !port_taken {
        return api(format!("start container {container}"), error);
    }
    let (purpose, port) = if message.contains(&format!(":{}", spec.metrics_port)) {
        ("metrics", spec.metrics_port)
    } else {
        ("gRPC", spec.grpc_port)
    };
    BackendError::PortInUse {
        node: spec.name.clone(),
        purpose,
        port,
    }
}
