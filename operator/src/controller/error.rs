//! The one error type of the controllers, classified for metrics and retry. Every error
//! names the object it concerns, so a log line or a failed reconcile says what failed.

use std::fmt;

use kube::Resource;
use sutra_core::crd::InvalidSpec;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server refused or never answered a request about one object.
    #[error("{verb} {kind} {name} failed: {source}")]
    Api {
        verb: Verb,
        kind: String,
        /// `namespace/name`, or for a list what it selected.
        name: String,
        source: kube::Error,
    },
    #[error("{} {name} is invalid: {}", .source.kind, fields(.source))]
    InvalidSpec { name: String, source: InvalidSpec },
    #[error("{kind} has no {field}; the API server always sets it")]
    MissingField {
        kind: &'static str,
        field: &'static str,
    },
    #[error("StorageNode finalizer: {0}")]
    Finalizer(String),
}

/// What the operator asked of the API server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    List,
    Apply,
    ApplyStatus,
    Delete,
    RecordEvent,
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verb::Get => "reading",
            Verb::List => "listing",
            Verb::Apply => "server-side apply of",
            Verb::ApplyStatus => "server-side apply of the status of",
            Verb::Delete => "deleting",
            Verb::RecordEvent => "recording an Event about",
        })
    }
}

fn fields(invalid: &InvalidSpec) -> String {
    let fields: Vec<String> = invalid.errors.iter().map(ToString::to_string).collect();
    fields.join("; ")
}

/// `namespace/name`, the key objects are known by in logs and metrics.
pub fn object_key<K: Resource>(object: &K) -> String {
    format!(
        "{}/{}",
        object.meta().namespace.as_deref().unwrap_or_default(),
        object.meta().name.as_deref().unwrap_or_default()
    )
}

impl Error {
    /// A failed `verb` on the `K` called `name` in `namespace`.
    pub fn api<K: Resource<DynamicType = ()>>(
        verb: Verb,
        namespace: Option<&str>,
        name: &str,
    ) -> impl FnOnce(kube::Error) -> Error {
        let name = match namespace {
            Some(namespace) => format!("{namespace}/{name}"),
            None => name.to_owned(),
        };
        move |source| Error::Api {
            verb,
            kind: K::kind(&()).into_owned(),
            name,
            source,
        }
    }

    /// `object` failed validation.
    pub fn invalid<K: Resource>(object: &K, source: InvalidSpec) -> Error {
        Error::InvalidSpec {
            name: object_key(object),
            source,
        }
    }

    /// The `error` label of `sutra_grid_reconcile_errors_total`.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Api {
                source: kube::Error::Api(status),
                ..
            } => match status.code {
                409 => "conflict",
                404 => "not_found",
                403 => "forbidden",
                _ => "api",
            },
            Error::Api { .. } => "transport",
            Error::InvalidSpec { .. } => "invalid_spec",
            Error::MissingField { .. } => "missing_field",
            Error::Finalizer(_) => "finalizer",
        }
    }

    /// The API server answered that the object does not exist.
    pub fn is_not_found(&self) -> bool {
        self.metric_label() == "not_found"
    }

    /// Errors that retrying cannot fix until the object changes.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Error::InvalidSpec { .. } | Error::MissingField { .. })
    }
}

#[cfg(test)]
mod tests {
    use kube::core::Status;
    use sutra_core::crd::{FieldError, StorageNode};

    use super::*;

    fn refused(code: u16) -> kube::Error {
        kube::Error::Api(Box::new(
            Status::failure("refused", "Refused").with_code(code),
        ))
    }

    #[test]
    fn an_api_error_names_the_request_and_the_object() {
        let error = Error::api::<StorageNode>(Verb::Apply, Some("ns"), "g-0")(refused(409));
        let message = error.to_string();
        assert!(
            message.starts_with("server-side apply of StorageNode ns/g-0 failed: "),
            "{message}"
        );
        assert_eq!(error.metric_label(), "conflict");
    }

    #[test]
    fn api_errors_are_classified_by_status_code() {
        let label = |code| Error::api::<StorageNode>(Verb::Get, None, "x")(refused(code));
        assert_eq!(label(404).metric_label(), "not_found");
        assert_eq!(label(403).metric_label(), "forbidden");
        assert_eq!(label(500).metric_label(), "api");
        assert!(!label(500).is_permanent());
    }

    #[test]
    fn an_invalid_spec_names_the_object_and_every_field() {
        let node: StorageNode = serde_json::from_value(serde_json::json!({
            "apiVersion": "grid.sutra.ai/v1alpha1", "kind": "StorageNode",
            "metadata": {"name": "g-0", "namespace": "ns"},
            "spec": {"ordinal": 0, "variant": "universal", "vector": {"dimension": 4}}
        }))
        .unwrap();
        let field = |path: &str| FieldError {
            path: path.to_owned(),
            value: "x".to_owned(),
            expected: "y".to_owned(),
        };
        let invalid = InvalidSpec {
            kind: "StorageNode",
            errors: vec![field("spec.a"), field("spec.b")],
        };
        let error = Error::invalid(&node, invalid);
        assert_eq!(
            error.to_string(),
            "StorageNode ns/g-0 is invalid: spec.a: got x, expected y; spec.b: got x, expected y"
        );
        assert!(error.is_permanent());
        assert_eq!(error.metric_label(), "invalid_spec");
    }
}
