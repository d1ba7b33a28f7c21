//! Checked parsing of manifests, for readers without an API server (the local agent).
//!
//! An API server prunes unknown fields silently; a local reader must instead reject them,
//! or a typo such as `replica: 3` would quietly run one replica. Spec structs deny unknown
//! fields through serde; `metadata` and the top level are checked by comparing the
//! document with its typed round-trip, since those types are not ours.

use kube::Resource;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_yaml::Value;

use super::grid::StorageGrid;
use super::node::StorageNode;

/// Why a manifest could not be read as the expected resource.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest is not valid YAML: {0}")]
    Yaml(#[source] serde_yaml::Error),
    #[error("manifest has apiVersion {api_version:?} and kind {kind:?}, expected {expected}")]
    WrongType {
        api_version: String,
        kind: String,
        expected: String,
    },
    #[error("manifest does not match the {kind} schema: {source}")]
    Schema {
        kind: String,
        #[source]
        source: serde_yaml::Error,
    },
    #[error("manifest has unknown fields {}, which {kind} does not define", .paths.join(", "))]
    UnknownFields { kind: String, paths: Vec<String> },
}

/// Parses one `StorageGrid` document, rejecting other kinds and unknown fields.
pub fn parse_storage_grid_yaml(text: &str) -> Result<StorageGrid, ManifestError> {
    parse_resource(text)
}

/// Parses one `StorageNode` document, rejecting other kinds and unknown fields.
pub fn parse_storage_node_yaml(text: &str) -> Result<StorageNode, ManifestError> {
    parse_resource(text)
}

fn parse_resource<K>(text: &str) -> Result<K, ManifestError>
where
    K: Resource<DynamicType = ()> + Serialize + DeserializeOwned,
{
    let document: Value = serde_yaml::from_str(text).map_err(ManifestError::Yaml)?;
    check_type::<K>(&document)?;
    let kind = K::kind(&()).into_owned();
    let resource: K =
        serde_yaml::from_value(document.clone()).map_err(|source| ManifestError::Schema {
            kind: kind.clone(),
            source,
        })?;
    let round_trip = serde_yaml::to_value(&resource).map_err(ManifestError::Yaml)?;
    let mut paths = Vec::new();
    collect_dropped_fields(&document, &round_trip, "", &mut paths);
    if paths.is_empty() {
        Ok(resource)
    } else {
        Err(ManifestError::UnknownFields { kind, paths })
    }
}

fn check_type<K: Resource<DynamicType = ()>>(document: &Value) -> Result<(), ManifestError> {
    let field = |name: &str| {
        document
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (api_version, kind) = (field("apiVersion"), field("kind"));
    if api_version == K::api_version(&()) && kind == K::kind(&()) {
        return Ok(());
    }
    Err(ManifestError::WrongType {
        api_version,
        kind,
        expected: format!("{} {}", K::api_version(&()), K::kind(&())),
    })
}

/// Paths of mapping keys present in `original` but gone from `round_trip`: fields the
/// typed model does not know. Null and empty values count as absent: optional fields and
/// empty lists or maps serialise as nothing.
fn collect_dropped_fields(original: &Value, round_trip: &Value, path: &str, out: &mut Vec<String>) {
    match (original, round_trip) {
        (Value::Mapping(original), Value::Mapping(round_trip)) => {
            for (key, value) in original {
                let child = child_path(path, key);
                match round_trip.get(key) {
                    Some(kept) => collect_dropped_fields(value, kept, &child, out),
                    None if is_empty(value) => {}
                    None => out.push(child),
                }
            }
        }
        (Value::Sequence(original), Value::Sequence(round_trip)) => {
            for (index, (value, kept)) in original.iter().zip(round_trip).enumerate() {
                collect_dropped_fields(value, kept, &format!("{path}[{index}]"), out);
            }
        }
        _ => {}
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Mapping(mapping) => mapping.is_empty(),
        Value::Sequence(sequence) => sequence.is_empty(),
        _ => false,
    }
}

fn child_path(parent: &str, key: &Value) -> String {
    let key = match key {
        Value::String(key) => key.clone(),
        other => serde_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_owned(),
    };
    if parent.is_empty() {
        key
    } else {
        format!("{parent}.{key}")
    }
}
