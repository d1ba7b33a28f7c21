//! The StorageNode reconciler against a mocked API server: the Pod, PVC and Service it
//! applies, the namespace's storage identity (ServiceAccount and RoleBinding), re-creation
//! of a deleted Pod, the variant-mismatch loop (exactly one re-creation), node loss, the
//! volume's fate on deletion and the one-at-a-time roll.

mod reconcile_support;

use std::sync::Arc;

use http::Method;
use reconcile_support::*;
use serde_json::{Value, json};
use sutra_core::crd::StorageNode;
use sutra_grid::controller::DEFAULT_STORAGE_NODE_CLUSTER_ROLE;
use sutra_grid::controller::node::{self, build::build_pod, build::build_storage_identity};

const NS: &str = "default";
const SN: &str = "/apis/grid.sutra.ai/v1alpha1/namespaces/default/storagenodes/g-0";
const SN_STATUS: &str = "/apis/grid.sutra.ai/v1alpha1/namespaces/default/storagenodes/g-0/status";
const SNS: &str = "/apis/grid.sutra.ai/v1alpha1/namespaces/default/storagenodes";
const POD: &str = "/api/v1/namespaces/default/pods/g-0";
const PVC: &str = "/api/v1/namespaces/default/persistentvolumeclaims/g-0-data";
const SVC: &str = "/api/v1/namespaces/default/services/g-0";
const HOST: &str = "/api/v1/nodes/host-a";
const SA: &str = "/api/v1/namespaces/default/serviceaccounts/sutra-storage";
const RB: &str = "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings/sutra-storage";

fn sn_json(variant: &str) -> Value {
    json!({
        "apiVersion": "grid.sutra.ai/v1alpha1", "kind": "StorageNode",
        "metadata": {
            "name": "g-0", "namespace": NS, "uid": "sn-uid", "generation": 3,
            "finalizers": ["grid.sutra.ai/storage-volume"],
            "labels": {"grid.sutra.ai/grid": "g"},
            "annotations": {"grid.sutra.ai/variant-policy": "auto"}
        },
        "spec": {
            "grid": "g", "ordinal": 0, "nodeName": "host-a", "variant": variant,
            "vector": {"dimension": 384, "metric": "l2"},
            "storage": {"size": "20Gi", "reclaimPolicy": "Retain"}
        }
    })
}

fn storage_node(value: &Value) -> Arc<StorageNode> {
    Arc::new(serde_json::from_value(value.clone()).unwrap())
}

fn ready_host() -> Value {
    node("host-a", json!({"kubernetes.io/arch": "arm64"}))
}

/// The Pod the operator would build for `sn` with `variant`, running and Ready.
fn running_pod(sn: &Value, variant: &str) -> Value {
    let mut pod = serde_json::to_value(build_pod(&storage_node(sn), variant)).unwrap();
    pod["spec"]["nodeName"] = json!("host-a");
    pod["status"] =
        json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]});
    pod
}

/// The PVC and Service as the operator applied them (their hashes match).
fn owned_pvc_and_service(sn: &Value) -> (Value, Value) {
    let node = storage_node(sn);
    let pvc = serde_json::to_value(node::build::build_pvc(&node)).unwrap();
    let svc = serde_json::to_value(node::build::build_service(&node)).unwrap();
    (pvc, svc)
}

/// The namespace's ServiceAccount and RoleBinding as the operator applied them.
fn identity() -> (Value, Value) {
    let identity = build_storage_identity(NS, DEFAULT_STORAGE_NODE_CLUSTER_ROLE);
    (
        serde_json::to_value(identity.service_account).unwrap(),
        serde_json::to_value(identity.role_binding).unwrap(),
    )
}

/// Reading the ServiceAccount finds it as desired.
fn account_in_place() -> Step {
    get(SA, identity().0)
}

/// Reading the RoleBinding finds it as desired.
fn binding_in_place() -> Step {
    get(RB, identity().1)
}

async fn reconcile(sn: &Value, steps: Vec<Step>) -> Vec<Sent> {
    let (client, scenario) = scenario(steps);
    node::reconcile(storage_node(sn), context(client))
        .await
        .expect("reconcile succeeds");
    scenario.finish().await
}

fn pod_creates(sent: &[Sent]) -> usize {
    sent.iter()
        .filter(|s| s.method == Method::PATCH && s.path == POD)
        .count()
}

fn with_status(sn: &Value, status_apply: &Sent) -> Value {
    let mut sn = sn.clone();
    let reported = sn["status"].clone();
    let mut status = status_apply.body["status"].clone();
    // Keep what the storage node reported itself (its own field manager's fields).
    if let Some(reported) = reported.as_object() {
        for (key, value) in reported {
            if key == "conditions" {
                let mut conditions = status["conditions"].as_array().cloned().unwrap_or_default();
                for condition in value.as_array().unwrap() {
                    if !conditions.iter().any(|c| c["type"] == condition["type"]) {
                        conditions.push(condition.clone());
                    }
                }
                status["conditions"] = json!(conditions);
            } else if status.get(key).is_none() {
                status[key] = value.clone();
            }
        }
    }
    sn["status"] = status;
    sn
}

fn condition(status: &Value, type_: &str) -> Value {
    status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == type_)
        .cloned()
        .unwrap_or_else(|| panic!("no {type_} condition in {status:#}"))
}

#[tokio::test]
async fn a_new_storage_node_gets_service_volume_and_pod() {
    let sn = sn_json("graviton3");
    let sent = reconcile(
        &sn,
        vec![
            not_found(POD),
            not_found(PVC),
            not_found(SVC),
            get(HOST, ready_host()),
            not_found(SA),
            not_found(RB),
            apply(SA),
            apply(RB),
            apply(SVC),
            apply(PVC),
            apply(POD),
            event(NS),
            apply_status(SN_STATUS, sn.clone()),
        ],
    )
    .await;
    for s in sent.iter().filter(|s| s.method == Method::PATCH) {
        s.assert_apply();
    }
    let svc = &sent[8].body;
    assert_eq!(svc["spec"]["clusterIP"], "None");
    assert_eq!(svc["spec"]["selector"]["grid.sutra.ai/storagenode"], "g-0");
    assert_eq!(svc["metadata"]["ownerReferences"][0]["uid"], "sn-uid");

    let pvc = &sent[9].body;
    assert_eq!(pvc["spec"]["resources"]["requests"]["storage"], "20Gi");
    assert!(
        pvc["metadata"].get("ownerReferences").is_none(),
        "Retain: the claim outlives the StorageNode"
    );

    let pod = &sent[10].body;
    assert_eq!(pod["metadata"]["ownerReferences"][0]["controller"], true);
    assert_eq!(pod["spec"]["serviceAccountName"], "sutra-storage");
    assert_eq!(pod["spec"]["automountServiceAccountToken"], true);
    let container = &pod["spec"]["containers"][0];
    assert_eq!(container["name"], "sutra-storage");
    assert_eq!(
        container["image"],
        format!("sutra-storage:{}-graviton3", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        container["args"],
        json!([
            "serve",
            "--data",
            "/data",
            "--dimension",
            "384",
            "--metric",
            "l2",
            "--compression",
            "auto",
            "--grpc-addr",
            "0.0.0.0:50051",
            "--metrics-addr",
            "0.0.0.0:9090"
        ])
    );
    let env = container["env"].as_array().unwrap();
    let var = |name: &str| env.iter().find(|e| e["name"] == name).unwrap().clone();
    assert_eq!(var("STORAGENODE_NAME")["value"], "g-0");
    assert_eq!(var("SUTRA_VARIANT")["value"], "graviton3");
    assert_eq!(
        var("POD_NAMESPACE")["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.namespace"
    );
    assert_eq!(container["readinessProbe"]["grpc"]["port"], 50051);
    assert_eq!(container["livenessProbe"]["grpc"]["port"], 50051);
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(
        container["securityContext"]["capabilities"]["drop"],
        json!(["ALL"])
    );
    assert_eq!(pod["spec"]["securityContext"]["runAsUser"], 65532);
    assert_eq!(pod["spec"]["securityContext"]["fsGroup"], 65532);
    assert_eq!(
        pod["spec"]["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert_eq!(
        pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"],
        "g-0-data"
    );
    let term = &pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        ["nodeSelectorTerms"][0];
    assert_eq!(term["matchFields"][0]["values"], json!(["host-a"]));
    assert!(pod["metadata"]["annotations"]["grid.sutra.ai/spec-hash"].is_string());

    assert_eq!(sent[11].event_reason(), Some("PodCreated"));
    let status = &sent[12].body["status"];
    assert_eq!(status["observedGeneration"], 3);
    assert_eq!(status["variant"], "graviton3");
    assert_eq!(condition(status, "NodeAvailable")["status"], "True");
}

#[tokio::test]
async fn a_deleted_pod_is_created_once_and_then_left_alone() {
    let sn = sn_json("graviton3");
    let (pvc, svc) = owned_pvc_and_service(&sn);
    let first = reconcile(
        &sn,
        vec![
            not_found(POD),
            get(PVC, pvc.clone()),
            get(SVC, svc.clone()),
            get(HOST, ready_host()),
            account_in_place(),
            binding_in_place(),
            apply(POD),
            event(NS),
            apply_status(SN_STATUS, sn.clone()),
        ],
    )
    .await;
    assert_eq!(pod_creates(&first), 1);
    let created = first[6].body.clone();

    let sn = with_status(&sn, first.last().unwrap());
    let second = reconcile(
        &sn,
        vec![
            get(POD, created),
            get(PVC, pvc),
            get(SVC, svc),
            get(HOST, ready_host()),
            account_in_place(),
            binding_in_place(),
        ],
    )
    .await;
    assert_eq!(pod_creates(&second), 0);
    assert!(second.iter().all(|s| !s.is_write()), "{second:#?}");
}

#[tokio::test]
async fn a_variant_mismatch_recreates_the_pod_exactly_once() {
    let mut sn = sn_json("graviton3");
    sn["status"] = json!({
        "phase": "Ready", "variant": "graviton3", "bestVariant": "graviton4",
        "conditions": [
            {"type": "VariantMatched", "status": "False", "reason": "BetterVariantAvailable",
             "message": "graviton4 is built for this host", "lastTransitionTime": "2025-01-01T00:00:00Z"},
            {"type": "Ready", "status": "True", "reason": "Serving", "message": "",
             "lastTransitionTime": "2025-01-01T00:00:00Z"}
        ]
    });
    let (pvc, svc) = owned_pvc_and_service(&sn);
    let old_pod = running_pod(&sn, "graviton3");

    // 1: the Event, the roll gate (no sibling blocks), the delete, the guard in status.
    let first = reconcile(
        &sn,
        vec![
            get(POD, old_pod),
            get(PVC, pvc.clone()),
            get(SVC, svc.clone()),
            get(HOST, ready_host()),
            account_in_place(),
            binding_in_place(),
            event(NS),
            get(SNS, list("StorageNodeList", vec![sn.clone()])),
            delete(POD),
            event(NS),
            apply_status(SN_STATUS, sn.clone()),
        ],
    )
    .await;
    assert_eq!(first[6].event_reason(), Some("RecreatingWithBestVariant"));
    assert!(
        first[6].body["note"]
            .as_str()
            .unwrap()
            .contains("graviton4")
    );
    let guard = &first.last().unwrap().body["status"];
    assert_eq!(guard["variantRecreatedGeneration"], 3);
    assert_eq!(guard["variant"], "graviton4");

    // 2: the Pod is gone; it comes back with the reported variant.
    let sn = with_status(&sn, first.last().unwrap());
    let second = reconcile(
        &sn,
        vec![
            not_found(POD),
            get(PVC, pvc.clone()),
            get(SVC, svc.clone()),
            get(HOST, ready_host()),
            account_in_place(),
            binding_in_place(),
            apply(POD),
            event(NS),
            apply_status(SN_STATUS, sn.clone()),
        ],
    )
    .await;
    assert_eq!(pod_creates(&second), 1);
    let created = &second[6].body["spec"]["containers"][0];
    assert_eq!(
        created["image"],
        format!("sutra-storage:{}-graviton4", env!("CARGO_PKG_VERSION"))
    );

    // 3: the node still reports a mismatch (say it now claims graviton3 is best): the
    // guard holds for this generation, so nothing is re-created.
    let mut sn = with_status(&sn, second.last().unwrap());
    sn["status"]["bestVariant"] = json!("graviton3");
    let third = reconcile(
        &sn,
        vec![
            get(POD, running_pod(&sn, "graviton4")),
            get(PVC, pvc),
            get(SVC, svc),
            get(HOST, ready_host()),
            account_in_place(),
            binding_in_place(),
            apply_status(SN_STATUS, sn.clone()),
        ],
    )
    .await;
    assert_eq!(pod_creates(&third), 0);
    assert!(third.iter().all(|s| s.method != Method::DELETE));
    assert_eq!(third.last().unwrap().body["status"]["phase"], "Ready");
}

#[tokio::test]
async fn a_fixed_variant_grid_never_switches_variant() {
    let mut sn = sn_json("graviton3");
    sn["metadata"]["annotations"]["grid.sutra.ai/variant-policy"] = json!("fixed");
    sn["status"] = json!({
        "phase": "Ready", "variant": "graviton3", "bestVariant": "graviton4",
        "podName": "g-0", "nodeName": "host-a", "observedGeneration": 3,
        "conditions": [
            {"type": "VariantMatched", "status": "False", "reason": "BetterVariantAvailable",
             "message": "", "lastTransitionTime": "2025-01-01T00:00:00Z"},
            {"type": "Ready", "status": "True", "reason": "Serving",
             "message": "the storage node serves requests", "observedGeneration": 3,
             "lastTransitionTime": "2025-01-01T00:00:00Z"},
            {"type": "NodeAvailable", "status": "True", "reason": "NodeReady",
             "message": "Node host-a is Ready", "observedGeneration": 3,
             "lastTransitionTime": "2025-01-01T00:00:00Z"}
        ]
    });
    let (pvc, svc) = owned_pvc_and_service(&sn);
    let sent = reconcile(
        &sn,
        vec![
            get(POD, running_pod(&sn, "graviton3")),
            get(PVC, pvc),
            get(SVC, svc),
            get(HOST, ready_host()),
            account_in_place(),
            binding_in_place(),
        ],
    )
    .await;
    assert!(sent.iter().all(|s| !s.is_write()), "{sent:#?}");
}

#[tokio::test]
async fn a_lost_node_sets_a_condition_and_an_event() {
    let sn = sn_json("graviton3");
    let (pvc, svc) = owned_pvc_and_service(&sn);
    let sent = reconcile(
        &sn,
        vec![
            get(POD, running_pod(&sn, "graviton3")),
            get(PVC, pvc),
            get(SVC, svc),
            not_found(HOST),
            account_in_place(),
            binding_in_place(),
            event(NS),
            apply_status(SN_STATUS, sn.clone()),
        ],
    )
    .await;
    assert_eq!(sent[6].event_reason(), Some("NodeLost"));
    let available = condition(&sent[7].body["status"], "NodeAvailable");
    assert_eq!(available["status"], "False");
    assert_eq!(available["reason"], "NodeDeleted");
}

#[tokio::test]
async fn a_moved_storage_node_force_deletes_the_pod_on_its_lost_host() {
    let sn = sn_json("graviton3");
    let (pvc, svc) = owned_pvc_and_service(&sn);
    let mut moved = sn.clone();
    moved["spec"]["nodeName"] = json!("host-a");
    let old_pod = {
        let mut elsewhere = sn.clone();
        elsewhere["spec"]["nodeName"] = json!("host-old");
        running_pod(&elsewhere, "graviton3")
    };
    let mut not_ready = ready_host();
    not_ready["status"]["conditions"][0]["status"] = json!("False");
    let sent = reconcile(
        &moved,
        vec![
            get(POD, old_pod),
            get(PVC, pvc),
            get(SVC, svc),
            get(HOST, not_ready),
            account_in_place(),
            binding_in_place(),
            delete(POD),
            event(NS),
            event(NS),
            apply_status(SN_STATUS, sn.clone()),
        ],
    )
    .await;
    let deleted = sent.iter().find(|s| s.method == Method::DELETE).unwrap();
    assert_eq!(deleted.body["gracePeriodSeconds"], 0, "{deleted:?}");
}

#[tokio::test]
async fn a_spec_change_waits_while_a_sibling_is_not_ready() {
    let mut sn = sn_json("graviton3");
    sn["spec"]["image"] = json!({"tag": "0.2.0"});
    let (pvc, svc) = owned_pvc_and_service(&sn);
    let old_pod = running_pod(&sn_json("graviton3"), "graviton3");
    let mut sibling = sn_json("graviton3");
    sibling["metadata"]["name"] = json!("g-1");
    let sent = reconcile(
        &sn,
        vec![
            get(POD, old_pod),
            get(PVC, pvc),
            get(SVC, svc),
            get(HOST, ready_host()),
            account_in_place(),
            binding_in_place(),
            get(SNS, list("StorageNodeList", vec![sn.clone(), sibling])),
            event(NS),
            apply_status(SN_STATUS, sn.clone()),
        ],
    )
    .await;
    assert!(sent.iter().all(|s| s.method != Method::DELETE));
    assert_eq!(sent[7].event_reason(), Some("RolloutWaiting"));
    assert!(
        sent[7].body["note"]
            .as_str()
            .unwrap()
            .contains("until g-1 is Ready")
    );
    let ready = condition(&sent.last().unwrap().body["status"], "Ready");
    assert_eq!(ready["status"], "True", "the old Pod still serves");
}

#[tokio::test]
async fn a_missing_finalizer_is_added_first() {
    let mut sn = sn_json("graviton3");
    sn["metadata"].as_object_mut().unwrap().remove("finalizers");
    let sent = reconcile(&sn, vec![step(Method::PATCH, SN, sn.clone())]).await;
    assert!(
        sent[0]
            .body
            .to_string()
            .contains("grid.sutra.ai/storage-volume")
    );
}

fn deleting(reclaim: &str) -> Value {
    let mut sn = sn_json("graviton3");
    sn["spec"]["storage"]["reclaimPolicy"] = json!(reclaim);
    sn["metadata"]["deletionTimestamp"] = json!("2025-01-01T00:00:00Z");
    sn
}

#[tokio::test]
async fn deleting_with_reclaim_delete_removes_the_volume() {
    let sn = deleting("Delete");
    let sent = reconcile(
        &sn,
        vec![delete(PVC), event(NS), step(Method::PATCH, SN, sn.clone())],
    )
    .await;
    assert_eq!(sent[1].event_reason(), Some("VolumeDeleted"));
    assert!(
        sent[2].body.to_string().contains("remove"),
        "{:?}",
        sent[2].body
    );
}

#[tokio::test]
async fn deleting_with_reclaim_retain_keeps_the_volume() {
    let sn = deleting("Retain");
    let sent = reconcile(&sn, vec![step(Method::PATCH, SN, sn.clone())]).await;
    assert!(sent.iter().all(|s| s.method != Method::DELETE));
}

#[tokio::test]
async fn a_namespace_without_the_storage_identity_gets_it_before_the_pod() {
    let sn = sn_json("graviton3");
    let (pvc, svc) = owned_pvc_and_service(&sn);
    let sent = reconcile(
        &sn,
        vec![
            not_found(POD),
            get(PVC, pvc),
            get(SVC, svc),
            get(HOST, ready_host()),
            not_found(SA),
            not_found(RB),
            apply(SA),
            apply(RB),
            apply(POD),
            event(NS),
            apply_status(SN_STATUS, sn.clone()),
        ],
    )
    .await;
    for s in &sent[6..=8] {
        s.assert_apply();
    }

    let account = &sent[6].body;
    assert_eq!(account["apiVersion"], "v1");
    assert_eq!(account["kind"], "ServiceAccount");
    assert_eq!(account["metadata"]["name"], "sutra-storage");
    assert_eq!(account["metadata"]["namespace"], NS);
    assert_eq!(
        account["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "sutra-grid"
    );
    assert!(
        account["metadata"].get("ownerReferences").is_none(),
        "shared by the namespace's StorageNodes, so owned by none of them"
    );

    let binding = &sent[7].body;
    assert_eq!(binding["apiVersion"], "rbac.authorization.k8s.io/v1");
    assert_eq!(binding["kind"], "RoleBinding");
    assert_eq!(binding["metadata"]["name"], "sutra-storage");
    assert_eq!(binding["metadata"]["namespace"], NS);
    assert!(binding["metadata"].get("ownerReferences").is_none());
    assert_eq!(
        binding["roleRef"],
        json!({
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "sutra-grid-storage-node"
        })
    );
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": "sutra-storage", "namespace": NS}])
    );

    let pod = &sent[8].body;
    assert_eq!(sent[8].path, POD);
    assert_eq!(pod["spec"]["serviceAccountName"], "sutra-storage");
    assert_eq!(pod["spec"]["automountServiceAccountToken"], true);
}

#[tokio::test]
async fn the_identity_follows_the_configured_cluster_role() {
    let sn = sn_json("graviton3");
    let (pvc, svc) = owned_pvc_and_service(&sn);
    let (client, scenario) = scenario(vec![
        get(POD, running_pod(&sn, "graviton3")),
        get(PVC, pvc),
        get(SVC, svc),
        get(HOST, ready_host()),
        account_in_place(),
        // A release named `edge`: its binding does not exist yet.
        not_found(RB),
        apply(RB),
        apply_status(SN_STATUS, sn.clone()),
    ]);
    let config = sutra_grid::controller::Config {
        storage_node_cluster_role: "edge-sutra-grid-storage-node".to_owned(),
        ..Default::default()
    };
    let ctx = context_with(client, config);
    node::reconcile(storage_node(&sn), ctx)
        .await
        .expect("reconcile succeeds");
    let sent = scenario.finish().await;
    assert_eq!(
        sent[6].body["roleRef"]["name"],
        "edge-sutra-grid-storage-node"
    );
}

#[tokio::test]
async fn the_identity_is_read_once_per_namespace_while_fresh() {
    let mut sn = sn_json("graviton3");
    sn["metadata"]["annotations"]["grid.sutra.ai/variant-policy"] = json!("fixed");
    let (pvc, svc) = owned_pvc_and_service(&sn);
    let pod = running_pod(&sn, "graviton3");
    let (client, scenario) = scenario(vec![
        // First reconcile: reads the identity, finds it in place, writes the status.
        get(POD, pod.clone()),
        get(PVC, pvc.clone()),
        get(SVC, svc.clone()),
        get(HOST, ready_host()),
        account_in_place(),
        binding_in_place(),
        apply_status(SN_STATUS, sn.clone()),
        // Second (settled) reconcile: the identity is not read again, nothing is written.
        get(POD, pod),
        get(PVC, pvc),
        get(SVC, svc),
        get(HOST, ready_host()),
    ]);
    let ctx = context(client);
    node::reconcile(storage_node(&sn), ctx.clone())
        .await
        .expect("first reconcile succeeds");
    // The status as the operator wrote it: the second pass has nothing to change.
    let settled = {
        let mut settled = sn.clone();
        settled["status"] = json!({
            "phase": "Ready", "variant": "graviton3", "podName": "g-0", "nodeName": "host-a",
            "observedGeneration": 3,
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "Serving",
                 "message": "the storage node serves requests", "observedGeneration": 3,
                 "lastTransitionTime": "2025-01-01T00:00:00Z"},
                {"type": "NodeAvailable", "status": "True", "reason": "NodeReady",
                 "message": "Node host-a is Ready", "observedGeneration": 3,
                 "lastTransitionTime": "2025-01-01T00:00:00Z"}
            ]
        });
        settled
    };
    node::reconcile(storage_node(&settled), ctx)
        .await
        .expect("second reconcile succeeds");
    let sent = scenario.finish().await;
    let writes: Vec<_> = sent.iter().filter(|s| s.is_write()).collect();
    assert_eq!(writes.len(), 1, "only the first status: {writes:#?}");
    assert_eq!(
        sent.iter().filter(|s| s.path == SA || s.path == RB).count(),
        2
    );
}

#[tokio::test]
async fn a_role_binding_to_another_role_is_reported_not_rewritten() {
    let sn = sn_json("graviton3");
    let (pvc, svc) = owned_pvc_and_service(&sn);
    let mut foreign = identity().1;
    foreign["roleRef"]["name"] = json!("old-release-storage-node");
    let sent = reconcile(
        &sn,
        vec![
            get(POD, running_pod(&sn, "graviton3")),
            get(PVC, pvc),
            get(SVC, svc),
            get(HOST, ready_host()),
            account_in_place(),
            get(RB, foreign),
            event(NS),
            apply_status(SN_STATUS, sn.clone()),
        ],
    )
    .await;
    assert_eq!(sent[6].event_reason(), Some("StorageIdentityConflict"));
    assert_eq!(sent[6].body["type"], "Warning");
    let note = sent[6].body["note"].as_str().unwrap();
    assert!(note.contains("old-release-storage-node"), "{note}");
    assert!(note.contains("sutra-grid-storage-node"), "{note}");
    assert!(sent.iter().all(|s| s.path != RB || s.method == Method::GET));
}
