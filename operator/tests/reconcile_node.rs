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
use sutra_core::variant::BUILTIN_YAML;
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
const CM: &str = "/api/v1/namespaces/default/configmaps/sutra-storage-variants";

fn sn_json(variant: &str) -> Value {
    json!({
        "apiVersion": "grid.sutra.ai/v1alpha1", "kind": "StorageNode",
        "metadata": {
            "name": "g-0", "namespace": NS, "uid": "sn-uid", "generation": 3,
            "finalizers": ["grid.sutra.ai/storage-volume"],
            "labels": {"grid.sutra.ai/grid": "g"}
        },
        "spec": {
            "grid": "g", "ordinal": 0, "nodeName": "host-a", "variant": variant,
            "variantPolicy": "Auto",
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
    let mut pod = serde_json::to_value(build_pod(&storage_node(sn), variant, None)).unwrap();
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

/// The namespace's ServiceAccount, RoleBinding and variant rules as the operator applied
/// them.
fn identity() -> (Value, Value, Value) {
    let identity = build_storage_identity(NS, DEFAULT_STORAGE_NODE_CLUSTER_ROLE, BUILTIN_YAML);
    (
        serde_json::to_value(identity.service_account).unwrap(),
        serde_json::to_value(identity.role_binding).unwrap(),
        serde_json::to_value(identity.variant_rules).unwrap(),
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

/// Reading the variant rules ConfigMap finds it as desired.
fn rules_in_place() -> Step {
    get(CM, identity().2)
}

/// Reading the namespace's identity finds all of it as desired.
fn identity_in_place() -> Vec<Step> {
    vec![account_in_place(), binding_in_place(), rules_in_place()]
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
            not_found(CM),
            apply(SA),
            apply(CM),
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
    let svc = &sent[10].body;
    assert_eq!(svc["spec"]["clusterIP"], "None");
    assert_eq!(svc["spec"]["selector"]["grid.sutra.ai/storagenode"], "g-0");
    assert_eq!(svc["metadata"]["ownerReferences"][0]["uid"], "sn-uid");

    let pvc = &sent[11].body;
    assert_eq!(pvc["spec"]["resources"]["requests"]["storage"], "20Gi");
    assert!(
        pvc["metadata"].get("ownerReferences").is_none(),
        "Retain: the claim outlives the StorageNode"
    );

    let pod = &sent[12].body;
    assert_eq!(pod["metadata"]["ownerReferences"][0]["controller"], true);
    assert_eq!(pod["spec"]["serviceAccountName"], "sutra-storage");
    assert_eq!(pod["spec"]["automountServiceAccountToken"], true);
    let container = &pod["spec"]["containers"][0];
    assert_eq!(container["name"], "sutra-storage");
    assert_eq!(
        container["image"],
        format!(
            "ghcr.io/sutra-ai/sutra-storage:{}-graviton3",
            env!("CARGO_PKG_VERSION")
        )
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
            "0.0.0.0:9090",
            "--variant",
            "graviton3",
            "--variant-rules",
            "/etc/sutra-storage/variants.yaml"
        ])
    );
    // Settings travel once, as flags; the environment only says where the StorageNode is.
    let env = container["env"].as_array().unwrap();
    let names: Vec<&str> = env.iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["STORAGENODE_NAME", "POD_NAMESPACE"]);
    assert_eq!(env[0]["value"], "g-0");
    assert_eq!(
        env[1]["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.namespace"
    );
    // The namespace's copy of the operator's rules is what the node judges itself with.
    let rules = &sent[8].body;
    assert_eq!(rules["kind"], "ConfigMap");
    assert_eq!(rules["data"]["variants.yaml"], BUILTIN_YAML);
    let rules_volume = &pod["spec"]["volumes"][1];
    assert_eq!(rules_volume["configMap"]["name"], "sutra-storage-variants");
    let rules_mount = &container["volumeMounts"][1];
    assert_eq!(rules_mount["mountPath"], "/etc/sutra-storage");
    assert_eq!(rules_mount["readOnly"], true);
    // A 20Gi store gets 60 s + 5 s/GiB = 160 s of start-up: 32 probes 5 s apart.
    assert_eq!(container["startupProbe"]["grpc"]["port"], 50051);
    assert_eq!(container["startupProbe"]["periodSeconds"], 5);
    assert_eq!(container["startupProbe"]["failureThreshold"], 32);
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

    assert_eq!(sent[13].event_reason(), Some("PodCreated"));
    let status = &sent[14].body["status"];
    assert_eq!(status["observedGeneration"], 3);
    assert_eq!(status["variant"], "graviton3");
    assert_eq!(condition(status, "NodeAvailable")["status"], "True");
    // No report from the node yet: the variant it runs cannot be judged.
    let matched = condition(status, "VariantMatched");
    assert_eq!(matched["status"], "Unknown");
    assert_eq!(matched["reason"], "AwaitingReport");
}

#[tokio::test]
async fn a_deleted_pod_is_created_once_and_then_left_alone() {
    let sn = sn_json("graviton3");
    let first = reconcile(
        &sn,
        with_steps(
            reads(None, &sn, ready_host()),
            vec![apply(POD), event(NS), apply_status(SN_STATUS, sn.clone())],
        ),
    )
    .await;
    assert_eq!(pod_creates(&first), 1);
    let created = first[7].body.clone();

    let sn = with_status(&sn, first.last().unwrap());
    let second = reconcile(&sn, reads(Some(created), &sn, ready_host())).await;
    assert_eq!(pod_creates(&second), 0);
    assert!(second.iter().all(|s| !s.is_write()), "{second:#?}");
}

/// An amd64 Node as a plain kubelet labels it: arch, os, hostname, no NFD.
fn plain_amd64_host() -> Value {
    node(
        "host-a",
        json!({"kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux",
               "kubernetes.io/hostname": "host-a"}),
    )
}

/// An AVX-512 host as sutra-storage detects it.
fn avx512_report() -> Value {
    use sutra_core::platform::SimdFeature::*;
    use sutra_core::platform::fixture::linux_host;
    use sutra_core::platform::{Arch, CpuInfo};
    let cpu = CpuInfo {
        vendor: "AuthenticAMD".into(),
        model: "AMD EPYC 9R14".into(),
        logical_cpus: 2,
        x86_64_level: Some(4),
        ..CpuInfo::default()
    };
    let simd = [
        Sse42, Avx, Avx2, Fma, Avx512f, Avx512bw, Avx512vl, Avx512dq, Avx512cd,
    ];
    let report = linux_host(Arch::Amd64, cpu, &simd, 24 << 30);
    serde_json::to_value(report).unwrap()
}

/// What the storage node itself writes after start-up: its platform, its best variant and
/// `PlatformDetected` for generation 3.
fn node_report(sn: &mut Value, best: &str) {
    if sn["status"].is_null() {
        sn["status"] = json!({"conditions": []});
    }
    sn["status"]["platform"] = avx512_report();
    sn["status"]["platformSummary"] = json!("AMD EPYC 9R14 amd64 avx512 4KiB");
    sn["status"]["bestVariant"] = json!(best);
    let conditions = sn["status"]["conditions"].as_array_mut().unwrap();
    conditions.retain(|c| c["type"] != "PlatformDetected");
    conditions.push(json!({
        "type": "PlatformDetected", "status": "True", "reason": "Detected",
        "message": format!("detected AMD EPYC 9R14 amd64 avx512 4KiB; the best variant for it is {best}"),
        "observedGeneration": 3, "lastTransitionTime": "2025-01-01T00:00:00Z"
    }));
}

/// The reads every reconcile of `g-0` starts with, its identity in place.
fn reads(pod: Option<Value>, sn: &Value, host: Value) -> Vec<Step> {
    reads_of(pod, sn, Some(host), identity_in_place())
}

/// The reads of a reconcile of `g-0`: its Pod (or none), its claim and Service as applied,
/// its host (or none: deleted), then the namespace's identity as `identity` finds it.
fn reads_of(pod: Option<Value>, sn: &Value, host: Option<Value>, identity: Vec<Step>) -> Vec<Step> {
    let (pvc, svc) = owned_pvc_and_service(sn);
    let mut steps = vec![
        match pod {
            Some(pod) => get(POD, pod),
            None => not_found(POD),
        },
        get(PVC, pvc),
        get(SVC, svc),
        match host {
            Some(host) => get(HOST, host),
            None => not_found(HOST),
        },
    ];
    steps.extend(identity);
    steps
}

/// A reconcile of a plain amd64 node's StorageNode whose Pod is gone: it applies the Pod,
/// which must run `variant`'s image, records an Event and updates the status.
async fn pod_created_with(sn: &Value, variant: &str) -> Vec<Sent> {
    let then = vec![apply(POD), event(NS), apply_status(SN_STATUS, sn.clone())];
    let sent = on_amd64(sn, None, then).await;
    assert_eq!(
        sent[7].body["spec"]["containers"][0]["image"],
        image(variant)
    );
    sent
}

/// A reconcile of `sn` whose Pod is `pod` (or none) on a plain amd64 host: the reads, then
/// `then`.
async fn on_amd64(sn: &Value, pod: Option<Value>, then: Vec<Step>) -> Vec<Sent> {
    reconcile(sn, with_steps(reads(pod, sn, plain_amd64_host()), then)).await
}

/// A reconcile of `sn` whose Pod serves `variant` on a plain amd64 host, which must keep
/// it: no re-creation, no Event, only a status saying `variant` is Ready.
async fn keeps_serving(sn: &Value, variant: &str) -> Vec<Sent> {
    let pod = running_pod(sn, variant);
    let sent = on_amd64(sn, Some(pod), vec![apply_status(SN_STATUS, sn.clone())]).await;
    assert!(sent.iter().all(|s| s.method != Method::DELETE));
    assert!(events(&sent).is_empty(), "{:?}", events(&sent));
    let status = &sent.last().unwrap().body["status"];
    assert_eq!(status["variant"], variant);
    assert_eq!(status["phase"], "Ready");
    sent
}

fn with_steps(mut steps: Vec<Step>, more: Vec<Step>) -> Vec<Step> {
    steps.extend(more);
    steps
}

fn image(variant: &str) -> String {
    format!(
        "ghcr.io/sutra-ai/sutra-storage:{}-{variant}",
        env!("CARGO_PKG_VERSION")
    )
}

#[tokio::test]
async fn auto_without_nfd_switches_once_to_the_variant_the_node_reports() {
    // A plain kubelet's labels make the planner pick universal; the node reports x86-64-v4.
    let mut sn = sn_json("universal");
    node_report(&mut sn, "x86-64-v4");
    sn["status"]["variant"] = json!("universal");

    // 1: the switch is decided (Event from → to and why), the serving Pod is replaced.
    let first = on_amd64(
        &sn,
        Some(running_pod(&sn, "universal")),
        vec![
            event(NS),
            get(SNS, list("StorageNodeList", vec![sn.clone()])),
            delete(POD),
            event(NS),
            apply_status(SN_STATUS, sn.clone()),
        ],
    )
    .await;
    let told = events(&first);
    assert_eq!(told[0].0, "VariantSwitched");
    assert!(
        told[0].1.contains("x86-64-v4 instead of universal")
            && told[0]
                .1
                .contains("the node reports x86-64-v4 as its best variant"),
        "{told:?}"
    );
    assert_eq!(told[1].0, "PodDeleted");
    let status = &first.last().unwrap().body["status"];
    assert_eq!(status["variant"], "x86-64-v4");
    assert_eq!(status["variantRecreatedGeneration"], 3);

    // 2: the Pod comes back with the reported variant's image.
    let sn = with_status(&sn, first.last().unwrap());
    let second = pod_created_with(&sn, "x86-64-v4").await;
    assert!(events(&second)[0].1.contains(&image("x86-64-v4")));

    // 3: whatever the node reports next, this generation does not switch again.
    let mut sn = with_status(&sn, second.last().unwrap());
    node_report(&mut sn, "x86-64-v3");
    keeps_serving(&sn, "x86-64-v4").await;
}

#[tokio::test]
async fn a_report_from_an_earlier_generation_does_not_switch() {
    let mut sn = sn_json("universal");
    node_report(&mut sn, "x86-64-v4");
    sn["metadata"]["generation"] = json!(4);
    keeps_serving(&sn, "universal").await;
}

#[tokio::test]
async fn labels_and_fixed_policies_keep_their_variant_and_say_what_the_node_reported() {
    for policy in ["Labels", "Fixed"] {
        let mut sn = sn_json("universal");
        sn["spec"]["variantPolicy"] = json!(policy);
        node_report(&mut sn, "x86-64-v4");
        let sent = on_amd64(
            &sn,
            Some(running_pod(&sn, "universal")),
            vec![apply_status(SN_STATUS, sn.clone())],
        )
        .await;
        assert!(events(&sent).is_empty(), "{policy}: {:?}", events(&sent));
        let status = &sent.last().unwrap().body["status"];
        assert_eq!(status["variant"], "universal", "{policy}");
        let matched = condition(status, "VariantMatched");
        assert_eq!(matched["status"], "True", "{policy}: {matched}");
        assert_eq!(matched["reason"], "AllowedFallback", "{policy}");
        assert!(
            matched["message"].as_str().unwrap().contains("x86-64-v4"),
            "{policy}: {matched}"
        );

        // Settled: the same status again is no write at all.
        let settled = with_status(&sn, sent.last().unwrap());
        let again = on_amd64(&settled, Some(running_pod(&settled, "universal")), vec![]).await;
        assert!(again.iter().all(|s| !s.is_write()), "{policy}: {again:#?}");
    }
}

/// The Pod as the kubelet reports it while the image cannot be pulled: `waiting.reason`
/// `ErrImagePull` on the first failure, `ImagePullBackOff` while it backs off.
fn pod_pulling(sn: &Value, variant: &str, reason: &str) -> Value {
    let mut pod = serde_json::to_value(build_pod(&storage_node(sn), variant, None)).unwrap();
    pod["spec"]["nodeName"] = json!("host-a");
    let message = match reason {
        "ErrImagePull" => format!(
            "rpc error: code = NotFound desc = failed to pull and unpack image \"docker.io/library/{}\": not found",
            image(variant)
        ),
        _ => format!("Back-off pulling image \"{}\"", image(variant)),
    };
    pod["status"] = json!({
        "phase": "Pending",
        "conditions": [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Ready", "status": "False", "reason": "ContainersNotReady"}
        ],
        "containerStatuses": [{
            "name": "sutra-storage", "image": image(variant), "imageID": "",
            "ready": false, "restartCount": 0, "started": false,
            "state": {"waiting": {"reason": reason, "message": message}}
        }]
    });
    pod
}

#[tokio::test]
async fn a_missing_image_falls_back_along_the_chain_and_never_flaps() {
    let sn = sn_json("x86-64-v4");

    // 1: ErrImagePull, the kubelet's first failure: shown, not acted on yet.
    let first = on_amd64(
        &sn,
        Some(pod_pulling(&sn, "x86-64-v4", "ErrImagePull")),
        vec![apply_status(SN_STATUS, sn.clone())],
    )
    .await;
    assert!(first.iter().all(|s| s.method != Method::DELETE));
    let status = &first.last().unwrap().body["status"];
    assert_eq!(status["phase"], "Pending");
    let ready = condition(status, "Ready");
    assert_eq!(ready["reason"], "ErrImagePull");
    assert_message(ready, &image("x86-64-v4"));

    // 2: ImagePullBackOff: the image counts as missing; the next of the chain runs.
    let sn = with_status(&sn, first.last().unwrap());
    let second = on_amd64(
        &sn,
        Some(pod_pulling(&sn, "x86-64-v4", "ImagePullBackOff")),
        vec![
            event(NS),
            event(NS),
            delete(POD),
            event(NS),
            apply_status(SN_STATUS, sn.clone()),
        ],
    )
    .await;
    let told = events(&second);
    assert_eq!(told[0].0, "ImageUnavailable");
    assert_eq!(second[7].body["type"], "Warning");
    assert!(told[0].1.contains(&image("x86-64-v4")), "{told:?}");
    assert!(told[0].1.contains("falling back to x86-64-v3"), "{told:?}");
    assert_eq!(told[1].0, "VariantSwitched");
    assert!(
        told[1].1.contains("x86-64-v3 instead of x86-64-v4"),
        "{told:?}"
    );
    let status = &second.last().unwrap().body["status"];
    assert_eq!(status["variant"], "x86-64-v3");
    assert_eq!(
        status["phase"], "Pending",
        "not Failed: another image may run"
    );
    assert_eq!(
        status["unavailableImages"],
        json!([{"variant": "x86-64-v4", "image": image("x86-64-v4"), "observedGeneration": 3}])
    );
    let matched = condition(status, "VariantMatched");
    assert_eq!(matched["status"], "False");
    assert_eq!(matched["reason"], "ImageUnavailable");
    assert_message(matched, &image("x86-64-v4"));

    // 3: the fallback's Pod is created.
    let sn = with_status(&sn, second.last().unwrap());
    let third = pod_created_with(&sn, "x86-64-v3").await;

    // 4: it serves, and the node reports x86-64-v4 as best: its image is known to be
    // missing, so nothing switches back.
    let mut sn = with_status(&sn, third.last().unwrap());
    node_report(&mut sn, "x86-64-v4");
    let fourth = keeps_serving(&sn, "x86-64-v3").await;
    let status = &fourth.last().unwrap().body["status"];
    assert_eq!(
        condition(status, "VariantMatched")["reason"],
        "ImageUnavailable"
    );

    // 5: settled, nothing more is written.
    let sn = with_status(&sn, fourth.last().unwrap());
    let fifth = on_amd64(&sn, Some(running_pod(&sn, "x86-64-v3")), vec![]).await;
    assert!(fifth.iter().all(|s| !s.is_write()), "{fifth:#?}");
}

#[tokio::test]
async fn a_node_is_failed_only_when_no_image_it_may_run_pulls() {
    // Fixed may run only its variant; Auto on universal has no fallback left.
    for (variant, policy) in [("x86-64-v4", "Fixed"), ("universal", "Auto")] {
        let mut sn = sn_json(variant);
        sn["spec"]["variantPolicy"] = json!(policy);
        let sent = on_amd64(
            &sn,
            Some(pod_pulling(&sn, variant, "ImagePullBackOff")),
            vec![event(NS), apply_status(SN_STATUS, sn.clone())],
        )
        .await;
        assert!(sent.iter().all(|s| s.method != Method::DELETE), "{policy}");
        let told = events(&sent);
        assert_eq!(told.len(), 1, "{policy}: {told:?}");
        assert_eq!(told[0].0, "ImageUnavailable");
        assert!(told[0].1.contains("no other variant may run"), "{told:?}");
        let status = &sent.last().unwrap().body["status"];
        assert_eq!(status["phase"], "Failed", "{policy}");
        let ready = condition(status, "Ready");
        assert_eq!(ready["reason"], "ImagePullBackOff");
        assert_message(ready, &image(variant));

        // The next look finds the same: no second Event.
        let sn = with_status(&sn, sent.last().unwrap());
        let again = on_amd64(
            &sn,
            Some(pod_pulling(&sn, variant, "ImagePullBackOff")),
            vec![],
        )
        .await;
        assert!(events(&again).is_empty(), "{policy}: {:?}", events(&again));
        assert!(again.iter().all(|s| !s.is_write()), "{policy}: {again:#?}");
    }
}

#[tokio::test]
async fn a_lost_node_sets_a_condition_and_an_event() {
    let sn = sn_json("graviton3");
    let pod = Some(running_pod(&sn, "graviton3"));
    let sent = reconcile(
        &sn,
        with_steps(
            reads_of(pod, &sn, None, identity_in_place()),
            vec![event(NS), apply_status(SN_STATUS, sn.clone())],
        ),
    )
    .await;
    assert_eq!(sent[7].event_reason(), Some("NodeLost"));
    let available = condition(&sent[8].body["status"], "NodeAvailable");
    assert_eq!(available["status"], "False");
    assert_eq!(available["reason"], "NodeDeleted");
}

#[tokio::test]
async fn a_moved_storage_node_force_deletes_the_pod_on_its_lost_host() {
    let sn = sn_json("graviton3");
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
        with_steps(
            reads(Some(old_pod), &sn, not_ready),
            vec![
                delete(POD),
                event(NS),
                event(NS),
                apply_status(SN_STATUS, sn.clone()),
            ],
        ),
    )
    .await;
    let deleted = sent.iter().find(|s| s.method == Method::DELETE).unwrap();
    assert_eq!(deleted.body["gracePeriodSeconds"], 0, "{deleted:?}");
}

#[tokio::test]
async fn a_spec_change_waits_while_a_sibling_is_not_ready() {
    let mut sn = sn_json("graviton3");
    sn["spec"]["image"] = json!({"tag": "0.2.0"});
    let old_pod = running_pod(&sn_json("graviton3"), "graviton3");
    let mut sibling = sn_json("graviton3");
    sibling["metadata"]["name"] = json!("g-1");
    let sent = reconcile(
        &sn,
        with_steps(
            reads(Some(old_pod), &sn, ready_host()),
            vec![
                get(SNS, list("StorageNodeList", vec![sn.clone(), sibling])),
                event(NS),
                apply_status(SN_STATUS, sn.clone()),
            ],
        ),
    )
    .await;
    assert!(sent.iter().all(|s| s.method != Method::DELETE));
    sent[8].assert_event("RolloutWaiting", "until g-1 is Ready");
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
    let missing = vec![not_found(SA), not_found(RB), not_found(CM)];
    let sent = reconcile(
        &sn,
        with_steps(
            reads_of(None, &sn, Some(ready_host()), missing),
            vec![
                apply(SA),
                apply(CM),
                apply(RB),
                apply(POD),
                event(NS),
                apply_status(SN_STATUS, sn.clone()),
            ],
        ),
    )
    .await;
    for s in &sent[7..=10] {
        s.assert_apply();
    }

    let account = &sent[7].body;
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

    let binding = &sent[9].body;
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

    let pod = &sent[10].body;
    assert_eq!(sent[10].path, POD);
    assert_eq!(pod["spec"]["serviceAccountName"], "sutra-storage");
    assert_eq!(pod["spec"]["automountServiceAccountToken"], true);
}

#[tokio::test]
async fn the_identity_follows_the_configured_cluster_role() {
    let sn = sn_json("graviton3");
    // A release named `edge`: its binding does not exist yet.
    let identity = vec![account_in_place(), not_found(RB), rules_in_place()];
    let steps = with_steps(
        reads_of(
            Some(running_pod(&sn, "graviton3")),
            &sn,
            Some(ready_host()),
            identity,
        ),
        vec![apply(RB), apply_status(SN_STATUS, sn.clone())],
    );
    let config = sutra_grid::controller::Config {
        storage_node_cluster_role: "edge-sutra-grid-storage-node".to_owned(),
        ..Default::default()
    };
    let sent = run(
        steps,
        |client| context_with(client, config),
        |ctx| node::reconcile(storage_node(&sn), ctx),
    )
    .await;
    assert_eq!(
        sent[7].body["roleRef"]["name"],
        "edge-sutra-grid-storage-node"
    );
}

#[tokio::test]
async fn the_identity_is_read_once_per_namespace_while_fresh() {
    let mut sn = sn_json("graviton3");
    sn["spec"]["variantPolicy"] = json!("Fixed");
    let pod = running_pod(&sn, "graviton3");
    // First reconcile: reads the identity, finds it in place, writes the status.
    let mut steps = reads(Some(pod.clone()), &sn, ready_host());
    steps.push(apply_status(SN_STATUS, sn.clone()));
    // Second (settled) reconcile: the identity is not read again, nothing is written.
    steps.extend(reads_of(Some(pod), &sn, Some(ready_host()), vec![]));
    let (client, scenario) = scenario(steps);
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
                 "lastTransitionTime": "2025-01-01T00:00:00Z"},
                {"type": "VariantMatched", "status": "Unknown", "reason": "AwaitingReport",
                 "message": "running graviton3; the node has not reported its hardware yet",
                 "observedGeneration": 3, "lastTransitionTime": "2025-01-01T00:00:00Z"}
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
        sent.iter()
            .filter(|s| s.path == SA || s.path == RB || s.path == CM)
            .count(),
        3
    );
}

#[tokio::test]
async fn a_role_binding_to_another_role_is_reported_not_rewritten() {
    let sn = sn_json("graviton3");
    let mut foreign = identity().1;
    foreign["roleRef"]["name"] = json!("old-release-storage-node");
    let identity = vec![account_in_place(), get(RB, foreign), rules_in_place()];
    let pod = Some(running_pod(&sn, "graviton3"));
    let sent = reconcile(
        &sn,
        with_steps(
            reads_of(pod, &sn, Some(ready_host()), identity),
            vec![event(NS), apply_status(SN_STATUS, sn.clone())],
        ),
    )
    .await;
    assert_eq!(sent[7].event_reason(), Some("StorageIdentityConflict"));
    assert_eq!(sent[7].body["type"], "Warning");
    let note = sent[7].body["note"].as_str().unwrap();
    assert!(note.contains("old-release-storage-node"), "{note}");
    assert!(note.contains("sutra-grid-storage-node"), "{note}");
    assert!(sent.iter().all(|s| s.path != RB || s.method == Method::GET));
}

/// The builtin table with one change: hosts whose CPU shows AVX-512 get x86-64-v3.
fn rules_preferring_v3_over_v4() -> sutra_core::variant::VariantRules {
    rules_with(
        "Node Feature Discovery shows AVX-512 F/BW/VL/DQ/CD",
        "x86-64-v4",
        "x86-64-v3",
    )
}

/// The status the storage node writes when it judges the AVX-512 host with `catalog`: its
/// `bestVariant` is the catalog's best for the host's report, as in the node (whose patch
/// with a custom table storage-node/tests/server_status.rs checks).
fn reported_with(sn: &mut Value, catalog: &sutra_core::variant::VariantCatalog) {
    let report = serde_json::from_value(avx512_report()).unwrap();
    node_report(sn, &catalog.best_for_host(&report).variant);
    sn["status"]["variant"] = json!("x86-64-v3");
}

#[tokio::test]
async fn a_custom_rule_table_reaches_the_node_and_causes_no_re_roll() {
    let rules = rules_preferring_v3_over_v4();
    let mut sn = sn_json("x86-64-v3");
    // The node judges itself with the mounted copy of the operator's table.
    reported_with(&mut sn, &rules.catalog);
    assert_eq!(sn["status"]["bestVariant"], "x86-64-v3");
    let identity = build_storage_identity(NS, DEFAULT_STORAGE_NODE_CLUSTER_ROLE, &rules.yaml);
    // The namespace still holds the builtin table: it is replaced by the operator's.
    let steps = with_steps(
        reads(Some(running_pod(&sn, "x86-64-v3")), &sn, plain_amd64_host()),
        vec![apply(CM), apply_status(SN_STATUS, sn.clone())],
    );
    let sent = run(
        steps,
        |client| context_with_rules(client, Default::default(), rules.clone()),
        |ctx| node::reconcile(storage_node(&sn), ctx),
    )
    .await;
    assert_eq!(sent[7].body["data"]["variants.yaml"], rules.yaml);
    assert_eq!(
        sent[7].body["metadata"]["annotations"],
        serde_json::to_value(&identity.variant_rules.metadata.annotations).unwrap()
    );
    assert!(events(&sent).is_empty(), "no switch: {:?}", events(&sent));
    assert!(sent.iter().all(|s| s.method != Method::DELETE));
    let status = &sent.last().unwrap().body["status"];
    assert_eq!(status["variant"], "x86-64-v3");
    let matched = condition(status, "VariantMatched");
    assert_eq!(matched["status"], "True", "{matched}");
    assert_eq!(matched["reason"], "BestVariant", "{matched}");

    // Judged with the builtin table instead, the node would ask for a switch.
    let mut builtin_judged = sn_json("x86-64-v3");
    reported_with(
        &mut builtin_judged,
        sutra_core::variant::VariantCatalog::builtin(),
    );
    assert_eq!(builtin_judged["status"]["bestVariant"], "x86-64-v4");
}
