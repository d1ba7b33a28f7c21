use serde_json::{Value, json};

use super::*;

/// A Node as a kubelet keeps it: what the planner reads, and the heartbeat around it.
fn kubelet_node() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {
            "name": "host-a", "resourceVersion": "100", "uid": "u",
            "labels": {"kubernetes.io/arch": "amd64", "topology.kubernetes.io/zone": "z1"},
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"}
        },
        "spec": {
            "taints": [{"key": "dedicated", "value": "storage", "effect": "NoSchedule"}]
        },
        "status": {
            "conditions": [
                {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory",
                 "lastHeartbeatTime": "2025-01-01T00:00:00Z", "lastTransitionTime": "2025-01-01T00:00:00Z"},
                {"type": "Ready", "status": "True", "reason": "KubeletReady",
                 "message": "kubelet is posting ready status",
                 "lastHeartbeatTime": "2025-01-01T00:00:00Z", "lastTransitionTime": "2025-01-01T00:00:00Z"}
            ],
            "allocatable": {"cpu": "2", "memory": "8Gi"},
            "images": [{"names": ["ghcr.io/sutra-ai/sutra-storage:0.1.0-universal"], "sizeBytes": 1}]
        }
    })
}

fn node(value: &Value) -> Node {
    serde_json::from_value(value.clone()).unwrap()
}

/// `before` and `after` a change made by `change`, as the planner sees them.
fn compare(change: impl FnOnce(&mut Value)) -> bool {
    let before = kubelet_node();
    let mut after = before.clone();
    change(&mut after);
    replans(
        Some(&PlannedFacts::of(&node(&before))),
        Some(&PlannedFacts::of(&node(&after))),
    )
}

/// A named change to a Node.
type Change = (&'static str, fn(&mut Value));

fn ready(value: &mut Value) -> &mut Value {
    &mut value["status"]["conditions"][1]
}

#[test]
fn every_fact_the_planner_reads_re_plans_when_it_changes() {
    let changes: [Change; 13] = [
        ("a label added", |n| {
            n["metadata"]["labels"]["feature.node.kubernetes.io/cpu-cpuid.AVX2"] = json!("true")
        }),
        ("a label changed", |n| {
            n["metadata"]["labels"]["topology.kubernetes.io/zone"] = json!("z2")
        }),
        ("a label removed", |n| {
            n["metadata"]["labels"]
                .as_object_mut()
                .unwrap()
                .remove("kubernetes.io/arch");
        }),
        ("every label removed", |n| {
            n["metadata"].as_object_mut().unwrap().remove("labels");
        }),
        ("a taint added", |n| {
            n["spec"]["taints"]
                .as_array_mut()
                .unwrap()
                .push(json!({"key": "gpu", "effect": "NoExecute"}))
        }),
        ("a taint's effect changed", |n| {
            n["spec"]["taints"][0]["effect"] = json!("NoExecute")
        }),
        ("a taint's value changed", |n| {
            n["spec"]["taints"][0]["value"] = json!("other")
        }),
        ("every taint removed", |n| {
            n["spec"].as_object_mut().unwrap().remove("taints");
        }),
        ("cordoned", |n| n["spec"]["unschedulable"] = json!(true)),
        ("NotReady", |n| {
            ready(n)["status"] = json!("False");
            ready(n)["lastTransitionTime"] = json!("2025-01-01T00:05:00Z");
        }),
        ("Ready turned Unknown", |n| {
            ready(n)["status"] = json!("Unknown")
        }),
        ("Ready changed at another time", |n| {
            ready(n)["lastTransitionTime"] = json!("2025-01-01T00:05:00Z")
        }),
        ("the Ready condition gone", |n| {
            n["status"]["conditions"].as_array_mut().unwrap().pop();
        }),
    ];
    for (what, change) in changes {
        assert!(compare(change), "{what} must re-plan");
    }
}

#[test]
fn heartbeats_and_facts_the_planner_does_not_read_do_not_re_plan() {
    let changes: [Change; 11] = [
        ("nothing", |_| {}),
        ("a new resourceVersion", |n| {
            n["metadata"]["resourceVersion"] = json!("101")
        }),
        ("the Ready heartbeat", |n| {
            ready(n)["lastHeartbeatTime"] = json!("2025-01-01T00:00:10Z")
        }),
        ("the Ready message", |n| {
            ready(n)["message"] = json!("kubelet is posting ready status. AppArmor enabled")
        }),
        ("another condition's heartbeat", |n| {
            n["status"]["conditions"][0]["lastHeartbeatTime"] = json!("2025-01-01T00:00:10Z")
        }),
        ("another condition's status", |n| {
            n["status"]["conditions"][0]["status"] = json!("True")
        }),
        ("an annotation", |n| {
            n["metadata"]["annotations"]["volumes.kubernetes.io/controller-managed-attach-detach"] =
                json!("true")
        }),
        ("the images on the host", |n| {
            n["status"]["images"] = json!([])
        }),
        ("allocatable resources", |n| {
            n["status"]["allocatable"]["memory"] = json!("7Gi")
        }),
        ("spec.unschedulable written as false", |n| {
            n["spec"]["unschedulable"] = json!(false)
        }),
        (
            "the same taints written again",
            |n| {
                n["spec"]["taints"] =
                    json!([{"key": "dedicated", "value": "storage", "effect": "NoSchedule"}])
            },
        ),
    ];
    for (what, change) in changes {
        assert!(!compare(change), "{what} must not re-plan");
    }
}

#[test]
fn a_node_that_appears_or_goes_re_plans() {
    let facts = PlannedFacts::of(&node(&kubelet_node()));
    assert!(replans(None, Some(&facts)));
    assert!(replans(Some(&facts), None));
    assert!(!replans(None, None));
}

fn changed(value: &Value, change: impl FnOnce(&mut Value)) -> Node {
    let mut value = value.clone();
    change(&mut value);
    node(&value)
}

#[test]
fn the_watch_re_plans_on_relevant_changes_only() {
    let base = kubelet_node();
    let mut changes = NodeChanges::default();
    // The first list re-plans once, at its end.
    assert!(!changes.replans(&Event::Init));
    assert!(!changes.replans(&Event::InitApply(node(&base))));
    assert!(changes.replans(&Event::InitDone));

    let heartbeat = changed(&base, |n| {
        n["metadata"]["resourceVersion"] = json!("101");
        ready(n)["lastHeartbeatTime"] = json!("2025-01-01T00:00:10Z");
    });
    assert!(!changes.replans(&Event::Apply(heartbeat)));
    let cordoned = changed(&base, |n| n["spec"]["unschedulable"] = json!(true));
    assert!(changes.replans(&Event::Apply(cordoned.clone())));
    assert!(!changes.replans(&Event::Apply(cordoned)), "seen already");
    let other = changed(&base, |n| n["metadata"]["name"] = json!("host-b"));
    assert!(changes.replans(&Event::Apply(other.clone())), "a new Node");
    assert!(changes.replans(&Event::Delete(other)));
}

#[test]
fn a_relist_re_plans_only_when_it_finds_something_new_or_gone() {
    let base = kubelet_node();
    let other = changed(&base, |n| n["metadata"]["name"] = json!("host-b"));
    let list = |changes: &mut NodeChanges, nodes: &[Node]| {
        assert!(!changes.replans(&Event::Init));
        for node in nodes {
            assert!(!changes.replans(&Event::InitApply(node.clone())));
        }
        changes.replans(&Event::InitDone)
    };
    let mut changes = NodeChanges::default();
    assert!(!list(&mut changes, &[]), "no Nodes, nothing to re-plan");
    assert!(list(&mut changes, &[node(&base), other.clone()]));
    let heartbeat = changed(&base, |n| {
        ready(n)["lastHeartbeatTime"] = json!("2025-01-01T01:00:00Z")
    });
    assert!(!list(&mut changes, &[heartbeat.clone(), other]));
    assert!(
        list(&mut changes, &[heartbeat]),
        "host-b was deleted while the watch was down"
    );
}
