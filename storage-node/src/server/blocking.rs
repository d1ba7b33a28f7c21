//! Engine calls block (fsync, locks): the server runs them on the blocking pool.

use tonic::Status;

/// Runs a blocking storage call on the blocking pool; a panic in it becomes `INTERNAL`.
pub(super) async fn off_runtime<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, Status> + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(call)
        .await
        .map_err(task_failed)
        .flatten()
}

pub(super) fn task_failed(error: tokio::task::JoinError) -> Status {
    Status::internal(format!("the storage task failed: {error}"))
}
