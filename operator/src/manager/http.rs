//! `/healthz`, `/readyz` and `/metrics` on the metrics address.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context as _;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use tokio::task::JoinHandle;

use crate::controller::Metrics;

/// Readiness: the process is the leader or a standby, and (when leading) the controllers'
/// watches have synced.
#[derive(Debug, Clone, Default)]
pub struct Health {
    standby_or_leader: Arc<AtomicBool>,
    synced: Arc<AtomicBool>,
    leading: Arc<AtomicBool>,
}

impl Health {
    pub fn set_standby_or_leader(&self, value: bool) {
        self.standby_or_leader.store(value, Ordering::Release);
    }

    pub fn set_leading(&self, value: bool) {
        self.leading.store(value, Ordering::Release);
        if !value {
            self.synced.store(false, Ordering::Release);
        }
    }

    pub fn set_synced(&self, value: bool) {
        self.synced.store(value, Ordering::Release);
    }

    pub fn is_ready(&self) -> bool {
        self.standby_or_leader.load(Ordering::Acquire)
            && (!self.leading.load(Ordering::Acquire) || self.synced.load(Ordering::Acquire))
    }
}

#[derive(Clone)]
struct AppState {
    metrics: Arc<Metrics>,
    health: Health,
}

pub fn router(metrics: Arc<Metrics>, health: Health) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(AppState { metrics, health })
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if state.health.is_ready() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

async fn metrics_text(State(state): State<AppState>) -> String {
    state.metrics.render()
}

/// Binds `addr` and serves in the background.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    health: Health,
) -> anyhow::Result<JoinHandle<()>> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the metrics address {addr}"))?;
    tracing::info!(%addr, "serving /healthz, /readyz and /metrics");
    let app = router(metrics, health);
    Ok(tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app).await {
            tracing::error!(%error, "metrics server stopped");
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leader_is_ready_only_once_synced() {
        let health = Health::default();
        assert!(!health.is_ready());
        health.set_standby_or_leader(true);
        assert!(health.is_ready(), "a standby is ready");
        health.set_leading(true);
        assert!(!health.is_ready());
        health.set_synced(true);
        assert!(health.is_ready());
        health.set_leading(false);
        assert!(health.is_ready());
    }

    #[tokio::test]
    async fn serves_health_readiness_and_metrics() {
        let metrics = Arc::new(Metrics::new());
        let health = Health::default();
        let server = serve("127.0.0.1:0".parse().unwrap(), metrics, health.clone())
            .await
            .unwrap();
        server.abort();
        let app = router(Arc::new(Metrics::new()), health.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        assert_eq!(get_status(addr, "/healthz").await, 200);
        assert_eq!(get_status(addr, "/readyz").await, 503);
        health.set_standby_or_leader(true);
        assert_eq!(get_status(addr, "/readyz").await, 200);
        assert_eq!(get_status(addr, "/metrics").await, 200);
        task.abort();
    }

    async fn get_status(addr: SocketAddr, path: &str) -> u16 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).await.unwrap();
        response[9..12].parse().unwrap()
    }
}
