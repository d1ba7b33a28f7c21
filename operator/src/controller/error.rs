//! The one error type of the controllers, classified for metrics and retry.

use sutra_core::crd::InvalidSpec;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API request failed: {0}")]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    InvalidSpec(#[from] InvalidSpec),
    #[error("{kind} has no {field}; the API server always sets it")]
    MissingField {
        kind: &'static str,
        field: &'static str,
    },
    #[error("StorageNode finalizer: {0}")]
    Finalizer(String),
}

impl Error {
    /// The `error` label of `sutra_grid_reconcile_errors_total`.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube(kube::Error::Api(status)) if status.code == 409 => "conflict",
            Error::Kube(kube::Error::Api(status)) if status.code == 404 => "not_found",
            Error::Kube(kube::Error::Api(status)) if status.code == 403 => "forbidden",
            Error::Kube(kube::Error::Api(_)) => "api",
            Error::Kube(_) => "transport",
            Error::InvalidSpec(_) => "invalid_spec",
            Error::MissingField { .. } => "missing_field",
            Error::Finalizer(_) => "finalizer",
        }
    }

    /// Errors that retrying cannot fix until the object changes.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Error::InvalidSpec(_) | Error::MissingField { .. })
    }
}
