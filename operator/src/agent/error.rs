//! The agent's one error type; every message says what went wrong and what to do.

use std::path::{Path, PathBuf};

use sutra_core::crd::{InvalidSpec, ManifestError};

use crate::backend::BackendError;
use crate::host::IoError;

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    // The parse error is part of the message rather than a `source`, so the error chain
    // does not print it twice.
    #[error("{}: {error}", path.display())]
    Manifest { path: PathBuf, error: ManifestError },
    #[error("{}: {error}", path.display())]
    InvalidGrid { path: PathBuf, error: InvalidSpec },
    #[error("agent config {}: {message}", path.display())]
    Config { path: PathBuf, message: String },
    #[error("grid {grid} cannot place {ordinals}: {reason}")]
    Unplaced {
        grid: String,
        ordinals: String,
        reason: String,
    },
    #[error("{0}")]
    Ports(String),
    #[error(
        "grid {grid} is already run by an agent (pid {pid}); see `{status}`, or stop it with `{down}`"
    )]
    AlreadyRunning {
        grid: String,
        pid: u32,
        /// The `agent status` and `agent down` commands for this grid.
        status: String,
        down: String,
    },
    #[error("{0}")]
    NoGrid(String),
    #[error("nodes did not become ready within {seconds}s, so the grid was stopped:\n{details}")]
    NotReady { seconds: u64, details: String },
    #[error("the agent supervisor exited before the grid was ready; its log ({}) ends with:\n{tail}", log.display())]
    SupervisorDied { log: PathBuf, tail: String },
    #[error(
        "cannot serve agent metrics on {addr}: {source}; pick another address with --metrics-addr"
    )]
    MetricsAddr {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Io(#[from] IoError),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error(transparent)]
    Rules(#[from] sutra_core::variant::VariantError),
}

impl AgentError {
    /// An I/O error with what was being done when it happened.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> AgentError {
        IoError::new(context, source).into()
    }
}

/// The whole of the text file at `path`; the error names the file.
pub fn read_text(path: &Path) -> AgentResult<String> {
    std::fs::read_to_string(path).map_err(|source| AgentError::Read {
        path: path.to_path_buf(),
        source,
    })
}

pub type AgentResult<T> = Result<T, AgentError>;
