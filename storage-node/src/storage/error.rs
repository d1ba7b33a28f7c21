//! The one error type of the storage engine.

use std::path::PathBuf;

/// Everything that can go wrong in a [`Store`](super::Store) call.
///
/// A call that returns `InvalidArgument` has changed nothing stored. `Io` and `Corrupt`
/// name the file involved; `Failed` means an earlier write error left the in-memory state
/// behind the write-ahead log, so the store refuses work until it is reopened (which
/// replays the log); `Damaged` means an earlier call found damaged data on disk (the
/// `Corrupt` report it carries), which no reopen repairs.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{field}: {message}")]
    InvalidArgument { field: String, message: String },

    #[error("corrupt data in {}, at byte offset {offset}: {detail}", file.display())]
    Corrupt {
        file: PathBuf,
        offset: u64,
        detail: String,
    },

    #[error("I/O error on {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "the store stopped accepting work after an earlier failure ({0}); reopen it to recover from the write-ahead log"
    )]
    Failed(String),

    #[error(
        "the store stopped serving because its data on disk is damaged ({0}); a restart will not repair it: restore this node's data directory from a backup or re-load it from the source"
    )]
    Damaged(String),
}

impl StoreError {
    pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        StoreError::InvalidArgument {
            field: field.into(),
            message: message.into(),
        }
    }

    pub(crate) fn corrupt(
        file: impl Into<PathBuf>,
        offset: u64,
        detail: impl Into<String>,
    ) -> Self {
        StoreError::Corrupt {
            file: file.into(),
            offset,
            detail: detail.into(),
        }
    }
}

/// Attaches the path to an `io::Error`.
pub(crate) trait IoContext<T> {
    fn at(self, path: &std::path::Path) -> Result<T, StoreError>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: &std::path::Path) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}
