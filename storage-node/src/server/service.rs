//! `sutra.storage.v1.Storage` on top of the engine. Engine calls block (fsync, locks), so
//! each runs on the blocking pool; every call is counted and timed by RPC and code. The
//! `UpsertStream` pipeline is in [`upsert_stream`](super::upsert_stream).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use sutra_api::proto::storage_server::Storage;
use sutra_api::proto::{
    DeleteRequest, DeleteResponse, GetRequest, GetResponse, Hit, PlatformRequest, PlatformResponse,
    SearchRequest, SearchResponse, StatsRequest, StatsResponse, UpsertRequest, UpsertResponse,
};
use tonic::{Request, Response, Status, Streaming};

use super::blocking::off_runtime;
use super::{convert, upsert_stream};
use crate::config::build_variant;
use crate::metrics::Metrics;
use crate::report::PlatformStatus;
use crate::storage::{CompactionPolicy, Store, StoreError};

pub struct StorageService {
    store: Arc<Store>,
    metrics: Arc<Metrics>,
    platform: Arc<PlatformStatus>,
    compaction: CompactionPolicy,
    /// Set while a background compaction runs, so writes start at most one.
    compacting: Arc<AtomicBool>,
}

impl StorageService {
    pub fn new(
        store: Arc<Store>,
        metrics: Arc<Metrics>,
        platform: Arc<PlatformStatus>,
        compaction: CompactionPolicy,
    ) -> Self {
        StorageService {
            store,
            metrics,
            platform,
            compaction,
            compacting: Arc::new(AtomicBool::new(false)),
        }
    }

    /// After a write: when the compaction policy calls for it and none runs, compacts in
    /// the background. Writes wait while live vectors are copied; searches go on.
    fn compact_if_due(&self) {
        if !self.store.compaction_due(&self.compaction)
            || self.compacting.swap(true, Ordering::AcqRel)
        {
            return;
        }
        let (store, compacting) = (Arc::clone(&self.store), Arc::clone(&self.compacting));
        tokio::task::spawn_blocking(move || {
            match store.compact() {
                Ok(report) => tracing::info!(
                    vectors_kept = report.vectors_kept,
                    slots_reclaimed = report.slots_reclaimed,
                    bytes_before = report.bytes_before,
                    bytes_after = report.bytes_after,
                    "compacted: dead slots passed the compaction policy"
                ),
                Err(error) => tracing::error!(%error, "automatic compaction failed"),
            }
            compacting.store(false, Ordering::Release);
        });
    }

    /// Runs `work` and records its outcome under `rpc`.
    async fn timed<T>(
        &self,
        rpc: &str,
        work: impl Future<Output = Result<T, Status>>,
    ) -> Result<Response<T>, Status> {
        let started = Instant::now();
        let result = work.await;
        let code = result
            .as_ref()
            .map_or_else(Status::code, |_| tonic::Code::Ok);
        self.metrics
            .observe_request(rpc, code, started.elapsed().as_secs_f64());
        result.map(Response::new)
    }

    /// Runs an engine call on the blocking pool.
    async fn blocking<T: Send + 'static>(
        &self,
        call: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, Status> {
        let store = Arc::clone(&self.store);
        off_runtime(move || call(&store).map_err(convert::status)).await
    }

    async fn upsert_batch(&self, request: UpsertRequest) -> Result<u64, Status> {
        let records = convert::records(request.vectors)?;
        self.blocking(move |store| store.upsert(records)).await
    }

    async fn get_records(&self, request: GetRequest) -> Result<GetResponse, Status> {
        if request.ids.is_empty() {
            return Err(Status::invalid_argument(
                "ids: no ids given; send at least one",
            ));
        }
        let ids = request.ids;
        self.blocking(move |store| {
            let found = store.get(&ids)?;
            let mut response = GetResponse::default();
            for (id, record) in ids.into_iter().zip(found) {
                match record {
                    Some(record) => response.vectors.push(convert::vector(record)),
                    None => response.missing.push(id),
                }
            }
            Ok(response)
        })
        .await
    }

    async fn search_vectors(&self, request: SearchRequest) -> Result<SearchResponse, Status> {
        let filter = convert::filter(&request);
        let with_vectors = request.with_vectors;
        let k = request.k as usize;
        let query = request.query;
        let response = self
            .blocking(move |store| {
                let result = store.search(&query, k, &filter)?;
                let stored = if with_vectors {
                    let ids: Vec<u64> = result.hits.iter().map(|hit| hit.id).collect();
                    store.get(&ids)?
                } else {
                    vec![None; result.hits.len()]
                };
                let hits = result
                    .hits
                    .iter()
                    .zip(stored)
                    .map(|(hit, record)| Hit {
                        id: hit.id,
                        score: hit.score,
                        vector: record.map(convert::vector),
                    })
                    .collect();
                Ok(SearchResponse {
                    hits,
                    scanned: result.scanned,
                    reranked: result.reranked,
                })
            })
            .await?;
        self.metrics.add_scanned(response.scanned);
        Ok(response)
    }

    fn platform_response(&self) -> Result<PlatformResponse, Status> {
        let platform = &self.platform;
        Ok(PlatformResponse {
            report_json: to_json(&platform.report)?,
            config_json: to_json(&platform.config)?,
            variant: platform.verdict.running.clone(),
            best_variant: platform.verdict.best.clone(),
            variant_matched: platform.verdict.matched,
            variant_message: platform.verdict.message.clone(),
            built_variant: build_variant().to_owned(),
        })
    }
}

fn to_json(value: &impl serde::Serialize) -> Result<String, Status> {
    serde_json::to_string(value)
        .map_err(|error| Status::internal(format!("encoding the platform: {error}")))
}

#[tonic::async_trait]
impl Storage for StorageService {
    async fn upsert(
        &self,
        request: Request<UpsertRequest>,
    ) -> Result<Response<UpsertResponse>, Status> {
        self.timed("Upsert", async {
            let upserted = self.upsert_batch(request.into_inner()).await?;
            self.compact_if_due();
            Ok(UpsertResponse { upserted })
        })
        .await
    }

    async fn upsert_stream(
        &self,
        request: Request<Streaming<UpsertRequest>>,
    ) -> Result<Response<UpsertResponse>, Status> {
        self.timed("UpsertStream", async {
            let response = upsert_stream::upsert_stream(&self.store, request.into_inner()).await?;
            self.compact_if_due();
            Ok(response)
        })
        .await
    }

    async fn get(&self, request: Request<GetRequest>) -> Result<Response<GetResponse>, Status> {
        self.timed("Get", self.get_records(request.into_inner()))
            .await
    }

    async fn delete(
        &self,
        request: Request<DeleteRequest>,
    ) -> Result<Response<DeleteResponse>, Status> {
        self.timed("Delete", async {
            let ids = request.into_inner().ids;
            let deleted = self.blocking(move |store| store.delete(&ids)).await?;
            self.compact_if_due();
            Ok(DeleteResponse { deleted })
        })
        .await
    }

    async fn search(
        &self,
        request: Request<SearchRequest>,
    ) -> Result<Response<SearchResponse>, Status> {
        self.timed("Search", self.search_vectors(request.into_inner()))
            .await
    }

    async fn stats(
        &self,
        _request: Request<StatsRequest>,
    ) -> Result<Response<StatsResponse>, Status> {
        self.timed("Stats", async {
            let stats = self.blocking(|store| Ok(store.stats())).await?;
            Ok(convert::stats(stats))
        })
        .await
    }

    async fn platform(
        &self,
        _request: Request<PlatformRequest>,
    ) -> Result<Response<PlatformResponse>, Status> {
        self.timed("Platform", async { self.platform_response() })
            .await
    }
}
