//! The generated CRDs: checked-in YAML in step with the types, structural schemas, CEL
//! rules, printer columns and names as ARCHITECTURE.md fixes them.

use std::collections::BTreeSet;
use std::path::PathBuf;

use kube::CustomResourceExt;
use serde_json::{Value, json};
use sutra_core::crd::structural::{crd_structural_violations, structural_violations};
use sutra_core::crd::{
    GENERATED_HEADER, StorageGrid, StorageNode, crd_files, crds, generate_crds_yaml,
};
use sutra_core::variant::VariantCatalog;

const REGENERATE: &str = "run: cargo run -p sutra-grid -- crds --output-dir crds (or `make crds`)";

fn crds_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crds")
}

fn crd_json<K: CustomResourceExt>() -> Value {
    serde_json::to_value(K::crd()).unwrap()
}

fn schema_of(crd: &Value) -> &Value {
    &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
}

/// The schema of a field given as a dotted path, e.g. `spec.vector.dimension`.
fn field<'a>(schema: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(schema, |node, name| {
        let child = &node["properties"][name];
        assert!(
            !child.is_null(),
            "schema has no field {path} (stopped at {name})"
        );
        child
    })
}

fn rules(schema: &Value, path: &str) -> Vec<String> {
    field(schema, path)["x-kubernetes-validations"]
        .as_array()
        .unwrap_or_else(|| panic!("{path} has no x-kubernetes-validations"))
        .iter()
        .map(|rule| rule["rule"].as_str().unwrap().to_owned())
        .collect()
}

fn catalog_list(with_auto: bool) -> String {
    let names: Vec<String> = VariantCatalog::builtin()
        .names()
        .into_iter()
        .map(|name| name.to_string())
        .collect();
    let auto = with_auto.then(|| "auto".to_owned());
    let quoted: Vec<String> = auto
        .into_iter()
        .chain(names)
        .map(|name| format!("'{name}'"))
        .collect();
    format!("[{}]", quoted.join(", "))
}

#[test]
fn checked_in_crds_match_the_types_byte_for_byte() {
    for file in crd_files() {
        let path = crds_dir().join(&file.file_name);
        let checked_in = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}; {REGENERATE}", path.display()));
        assert!(
            checked_in == file.contents,
            "{} is out of date with core/src/crd; {REGENERATE}",
            path.display()
        );
    }
}

#[test]
fn crds_directory_holds_only_generated_files() {
    let generated: BTreeSet<String> = crd_files().into_iter().map(|f| f.file_name).collect();
    let present: BTreeSet<String> = std::fs::read_dir(crds_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        present, generated,
        "stale or missing CRD files; {REGENERATE}"
    );
}

#[test]
fn generated_files_are_named_after_the_crd_and_carry_the_header() {
    let names: Vec<String> = crd_files().into_iter().map(|f| f.file_name).collect();
    assert_eq!(
        names,
        [
            "storagegrids.grid.sutra.ai.yaml",
            "storagenodes.grid.sutra.ai.yaml"
        ]
    );
    for file in crd_files() {
        assert!(file.contents.starts_with(GENERATED_HEADER));
        assert_eq!(GENERATED_HEADER.lines().count(), 1);
    }
}

#[test]
fn multi_document_stream_is_deterministic_and_parses_back() {
    let yaml = generate_crds_yaml();
    assert_eq!(yaml, generate_crds_yaml());
    let documents: Vec<Value> = serde_yaml::Deserializer::from_str(&yaml)
        .map(|doc| serde_yaml::with::singleton_map_recursive::deserialize(doc).unwrap())
        .collect();
    let expected: Vec<Value> = crds()
        .iter()
        .map(|crd| serde_json::to_value(crd).unwrap())
        .collect();
    assert_eq!(documents, expected);
}

#[test]
fn generated_schemas_are_structural() {
    for crd in crds() {
        let violations = crd_structural_violations(&crd);
        assert!(
            violations.is_empty(),
            "{:?} is not structural:\n{}",
            crd.metadata.name,
            violations
                .iter()
                .map(|v| format!("  {v}\n"))
                .collect::<String>()
        );
    }
}

#[test]
fn generated_schemas_have_no_refs_or_typed_junctors_anywhere() {
    fn visit(node: &Value, path: &str) {
        match node {
            Value::Object(map) => {
                assert!(!map.contains_key("$ref"), "$ref at {path}");
                for junctor in ["anyOf", "oneOf", "allOf"] {
                    if let Some(branches) = map.get(junctor) {
                        let int_or_string =
                            map.get("x-kubernetes-int-or-string") == Some(&json!(true));
                        assert!(int_or_string, "{junctor} at {path}: {branches}");
                    }
                }
                for (key, child) in map {
                    visit(child, &format!("{path}/{key}"));
                }
            }
            Value::Array(items) => items.iter().for_each(|item| visit(item, path)),
            _ => {}
        }
    }
    for crd in crds() {
        visit(&serde_json::to_value(&crd).unwrap(), "");
    }
}

#[test]
fn checker_flags_an_untyped_field() {
    let schema = json!({"type": "object", "properties": {"spec": {"properties": {}}}});
    let violations = structural_violations(&schema);
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert_eq!(violations[0].path, ".spec");
    assert_eq!(violations[0].problem, "has no type");
}

#[test]
fn checker_flags_a_ref() {
    let schema = json!({"type": "object", "properties": {
        "spec": {"type": "object", "$ref": "#/definitions/Spec"}
    }});
    let violations = structural_violations(&schema);
    assert!(
        violations
            .iter()
            .any(|v| v.path == ".spec" && v.problem.contains("$ref"))
    );
}

#[test]
fn checker_flags_types_inside_any_of() {
    // What schemars emits for `Option<Enum>` before kube's rewrite.
    let schema = json!({"type": "object", "properties": {"phase": {
        "anyOf": [{"type": "string", "enum": ["A", "B"]}, {"type": "null", "nullable": true}]
    }}});
    let problems: Vec<String> = structural_violations(&schema)
        .into_iter()
        .map(|v| v.to_string())
        .collect();
    assert!(
        problems.contains(&".phase: has no type".to_owned()),
        "{problems:?}"
    );
    assert!(
        problems.contains(&".phase(anyOf[0]): sets type inside allOf/anyOf/oneOf/not".to_owned()),
        "{problems:?}"
    );
    assert!(
        problems
            .contains(&".phase(anyOf[1]): sets nullable inside allOf/anyOf/oneOf/not".to_owned()),
        "{problems:?}"
    );
}

#[test]
fn checker_flags_fields_declared_only_inside_a_junctor() {
    let schema = json!({"type": "object", "oneOf": [
        {"required": ["a"], "properties": {"a": {"type": "string"}}}
    ]});
    let violations = structural_violations(&schema);
    assert!(
        violations
            .iter()
            .any(|v| v.problem == "property \"a\" is specified only inside the junctor"),
        "{violations:?}"
    );
}

#[test]
fn checker_flags_type_lists_arrays_without_items_and_forbidden_keywords() {
    let schema = json!({"type": "object", "properties": {
        "name": {"type": ["string", "null"]},
        "list": {"type": "array"},
        "set": {"type": "array", "items": {"type": "string"}, "uniqueItems": true},
        "both": {"type": "object", "properties": {"a": {"type": "string"}},
                 "additionalProperties": {"type": "string"}},
        "closed": {"type": "object", "additionalProperties": false},
        "maybe": {"type": "string", "nullable": "yes"},
        "conditions": {"type": "array", "x-kubernetes-list-type": "map",
                       "x-kubernetes-list-map-keys": ["type"],
                       "items": {"type": "object", "properties": {"type": {"type": "string"}}}}
    }});
    let paths: BTreeSet<String> = structural_violations(&schema)
        .into_iter()
        .map(|v| v.path)
        .collect();
    let expected: BTreeSet<String> = [
        ".name",
        ".list",
        ".set",
        ".both",
        ".closed",
        ".maybe",
        ".conditions",
    ]
    .map(str::to_owned)
    .into();
    assert_eq!(paths, expected);
}

#[test]
fn checker_flags_metadata_restrictions_beyond_name() {
    let schema = json!({"type": "object", "properties": {"metadata": {
        "type": "object", "properties": {"labels": {"type": "object"}}
    }}});
    let violations = structural_violations(&schema);
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(violations[0].problem.contains("labels"));
}

#[test]
fn checker_accepts_int_or_string_and_preserved_unknown_fields() {
    let schema = json!({"type": "object", "properties": {
        "port": {"x-kubernetes-int-or-string": true,
                 "anyOf": [{"type": "integer"}, {"type": "string"}]},
        "quantity": {"x-kubernetes-int-or-string": true, "nullable": true},
        "raw": {"x-kubernetes-preserve-unknown-fields": true},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}}
    }});
    assert_eq!(structural_violations(&schema), vec![]);
}

#[test]
fn names_scope_and_subresources_are_as_documented() {
    for (crd, plural, short, kind) in [
        (
            crd_json::<StorageGrid>(),
            "storagegrids",
            "sg",
            "StorageGrid",
        ),
        (
            crd_json::<StorageNode>(),
            "storagenodes",
            "sn",
            "StorageNode",
        ),
    ] {
        let spec = &crd["spec"];
        assert_eq!(crd["metadata"]["name"], format!("{plural}.grid.sutra.ai"));
        assert_eq!(spec["group"], "grid.sutra.ai");
        assert_eq!(spec["scope"], "Namespaced");
        assert_eq!(spec["names"]["kind"], kind);
        assert_eq!(spec["names"]["plural"], plural);
        assert_eq!(spec["names"]["shortNames"], json!([short]));
        let version = &spec["versions"][0];
        assert_eq!(version["name"], "v1alpha1");
        assert_eq!(version["served"], true);
        assert_eq!(version["storage"], true);
        assert_eq!(version["subresources"]["status"], json!({}));
    }
    let grid = crd_json::<StorageGrid>();
    assert_eq!(
        grid["spec"]["versions"][0]["subresources"]["scale"],
        json!({"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"})
    );
}

fn printer_columns(crd: &Value) -> Vec<(String, String, u64)> {
    crd["spec"]["versions"][0]["additionalPrinterColumns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_uppercase(),
                c["jsonPath"].as_str().unwrap().to_owned(),
                c["priority"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

#[test]
fn storage_node_columns_show_node_variant_platform_phase_ready_age() {
    let columns = printer_columns(&crd_json::<StorageNode>());
    let default_columns: Vec<(&str, &str)> = columns
        .iter()
        .filter(|(_, _, priority)| *priority == 0)
        .map(|(name, path, _)| (name.as_str(), path.as_str()))
        .collect();
    assert_eq!(
        default_columns,
        [
            ("NODE", ".status.nodeName"),
            ("VARIANT", ".status.variant"),
            ("PLATFORM", ".status.platformSummary"),
            ("PHASE", ".status.phase"),
            ("READY", r#".status.conditions[?(@.type=="Ready")].status"#),
            ("AGE", ".metadata.creationTimestamp"),
        ]
    );
}

#[test]
fn storage_grid_columns_show_replicas_ready_age() {
    let columns = printer_columns(&crd_json::<StorageGrid>());
    let names: Vec<(&str, &str)> = columns
        .iter()
        .map(|(name, path, _)| (name.as_str(), path.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("REPLICAS", ".spec.replicas"),
            ("READY", ".status.readyReplicas"),
            ("AGE", ".metadata.creationTimestamp"),
        ]
    );
}

#[test]
fn replicas_rule_and_bounds() {
    let crd = crd_json::<StorageGrid>();
    let schema = schema_of(&crd);
    assert_eq!(rules(schema, "spec.replicas"), ["self >= 0"]);
    assert_eq!(field(schema, "spec.replicas")["minimum"], json!(0.0));
    assert_eq!(field(schema, "spec.replicas")["default"], json!(1));
}

#[test]
fn dimension_bounded_and_dimension_and_metric_immutable_on_both_kinds() {
    for crd in [crd_json::<StorageGrid>(), crd_json::<StorageNode>()] {
        let schema = schema_of(&crd);
        assert_eq!(
            rules(schema, "spec.vector.dimension"),
            ["self >= 1 && self <= 65536", "self == oldSelf"]
        );
        assert_eq!(rules(schema, "spec.vector.metric"), ["self == oldSelf"]);
        let dimension = field(schema, "spec.vector.dimension");
        assert_eq!(dimension["minimum"], json!(1.0));
        assert_eq!(dimension["maximum"], json!(65536.0));
        assert_eq!(
            field(schema, "spec.vector")["required"],
            json!(["dimension"])
        );
        let required = spec_required(schema);
        assert!(required.contains(&json!("vector")), "{required:?}");
    }
}

/// The fields `spec` requires.
fn spec_required(schema: &Value) -> &[Value] {
    field(schema, "spec")["required"].as_array().unwrap()
}

/// `spec.variant`'s one rule is `self in [...]` over the catalog (and `auto` when
/// `with_auto`); returns the rule.
fn assert_variant_rule(schema: &Value, with_auto: bool) -> String {
    let expected = format!("self in {}", catalog_list(with_auto));
    assert_eq!(
        rules(schema, "spec.variant"),
        std::slice::from_ref(&expected)
    );
    expected
}

#[test]
fn grid_variant_is_auto_or_a_catalog_name() {
    let crd = crd_json::<StorageGrid>();
    let schema = schema_of(&crd);
    let expected = assert_variant_rule(schema, true);
    for name in [
        "'auto'",
        "'universal'",
        "'x86-64-v4'",
        "'graviton3'",
        "'pi5'",
    ] {
        assert!(expected.contains(name), "{expected}");
    }
    assert_eq!(field(schema, "spec.variant")["default"], "auto");
    assert_eq!(field(schema, "spec.variant")["maxLength"], 63);
    for name in VariantCatalog::builtin().names() {
        assert!(
            name.len() <= 63,
            "{name} does not fit the variant maxLength"
        );
    }
}

#[test]
fn node_variant_is_a_catalog_name_never_auto() {
    let crd = crd_json::<StorageNode>();
    let schema = schema_of(&crd);
    let expected = assert_variant_rule(schema, false);
    assert!(!expected.contains("'auto'"));
    let required = spec_required(schema);
    assert!(required.contains(&json!("variant")), "{required:?}");
}

#[test]
fn every_rule_has_a_message() {
    fn visit(node: &Value, out: &mut Vec<Value>) {
        match node {
            Value::Object(map) => {
                if let Some(Value::Array(rules)) = map.get("x-kubernetes-validations") {
                    out.extend(rules.iter().cloned());
                }
                map.values().for_each(|child| visit(child, out));
            }
            Value::Array(items) => items.iter().for_each(|item| visit(item, out)),
            _ => {}
        }
    }
    for crd in crds() {
        let mut found = Vec::new();
        visit(&serde_json::to_value(&crd).unwrap(), &mut found);
        assert!(!found.is_empty());
        for rule in found {
            assert!(
                rule["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{rule}"
            );
        }
    }
}

#[test]
fn enums_are_plain_string_enums_with_their_wire_values() {
    let grid = crd_json::<StorageGrid>();
    let node = crd_json::<StorageNode>();
    let cases = [
        (
            schema_of(&grid),
            "spec.vector.metric",
            json!(["cosine", "dot", "l2"]),
        ),
        (
            schema_of(&grid),
            "spec.vector.compression",
            json!(["auto", "none", "int8"]),
        ),
        (
            schema_of(&grid),
            "spec.image.pullPolicy",
            json!(["IfNotPresent", "Always", "Never"]),
        ),
        (
            schema_of(&grid),
            "spec.placement.onNodeLoss",
            json!(["Wait", "Reschedule"]),
        ),
        (
            schema_of(&grid),
            "spec.storage.reclaimPolicy",
            json!(["Delete", "Retain"]),
        ),
        (
            schema_of(&node),
            "status.phase",
            json!(["Pending", "Scheduled", "Running", "Ready", "Failed"]),
        ),
    ];
    for (schema, path, values) in cases {
        let node = field(schema, path);
        assert_eq!(node["type"], "string", "{path}");
        let mut got: Vec<Value> = node["enum"].as_array().unwrap().clone();
        let mut want: Vec<Value> = values.as_array().unwrap().clone();
        got.sort_by_key(Value::to_string);
        want.sort_by_key(Value::to_string);
        assert_eq!(got, want, "{path}");
    }
}

#[test]
fn optional_objects_survive_as_nullable_typed_objects() {
    let node = crd_json::<StorageNode>();
    let schema = schema_of(&node);
    for path in ["status", "status.platform", "spec.resources"] {
        let object = field(schema, path);
        assert_eq!(object["type"], "object", "{path}");
        assert_eq!(object["nullable"], true, "{path}");
    }
    let quantity = &field(schema, "spec.resources.limits")["additionalProperties"];
    assert_eq!(quantity["x-kubernetes-int-or-string"], true);
    assert_eq!(field(schema, "status.platform.arch")["type"], "string");
}

#[test]
fn conditions_are_a_list_map_keyed_by_type_with_rfc3339_times() {
    for crd in [crd_json::<StorageGrid>(), crd_json::<StorageNode>()] {
        let conditions = field(schema_of(&crd), "status.conditions");
        assert_eq!(conditions["x-kubernetes-list-type"], "map");
        assert_eq!(conditions["x-kubernetes-list-map-keys"], json!(["type"]));
        let item = &conditions["items"];
        for key in ["type", "status", "reason", "message", "lastTransitionTime"] {
            assert!(
                item["required"].as_array().unwrap().contains(&json!(key)),
                "{key}"
            );
        }
        assert_eq!(
            item["properties"]["lastTransitionTime"]["format"],
            "date-time"
        );
        assert_eq!(item["properties"]["observedGeneration"]["type"], "integer");
    }
}

#[test]
fn minimal_grid_defaults_are_in_the_schema_for_the_api_server() {
    let crd = crd_json::<StorageGrid>();
    let schema = schema_of(&crd);
    let defaults = [
        (
            "spec.image.repository",
            json!("ghcr.io/sutra-ai/sutra-storage"),
        ),
        ("spec.image.tag", json!(env!("CARGO_PKG_VERSION"))),
        ("spec.image.pullPolicy", json!("IfNotPresent")),
        ("spec.placement.onNodeLoss", json!("Wait")),
        ("spec.placement.nodeLossGracePeriodSeconds", json!(300)),
        ("spec.storage.size", json!("10Gi")),
        ("spec.storage.reclaimPolicy", json!("Retain")),
        ("spec.vector.metric", json!("cosine")),
        ("spec.vector.compression", json!("auto")),
        ("spec.ports.grpc", json!(50051)),
        ("spec.ports.metrics", json!(9090)),
    ];
    for (path, value) in defaults {
        assert_eq!(field(schema, path)["default"], value, "{path}");
    }
}

#[test]
fn variant_policy_is_a_plain_enum_that_must_agree_with_the_variant() {
    let grid = crd_json::<StorageGrid>();
    let schema = schema_of(&grid);
    let policy = field(schema, "spec.variantPolicy");
    assert_eq!(policy["type"], "string");
    assert_eq!(policy["enum"], json!(["Auto", "Labels", "Fixed"]));
    assert!(policy.get("nullable").is_none(), "{policy}");
    assert!(
        policy.get("default").is_none(),
        "absent means: follow `variant`"
    );
    let required = spec_required(schema);
    assert!(!required.contains(&json!("variantPolicy")), "{required:?}");
    let spec_rules = &field(schema, "spec")["x-kubernetes-validations"];
    assert_eq!(spec_rules[0]["fieldPath"], ".variantPolicy");
    assert_eq!(
        spec_rules[0]["rule"],
        "!has(self.variantPolicy) || ((self.variantPolicy == 'Fixed') == (self.variant != 'auto'))"
    );

    let node = crd_json::<StorageNode>();
    let node_policy = field(schema_of(&node), "spec.variantPolicy");
    assert_eq!(node_policy["enum"], json!(["Auto", "Labels", "Fixed"]));
    assert_eq!(node_policy["default"], "Fixed");
}
