//! A real server on 127.0.0.1:0 over a temporary directory, with the generated client.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::net::SocketAddr;

use sutra_api::proto::storage_client::StorageClient;
use sutra_api::proto::{
    DeleteRequest, GetRequest, GetResponse, SearchRequest, SearchResponse, StatsRequest,
    StatsResponse, UpsertRequest, Vector,
};
use sutra_core::platform::detect;
use sutra_core::variant::VariantCatalog;
use sutra_core::vector::Metric;
use sutra_storage::report::PlatformStatus;
use sutra_storage::server::{RunningServer, ServerSettings, start};
use sutra_storage::storage::{CompactionPolicy, StoreConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::transport::Channel;

pub struct TestServer {
    pub server: RunningServer,
    pub client: StorageClient<Channel>,
    pub channel: Channel,
    pub dir: tempfile::TempDir,
}

pub fn platform() -> PlatformStatus {
    PlatformStatus::new(detect(), "universal", VariantCatalog::builtin())
}

pub fn settings(dir: &std::path::Path, dimension: u32, metric: Metric) -> ServerSettings {
    let mut store = StoreConfig::new(dir, dimension, metric);
    store.segment_bytes = 1 << 20;
    ServerSettings {
        store,
        grpc_addr: "127.0.0.1:0".parse().unwrap(),
        metrics_addr: "127.0.0.1:0".parse().unwrap(),
        max_message_bytes: 64 << 20,
        compaction: CompactionPolicy::default(),
        scrub_mib_per_second: sutra_storage::config::DEFAULT_SCRUB_MIB_PER_SECOND,
        platform: platform(),
    }
}

pub async fn start_server(dimension: u32, metric: Metric) -> TestServer {
    start_with(dimension, metric, |_| {}).await
}

/// Starts a server after `adjust` has changed its settings.
pub async fn start_with(
    dimension: u32,
    metric: Metric,
    adjust: impl FnOnce(&mut ServerSettings),
) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings(dir.path(), dimension, metric);
    adjust(&mut settings);
    let server = start(settings).await.expect("the server starts");
    let channel = connect(server.grpc_addr()).await;
    TestServer {
        server,
        client: StorageClient::new(channel.clone()),
        channel,
        dir,
    }
}

pub async fn connect(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .expect("the client connects")
}

/// Deterministic pseudo-random values in [-1, 1) (SplitMix64), no rng crate needed.
pub fn values(seed: u64, dimension: u32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    (0..dimension)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            (z >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

pub fn vector(id: u64, dimension: u32) -> Vector {
    Vector {
        id,
        values: values(id, dimension),
        payload: format!("doc-{id}").into_bytes(),
        values_le: Vec::new(),
    }
}

pub fn batch(ids: impl IntoIterator<Item = u64>, dimension: u32) -> UpsertRequest {
    UpsertRequest {
        vectors: ids.into_iter().map(|id| vector(id, dimension)).collect(),
    }
}

/// Fails naming the first of `fragments` that `text` does not contain.
pub fn assert_contains_all(text: &str, fragments: &[&str]) {
    for fragment in fragments {
        assert!(text.contains(fragment), "{fragment:?} missing from\n{text}");
    }
}

/// What a client can see of the store: its stats and the records of `ids`.
#[derive(Debug, PartialEq)]
pub struct Snapshot {
    pub vectors: u64,
    pub deleted: u64,
    pub records: Vec<Vector>,
    pub missing: Vec<u64>,
}

/// Sends `batches` as one `UpsertStream`; returns how many vectors it stored. The call must
/// succeed.
pub async fn upsert_stream(
    client: &mut StorageClient<Channel>,
    batches: Vec<UpsertRequest>,
) -> u64 {
    client
        .upsert_stream(tokio_stream::iter(batches))
        .await
        .unwrap()
        .into_inner()
        .upserted
}

/// Deletes `ids`; returns how many existed. The call must succeed.
pub async fn delete(client: &mut StorageClient<Channel>, ids: Vec<u64>) -> u64 {
    client
        .delete(DeleteRequest { ids })
        .await
        .unwrap()
        .into_inner()
        .deleted
}

/// The `k` nearest to `query`, unfiltered; the call must succeed.
pub async fn search(
    client: &mut StorageClient<Channel>,
    query: Vec<f32>,
    k: u32,
) -> SearchResponse {
    client
        .search(SearchRequest {
            query,
            k,
            ..SearchRequest::default()
        })
        .await
        .unwrap()
        .into_inner()
}

/// The store's stats; the call must succeed.
pub async fn stats(client: &mut StorageClient<Channel>) -> StatsResponse {
    client.stats(StatsRequest {}).await.unwrap().into_inner()
}

/// The records of `ids`, and the ids not stored; the call must succeed.
pub async fn get(client: &mut StorageClient<Channel>, ids: &[u64]) -> GetResponse {
    client
        .get(GetRequest { ids: ids.to_vec() })
        .await
        .unwrap()
        .into_inner()
}

pub async fn snapshot(client: &mut StorageClient<Channel>, ids: &[u64]) -> Snapshot {
    let stats = stats(client).await;
    let got = get(client, ids).await;
    Snapshot {
        vectors: stats.vectors,
        deleted: stats.deleted,
        records: got.vectors,
        missing: got.missing,
    }
}

/// A plain HTTP/1.1 GET; returns the status code and body.
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("an HTTP status line");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A `sutra-storage serve` process on 127.0.0.1:0 ports, and its gRPC address.
pub struct ServeProcess {
    pub child: tokio::process::Child,
    pub grpc: SocketAddr,
}

/// Starts the real binary: `serve --data DATA` on ephemeral ports with JSON logs, plus
/// `args`, and waits for its listening line.
pub async fn spawn_serve(data: &std::path::Path, args: &[&str]) -> ServeProcess {
    use tokio::io::AsyncBufReadExt;
    let mut command = tokio::process::Command::from(sutra_storage_command());
    command
        .args(["serve", "--data"])
        .arg(data)
        .args([
            "--grpc-addr",
            "127.0.0.1:0",
            "--metrics-addr",
            "127.0.0.1:0",
        ])
        .args(["--log-format", "json"])
        .args(args)
        .env_remove("SUTRA_CONFIG")
        .env_remove("SUTRA_DIMENSION")
        .env_remove("SUTRA_METRIC")
        .env_remove("SUTRA_COMPRESSION")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let mut child = command.spawn().expect("the binary starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = lines
        .next_line()
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("the server printed no listening line (args {args:?})"));
    ServeProcess {
        child,
        grpc: listening_grpc_addr(&line),
    }
}

/// Parses `sutra-storage listening grpc=ADDR metrics=ADDR`.
fn listening_grpc_addr(line: &str) -> SocketAddr {
    let rest = line
        .strip_prefix("sutra-storage listening grpc=")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let (grpc, metrics) = rest.split_once(" metrics=").unwrap();
    metrics.parse::<SocketAddr>().unwrap();
    grpc.parse().unwrap()
}

/// A command running `sutra-storage`, behind the runner named by `SUTRA_TEST_RUNNER` when
/// it is set (whitespace-separated, e.g. `qemu-aarch64-static -cpu neoverse-v1`): a test
/// binary cross-built for another architecture runs under an emulator, and so must the
/// server it starts, which the host cannot exec directly. `make test-aarch64` sets it to
/// the same runner cargo uses.
pub fn sutra_storage_command() -> std::process::Command {
    let binary = env!("CARGO_BIN_EXE_sutra-storage");
    let runner = std::env::var("SUTRA_TEST_RUNNER").unwrap_or_default();
    let mut words = runner.split_whitespace();
    match words.next() {
        Some(program) => {
            let mut command = std::process::Command::new(program);
            command.args(words).arg(binary);
            command
        }
        None => std::process::Command::new(binary),
    }
}
