//! The `UpsertStream` pipeline: receive and place batch `n + 1` while the batches before
//! it are made durable together, so the disk sees few large syncs instead of one per batch.

use std::sync::Arc;

use tonic::{Status, Streaming};

use super::blocking::{off_runtime, task_failed};
use super::convert;
use crate::storage::{BegunUpsert, Placement, Store};
use sutra_api::proto::{UpsertRequest, UpsertResponse};

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
pub(super) async fn upsert_stream(
    store: &Arc<Store>,
    mut stream: Streaming<UpsertRequest>,
) -> Result<UpsertResponse, Status> {
    let (placed, to_commit) = tokio::sync::mpsc::channel(PLACED_AHEAD);
    let committer = tokio::spawn(commit_placed(Arc::clone(store), to_commit));
    let received = place_stream(store, &mut stream, placed).await;
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
    store: &Arc<Store>,
    stream: &mut Streaming<UpsertRequest>,
    placed: tokio::sync::mpsc::Sender<(usize, Placement)>,
) -> Result<(), Status> {
    let mut index = 0usize;
    let mut next = receive(stream, index).await;
    while let Some(batch) = next? {
        let records = convert::records(batch.vectors).map_err(|status| in_batch(index, status))?;
        let store = Arc::clone(store);
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
