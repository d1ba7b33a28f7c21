//! The Docker backend's answer when no engine listens: one error that names the socket and
//! says what to do. Runs without Docker; the backend against a real engine is tested in
//! e2e/tests/local_docker.rs.

use sutra_grid::backend::docker::DockerBackend;

#[tokio::test]
async fn unreachable_engine_names_the_socket_and_the_way_out() {
    let dir = tempfile::tempdir().unwrap();
    let socket = format!("unix://{}", dir.path().join("docker.sock").display());
    let error = DockerBackend::connect_at(&socket, "demo")
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "the docker backend failed: Docker daemon unreachable at {socket}: No such file or directory (os error 2); start Docker or use --backend process"
        )
    );
}

#[tokio::test]
async fn a_socket_that_is_not_docker_is_unreachable_too() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("docker.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let server = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut request = [0u8; 512];
        let _ = stream.read(&mut request).await.unwrap();
        stream
            .write_all(b"HTTP/1.0 200 OK\r\n\r\nnot json")
            .await
            .unwrap();
    });
    let socket = format!("unix://{}", path.display());
    let error = DockerBackend::connect_at(&socket, "demo")
        .await
        .unwrap_err()
        .to_string();
    server.await.unwrap();
    assert!(
        error.starts_with(&format!("the docker backend failed: Docker daemon unreachable at {socket}: the engine's /version answer is not JSON")),
        "{error}"
    );
    assert!(
        error.ends_with("; start Docker or use --backend process"),
        "{error}"
    );
}
