//! The engine requests of the Docker backend, one method each: containers and volumes
//! created, started, inspected, stopped and removed. A missing object is an answer
//! (`None`, `false`), not an error; every error names what was being done.

use std::collections::HashMap;
use std::time::Duration;

use bollard::errors::Error as ApiError;
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerSummary, VolumeCreateRequest,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, InspectContainerOptions, ListContainersOptionsBuilder,
    ListVolumesOptionsBuilder, RemoveContainerOptionsBuilder, RemoveVolumeOptions,
    StartContainerOptions, StopContainerOptionsBuilder,
};

use super::container::{
    self, Carried, LABEL_GRID_NAME, PAUSE_PATH, container_name, pause_name, volume_name,
};
use super::engine::{DockerError, api, build_command, is_not_found};
use super::{DockerBackend, Node};
use crate::backend::{BackendError, BackendResult, NodeSpec};

impl DockerBackend {
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

    /// Deletes every container and data volume that carries the grid's label, whether or
    /// not a node of it is known: what `down --purge` must also clear after an earlier
    /// `down` removed the containers but kept the volumes.
    pub async fn purge_leftovers(&self) -> BackendResult<()> {
        let containers = self.grid_containers().await?;
        for id in containers
            .iter()
            .filter_map(|summary| summary.id.as_deref())
        {
            self.remove_container(id).await?;
        }
        for volume in self.volumes().await? {
            self.remove_volume(&volume).await?;
        }
        Ok(())
    }

    /// Every container (node and pause, running or not) with the grid's label.
    pub(super) async fn grid_containers(&self) -> BackendResult<Vec<ContainerSummary>> {
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&self.grid_filter())
            .build();
        self.docker
            .list_containers(Some(options))
            .await
            .map_err(|error| api(format!("list containers of grid {}", self.grid), error))
    }

    fn grid_filter(&self) -> HashMap<&'static str, Vec<String>> {
        HashMap::from([("label", vec![format!("{LABEL_GRID_NAME}={}", self.grid)])])
    }

    pub(super) fn container_name(&self, node: &str) -> String {
        container_name(&self.grid, node)
    }

    pub(super) fn pause_name(&self, node: &str) -> String {
        pause_name(&self.grid, node)
    }

    pub(super) async fn inspect(
        &self,
        container: &str,
    ) -> BackendResult<Option<ContainerInspectResponse>> {
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

    /// The node container and its pause container, both asked at once.
    pub(super) async fn inspect_pair(
        &self,
        node: &str,
    ) -> BackendResult<(
        Option<ContainerInspectResponse>,
        Option<ContainerInspectResponse>,
    )> {
        let (container, pause) = (self.container_name(node), self.pause_name(node));
        let (container, pause) = tokio::join!(self.inspect(&container), self.inspect(&pause));
        Ok((container?, pause?))
    }

    pub(super) async fn inspect_node(&self, node: &str) -> BackendResult<Node> {
        match self.inspect_pair(node).await? {
            (Some(container), pause) => Ok(Node { container, pause }),
            (None, _) => Err(BackendError::UnknownNode {
                grid: self.grid.clone(),
                name: node.to_owned(),
            }),
        }
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

    /// Creates a container; a missing image is reported with the command that builds it,
    /// since there is no registry to pull from.
    async fn create(
        &self,
        spec: &NodeSpec,
        name: &str,
        body: ContainerCreateBody,
    ) -> BackendResult<String> {
        let options = CreateContainerOptionsBuilder::default().name(name).build();
        match self.docker.create_container(Some(options), body).await {
            Ok(created) => Ok(created.id),
            Err(error) if is_not_found(&error) => Err(DockerError::ImageMissing {
                image: spec.image.clone(),
                build_command: build_command(&spec.image, &spec.variant),
            }
            .into()),
            Err(error) => Err(api(format!("create container {name}"), error)),
        }
    }

    pub(super) async fn start(&self, spec: &NodeSpec, name: &str) -> BackendResult<()> {
        self.docker
            .start_container(name, None::<StartContainerOptions>)
            .await
            .map_err(|error| start_error(spec, name, error))
    }

    /// Creates the node's volume and container, in the network of a new pause container
    /// when `new_pause` (else in the host's or that of the running one); returns the node
    /// container's id.
    pub(super) async fn create_node_containers(
        &self,
        spec: &NodeSpec,
        carried: &Carried,
        new_pause: bool,
    ) -> BackendResult<String> {
        if new_pause {
            return self.create_pause_and_node(spec, carried).await;
        }
        self.create_volume(spec).await?;
        self.create_node(spec, carried).await
    }

    /// Creates the pause container and starts it while the volume and the node container
    /// are created; returns the node container's id. On failure nothing of the node is left
    /// but its volume.
    async fn create_pause_and_node(
        &self,
        spec: &NodeSpec,
        carried: &Carried,
    ) -> BackendResult<String> {
        let pause = self.pause_name(&spec.name);
        self.create(spec, &pause, container::pause_body(spec))
            .await?;
        let (started, created) = tokio::join!(self.start(spec, &pause), async {
            self.create_volume(spec).await?;
            self.create_node(spec, carried).await
        });
        match started.and(created) {
            Ok(id) => Ok(id),
            Err(error) => {
                self.remove_node_containers(&spec.name).await?;
                Err(error)
            }
        }
    }

    /// Removes the node container and its pause container, whichever exist; returns
    /// whether any did.
    pub(super) async fn remove_node_containers(&self, node: &str) -> BackendResult<bool> {
        let removed_container = self.remove_container(&self.container_name(node)).await?;
        let removed_pause = self.remove_container(&self.pause_name(node)).await?;
        Ok(removed_container || removed_pause)
    }

    async fn create_node(&self, spec: &NodeSpec, carried: &Carried) -> BackendResult<String> {
        let name = self.container_name(&spec.name);
        let body = container::create_body(spec, carried, self.network);
        self.create(spec, &name, body).await
    }

    /// Removes a container, running or not, with its anonymous volumes (never the node's
    /// named data volume).
    pub(super) async fn remove_container(&self, container: &str) -> BackendResult<bool> {
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        match self.docker.remove_container(container, Some(options)).await {
            Ok(()) => Ok(true),
            Err(error) if is_not_found(&error) => Ok(false),
            Err(error) => Err(api(format!("remove container {container}"), error)),
        }
    }

    pub(super) async fn stop_container(
        &self,
        container: &str,
        grace: Duration,
    ) -> BackendResult<()> {
        let seconds = i32::try_from(grace.as_secs_f64().ceil() as u64).unwrap_or(i32::MAX);
        let options = StopContainerOptionsBuilder::default().t(seconds).build();
        match self.docker.stop_container(container, Some(options)).await {
            Ok(()) => Ok(()),
            Err(error) if is_not_found(&error) => Ok(()),
            Err(error) => Err(api(format!("stop container {container}"), error)),
        }
    }

    pub(super) async fn remove_volume(&self, volume: &str) -> BackendResult<bool> {
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

    pub(super) async fn volume_exists(&self, volume: &str) -> BackendResult<bool> {
        match self.docker.inspect_volume(volume).await {
            Ok(_) => Ok(true),
            Err(error) if is_not_found(&error) => Ok(false),
            Err(error) => Err(api(format!("inspect volume {volume}"), error)),
        }
    }
}

/// A start that failed on a taken host port becomes [`BackendError::PortInUse`], which says
/// how to pick other ports; an image without the pause program says how to rebuild it.
fn start_error(spec: &NodeSpec, container: &str, error: ApiError) -> BackendError {
    let message = error.to_string();
    if message.contains(PAUSE_PATH) && message.contains("no such file") {
        return DockerError::PauseMissing {
            image: spec.image.clone(),
            build_command: build_command(&spec.image, &spec.variant),
        }
        .into();
    }
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
