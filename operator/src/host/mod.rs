//! This machine as the local agent and its backends use it: processes by id, loopback
//! ports, files written atomically, and the words and numbers their messages show.
//! Nothing here knows of grids or backends.

mod fs;
mod pid;
mod port;
mod text;

pub use fs::{read_tail, remove_path, write_atomically};
pub use pid::ProcessId;
pub use port::{loopback, port_is_free};
pub use text::{human_bytes, last_lines};

/// An I/O error with what was being done when it happened, e.g. `writing <path>: ...`.
#[derive(Debug, thiserror::Error)]
#[error("{context}: {source}")]
pub struct IoError {
    pub context: String,
    #[source]
    pub source: std::io::Error,
}

impl IoError {
    pub fn new(context: impl Into<String>, source: std::io::Error) -> IoError {
        IoError {
            context: context.into(),
            source,
        }
    }
}
