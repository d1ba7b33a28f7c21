//! The metrics port: `GET /metrics` (Prometheus text), `/healthz` (the process is alive)
//! and `/readyz` (the store is open and serving).

use std::future::Future;
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

use super::Metrics;
use crate::storage::Store;

/// What the HTTP endpoints read. The store is set once it is open and cleared when
/// shutdown begins, which is what `/readyz` reports.
pub struct HttpState {
    metrics: Arc<Metrics>,
    store: RwLock<Option<Arc<Store>>>,
}

impl HttpState {
    pub fn new(metrics: Arc<Metrics>) -> HttpState {
        HttpState {
            metrics,
            store: RwLock::new(None),
        }
    }

    pub fn set_store(&self, store: Option<Arc<Store>>) {
        *self
            .store
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = store;
    }

    fn store(&self) -> Option<Arc<Store>> {
        self.store
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

/// Serves the metrics port on `listener` until `shutdown` resolves.
pub async fn serve_http(
    listener: TcpListener,
    state: Arc<HttpState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let router = Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state);
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn metrics(State(state): State<Arc<HttpState>>) -> impl IntoResponse {
    let store = state.store();
    // Reading the store's stats takes its read lock; keep that off the async workers.
    let text = tokio::task::spawn_blocking(move || state.metrics.render(store.as_deref()))
        .await
        .unwrap_or_else(|error| format!("# rendering metrics failed: {error}\n"));
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<Arc<HttpState>>) -> (StatusCode, String) {
    match state.store() {
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the store is not open\n".to_string(),
        ),
        Some(store) => match store.failure() {
            Some(reason) => (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("the store stopped: {reason}\n"),
            ),
            None => (StatusCode::OK, "ready\n".to_string()),
        },
    }
}
