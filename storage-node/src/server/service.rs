//! `sutra.storage.v1.Storage` on top of the engine. Engine calls block (fsync, locks), so
//! each runs on the blocking pool; every call is counted and timed by RPC and code.

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

use super::convert;
use crate::config::build_variant;
use crate::metrics::Metrics;
use crate::status::PlatformStatus;
use crate::storage::{BegunUpsert, CompactionPolicy, Placement, Store, StoreError};

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

    /// Applies the batches in stream order as a pipeline. This task receives and decodes
    /// batch `n + 1` while batch `n` has its values written into fresh slots
    /// ([`Store::place`]); a committer task meanwhile makes every batch placed so far
    /// durable together (one `fdatasync` of the segment for the group, then their WAL
    /// records, which share one group commit) and applies them once the log is durable,
    /// while the next group syncs (see [`commit_placed`]). The group grows with whatever
    /// was placed while the previous group committed, so the disk sees few large syncs
    /// instead of one per batch. At most [`PLACED_AHEAD`] batches wait for a commit.
    /// When a batch fails, the ones before it are durable and stay, and the ones after it
    /// are not stored. The stream is acknowledged once every batch is durable.
    async fn upsert_stream_batches(
        &self,
        mut stream: Streaming<UpsertRequest>,
    ) -> Result<UpsertResponse, Status> {
        let (placed, to_commit) = tokio::sync::mpsc::channel(PLACED_AHEAD);
        let committer = tokio::spawn(commit_placed(Arc::clone(&self.store), to_commit));
        let received = self.place_stream(&mut stream, placed).await;
        let committed = committer.await.map_err(task_failed)?;
        // A failed commit concerns an earlier batch than anything the receiver saw after it.
        let upserted = committed?;
        received?;
        Ok(UpsertResponse { upserted })
    }

    /// Receives, decodes and places the batches of a stream in order, handing each to the
    /// committer; stops at the end of the stream, at the first bad batch, or when the
    /// committer has stopped (it reports why).
    async fn place_stream(
        &self,
        stream: &mut Streaming<UpsertRequest>,
        placed: tokio::sync::mpsc::Sender<(usize, Placement)>,
    ) -> Result<(), Status> {
        let mut index = 0usize;
        let mut next = receive(stream, index).await;
        while let Some(batch) = next? {
            let records =
                convert::records(batch.vectors).map_err(|status| in_batch(index, status))?;
            let store = Arc::clone(&self.store);
            let (placement, following) = tokio::join!(
                off_runtime(move || store.place(records).map_err(convert::status)),
                receive(stream, index + 1)
            );
            let placement = placement.map_err(|status| in_batch(index, status))?;
            if placed.send((index, placement)).await.is_err() {
                return Ok(());
            }
            next = following;
            index += 1;
        }
        Ok(())
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

/// The next batch of a stream; errors name the batch they concern.
async fn receive(
    stream: &mut Streaming<UpsertRequest>,
    index: usize,
) -> Result<Option<UpsertRequest>, Status> {
    stream
        .message()
        .await
        .map_err(|status| in_batch(index, convert::oversized_as_resource_exhausted(status)))
}

/// How many placed batches of one stream may wait for their commit (about 3 MiB each at
/// 1000 x 768 dimensions); the receiver waits when they are all taken.
const PLACED_AHEAD: usize = 8;

/// Commits the placed batches of a stream in order, each time all that have arrived, until
/// the receiver is done; returns how many vectors it stored. Committing is two stages that
/// overlap: this task makes a group's values durable and queues its WAL records
/// ([`Store::log_placed`]) while a finisher task waits for the previous group's WAL fsync
/// and applies it, so the segment sync of one group and the log sync of the one before it
/// reach the disk together. Stops at the first failure, leaving the batches after it
/// unlogged (their slots are dead until compaction); a failure the finisher reports
/// concerns an earlier batch than one met here, so it is reported first.
async fn commit_placed(
    store: Arc<Store>,
    mut placed: tokio::sync::mpsc::Receiver<(usize, Placement)>,
) -> Result<u64, Status> {
    let (logged, to_finish) = tokio::sync::mpsc::channel(1);
    let finisher = tokio::spawn(finish_logged(to_finish));
    let mut logging = Ok(());
    while let Some(first) = placed.recv().await {
        let mut group = vec![first];
        while let Ok(more) = placed.try_recv() {
            group.push(more);
        }
        let store = Arc::clone(&store);
        match off_runtime(move || log_group(&store, group)).await {
            Ok(group) => {
                if let Err(unsent) = logged.send(group).await {
                    // The finisher met a failure or panicked (reported below). Finishing
                    // waits for an fsync, so the records it did not take (logged, so they
                    // take effect) are finished off the runtime.
                    let _ = tokio::task::spawn_blocking(move || drop(unsent)).await;
                    break;
                }
            }
            Err(status) => {
                logging = Err(status);
                break;
            }
        }
    }
    // The receiver stops at its next hand-over; batches placed but not logged are abandoned.
    drop(placed);
    drop(logged);
    let upserted = finisher.await.map_err(task_failed)??;
    logging?;
    Ok(upserted)
}

/// Batches of a stream whose WAL records are queued, with their indices in the stream.
type LoggedGroup = Vec<(usize, BegunUpsert)>;

/// Makes a group of placed batches durable with one sync and queues their WAL records.
fn log_group(store: &Arc<Store>, group: Vec<(usize, Placement)>) -> Result<LoggedGroup, Status> {
    let first = group[0].0;
    let (indices, placements): (Vec<usize>, Vec<Placement>) = group.into_iter().unzip();
    let begun = store
        .log_placed(placements)
        .map_err(|error| in_batch(first, convert::status(error)))?;
    Ok(indices.into_iter().zip(begun).collect())
}

/// Finishes the logged groups in order until the committer is done; returns how many
/// vectors they stored, or the first failure. After a failure it closes the channel, so the
/// committer logs nothing more, and still finishes the groups already logged (a record in
/// the WAL takes effect at the next start-up anyway, and an unfinished one would hold up
/// every later write).
async fn finish_logged(
    mut logged: tokio::sync::mpsc::Receiver<LoggedGroup>,
) -> Result<u64, Status> {
    let mut upserted = 0;
    let mut failed = None;
    while let Some(group) = logged.recv().await {
        match off_runtime(move || finish_group(group)).await {
            Ok(count) => upserted += count,
            Err(status) => {
                logged.close();
                failed.get_or_insert(status);
            }
        }
    }
    failed.map_or(Ok(upserted), Err)
}

/// Waits for a logged group's WAL fsync and applies its batches in order.
fn finish_group(group: LoggedGroup) -> Result<u64, Status> {
    let mut upserted = 0;
    for (index, begun) in group {
        upserted += begun
            .finish()
            .map_err(|error| in_batch(index, convert::status(error)))?;
    }
    Ok(upserted)
}

/// Runs a blocking storage call on the blocking pool; a panic in it becomes `INTERNAL`.
async fn off_runtime<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, Status> + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(call)
        .await
        .map_err(task_failed)
        .flatten()
}

fn task_failed(error: tokio::task::JoinError) -> Status {
    Status::internal(format!("the storage task failed: {error}"))
}

/// Names the failing batch of a stream; earlier batches are durable and stay.
fn in_batch(index: usize, status: Status) -> Status {
    Status::new(
        status.code(),
        format!(
            "batch {index}: {} (batches before it were stored)",
            status.message()
        ),
    )
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
            let response = self.upsert_stream_batches(request.into_inner()).await?;
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
