//! The running server: the metrics port (up first, so liveness answers while the store
//! opens), the store, then the gRPC port with `sutra.storage.v1.Storage`, standard health
//! and reflection.
//!
//! Readiness follows the store: gRPC health reports `SERVING` (for `""` and
//! `sutra.storage.v1.Storage`) and `/readyz` answers 200 only while the store is open and
//! serving. When the store stops accepting work (damaged data found by any call or by the
//! scrub, or a failed write), health turns `NOT_SERVING` at once, as `/readyz` turns 503.
//! [`RunningServer::shutdown`] reverses the order: health goes `NOT_SERVING`, the gRPC
//! server stops accepting and finishes in-flight calls, the store checkpoints, and the
//! metrics port closes last.

mod blocking;
mod convert;
mod limits;
mod service;
mod upsert_stream;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sutra_api::proto::storage_server::StorageServer;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

pub use service::StorageService;

use crate::config::ServeSettings;
use crate::metrics::{HttpState, Metrics, serve_http};
use crate::report::PlatformStatus;
use crate::storage::{CompactionPolicy, Store, StoreConfig, StoreError};

/// The gRPC service name health reports on, besides the whole server (`""`).
pub const SERVICE_NAME: &str = "sutra.storage.v1.Storage";

/// HTTP/2 receive windows: large enough that a bulk load on a fast link is not throttled
/// by flow control while a batch is being made durable.
const STREAM_WINDOW_BYTES: u32 = 16 << 20;
const CONNECTION_WINDOW_BYTES: u32 = 32 << 20;
/// Largest HTTP/2 frame a client may send: 1 MiB frames cut the per-frame work of a
/// multi-megabyte batch 64-fold compared with the 16 KiB default.
const MAX_FRAME_BYTES: u32 = 1 << 20;

/// Everything a server needs; `store` is already derived from the platform and settings.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub store: StoreConfig,
    pub grpc_addr: SocketAddr,
    pub metrics_addr: SocketAddr,
    /// Largest request message accepted; larger ones get `RESOURCE_EXHAUSTED`.
    pub max_message_bytes: usize,
    /// When writes start a background compaction.
    pub compaction: CompactionPolicy,
    /// Pace of the background scrub after start-up, in MiB/s of vector values; 0 runs none.
    pub scrub_mib_per_second: u64,
    pub platform: PlatformStatus,
}

impl ServerSettings {
    /// The server part of `settings`, with the store config and platform derived from them.
    pub fn new(settings: &ServeSettings, store: StoreConfig, platform: PlatformStatus) -> Self {
        ServerSettings {
            store,
            grpc_addr: settings.grpc_addr,
            metrics_addr: settings.metrics_addr,
            max_message_bytes: settings.max_message_bytes,
            compaction: settings.compaction,
            scrub_mib_per_second: settings.scrub_mib_per_second,
            platform,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {what} address {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the store: {0}")]
    Open(#[source] StoreError),
    #[error("closing the store failed: {0}")]
    Close(#[source] StoreError),
    #[error("gRPC server: {0}")]
    Grpc(#[from] tonic::transport::Error),
    #[error("gRPC reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("metrics server: {0}")]
    Http(#[source] std::io::Error),
    #[error("a server task panicked or was cancelled: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// A started server. Dropping it without [`RunningServer::shutdown`] leaves the tasks
/// running until the runtime stops (acknowledged writes are durable either way).
pub struct RunningServer {
    grpc_addr: SocketAddr,
    metrics_addr: SocketAddr,
    store: Arc<Store>,
    health: HealthReporter,
    http_state: Arc<HttpState>,
    grpc: Task<Result<(), tonic::transport::Error>>,
    http: Task<std::io::Result<()>>,
    /// Ends the background scrub.
    scrub_cancel: Arc<AtomicBool>,
}

struct Task<T> {
    stop: oneshot::Sender<()>,
    handle: JoinHandle<T>,
}

impl<T> Task<T> {
    async fn stop(self) -> Result<T, tokio::task::JoinError> {
        // The task may have ended on its own already; then there is nobody to tell.
        let _ = self.stop.send(());
        self.handle.await
    }
}

/// Starts the metrics port, opens the store and starts the gRPC port; returns once the
/// server is ready.
pub async fn start(settings: ServerSettings) -> Result<RunningServer, ServeError> {
    let labels = settings.platform.metric_labels(crate::simd::kernels().isa);
    let metrics = Arc::new(Metrics::new(&labels));
    let http_listener = bind("metrics", settings.metrics_addr).await?;
    let metrics_addr = local_addr("metrics", &http_listener, settings.metrics_addr)?;
    let http_state = Arc::new(HttpState::new(Arc::clone(&metrics)));
    let http = spawn_stoppable(|stop| serve_http(http_listener, Arc::clone(&http_state), stop));

    let store = match open_store(settings.store.clone()).await {
        Ok(store) => Arc::new(store),
        Err(error) => {
            // Nothing else runs yet; the metrics port must not outlive the failed start.
            let _ = http.stop().await;
            return Err(error);
        }
    };
    let grpc_listener = bind("gRPC", settings.grpc_addr).await?;
    let grpc_addr = local_addr("gRPC", &grpc_listener, settings.grpc_addr)?;
    let (health, health_service) = tonic_health::server::health_reporter();
    let service = StorageService::new(
        Arc::clone(&store),
        metrics,
        Arc::new(settings.platform.clone()),
        settings.compaction,
    );
    let storage = StorageServer::new(service).max_decoding_message_size(settings.max_message_bytes);
    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;
    let router = tonic::transport::Server::builder()
        .layer(limits::layer())
        .initial_stream_window_size(STREAM_WINDOW_BYTES)
        .initial_connection_window_size(CONNECTION_WINDOW_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(storage);
    let incoming = TcpIncoming::from(grpc_listener).with_nodelay(Some(true));
    let grpc = spawn_stoppable(|stop| router.serve_with_incoming_shutdown(incoming, stop));
    set_health(&health, ServingStatus::Serving).await;
    take_out_of_service_when_stopped(&store, health.clone());
    http_state.set_store(Some(Arc::clone(&store)));
    let scrub_cancel = Arc::new(AtomicBool::new(false));
    if settings.scrub_mib_per_second > 0 {
        let pace = settings.scrub_mib_per_second.saturating_mul(1 << 20);
        spawn_scrub(Arc::clone(&store), Arc::clone(&scrub_cancel), pace);
    }
    tracing::info!(%grpc_addr, %metrics_addr, dir = %settings.store.dir.display(), "serving");
    Ok(RunningServer {
        grpc_addr,
        metrics_addr,
        store,
        health,
        http_state,
        grpc,
        http,
        scrub_cancel,
    })
}

impl RunningServer {
    /// The bound gRPC address (the real port when 0 was asked for).
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// The bound metrics address.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics_addr
    }

    /// Graceful stop: not ready, stop accepting, finish in-flight calls, checkpoint the
    /// store, close the metrics port.
    pub async fn shutdown(self) -> Result<(), ServeError> {
        set_health(&self.health, ServingStatus::NotServing).await;
        self.scrub_cancel.store(true, Ordering::Relaxed);
        self.http_state.set_store(None);
        let grpc_result = self.grpc.stop().await;
        let store = self.store;
        let closed = tokio::task::spawn_blocking(move || store.checkpoint()).await;
        let http_result = self.http.stop().await;
        grpc_result??;
        closed?.map_err(ServeError::Close)?;
        http_result?.map_err(ServeError::Http)?;
        tracing::info!("stopped; the store is checkpointed");
        Ok(())
    }
}

/// Marks gRPC health `NOT_SERVING` as soon as the store stops accepting work, so health
/// agrees with `/readyz`.
fn take_out_of_service_when_stopped(store: &Store, health: HealthReporter) {
    let runtime = tokio::runtime::Handle::current();
    store.on_stop(move || {
        let health = health.clone();
        runtime.spawn(async move { set_health(&health, ServingStatus::NotServing).await });
    });
}

/// Checks everything stored (values, codes, metadata, payloads) against its checksums in
/// the background (`open` reads no vector, so start-up stays fast), at most
/// `bytes_per_second` of values, until done or `cancel` is set (by shutdown). Damage stops
/// the store: every call then fails with `DATA_LOSS` and the report, `/readyz` answers
/// 503 and gRPC health turns `NOT_SERVING`.
fn spawn_scrub(store: Arc<Store>, cancel: Arc<AtomicBool>, bytes_per_second: u64) {
    tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        match store.scrub(&cancel, Some(bytes_per_second)) {
            Ok(report) if !report.complete => tracing::debug!("scrub cancelled by shutdown"),
            Ok(report) => tracing::info!(
                vectors = report.vectors_checked,
                seconds = started.elapsed().as_secs_f64(),
                "scrub: every stored vector, its codes, metadata and payload match their checksums"
            ),
            Err(error @ crate::storage::StoreError::Corrupt { .. }) => {
                tracing::error!(%error, "scrub found damaged data; the store stopped serving");
            }
            // The store stopped for another reason (or is shutting down); that is reported
            // where it happened.
            Err(error) => tracing::debug!(%error, "scrub ended early"),
        }
    });
}

async fn open_store(config: StoreConfig) -> Result<Store, ServeError> {
    tokio::task::spawn_blocking(move || Store::open(config))
        .await?
        .map_err(ServeError::Open)
}

async fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { what, addr, source })
}

fn local_addr(
    what: &'static str,
    listener: &TcpListener,
    addr: SocketAddr,
) -> Result<SocketAddr, ServeError> {
    listener
        .local_addr()
        .map_err(|source| ServeError::Bind { what, addr, source })
}

fn spawn_stoppable<T, F>(serve: impl FnOnce(StopSignal) -> F) -> Task<T>
where
    F: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let (stop, stopped) = oneshot::channel();
    let signal: StopSignal = Box::pin(async move {
        // A dropped sender also means stop.
        let _ = stopped.await;
    });
    Task {
        stop,
        handle: tokio::spawn(serve(signal)),
    }
}

type StopSignal = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

fn reflection() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(sutra_api::proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
}

async fn set_health(health: &HealthReporter, status: ServingStatus) {
    health.set_service_status("", status).await;
    health.set_service_status(SERVICE_NAME, status).await;
}
