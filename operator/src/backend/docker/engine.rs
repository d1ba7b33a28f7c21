//! Reaching the Docker engine: the local socket, the API version both sides speak, and the
//! errors that tell the user what to do when the engine or an image is missing.

use std::path::Path;
use std::time::Duration;

use bollard::errors::Error as ApiError;
use bollard::{API_DEFAULT_VERSION, ClientVersion, Docker};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use super::super::BackendError;

/// Where the engine listens unless `DOCKER_HOST` names another unix socket.
pub const DEFAULT_SOCKET: &str = "unix:///var/run/docker.sock";
/// Seconds one engine request may take; `stop` adds the node's grace period to it.
const REQUEST_TIMEOUT_SECS: u64 = 120;
/// How long the first contact may take before the engine counts as unreachable.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the Docker backend cannot do its work.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error(
        "Docker daemon unreachable at {socket}: {cause}; start Docker or use --backend process"
    )]
    DaemonUnreachable { socket: String, cause: String },
    #[error("image {image} not found locally; build it with {build_command}")]
    ImageMissing {
        image: String,
        build_command: String,
    },
    #[error(
        "image {image} has no {pause} (it was built before the Docker backend ran a pause container per node); rebuild it with {build_command}",
        pause = super::PAUSE_PATH
    )]
    PauseMissing {
        image: String,
        build_command: String,
    },
    #[error(
        "container {container} does not publish port {port}/tcp; it was not created by sutra-grid, remove it with `docker rm -f {container}`"
    )]
    PortNotPublished { container: String, port: u16 },
    #[error("{action}: {source}")]
    Api {
        action: String,
        #[source]
        source: bollard::errors::Error,
    },
}

impl From<DockerError> for BackendError {
    fn from(error: DockerError) -> BackendError {
        BackendError::Engine {
            backend: "docker",
            message: error.to_string(),
        }
    }
}

/// Whether the engine answered that the object does not exist.
pub fn is_not_found(error: &ApiError) -> bool {
    matches!(
        error,
        ApiError::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// A failed engine request as a backend error naming what was being done.
pub fn api(action: String, source: ApiError) -> BackendError {
    DockerError::Api { action, source }.into()
}

/// The engine socket: `DOCKER_HOST` when it is a `unix://` address (as the docker CLI and
/// bollard read it), the standard socket otherwise.
pub fn local_socket() -> String {
    socket_from(std::env::var("DOCKER_HOST").ok().as_deref())
}

fn socket_from(docker_host: Option<&str>) -> String {
    match docker_host {
        Some(host) if host.starts_with("unix://") => host.to_owned(),
        _ => DEFAULT_SOCKET.to_owned(),
    }
}

/// Connects to the engine at `socket` (`unix:///...`) at the newest API version both bollard and the engine
/// support.
///
/// The version is asked on the unversioned `/version` path first: bollard prefixes every
/// request with its own version (1.53), which an older engine (Docker 20.10 speaks 1.41)
/// rejects as "too new" even for `/version`, so bollard's own negotiation cannot start.
/// That first request doubles as the reachability check.
pub async fn connect(socket: &str) -> Result<Docker, DockerError> {
    let unreachable = |cause: String| DockerError::DaemonUnreachable {
        socket: socket.to_owned(),
        cause,
    };
    let path = socket.trim_start_matches("unix://");
    let server_version = tokio::time::timeout(PROBE_TIMEOUT, server_api_version(Path::new(path)))
        .await
        .map_err(|_| unreachable(format!("no answer within {PROBE_TIMEOUT:?}")))?
        .map_err(unreachable)?;
    let version = common_api_version(&server_version).map_err(unreachable)?;
    Docker::connect_with_local(socket, REQUEST_TIMEOUT_SECS, &version)
        .map_err(|error| unreachable(error.to_string()))
}

/// The engine's `ApiVersion` from `GET /version`, over a plain HTTP/1.0 exchange.
async fn server_api_version(socket: &Path) -> Result<String, String> {
    let mut stream = UnixStream::connect(socket)
        .await
        .map_err(|error| error.to_string())?;
    stream
        .write_all(b"GET /version HTTP/1.0\r\nHost: docker\r\n\r\n")
        .await
        .map_err(|error| error.to_string())?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .await
        .map_err(|error| error.to_string())?;
    api_version_of(&String::from_utf8_lossy(&response))
}

fn api_version_of(response: &str) -> Result<String, String> {
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body)
        .ok_or("the engine's /version answer is not HTTP")?;
    let version: serde_json::Value = serde_json::from_str(body)
        .map_err(|error| format!("the engine's /version answer is not JSON: {error}"))?;
    version["ApiVersion"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("the engine's /version answer has no ApiVersion: {body}"))
}

/// The lower of the engine's API version and bollard's.
fn common_api_version(server: &str) -> Result<ClientVersion, String> {
    let parsed = server
        .split_once('.')
        .and_then(|(major, minor)| Some((major.parse().ok()?, minor.parse().ok()?)))
        .ok_or_else(|| format!("engine API version {server:?} is not <major>.<minor>"))?;
    let ours = (
        API_DEFAULT_VERSION.major_version,
        API_DEFAULT_VERSION.minor_version,
    );
    let (major_version, minor_version) = parsed.min(ours);
    Ok(ClientVersion {
        major_version,
        minor_version,
    })
}

/// The command that builds a missing image: `scripts/build-image.sh <variant> [<tag>]`,
/// with `IMAGE_REPOSITORY=...` in front when the repository is not the default one.
pub fn build_command(image: &str, variant: &str) -> String {
    let (repository, tag) = image.rsplit_once(':').unwrap_or((image, ""));
    let base_tag = tag.strip_suffix(&format!("-{variant}")).unwrap_or(tag);
    let mut command = String::new();
    if repository != sutra_core::crd::DEFAULT_IMAGE_REPOSITORY {
        command.push_str(&format!("IMAGE_REPOSITORY={repository} "));
    }
    command.push_str(&format!("scripts/build-image.sh {variant}"));
    if base_tag != sutra_core::crd::DEFAULT_IMAGE_TAG {
        command.push_str(&format!(" {base_tag}"));
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_honours_a_unix_docker_host_only() {
        assert_eq!(socket_from(None), DEFAULT_SOCKET);
        assert_eq!(
            socket_from(Some("unix:///run/user/1000/docker.sock")),
            "unix:///run/user/1000/docker.sock"
        );
        assert_eq!(socket_from(Some("tcp://10.0.0.1:2375")), DEFAULT_SOCKET);
    }

    #[test]
    fn reads_api_version_from_the_version_answer() {
        let response = "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{\"Version\":\"20.10.24\",\"ApiVersion\":\"1.41\"}";
        assert_eq!(api_version_of(response).unwrap(), "1.41");
        assert!(
            api_version_of("HTTP/1.0 200 OK\r\n\r\n{}")
                .unwrap_err()
                .contains("no ApiVersion")
        );
        assert!(api_version_of("garbage").unwrap_err().contains("not HTTP"));
    }

    #[test]
    fn api_version_is_the_lower_of_both_sides() {
        let older = common_api_version("1.41").unwrap();
        assert_eq!((older.major_version, older.minor_version), (1, 41));
        let newer = common_api_version("1.99").unwrap();
        assert_eq!(
            (newer.major_version, newer.minor_version),
            (
                API_DEFAULT_VERSION.major_version,
                API_DEFAULT_VERSION.minor_version
            )
        );
        assert!(
            common_api_version("one")
                .unwrap_err()
                .contains("not <major>.<minor>")
        );
    }

    #[test]
    fn build_command_names_variant_and_only_non_default_parts() {
        assert_eq!(
            build_command(
                "ghcr.io/sutra-ai/sutra-storage:0.1.0-x86-64-v3",
                "x86-64-v3"
            ),
            "scripts/build-image.sh x86-64-v3"
        );
        assert_eq!(
            build_command(
                "ghcr.io/sutra-ai/sutra-storage:nightly-universal",
                "universal"
            ),
            "scripts/build-image.sh universal nightly"
        );
        assert_eq!(
            build_command(
                "registry.example.com/sutra-storage:0.1.0-graviton3",
                "graviton3"
            ),
            "IMAGE_REPOSITORY=registry.example.com/sutra-storage scripts/build-image.sh graviton3"
        );
    }

    #[test]
    fn messages_say_what_to_do() {
        let unreachable = DockerError::DaemonUnreachable {
            socket: DEFAULT_SOCKET.to_owned(),
            cause: "No such file or directory (os error 2)".to_owned(),
        };
        assert_eq!(
            unreachable.to_string(),
            "Docker daemon unreachable at unix:///var/run/docker.sock: No such file or directory (os error 2); start Docker or use --backend process"
        );
        let missing = DockerError::ImageMissing {
            image: "ghcr.io/sutra-ai/sutra-storage:0.1.0-x86-64-v3".to_owned(),
            build_command: build_command(
                "ghcr.io/sutra-ai/sutra-storage:0.1.0-x86-64-v3",
                "x86-64-v3",
            ),
        };
        assert_eq!(
            missing.to_string(),
            "image ghcr.io/sutra-ai/sutra-storage:0.1.0-x86-64-v3 not found locally; build it with scripts/build-image.sh x86-64-v3"
        );
        let old = DockerError::PauseMissing {
            image: "ghcr.io/sutra-ai/sutra-storage:0.1.0-universal".to_owned(),
            build_command: build_command(
                "ghcr.io/sutra-ai/sutra-storage:0.1.0-universal",
                "universal",
            ),
        };
        assert_eq!(
            old.to_string(),
            "image ghcr.io/sutra-ai/sutra-storage:0.1.0-universal has no /sutra-pause (it was built before the Docker backend ran a pause container per node); rebuild it with scripts/build-image.sh universal"
        );
    }
}
