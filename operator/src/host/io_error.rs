//! I/O errors that say what was being done, for every error type of the agent and its
//! backends.

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
