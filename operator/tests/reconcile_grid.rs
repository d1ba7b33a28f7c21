//! The StorageGrid reconciler against a mocked API server: the exact StorageNodes applied
//! for a fake inventory of Nodes, scaling, node loss, cordoned Nodes, and a steady state
//! that writes nothing.

mod reconcile_support;

use std::sync::Arc;

use http::Method;
use reconcile_support::*;
use serde_json::{Value, json};
use sutra_core::crd::StorageGrid;
use sutra_core::plan::PlannedNode;
use sutra_grid::controller::grid::{self, build::build_storage_node};

const NS: &str = "default";
const NODES: &str = "/api/v1/nodes";
const SNS: &str = "/apis/grid.sutra.ai/v1alpha1/namespaces/default/storagenodes";
const GRID_STATUS: &str = "/apis/grid.sutra.ai/v1alpha1/namespaces/default/storagegrids/g/status";

fn grid_json(replicas: i32, on_node_loss: &str) -> Value {
    json!({
        "apiVersion": "grid.sutra.ai/v1alpha1", "kind": "StorageGrid",
        "metadata": {"name": "g", "namespace": NS, "uid": "grid-uid", "generation": 1},
        "spec": {
            "replicas": replicas,
            "vector": {"dimension": 128},
            "resources": {"limits": {"memory": "2Gi"}},
            "placement": {"onNodeLoss": on_node_loss}
        }
    })
}

fn grid(value: Value) -> Arc<StorageGrid> {
    Arc::new(serde_json::from_value(value).unwrap())
}

fn sn_path(name: &str) -> String {
    format!("{SNS}/{name}")
}

/// A StorageNode as the grid would have applied it, Ready.
fn existing_sn(grid: &StorageGrid, ordinal: i32, host: &str, variant: &str) -> Value {
    let planned = PlannedNode {
        name: format!("g-{ordinal}"),
        ordinal,
        host: host.to_owned(),
        variant: variant.to_owned(),
        reason: String::new(),
    };
    let mut node = serde_json::to_value(build_storage_node(grid, &planned)).unwrap();
    node["metadata"]["uid"] = json!(format!("sn-uid-{ordinal}"));
    node["metadata"]["generation"] = json!(1);
    node["status"] = json!({
        "phase": "Ready", "variant": variant,
        "conditions": [{"type": "Ready", "status": "True", "reason": "Serving", "message": "",
                         "lastTransitionTime": "2025-01-01T00:00:00Z"}]
    });
    node
}

async fn reconcile(grid: Arc<StorageGrid>, steps: Vec<Step>) -> Vec<Sent> {
    let (client, scenario) = scenario(steps);
    let ctx = context(client);
    grid::reconcile(grid, ctx)
        .await
        .expect("reconcile succeeds");
    scenario.finish().await
}

fn applies(sent: &[Sent]) -> Vec<&Sent> {
    sent.iter()
        .filter(|s| s.method == Method::PATCH && !s.path.ends_with("/status"))
        .collect()
}

fn amd64() -> Value {
    json!({"kubernetes.io/arch": "amd64"})
}

/// The grid's status apply (the reply echoes the status sent).
fn status_applied() -> Step {
    apply_status(GRID_STATUS, grid_json(0, "Wait"))
}

/// Plain amd64 Nodes called `names`.
fn amd64_hosts(names: &[&str]) -> Vec<Value> {
    names.iter().map(|name| node(name, amd64())).collect()
}

/// The reads every grid reconcile starts with: the Nodes, then the grid's StorageNodes.
fn reads(nodes: Vec<Value>, sns: Vec<Value>, then: Vec<Step>) -> Vec<Step> {
    let mut steps = vec![
        get(NODES, node_list(nodes)),
        get(SNS, list("StorageNodeList", sns)),
    ];
    steps.extend(then);
    steps
}

fn inventory() -> Vec<Value> {
    let nfd = |features: &[&str]| {
        let mut labels = json!({"kubernetes.io/arch": "amd64"});
        for feature in features {
            labels[format!("feature.node.kubernetes.io/cpu-cpuid.{feature}")] = json!("true");
        }
        labels
    };
    vec![
        node(
            "a-avx512",
            nfd(&[
                "AVX", "AVX2", "FMA3", "AVX512F", "AVX512BW", "AVX512VL", "AVX512DQ", "AVX512CD",
            ]),
        ),
        node("b-avx2", nfd(&["AVX", "AVX2", "FMA3"])),
        node(
            "c-r7g",
            json!({"kubernetes.io/arch": "arm64", "node.kubernetes.io/instance-type": "r7g.2xlarge"}),
        ),
        node(
            "d-m8g",
            json!({"kubernetes.io/arch": "arm64", "node.kubernetes.io/instance-type": "m8g.xlarge"}),
        ),
        node(
            "e-pi5",
            json!({"kubernetes.io/arch": "arm64", "grid.sutra.ai/pi-model": "5"}),
        ),
        node("f-unknown", json!({})),
    ]
}

fn creation_steps(count: usize) -> Vec<Step> {
    let mut steps = reads(inventory(), vec![], vec![]);
    for ordinal in 0..count {
        steps.push(apply(sn_path(&format!("g-{ordinal}"))));
        steps.push(event(NS));
    }
    steps.push(apply_status(GRID_STATUS, grid_json(count as i32, "Wait")));
    steps
}

#[tokio::test]
async fn each_node_gets_the_variant_its_labels_select() {
    let sent = reconcile(grid(grid_json(6, "Wait")), creation_steps(6)).await;
    let expected = [
        ("g-0", "a-avx512", "x86-64-v4"),
        ("g-1", "b-avx2", "x86-64-v3"),
        ("g-2", "c-r7g", "graviton3"),
        ("g-3", "d-m8g", "graviton4"),
        ("g-4", "e-pi5", "pi5"),
        ("g-5", "f-unknown", "universal"),
    ];
    let applied = applies(&sent);
    assert_eq!(applied.len(), expected.len());
    for (apply, (name, host, variant)) in applied.iter().zip(expected) {
        apply.assert_apply();
        let body = &apply.body;
        assert_eq!(body["kind"], "StorageNode");
        assert_eq!(body["metadata"]["name"], name);
        assert_eq!(body["spec"]["nodeName"], host, "{name}");
        assert_eq!(body["spec"]["variant"], variant, "{name}");
        assert_eq!(body["spec"]["grid"], "g");
        assert_eq!(body["spec"]["vector"]["dimension"], 128);
        assert_eq!(body["metadata"]["labels"]["grid.sutra.ai/grid"], "g");
        assert_eq!(body["spec"]["variantPolicy"], "Auto", "{name}");
        assert!(body["metadata"].get("annotations").is_none(), "{name}");
        let owner = &body["metadata"]["ownerReferences"][0];
        assert_eq!(owner["uid"], "grid-uid");
        assert_eq!(owner["controller"], true);
        assert_eq!(owner["kind"], "StorageGrid");
    }
    let events: Vec<_> = sent.iter().filter_map(Sent::event_reason).collect();
    assert_eq!(events, ["StorageNodeCreated"; 6]);
    let status = &sent.last().unwrap().body["status"];
    assert_eq!(status["readyReplicas"], 0);
    assert_eq!(status["observedGeneration"], 1);
}

#[tokio::test]
async fn an_explicit_variant_is_applied_to_every_node() {
    let mut value = grid_json(6, "Wait");
    value["spec"]["variant"] = json!("universal");
    let sent = reconcile(grid(value), creation_steps(6)).await;
    for apply in applies(&sent) {
        assert_eq!(apply.body["spec"]["variant"], "universal");
        assert_eq!(apply.body["spec"]["variantPolicy"], "Fixed");
    }
}

#[tokio::test]
async fn a_settled_grid_issues_no_writes() {
    let g = grid(grid_json(2, "Wait"));
    let nodes = amd64_hosts(&["a", "b"]);
    let sns = vec![
        existing_sn(&g, 0, "a", "universal"),
        existing_sn(&g, 1, "b", "universal"),
    ];
    // The first pass records the status; feeding it back must settle the grid.
    let first = reconcile(
        g.clone(),
        reads(nodes.clone(), sns.clone(), vec![status_applied()]),
    )
    .await;
    let status = &first.last().unwrap().body["status"];
    assert_eq!(status["replicas"], 2);
    assert_eq!(status["readyReplicas"], 2);
    assert_eq!(status["variants"], json!({"universal": 2}));
    assert_eq!(condition(status, "Ready")["status"], "True");
    assert_eq!(condition(status, "Progressing")["status"], "False");
    assert_eq!(condition(status, "Degraded")["status"], "False");

    let mut settled = grid_json(2, "Wait");
    settled["status"] = status.clone();
    let second = reconcile(grid(settled), reads(nodes, sns, vec![])).await;
    assert!(second.iter().all(|s| !s.is_write()), "{second:#?}");
}

#[tokio::test]
async fn scaling_up_applies_only_the_new_ordinal() {
    let g = grid(grid_json(3, "Wait"));
    let sns = vec![
        existing_sn(&g, 0, "a", "universal"),
        existing_sn(&g, 1, "b", "universal"),
    ];
    let sent = reconcile(
        g,
        reads(
            amd64_hosts(&["a", "b", "c"]),
            sns,
            vec![apply(sn_path("g-2")), event(NS), status_applied()],
        ),
    )
    .await;
    let applied = applies(&sent);
    assert_eq!(applied.len(), 1);
    assert_eq!(applied[0].body["spec"]["nodeName"], "c");
    assert_eq!(applied[0].body["spec"]["ordinal"], 2);
}

#[tokio::test]
async fn scaling_down_deletes_the_highest_ordinals() {
    let g = grid(grid_json(1, "Wait"));
    let sns = (0..3)
        .map(|i| existing_sn(&g, i, ["a", "b", "c"][i as usize], "universal"))
        .collect();
    let sent = reconcile(
        g,
        reads(
            amd64_hosts(&["a", "b", "c"]),
            sns,
            vec![
                delete(sn_path("g-1")),
                event(NS),
                delete(sn_path("g-2")),
                event(NS),
                status_applied(),
            ],
        ),
    )
    .await;
    assert!(applies(&sent).is_empty());
    let events: Vec<_> = sent.iter().filter_map(Sent::event_reason).collect();
    assert_eq!(events, ["StorageNodeRemoved", "StorageNodeRemoved"]);
    assert_eq!(sent.last().unwrap().body["status"]["replicas"], 1);
}

#[tokio::test]
async fn a_cordoned_node_is_skipped() {
    let mut cordoned = node("a", amd64());
    cordoned["spec"]["unschedulable"] = json!(true);
    let sent = reconcile(
        grid(grid_json(1, "Wait")),
        reads(
            vec![cordoned, node("b", amd64())],
            vec![],
            vec![apply(sn_path("g-0")), event(NS), status_applied()],
        ),
    )
    .await;
    assert_eq!(applies(&sent)[0].body["spec"]["nodeName"], "b");
}

/// A grid of one under `on_node_loss`, whose storage node was placed on a Node that no
/// longer exists; only host `b` is left. The reconciler must send `then` after its reads.
async fn reconcile_with_its_host_gone(on_node_loss: &str, then: Vec<Step>) -> Vec<Sent> {
    let g = grid(grid_json(1, on_node_loss));
    let sns = vec![existing_sn(&g, 0, "gone", "universal")];
    reconcile(g.clone(), reads(amd64_hosts(&["b"]), sns, then)).await
}

#[tokio::test]
async fn a_deleted_node_with_reschedule_moves_the_storage_node() {
    let sent = reconcile_with_its_host_gone(
        "Reschedule",
        vec![
            apply(sn_path("g-0")),
            event(NS),
            event(NS),
            status_applied(),
        ],
    )
    .await;
    assert_eq!(applies(&sent)[0].body["spec"]["nodeName"], "b");
    let events: Vec<_> = sent.iter().filter_map(Sent::event_reason).collect();
    assert_eq!(events, ["StorageNodeRescheduled", "NodeLost"]);
    let degraded = condition(&sent.last().unwrap().body["status"], "Degraded");
    assert_eq!(degraded["status"], "True");
    assert_message(degraded, "moved to b");
}

#[tokio::test]
async fn a_deleted_node_with_wait_keeps_the_storage_node_and_reports_it() {
    let sent = reconcile_with_its_host_gone("Wait", vec![event(NS), status_applied()]).await;
    assert!(applies(&sent).is_empty(), "nothing moves under Wait");
    sent[2].assert_event("NodeLost", "no longer exists");
}

#[tokio::test]
async fn an_invalid_grid_is_reported_and_not_planned() {
    let mut value = grid_json(1, "Wait");
    value["spec"]["image"] = json!({"repository": "", "tag": "x"});
    let (client, scenario) = scenario(reads(amd64_hosts(&["a"]), vec![], vec![event(NS)]));
    let error = grid::reconcile(grid(value), context(client))
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("spec.image.repository"),
        "{error}"
    );
    let sent = scenario.finish().await;
    assert_eq!(sent[2].event_reason(), Some("InvalidSpec"));
}

/// Two amd64 hosts and a grid of two on them, as the reconciler first sees it.
fn two_node_steps(value: &Value, events: usize) -> Vec<Step> {
    let mut steps = reads(amd64_hosts(&["a", "b"]), vec![], vec![]);
    for ordinal in 0..2 {
        steps.push(apply(sn_path(&format!("g-{ordinal}"))));
        steps.push(event(NS));
    }
    steps.extend((0..events).map(|_| event(NS)));
    steps.push(apply_status(GRID_STATUS, value.clone()));
    steps
}

#[tokio::test]
async fn a_grid_without_a_memory_limit_says_so_once() {
    let mut value = grid_json(2, "Wait");
    value["spec"].as_object_mut().unwrap().remove("resources");
    let sent = reconcile(grid(value.clone()), two_node_steps(&value, 1)).await;
    let warning = sent
        .iter()
        .rev()
        .find(|s| s.event_reason().is_some())
        .unwrap();
    assert_eq!(warning.event_reason(), Some("NoMemoryLimit"));
    assert_eq!(warning.body["type"], "Warning");
    let status = &sent.last().unwrap().body["status"];
    let limited = condition(status, "MemoryLimited");
    assert_eq!(limited["status"], "False");
    assert_message(limited, "spec.resources.limits.memory");

    // Already said: the next pass does not warn again.
    let mut settled = value.clone();
    settled["status"] = status.clone();
    let sns: Vec<Value> = sent
        .iter()
        .filter(|s| s.path.starts_with(SNS) && s.method == http::Method::PATCH)
        .map(|s| s.body.clone())
        .collect();
    let again = reconcile(
        grid(settled.clone()),
        reads(
            amd64_hosts(&["a", "b"]),
            sns,
            vec![apply_status(GRID_STATUS, settled)],
        ),
    )
    .await;
    assert!(
        again.iter().all(|s| s.event_reason().is_none()),
        "{again:#?}"
    );
}

#[tokio::test]
async fn the_operators_default_resources_count_as_the_grids_limit() {
    let mut value = grid_json(2, "Wait");
    value["spec"].as_object_mut().unwrap().remove("resources");
    let limited = serde_json::from_value(json!({"limits": {"memory": "4Gi"}})).unwrap();
    let config = sutra_grid::controller::Config {
        storage_node_resources: Some(limited),
        ..Default::default()
    };
    let sent = run(
        two_node_steps(&value, 0),
        |client| context_with(client, config),
        |ctx| grid::reconcile(grid(value), ctx),
    )
    .await;
    let status = &sent.last().unwrap().body["status"];
    let limited = condition(status, "MemoryLimited");
    assert_eq!(limited["status"], "True");
    assert_message(limited, "4Gi");
}

#[tokio::test]
async fn variant_policy_labels_reaches_every_node() {
    let mut value = grid_json(2, "Wait");
    value["spec"]["variantPolicy"] = json!("Labels");
    let sent = reconcile(grid(value.clone()), two_node_steps(&value, 0)).await;
    for apply in applies(&sent) {
        assert_eq!(apply.body["spec"]["variantPolicy"], "Labels");
        assert_eq!(apply.body["spec"]["variant"], "universal");
    }
}

#[tokio::test]
async fn the_operators_rule_table_decides_not_the_builtin_one() {
    // Custom rules: every amd64 host gets x86-64-v3, where the builtin table says universal
    // for a host with no NFD labels.
    let rules = rules_with(
        "amd64 CPU without AVX2 or that no label describes",
        "universal",
        "x86-64-v3",
    );
    let value = grid_json(2, "Wait");
    let sent = run(
        two_node_steps(&value, 0),
        |client| context_with_rules(client, Default::default(), rules),
        |ctx| grid::reconcile(grid(value), ctx),
    )
    .await;
    for apply in applies(&sent) {
        assert_eq!(apply.body["spec"]["variant"], "x86-64-v3");
    }
}
