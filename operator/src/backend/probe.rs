//! Asking a running storage node how it is: HTTP `/readyz` and `/metrics` on its metrics
//! port, the `Platform` RPC on its gRPC port. Every backend reaches its nodes the same way.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use sutra_api::proto::PlatformRequest;
use sutra_api::proto::storage_client::StorageClient;
use sutra_core::platform::PlatformReport;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::NodePlatform;

/// Timeout of one readiness check: a local node answers in well under a millisecond.
pub const READY_TIMEOUT: Duration = Duration::from_millis(500);
/// Timeout of one `Platform` RPC or metrics scrape.
pub const RPC_TIMEOUT: Duration = Duration::from_secs(2);

/// A plain HTTP/1.0 GET; returns the status code and the body.
///
/// HTTP/1.0 makes the server close the connection after the body, so there is no chunked
/// encoding to undo and reading to the end is the whole response.
pub async fn http_get(
    addr: SocketAddr,
    path: &str,
    timeout: Duration,
) -> io::Result<(u16, String)> {
    tokio::time::timeout(timeout, http_get_unbounded(addr, path))
        .await
        .map_err(|_| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("GET http://{addr}{path} timed out"),
            )
        })?
}

async fn http_get_unbounded(addr: SocketAddr, path: &str) -> io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nAccept: */*\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    parse_response(&String::from_utf8_lossy(&response))
}

fn parse_response(response: &str) -> io::Result<(u16, String)> {
    let invalid = || io::Error::new(io::ErrorKind::InvalidData, "not an HTTP response");
    let (head, body) = response.split_once("\r\n\r\n").ok_or_else(invalid)?;
    let status = head
        .lines()
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(invalid)?;
    Ok((status, body.to_owned()))
}

/// Whether the node's `/readyz` answers 200.
pub async fn is_ready(metrics_addr: SocketAddr) -> bool {
    matches!(
        http_get(metrics_addr, "/readyz", READY_TIMEOUT).await,
        Ok((200, _))
    )
}

/// The node's Prometheus text exposition.
pub async fn scrape_metrics(metrics_addr: SocketAddr) -> io::Result<String> {
    match http_get(metrics_addr, "/metrics", RPC_TIMEOUT).await? {
        (200, body) => Ok(body),
        (status, _) => Err(io::Error::other(format!(
            "GET http://{metrics_addr}/metrics answered {status}"
        ))),
    }
}

/// What the node detected about its host, from its `Platform` RPC.
pub async fn platform(grpc_addr: SocketAddr) -> Result<NodePlatform, String> {
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{grpc_addr}"))
        .map_err(|error| error.to_string())?
        .connect_timeout(RPC_TIMEOUT)
        .timeout(RPC_TIMEOUT);
    let channel = endpoint
        .connect()
        .await
        .map_err(|error| error.to_string())?;
    let response = StorageClient::new(channel)
        .platform(PlatformRequest {})
        .await
        .map_err(|status| status.message().to_owned())?
        .into_inner();
    let report: PlatformReport = serde_json::from_str(&response.report_json)
        .map_err(|error| format!("the node's platform report is not valid JSON: {error}"))?;
    Ok(NodePlatform {
        summary: report.summary(),
        variant: response.variant,
        best_variant: response.best_variant,
        variant_matched: response.variant_matched,
        variant_message: response.variant_message,
        built_variant: response.built_variant,
        report,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_body() {
        let (status, body) =
            parse_response("HTTP/1.0 200 OK\r\ncontent-type: text/plain\r\n\r\nok\n").unwrap();
        assert_eq!((status, body.as_str()), (200, "ok\n"));
    }

    #[test]
    fn rejects_a_response_without_header_end() {
        assert!(parse_response("HTTP/1.0 200 OK\r\n").is_err());
    }

    #[tokio::test]
    async fn gets_from_a_real_listener() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 1024];
            let read = socket.read(&mut request).await.unwrap();
            assert!(String::from_utf8_lossy(&request[..read]).starts_with("GET /readyz HTTP/1.0"));
            socket
                .write_all(b"HTTP/1.0 503 Service Unavailable\r\n\r\nnot yet")
                .await
                .unwrap();
        });
        let (status, body) = http_get(addr, "/readyz", READY_TIMEOUT).await.unwrap();
        server.await.unwrap();
        assert_eq!((status, body.as_str()), (503, "not yet"));
    }
}
