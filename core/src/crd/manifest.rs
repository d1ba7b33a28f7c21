//! Checked parsing of manifests, for readers without an API server (the local agent).
//!
//! An API server prunes unknown fields silently; a local reader must instead reject them,
//! or a typo such as `replica: 3` would quietly run one replica. Spec structs deny unknown
//! fields through serde; `metadata` and the top level are checked by comparing the
//! document with its typed round-trip, since those types are not ours.
//!
//! Every field error names the field's full path (from `serde_path_to_error`), the value
//! as written and what the CRD's schema expects there, in the words of
//! [`FieldError`]: serde's own words (`invalid type: string "three", expected i32`,
//! `unknown variant`) name Rust types and clash with this project's image variants.

use kube::{CustomResourceExt, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value as Json;
use serde_yaml::Value;

use super::grid::StorageGrid;
use super::node::StorageNode;
use super::validate::{FieldError, join, list};

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
    /// Fields of the wrong type or value, unknown or missing; `line` of the first one when
    /// known.
    #[error("invalid {kind}: {}{}", join(.errors), line.map(|line| format!(" (line {line})")).unwrap_or_default())]
    Fields {
        kind: String,
        errors: Vec<FieldError>,
        line: Option<usize>,
    },
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
    K: Resource<DynamicType = ()> + CustomResourceExt + Serialize + DeserializeOwned,
{
    let document: Value = serde_yaml::from_str(text).map_err(ManifestError::Yaml)?;
    check_type::<K>(&document)?;
    let kind = K::kind(&()).into_owned();
    let resource: K = serde_path_to_error::deserialize(document.clone()).map_err(|error| {
        ManifestError::Fields {
            kind: kind.clone(),
            errors: vec![schema_error::<K>(&document, &error)],
            line: error_line::<K>(text),
        }
    })?;
    let round_trip = serde_yaml::to_value(&resource).map_err(ManifestError::Yaml)?;
    let mut paths = Vec::new();
    collect_dropped_fields(&document, &round_trip, "", &mut paths);
    if paths.is_empty() {
        return Ok(resource);
    }
    let schema = openapi_schema::<K>();
    let errors = paths
        .iter()
        .map(|path| unknown_field(&schema, path))
        .collect();
    Err(ManifestError::Fields {
        kind,
        errors,
        line: None,
    })
}

/// The line of the first schema error, which only a parse of the text itself knows.
fn error_line<K: DeserializeOwned>(text: &str) -> Option<usize> {
    let error = serde_yaml::from_str::<K>(text).err()?;
    error.location().map(|location| location.line())
}

/// The one field serde stopped at, as a [`FieldError`].
fn schema_error<K: CustomResourceExt>(
    document: &Value,
    error: &serde_path_to_error::Error<serde_yaml::Error>,
) -> FieldError {
    let schema = openapi_schema::<K>();
    let path = error.path().to_string();
    let message = error.inner().to_string();
    if message.starts_with("unknown field") {
        return unknown_field(&schema, &path);
    }
    if let Some(missing) = backticked(&message).filter(|_| message.starts_with("missing field")) {
        let path = child(&path, missing);
        let expected = format!("{}; the field is required", expected_at(&schema, &path));
        return field_error(path, "nothing".to_owned(), expected);
    }
    let value = value_at(document, &path).map_or(message, written);
    let expected = expected_at(&schema, &path);
    field_error(path, value, expected)
}

fn unknown_field(schema: &Json, path: &str) -> FieldError {
    let (parent, name) = path.rsplit_once('.').unwrap_or(("", path));
    let mut known: Vec<&str> = schema_at(schema, parent)
        .and_then(|node| node.get("properties"))
        .and_then(Json::as_object)
        .map(|properties| properties.keys().map(String::as_str).collect())
        .unwrap_or_default();
    if parent.is_empty() {
        // The CRD schema leaves out what every Kubernetes object has.
        known.extend(["apiVersion", "kind", "metadata"]);
    }
    known.sort_unstable();
    let expected = if known.is_empty() {
        "a field the Kubernetes object metadata defines".to_owned()
    } else {
        format!("one of the fields {}", list(known))
    };
    field_error(
        path.to_owned(),
        format!("an unknown field `{name}`"),
        expected,
    )
}

fn field_error(path: String, value: String, expected: String) -> FieldError {
    FieldError {
        path: if path.is_empty() {
            ".".to_owned()
        } else {
            path
        },
        value,
        expected,
    }
}

/// The `openAPIV3Schema` of `K`'s CRD, as JSON.
fn openapi_schema<K: CustomResourceExt>() -> Json {
    let crd = serde_json::to_value(K::crd()).expect("a CRD serialises to JSON");
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

/// The schema of the field at `path` (`spec.placement.tolerations[0].key`).
fn schema_at<'a>(schema: &'a Json, path: &str) -> Option<&'a Json> {
    path_segments(path).try_fold(schema, |node, segment| match segment {
        Segment::Key(key) => node.get("properties")?.get(key),
        Segment::Index(_) => node.get("items"),
    })
}

/// The value the manifest wrote at `path`.
fn value_at<'a>(document: &'a Value, path: &str) -> Option<&'a Value> {
    path_segments(path).try_fold(document, |node, segment| match segment {
        Segment::Key(key) => node.get(key),
        Segment::Index(index) => node.get(index),
    })
}

enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

/// `a.b[2].c` as `a`, `b`, `2`, `c`.
fn path_segments(path: &str) -> impl Iterator<Item = Segment<'_>> {
    path.split(['.', '['])
        .filter(|part| !part.is_empty())
        .map(|part| match part.strip_suffix(']').map(str::parse) {
            Some(Ok(index)) => Segment::Index(index),
            _ => Segment::Key(part),
        })
}

/// What the schema accepts at `path`, in words: `an integer from 1 to 65536`, `one of
/// `cosine`, `dot`, `l2``.
fn expected_at(schema: &Json, path: &str) -> String {
    let Some(node) = schema_at(schema, path) else {
        return "a value the schema defines".to_owned();
    };
    if let Some(values) = node.get("enum").and_then(Json::as_array) {
        let names: Vec<String> = values
            .iter()
            .map(|value| {
                value
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_owned)
            })
            .collect();
        return format!("one of {}", list(&names));
    }
    if node.get("x-kubernetes-int-or-string").is_some() {
        return "a number or a string".to_owned();
    }
    match node.get("type").and_then(Json::as_str) {
        Some("integer" | "number") => number_range(node),
        Some("string") => "a string".to_owned(),
        Some("boolean") => "true or false".to_owned(),
        Some("array") => "a list".to_owned(),
        Some("object") => "a mapping".to_owned(),
        _ => "a value the schema defines".to_owned(),
    }
}

fn number_range(node: &Json) -> String {
    let bound = |key| node.get(key).and_then(Json::as_f64);
    match (bound("minimum"), bound("maximum")) {
        (Some(min), Some(max)) => format!("an integer from {min} to {max}"),
        (Some(min), None) => format!("an integer >= {min}"),
        (None, Some(max)) => format!("an integer <= {max}"),
        (None, None) => "an integer".to_owned(),
    }
}

/// A value as the manifest wrote it: scalars verbatim (strings quoted), collections by
/// their shape.
fn written(value: &Value) -> String {
    match value {
        Value::String(text) => format!("{text:?}"),
        Value::Mapping(_) => "a mapping".to_owned(),
        Value::Sequence(_) => "a list".to_owned(),
        Value::Tagged(tagged) => written(&tagged.value),
        scalar => serde_yaml::to_string(scalar)
            .unwrap_or_default()
            .trim()
            .to_owned(),
    }
}

/// The first `` `name` `` in a serde message.
fn backticked(message: &str) -> Option<&str> {
    let (_, rest) = message.split_once('`')?;
    rest.split_once('`').map(|(name, _)| name)
}

fn child(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
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
    match key {
        Value::String(key) => child(parent, key),
        other => child(
            parent,
            serde_yaml::to_string(other).unwrap_or_default().trim(),
        ),
    }
}
