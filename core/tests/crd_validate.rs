//! Reading grids without an API server: defaults of a minimal manifest, rejection of
//! unknown fields and wrong kinds, value validation with named fields, round-trips, and
//! the condition helpers.

use k8s_openapi::jiff::Timestamp;
use sutra_core::crd::condition::{self, reason};
use sutra_core::crd::{
    ConditionStatus, FieldError, ManifestError, NodeLossPolicy, NodePhase, PullPolicy,
    ReclaimPolicy, StorageGrid, StorageGridStatus, StorageNode, StorageNodeStatus, Time,
    VectorSpec, find, is_quantity, is_true, new_condition, parse_storage_grid_yaml,
    parse_storage_node_yaml, set_condition,
};
use sutra_core::variant::VariantCatalog;
use sutra_core::vector::{Compression, Metric};

const MINIMAL_GRID: &str = "
apiVersion: grid.sutra.ai/v1alpha1
kind: StorageGrid
metadata:
  name: vectors
spec:
  replicas: 3
  vector:
    dimension: 768
";

const FULL_GRID: &str = r#"
apiVersion: grid.sutra.ai/v1alpha1
kind: StorageGrid
metadata:
  name: vectors
  namespace: search
  labels:
    team: search
spec:
  replicas: 2
  image:
    repository: ghcr.io/sutra-ai/sutra-storage
    tag: "0.2.0"
    pullPolicy: Always
  variant: graviton3
  placement:
    nodeSelector:
      kubernetes.io/arch: arm64
    tolerations:
      - key: dedicated
        operator: Equal
        value: storage
        effect: NoSchedule
    onNodeLoss: Reschedule
    nodeLossGracePeriodSeconds: 60
  storage:
    size: 50Gi
    storageClassName: gp3
    reclaimPolicy: Delete
  resources:
    requests:
      cpu: "2"
      memory: 4Gi
  vector:
    dimension: 1536
    metric: dot
    compression: int8
  ports:
    grpc: 6000
    metrics: 6001
"#;

fn catalog() -> Vec<&'static str> {
    VariantCatalog::builtin().names()
}

fn minimal_with(extra_spec_line: &str) -> String {
    MINIMAL_GRID.replace(
        "  replicas: 3\n",
        &format!("  replicas: 3\n{extra_spec_line}\n"),
    )
}

fn grid_errors(grid: &StorageGrid) -> Vec<FieldError> {
    match grid.validate(&catalog()) {
        Ok(()) => Vec::new(),
        Err(invalid) => invalid.errors,
    }
}

fn error_paths(grid: &StorageGrid) -> Vec<String> {
    grid_errors(grid).into_iter().map(|e| e.path).collect()
}

fn minimal_grid() -> StorageGrid {
    parse_storage_grid_yaml(MINIMAL_GRID).unwrap()
}

// --- parsing and defaults ---

#[test]
fn minimal_grid_gets_every_default() {
    let grid = minimal_grid();
    let spec = &grid.spec;
    assert_eq!(grid.metadata.name.as_deref(), Some("vectors"));
    assert_eq!(spec.replicas, 3);
    assert_eq!(spec.variant, "auto");
    assert_eq!(spec.image.repository, "ghcr.io/sutra-ai/sutra-storage");
    assert_eq!(spec.image.tag, env!("CARGO_PKG_VERSION"));
    assert_eq!(spec.image.pull_policy, PullPolicy::IfNotPresent);
    assert_eq!(
        spec.image.reference("graviton3"),
        format!(
            "ghcr.io/sutra-ai/sutra-storage:{}-graviton3",
            env!("CARGO_PKG_VERSION")
        )
    );
    assert!(spec.placement.node_selector.is_empty());
    assert!(spec.placement.tolerations.is_empty());
    assert_eq!(spec.placement.on_node_loss, NodeLossPolicy::Wait);
    assert_eq!(spec.placement.node_loss_grace_period_seconds, 300);
    assert_eq!(spec.storage.size, "10Gi");
    assert_eq!(spec.storage.storage_class_name, None);
    assert_eq!(spec.storage.reclaim_policy, ReclaimPolicy::Retain);
    assert_eq!(spec.resources, None);
    assert_eq!(spec.vector, VectorSpec::with_dimension(768));
    assert_eq!(spec.vector.metric, Metric::Cosine);
    assert_eq!(spec.vector.compression, Compression::Auto);
    assert_eq!((spec.ports.grpc, spec.ports.metrics), (50051, 9090));
    assert_eq!(grid.status, None);
    assert_eq!(grid.validate(&catalog()), Ok(()));
}

#[test]
fn replicas_default_to_one() {
    let grid = parse_storage_grid_yaml(&MINIMAL_GRID.replace("  replicas: 3\n", "")).unwrap();
    assert_eq!(grid.spec.replicas, 1);
}

#[test]
fn full_grid_reads_every_field() {
    let grid = parse_storage_grid_yaml(FULL_GRID).unwrap();
    let spec = &grid.spec;
    assert_eq!(
        spec.image.reference(&spec.variant),
        "ghcr.io/sutra-ai/sutra-storage:0.2.0-graviton3"
    );
    assert_eq!(spec.image.pull_policy, PullPolicy::Always);
    assert_eq!(spec.placement.node_selector["kubernetes.io/arch"], "arm64");
    assert_eq!(
        spec.placement.tolerations[0].key.as_deref(),
        Some("dedicated")
    );
    assert_eq!(spec.placement.on_node_loss, NodeLossPolicy::Reschedule);
    assert_eq!(spec.placement.node_loss_grace_period_seconds, 60);
    assert_eq!(spec.storage.storage_class_name.as_deref(), Some("gp3"));
    assert_eq!(spec.storage.reclaim_policy, ReclaimPolicy::Delete);
    let requests = spec.resources.as_ref().unwrap().requests.as_ref().unwrap();
    assert_eq!(requests["memory"].0, "4Gi");
    assert_eq!(
        (spec.vector.metric, spec.vector.compression),
        (Metric::Dot, Compression::Int8)
    );
    assert_eq!((spec.ports.grpc, spec.ports.metrics), (6000, 6001));
    assert_eq!(grid.validate(&catalog()), Ok(()));
}

#[test]
fn grid_round_trips_through_yaml_and_json() {
    let grid = parse_storage_grid_yaml(FULL_GRID).unwrap();
    let yaml = serde_yaml::to_string(&grid).unwrap();
    assert_eq!(parse_storage_grid_yaml(&yaml).unwrap(), grid);
    let json = serde_json::to_string(&grid).unwrap();
    assert_eq!(serde_json::from_str::<StorageGrid>(&json).unwrap(), grid);
}

#[test]
fn wire_values_of_enums_are_as_documented() {
    let grid = parse_storage_grid_yaml(FULL_GRID).unwrap();
    let json = serde_json::to_value(&grid).unwrap();
    assert_eq!(json["spec"]["vector"]["metric"], "dot");
    assert_eq!(json["spec"]["vector"]["compression"], "int8");
    assert_eq!(json["spec"]["image"]["pullPolicy"], "Always");
    assert_eq!(json["spec"]["placement"]["onNodeLoss"], "Reschedule");
    assert_eq!(json["spec"]["storage"]["reclaimPolicy"], "Delete");
    for metric in ["cosine", "dot", "l2"] {
        let text = minimal_with("").replace(
            "dimension: 768",
            &format!("dimension: 768\n    metric: {metric}"),
        );
        parse_storage_grid_yaml(&text).unwrap();
    }
}

#[test]
fn grid_status_round_trips_with_conditions() {
    let mut grid = minimal_grid();
    let mut status = StorageGridStatus {
        observed_generation: Some(4),
        replicas: 3,
        ready_replicas: 2,
        ..StorageGridStatus::default()
    };
    status.variants.insert("graviton3".into(), 2);
    status.variants.insert("universal".into(), 1);
    set_condition(
        &mut status.conditions,
        new_condition(
            condition::grid::READY,
            ConditionStatus::False,
            reason::REPLICAS_NOT_READY,
            "2/3 ready",
            Some(4),
            at("2025-01-02T03:04:05Z"),
        ),
    );
    grid.status = Some(status);
    let json = serde_json::to_value(&grid).unwrap();
    assert_eq!(json["status"]["readyReplicas"], 2);
    assert_eq!(json["status"]["variants"]["graviton3"], 2);
    assert_eq!(
        json["status"]["conditions"][0]["lastTransitionTime"],
        "2025-01-02T03:04:05Z"
    );
    assert_eq!(json["status"]["conditions"][0]["observedGeneration"], 4);
    let back: StorageGrid = serde_json::from_value(json).unwrap();
    assert_eq!(back, grid);
}

// --- rejected manifests ---

/// `message` contains `needle`; the whole message is shown when it does not.
fn assert_mentions(message: &str, needle: &str) {
    assert!(message.contains(needle), "{needle:?} not in: {message}");
}

/// The message of the field errors a StorageGrid manifest must be refused with.
fn fields_error(text: &str) -> String {
    match parse_storage_grid_yaml(text) {
        Err(error @ ManifestError::Fields { .. }) => error.to_string(),
        other => panic!("expected field errors, got {other:?}"),
    }
}

/// [`fields_error`] of the minimal grid with `from` replaced by `to`.
fn rejected_edit(from: &str, to: &str) -> String {
    let text = MINIMAL_GRID.replace(from, to);
    assert_ne!(text, MINIMAL_GRID, "{from:?} is in the minimal grid");
    fields_error(&text)
}

#[test]
fn unknown_spec_field_is_rejected_with_its_name() {
    let message = fields_error(&minimal_with("  replica: 3"));
    assert_mentions(&message, "spec.replica: got an unknown field `replica`");
    assert!(
        message.contains("replicas"),
        "lists the expected fields: {message}"
    );
}

#[test]
fn unknown_nested_spec_fields_are_rejected() {
    for (line, name) in [
        ("  image:\n    tags: latest", "tags"),
        ("  placement:\n    nodeSelectors: {}", "nodeSelectors"),
        ("  storage:\n    class: gp3", "class"),
        ("  ports:\n    http: 80", "http"),
    ] {
        let message = fields_error(&minimal_with(line));
        assert_mentions(&message, &format!("got an unknown field `{name}`"));
    }
    let message = rejected_edit("dimension: 768", "dimension: 768\n    metrics: dot");
    assert_mentions(
        &message,
        "spec.vector.metrics: got an unknown field `metrics`, expected one of the fields `compression`, `dimension`, `metric`",
    );
}

#[test]
fn unknown_top_level_and_metadata_fields_are_rejected_with_their_paths() {
    let text = format!("{MINIMAL_GRID}specs:\n  replicas: 2\n").replace(
        "  name: vectors\n",
        "  name: vectors\n  lables:\n    a: b\n",
    );
    match parse_storage_grid_yaml(&text) {
        Err(ManifestError::Fields { kind, errors, .. }) => {
            assert_eq!(kind, "StorageGrid");
            let paths: Vec<&str> = errors.iter().map(|error| error.path.as_str()).collect();
            assert_eq!(paths, ["metadata.lables", "specs"]);
            assert!(errors[1].expected.contains("`spec`"), "{errors:?}");
        }
        other => panic!("expected unknown fields, got {other:?}"),
    }
}

#[test]
fn unknown_field_inside_a_toleration_is_rejected() {
    let text =
        minimal_with("  placement:\n    tolerations:\n      - key: a\n        effects: NoSchedule");
    match parse_storage_grid_yaml(&text) {
        Err(ManifestError::Fields { errors, .. }) => {
            assert_eq!(errors[0].path, "spec.placement.tolerations[0].effects");
            assert!(errors[0].expected.contains("`effect`"), "{errors:?}");
        }
        other => panic!("expected unknown fields, got {other:?}"),
    }
}

#[test]
fn empty_and_null_optional_fields_are_not_unknown() {
    let text = minimal_with(
        "  placement:\n    nodeSelector: {}\n    tolerations: []\n  storage:\n    storageClassName: null",
    );
    parse_storage_grid_yaml(&text).unwrap();
}

#[test]
fn missing_dimension_is_named() {
    let message = rejected_edit("    dimension: 768\n", "    metric: l2\n");
    assert_mentions(
        &message,
        "spec.vector.dimension: got nothing, expected an integer from 1 to 65536; the field is required",
    );
}

#[test]
fn bad_enum_value_lists_the_accepted_ones() {
    let message = rejected_edit("dimension: 768", "dimension: 768\n    metric: euclid");
    assert_mentions(
        &message,
        "spec.vector.metric: got \"euclid\", expected one of `cosine`, `dot`, `l2`",
    );
    assert!(!message.contains("variant"), "{message}");
}

#[test]
fn type_errors_name_the_path_the_value_and_the_line() {
    let text = MINIMAL_GRID.replace("replicas: 3", "replicas: three");
    let message = fields_error(&text);
    let line = text
        .lines()
        .position(|line| line.contains("three"))
        .unwrap()
        + 1;
    assert_eq!(
        message,
        format!(
            "invalid StorageGrid: spec.replicas: got \"three\", expected an integer >= 0 (line {line})"
        )
    );
}

#[test]
fn other_kinds_and_versions_are_rejected() {
    let node = MINIMAL_GRID.replace("kind: StorageGrid", "kind: StorageNode");
    match parse_storage_grid_yaml(&node) {
        Err(ManifestError::WrongType { kind, expected, .. }) => {
            assert_eq!(kind, "StorageNode");
            assert_eq!(expected, "grid.sutra.ai/v1alpha1 StorageGrid");
        }
        other => panic!("expected WrongType, got {other:?}"),
    }
    let old = MINIMAL_GRID.replace("v1alpha1", "v1beta9");
    assert!(matches!(
        parse_storage_grid_yaml(&old),
        Err(ManifestError::WrongType { .. })
    ));
}

#[test]
fn invalid_yaml_is_reported_as_such() {
    let error = parse_storage_grid_yaml("spec: [unclosed").unwrap_err();
    assert!(matches!(error, ManifestError::Yaml(_)), "{error:?}");
}

// --- value validation ---

#[test]
fn negative_replicas_are_named_with_value_and_expectation() {
    let mut grid = minimal_grid();
    grid.spec.replicas = -1;
    let errors = grid_errors(&grid);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].path, "spec.replicas");
    assert_eq!(errors[0].value, "-1");
    assert_eq!(
        errors[0].to_string(),
        "spec.replicas: got -1, expected an integer >= 0"
    );
    grid.spec.replicas = 0;
    assert_eq!(grid_errors(&grid), vec![]);
}

#[test]
fn dimension_must_be_within_1_to_65536() {
    let mut grid = minimal_grid();
    for bad in [0, 65_537, u32::MAX] {
        grid.spec.vector.dimension = bad;
        let errors = grid_errors(&grid);
        assert_eq!(errors.len(), 1, "{bad}");
        assert_eq!(errors[0].path, "spec.vector.dimension");
        assert_eq!(errors[0].value, bad.to_string());
        assert_eq!(errors[0].expected, "an integer from 1 to 65536");
    }
    for good in [1, 65_536] {
        grid.spec.vector.dimension = good;
        assert_eq!(grid_errors(&grid), vec![], "{good}");
    }
}

#[test]
fn variant_must_be_auto_or_a_catalog_name() {
    let mut grid = minimal_grid();
    for good in std::iter::once("auto").chain(catalog()) {
        grid.spec.variant = good.to_owned();
        assert_eq!(grid_errors(&grid), vec![], "{good}");
    }
    grid.spec.variant = "graviton9".into();
    let errors = grid_errors(&grid);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].path, "spec.variant");
    assert_eq!(errors[0].value, "\"graviton9\"");
    assert!(
        errors[0]
            .expected
            .starts_with("`auto` or one of `universal`"),
        "{}",
        errors[0].expected
    );
    assert!(errors[0].expected.contains("`graviton3`"));
}

#[test]
fn variant_policy_must_agree_with_the_variant() {
    use sutra_core::crd::VariantPolicy::{Auto, Fixed, Labels};
    let mut grid = minimal_grid();
    assert_eq!(grid.spec.effective_variant_policy(), Auto);
    for (variant, policy, valid) in [
        ("auto", Auto, true),
        ("auto", Labels, true),
        ("auto", Fixed, false),
        ("universal", Fixed, true),
        ("universal", Auto, false),
        ("universal", Labels, false),
    ] {
        grid.spec.variant = variant.to_owned();
        grid.spec.variant_policy = Some(policy);
        let errors = grid_errors(&grid);
        assert_eq!(errors.is_empty(), valid, "{variant} {policy:?}: {errors:?}");
        if !valid {
            assert_eq!(errors[0].path, "spec.variantPolicy");
            assert_eq!(errors[0].value, policy.as_str());
        }
    }
    grid.spec.variant_policy = None;
    grid.spec.variant = "universal".into();
    assert_eq!(grid.spec.effective_variant_policy(), Fixed);
    let text = minimal_with("  variant: auto\n  variantPolicy: Labels");
    let parsed = parse_storage_grid_yaml(&text).unwrap();
    assert_eq!(parsed.spec.variant_policy, Some(Labels));
}

#[test]
fn other_fields_are_checked_too() {
    let mut grid = minimal_grid();
    grid.spec.storage.size = "10 gigs".into();
    grid.spec.ports.grpc = 0;
    grid.spec.ports.metrics = 70_000;
    grid.spec.placement.node_loss_grace_period_seconds = -5;
    grid.spec.image.tag = " ".into();
    assert_eq!(
        error_paths(&grid),
        [
            "spec.image.tag",
            "spec.placement.nodeLossGracePeriodSeconds",
            "spec.storage.size",
            "spec.ports.grpc",
            "spec.ports.metrics",
        ]
    );
}

#[test]
fn ports_must_differ() {
    let mut grid = minimal_grid();
    grid.spec.ports.metrics = grid.spec.ports.grpc;
    let errors = grid_errors(&grid);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].expected, "a port different from spec.ports.grpc");
}

#[test]
fn every_error_is_reported_at_once() {
    let mut grid = minimal_grid();
    grid.spec.replicas = -3;
    grid.spec.vector.dimension = 0;
    grid.spec.variant = "fastest".into();
    let invalid = grid.validate(&catalog()).unwrap_err();
    assert_eq!(invalid.kind, "StorageGrid");
    let paths: Vec<&str> = invalid.errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        ["spec.replicas", "spec.variant", "spec.vector.dimension"]
    );
    let message = invalid.to_string();
    assert!(
        message.starts_with("invalid StorageGrid: spec.replicas: got -3"),
        "{message}"
    );
    assert_mentions(&message, "spec.variant: got \"fastest\"");
}

fn validation_errors(text: &str) -> Vec<FieldError> {
    let grid = parse_storage_grid_yaml(text).unwrap();
    grid.validate(&catalog()).unwrap_err().errors
}

#[test]
fn resource_quantities_are_checked_strictly_naming_the_field() {
    for bad in ["12 apples", "2GB"] {
        let text = minimal_with(&format!(
            "  resources:\n    requests:\n      cpu: 500m\n    limits:\n      memory: \"{bad}\""
        ));
        let errors = validation_errors(&text);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].path, "spec.resources.limits.memory");
        assert_eq!(errors[0].value, format!("{bad:?}"));
        assert!(errors[0].expected.contains("Ki, Mi, Gi"), "{errors:?}");
    }
    let text = minimal_with("  resources:\n    requests:\n      cpu: two");
    assert_eq!(
        validation_errors(&text)[0].path,
        "spec.resources.requests.cpu"
    );
    let text = minimal_with("  resources:\n    limits:\n      memory: 1.5Gi\n      cpu: \"2\"");
    let grid = parse_storage_grid_yaml(&text).unwrap();
    assert_eq!(grid.validate(&catalog()), Ok(()));
}

#[test]
fn grid_names_are_dns_labels_leaving_room_for_the_ordinal() {
    for bad in ["Local_Grid!", "-local", "local-", "UPPER", "a.b", ""] {
        let text = MINIMAL_GRID.replace("name: vectors", &format!("name: \"{bad}\""));
        let errors = validation_errors(&text);
        assert_eq!(errors[0].path, "metadata.name", "{bad}: {errors:?}");
        assert_eq!(errors[0].value, format!("{bad:?}"));
        assert!(
            errors[0]
                .expected
                .starts_with("a DNS-1123 label of 1 to 61 characters")
        );
    }
    // Three replicas: node names end in `-2`, so the grid name may have 61 characters.
    let longest = "a".repeat(61);
    let text = MINIMAL_GRID.replace("name: vectors", &format!("name: {longest}"));
    let grid = parse_storage_grid_yaml(&text).unwrap();
    assert_eq!(grid.validate(&catalog()), Ok(()));
    let text = MINIMAL_GRID.replace("name: vectors", &format!("name: {longest}a"));
    assert_eq!(validation_errors(&text)[0].path, "metadata.name");
}

#[test]
fn quantities_follow_kubernetes_syntax() {
    for good in [
        "10Gi", "500M", "1", "1.5Ti", ".5Gi", "1e3", "2E-2", "100m", "1Ei", "1E",
    ] {
        assert!(is_quantity(good), "{good}");
    }
    for bad in [
        "",
        "Gi",
        "10 Gi",
        "10GB",
        "2GB",
        "12 apples",
        "-1Gi",
        "1.2.3",
        "ten",
        "1e",
        "10gi",
    ] {
        assert!(!is_quantity(bad), "{bad}");
    }
}

// --- StorageNode ---

const NODE: &str = "
apiVersion: grid.sutra.ai/v1alpha1
kind: StorageNode
metadata:
  name: vectors-0
spec:
  grid: vectors
  ordinal: 0
  nodeName: worker-1
  variant: graviton3
  vector:
    dimension: 768
";

#[test]
fn storage_node_parses_with_defaults_and_validates() {
    let node = parse_storage_node_yaml(NODE).unwrap();
    assert_eq!(node.spec.grid.as_deref(), Some("vectors"));
    assert_eq!(node.spec.node_name.as_deref(), Some("worker-1"));
    assert_eq!(node.spec.storage.size, "10Gi");
    assert_eq!(node.spec.ports.grpc, 50051);
    assert_eq!(node.validate(&catalog()), Ok(()));
}

#[test]
fn standalone_storage_node_needs_no_grid() {
    let text = NODE
        .replace("  grid: vectors\n", "")
        .replace("  ordinal: 0\n", "");
    let node = parse_storage_node_yaml(&text).unwrap();
    assert_eq!(node.spec.grid, None);
    assert_eq!(node.spec.ordinal, 0);
}

#[test]
fn storage_node_variant_must_be_resolved() {
    let mut node = parse_storage_node_yaml(NODE).unwrap();
    node.spec.variant = "auto".into();
    node.spec.ordinal = -1;
    let invalid = node.validate(&catalog()).unwrap_err();
    assert_eq!(invalid.kind, "StorageNode");
    let paths: Vec<&str> = invalid.errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["spec.ordinal", "spec.variant"]);
    assert!(
        invalid.errors[1]
            .expected
            .starts_with("a resolved variant, one of `universal`")
    );
}

#[test]
fn storage_node_rejects_unknown_fields_and_missing_variant() {
    let typo = NODE.replace("nodeName:", "node:");
    assert!(
        parse_storage_node_yaml(&typo)
            .unwrap_err()
            .to_string()
            .contains("spec.node: got an unknown field `node`")
    );
    let missing = NODE.replace("  variant: graviton3\n", "");
    let message = parse_storage_node_yaml(&missing).unwrap_err().to_string();
    assert_mentions(
        &message,
        "spec.variant: got nothing, expected a string; the field is required",
    );
}

#[test]
fn storage_node_status_round_trips_and_defaults_to_pending() {
    let mut node = parse_storage_node_yaml(NODE).unwrap();
    let status = StorageNodeStatus::default();
    assert_eq!(status.phase, NodePhase::Pending);
    let status = StorageNodeStatus {
        observed_generation: Some(2),
        phase: NodePhase::Ready,
        node_name: Some("worker-1".into()),
        pod_name: Some("vectors-0".into()),
        variant: Some("graviton2".into()),
        best_variant: Some("graviton3".into()),
        platform_summary: "Neoverse-V1 arm64 sve 64KiB".into(),
        variant_recreated_generation: Some(2),
        ..status
    };
    node.status = Some(status);
    let json = serde_json::to_value(&node).unwrap();
    assert_eq!(json["status"]["phase"], "Ready");
    assert_eq!(json["status"]["bestVariant"], "graviton3");
    assert_eq!(
        json["status"]["platformSummary"],
        "Neoverse-V1 arm64 sve 64KiB"
    );
    assert_eq!(json["status"]["variantRecreatedGeneration"], 2);
    let back: StorageNode = serde_json::from_value(json).unwrap();
    assert_eq!(back, node);
}

// --- conditions ---

fn at(rfc3339: &str) -> Time {
    Time(rfc3339.parse::<Timestamp>().unwrap())
}

fn ready(
    status: ConditionStatus,
    reason: &str,
    message: &str,
    generation: i64,
    time: &str,
) -> sutra_core::crd::Condition {
    new_condition(
        condition::node::READY,
        status,
        reason,
        message,
        Some(generation),
        at(time),
    )
}

/// Sets `first`, then `second`, on an empty list: whether the second changed it, and the list.
fn set_twice(
    first: sutra_core::crd::Condition,
    second: sutra_core::crd::Condition,
) -> (bool, Vec<sutra_core::crd::Condition>) {
    let mut conditions = Vec::new();
    set_condition(&mut conditions, first);
    let changed = set_condition(&mut conditions, second);
    (changed, conditions)
}

#[test]
fn set_condition_adds_a_new_type() {
    let mut conditions = Vec::new();
    assert!(set_condition(
        &mut conditions,
        ready(
            ConditionStatus::False,
            reason::NOT_SERVING,
            "starting",
            1,
            "2025-01-01T00:00:00Z"
        )
    ));
    assert_eq!(conditions.len(), 1);
    assert!(set_condition(
        &mut conditions,
        new_condition(
            condition::node::PLATFORM_DETECTED,
            ConditionStatus::True,
            reason::DETECTED,
            "",
            Some(1),
            at("2025-01-01T00:00:01Z")
        ),
    ));
    assert_eq!(conditions.len(), 2);
    assert!(is_true(&conditions, condition::node::PLATFORM_DETECTED));
    assert!(!is_true(&conditions, condition::node::READY));
    assert!(!is_true(&conditions, condition::node::VARIANT_MATCHED));
    assert!(find(&conditions, condition::node::VARIANT_MATCHED).is_none());
}

#[test]
fn set_condition_keeps_transition_time_while_status_is_unchanged() {
    let (changed, conditions) = set_twice(
        ready(
            ConditionStatus::True,
            reason::SERVING,
            "serving",
            1,
            "2025-01-01T00:00:00Z",
        ),
        ready(
            ConditionStatus::True,
            reason::SERVING,
            "serving 3 shards",
            2,
            "2025-01-01T01:00:00Z",
        ),
    );
    assert!(changed);
    let current = find(&conditions, condition::node::READY).unwrap();
    assert_eq!(current.last_transition_time, at("2025-01-01T00:00:00Z"));
    assert_eq!(current.message, "serving 3 shards");
    assert_eq!(current.observed_generation, Some(2));
    assert_eq!(conditions.len(), 1);
}

#[test]
fn set_condition_moves_transition_time_when_status_changes() {
    let (_, conditions) = set_twice(
        ready(
            ConditionStatus::True,
            reason::SERVING,
            "",
            1,
            "2025-01-01T00:00:00Z",
        ),
        ready(
            ConditionStatus::False,
            reason::NOT_SERVING,
            "probe failed",
            1,
            "2025-01-01T02:00:00Z",
        ),
    );
    let current = find(&conditions, condition::node::READY).unwrap();
    assert_eq!(current.status, "False");
    assert_eq!(current.reason, "NotServing");
    assert_eq!(current.last_transition_time, at("2025-01-01T02:00:00Z"));
}

#[test]
fn set_condition_reports_no_change_for_the_same_condition_later() {
    let mut conditions = Vec::new();
    set_condition(
        &mut conditions,
        ready(
            ConditionStatus::Unknown,
            reason::AWAITING_REPORT,
            "",
            1,
            "2025-01-01T00:00:00Z",
        ),
    );
    let before = conditions.clone();
    assert!(!set_condition(
        &mut conditions,
        ready(
            ConditionStatus::Unknown,
            reason::AWAITING_REPORT,
            "",
            1,
            "2025-01-01T05:00:00Z"
        )
    ));
    assert_eq!(conditions, before);
}

#[test]
fn condition_status_values_are_kubernetes_spelling() {
    assert_eq!(ConditionStatus::from(true).as_str(), "True");
    assert_eq!(ConditionStatus::from(false).as_str(), "False");
    assert_eq!(ConditionStatus::Unknown.as_str(), "Unknown");
    let json = serde_json::to_value(ready(
        ConditionStatus::True,
        reason::SERVING,
        "ok",
        7,
        "2025-06-30T23:59:59Z",
    ))
    .unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "type": "Ready", "status": "True", "reason": "Serving", "message": "ok",
            "observedGeneration": 7, "lastTransitionTime": "2025-06-30T23:59:59Z"
        })
    );
}
