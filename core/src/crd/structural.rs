//! Checks that an `openAPIV3Schema` is *structural*, as the API server demands before it
//! accepts a CRD (see "Specifying a structural schema" in the Kubernetes CRD docs).
//!
//! schemars emits `$ref`, `anyOf` and type lists that Kubernetes rejects, and kube-derive
//! rewrites only some of them, so the generated CRDs are walked by this checker in the tests.

use std::fmt;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{Map, Value};

const TYPES: [&str; 6] = ["object", "array", "string", "integer", "number", "boolean"];
const JUNCTORS: [&str; 3] = ["allOf", "anyOf", "oneOf"];
/// Keywords a schema inside `allOf`/`anyOf`/`oneOf`/`not` must not set: they belong to the
/// enclosing schema, whose shape may not depend on which branch matches.
const FORBIDDEN_IN_JUNCTOR: [&str; 5] = [
    "type",
    "description",
    "default",
    "additionalProperties",
    "nullable",
];

/// One way in which a schema is not structural.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StructuralViolation {
    /// Where in the schema, e.g. `.spec.vector.metric` or `.spec.tolerations[*]`.
    pub path: String,
    pub problem: String,
}

impl fmt::Display for StructuralViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.problem)
    }
}

/// Violations in every version schema of a CRD; a version without a schema is one.
pub fn crd_structural_violations(crd: &CustomResourceDefinition) -> Vec<StructuralViolation> {
    let mut out = Vec::new();
    for version in &crd.spec.versions {
        let schema = version
            .schema
            .as_ref()
            .and_then(|s| s.open_api_v3_schema.as_ref());
        let path = format!("{}:", version.name);
        match schema.map(serde_json::to_value) {
            Some(Ok(schema)) => walk(&schema, &path, Context::Root, &mut out),
            _ => out.push(violation(&path, "version has no openAPIV3Schema")),
        }
    }
    out
}

/// Violations in one `openAPIV3Schema` given as JSON; empty when it is structural.
pub fn structural_violations(schema: &Value) -> Vec<StructuralViolation> {
    let mut out = Vec::new();
    walk(schema, "", Context::Root, &mut out);
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    Root,
    Field,
    /// Inside `allOf`/`anyOf`/`oneOf`/`not`; `int_or_string` when the enclosing schema is
    /// `x-kubernetes-int-or-string`, the one place types are allowed there.
    Junctor {
        int_or_string: bool,
    },
}

fn walk(node: &Value, path: &str, context: Context, out: &mut Vec<StructuralViolation>) {
    let Some(schema) = node.as_object() else {
        out.push(violation(path, "schema must be an object"));
        return;
    };
    if schema.contains_key("$ref") {
        out.push(violation(path, "uses $ref; schemas must be inlined"));
    }
    match context {
        Context::Junctor { int_or_string } => {
            check_junctor_branch(schema, path, int_or_string, out)
        }
        Context::Root | Context::Field => check_type(schema, path, out),
    }
    if context == Context::Root {
        check_root_metadata(schema, path, out);
    }
    check_keywords(schema, path, out);
    walk_children(schema, path, context, out);
}

fn check_type(schema: &Map<String, Value>, path: &str, out: &mut Vec<StructuralViolation>) {
    match schema.get("type") {
        Some(Value::String(t)) if TYPES.contains(&t.as_str()) => {}
        Some(Value::String(t)) => out.push(violation(path, &format!("unknown type {t:?}"))),
        Some(other) => out.push(violation(
            path,
            &format!("type must be a single string, got {other}"),
        )),
        None if flag(schema, "x-kubernetes-int-or-string")
            || flag(schema, "x-kubernetes-preserve-unknown-fields") => {}
        None => out.push(violation(path, "has no type")),
    }
}

fn check_junctor_branch(
    schema: &Map<String, Value>,
    path: &str,
    int_or_string: bool,
    out: &mut Vec<StructuralViolation>,
) {
    for keyword in FORBIDDEN_IN_JUNCTOR {
        let allowed_type = keyword == "type"
            && int_or_string
            && matches!(
                schema.get("type").and_then(Value::as_str),
                Some("integer" | "string")
            );
        if schema.contains_key(keyword) && !allowed_type {
            out.push(violation(
                path,
                &format!("sets {keyword} inside allOf/anyOf/oneOf/not"),
            ));
        }
    }
}

/// `metadata` at the root may only restrict `name` and `generateName`.
fn check_root_metadata(
    schema: &Map<String, Value>,
    path: &str,
    out: &mut Vec<StructuralViolation>,
) {
    let metadata = schema
        .get("properties")
        .and_then(|p| p.get("metadata"))
        .and_then(|m| m.get("properties"))
        .and_then(Value::as_object);
    for key in metadata.into_iter().flat_map(Map::keys) {
        if key != "name" && key != "generateName" {
            out.push(violation(
                &format!("{path}.metadata"),
                &format!("restricts {key}; only name and generateName may be restricted"),
            ));
        }
    }
}

fn check_keywords(schema: &Map<String, Value>, path: &str, out: &mut Vec<StructuralViolation>) {
    if schema.contains_key("nullable") && !schema["nullable"].is_boolean() {
        out.push(violation(path, "nullable must be a boolean"));
    }
    if schema.get("type").and_then(Value::as_str) == Some("array") && !schema.contains_key("items")
    {
        out.push(violation(path, "array without items"));
    }
    if schema.get("items").is_some_and(|items| !items.is_object()) {
        out.push(violation(path, "items must be a single schema"));
    }
    if schema.contains_key("properties") && schema.contains_key("additionalProperties") {
        out.push(violation(
            path,
            "sets both properties and additionalProperties",
        ));
    }
    if schema
        .get("additionalProperties")
        .is_some_and(Value::is_boolean)
    {
        out.push(violation(
            path,
            "additionalProperties must be a schema (use x-kubernetes-preserve-unknown-fields)",
        ));
    }
    if flag(schema, "uniqueItems") {
        out.push(violation(path, "uniqueItems: true is not allowed"));
    }
    check_list_map(schema, path, out);
}

/// `x-kubernetes-list-type: map` needs key fields that every item has.
fn check_list_map(schema: &Map<String, Value>, path: &str, out: &mut Vec<StructuralViolation>) {
    if schema.get("x-kubernetes-list-type").and_then(Value::as_str) != Some("map") {
        return;
    }
    let keys: Vec<&str> = schema
        .get("x-kubernetes-list-map-keys")
        .and_then(Value::as_array)
        .map(|keys| keys.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if keys.is_empty() {
        out.push(violation(
            path,
            "list-type map without x-kubernetes-list-map-keys",
        ));
    }
    let items = schema.get("items");
    for key in keys {
        let required = items
            .and_then(|i| i.get("required"))
            .and_then(Value::as_array)
            .is_some_and(|r| r.iter().any(|k| k == key));
        let defaulted = items
            .and_then(|i| i.get("properties"))
            .and_then(|p| p.get(key))
            .is_some_and(|p| p.get("default").is_some());
        if !required && !defaulted {
            out.push(violation(
                path,
                &format!("list map key {key:?} is neither required nor defaulted in items"),
            ));
        }
    }
}

fn walk_children(
    schema: &Map<String, Value>,
    path: &str,
    context: Context,
    out: &mut Vec<StructuralViolation>,
) {
    let child_context = match context {
        Context::Junctor { .. } => Context::Junctor {
            int_or_string: false,
        },
        Context::Root | Context::Field => Context::Field,
    };
    if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            walk(property, &format!("{path}.{name}"), child_context, out);
        }
    }
    if let Some(items) = schema.get("items").filter(|items| items.is_object()) {
        walk(items, &format!("{path}[*]"), child_context, out);
    }
    if let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object()) {
        walk(values, &format!("{path}{{*}}"), child_context, out);
    }
    walk_junctors(schema, path, out);
}

fn walk_junctors(schema: &Map<String, Value>, path: &str, out: &mut Vec<StructuralViolation>) {
    let int_or_string = flag(schema, "x-kubernetes-int-or-string");
    let branch_context = Context::Junctor { int_or_string };
    for junctor in JUNCTORS {
        let Some(branches) = schema.get(junctor) else {
            continue;
        };
        let Some(branches) = branches.as_array() else {
            out.push(violation(path, &format!("{junctor} must be a list")));
            continue;
        };
        for (index, branch) in branches.iter().enumerate() {
            let branch_path = format!("{path}({junctor}[{index}])");
            walk(branch, &branch_path, branch_context, out);
            check_branch_fields_declared(schema, branch, &branch_path, out);
        }
    }
    if let Some(branch) = schema.get("not") {
        let branch_path = format!("{path}(not)");
        walk(branch, &branch_path, branch_context, out);
        check_branch_fields_declared(schema, branch, &branch_path, out);
    }
}

/// Every field a junctor branch mentions must also be specified outside the junctor.
fn check_branch_fields_declared(
    schema: &Map<String, Value>,
    branch: &Value,
    path: &str,
    out: &mut Vec<StructuralViolation>,
) {
    let declared = schema.get("properties").and_then(Value::as_object);
    let mentioned = branch.get("properties").and_then(Value::as_object);
    for name in mentioned.into_iter().flat_map(Map::keys) {
        if !declared.is_some_and(|d| d.contains_key(name)) {
            out.push(violation(
                path,
                &format!("property {name:?} is specified only inside the junctor"),
            ));
        }
    }
    if branch.get("items").is_some() && !schema.contains_key("items") {
        out.push(violation(
            path,
            "items are specified only inside the junctor",
        ));
    }
}

fn flag(schema: &Map<String, Value>, key: &str) -> bool {
    schema.get(key).and_then(Value::as_bool) == Some(true)
}

fn violation(path: &str, problem: &str) -> StructuralViolation {
    StructuralViolation {
        path: if path.is_empty() {
            "<root>".to_owned()
        } else {
            path.to_owned()
        },
        problem: problem.to_owned(),
    }
}
