//! The pure planner: placement, variants, scaling, node loss, tolerations, determinism.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Taint, Toleration};
use sutra_core::crd::{NodeLossPolicy, StorageGrid, StorageGridSpec, VectorSpec};
use sutra_core::labels;
use sutra_core::plan::{
    ExistingNode, Host, LossAction, Plan, PlanOptions, host_from_node, plan_grid, tolerates,
};
use sutra_core::variant::VariantCatalog;

fn grid(replicas: i32) -> StorageGrid {
    let mut spec: StorageGridSpec = serde_json::from_value(serde_json::json!({
        "vector": {"dimension": 8}
    }))
    .unwrap();
    spec.replicas = replicas;
    spec.vector = VectorSpec::with_dimension(8);
    StorageGrid::new("g", spec)
}

fn amd64(name: &str) -> Host {
    host(name, &[(labels::ARCH, "amd64")])
}

fn host(name: &str, pairs: &[(&str, &str)]) -> Host {
    let labels = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Host::new(name, labels)
}

fn zoned(name: &str, zone: &str) -> Host {
    host(name, &[(labels::ARCH, "amd64"), (labels::ZONE, zone)])
}

fn existing(name: &str, ordinal: i32, host: &str) -> ExistingNode {
    ExistingNode {
        name: name.to_owned(),
        ordinal,
        host: Some(host.to_owned()),
    }
}

fn plan(grid: &StorageGrid, hosts: &[Host], existing: &[ExistingNode]) -> Plan {
    plan_grid(
        grid,
        hosts,
        existing,
        VariantCatalog::builtin(),
        &PlanOptions::kubernetes(),
    )
}

fn hosts_of(plan: &Plan) -> Vec<(&str, &str)> {
    plan.nodes
        .iter()
        .map(|n| (n.name.as_str(), n.host.as_str()))
        .collect()
}

fn taint(key: &str, value: Option<&str>, effect: &str) -> Taint {
    Taint {
        key: key.to_owned(),
        value: value.map(str::to_owned),
        effect: effect.to_owned(),
        time_added: None,
    }
}

fn toleration(key: &str, operator: &str, value: Option<&str>, effect: Option<&str>) -> Toleration {
    Toleration {
        key: (!key.is_empty()).then(|| key.to_owned()),
        operator: Some(operator.to_owned()),
        value: value.map(str::to_owned),
        effect: effect.map(str::to_owned),
        toleration_seconds: None,
    }
}

fn nfd(feature: &str) -> String {
    format!("{}{feature}", labels::NFD_CPUID_PREFIX)
}

#[test]
fn variants_follow_each_hosts_labels() {
    let avx512: Vec<String> = [
        "AVX", "AVX2", "FMA3", "AVX512F", "AVX512BW", "AVX512VL", "AVX512DQ", "AVX512CD",
    ]
    .iter()
    .map(|f| nfd(f))
    .collect();
    let avx2: Vec<String> = ["AVX", "AVX2", "FMA3"].iter().map(|f| nfd(f)).collect();
    let mut v4 = vec![(labels::ARCH, "amd64")];
    v4.extend(avx512.iter().map(|k| (k.as_str(), "true")));
    let mut v3 = vec![(labels::ARCH, "amd64")];
    v3.extend(avx2.iter().map(|k| (k.as_str(), "true")));
    let inventory = [
        (host("a-avx512", &v4), "x86-64-v4"),
        (host("b-avx2", &v3), "x86-64-v3"),
        (
            host(
                "c-r7g",
                &[
                    (labels::ARCH, "arm64"),
                    (labels::INSTANCE_TYPE, "r7g.2xlarge"),
                ],
            ),
            "graviton3",
        ),
        (
            host(
                "d-m8g",
                &[
                    (labels::ARCH, "arm64"),
                    (labels::INSTANCE_TYPE, "m8g.xlarge"),
                ],
            ),
            "graviton4",
        ),
        (
            host("e-pi", &[(labels::ARCH, "arm64"), (labels::PI_MODEL, "5")]),
            "pi5",
        ),
        (host("f-unknown", &[]), "universal"),
    ];
    let hosts: Vec<Host> = inventory.iter().map(|(h, _)| h.clone()).collect();
    let plan = plan(&grid(6), &hosts, &[]);
    assert!(plan.unplaced.is_empty(), "{:?}", plan.unplaced);
    for (host, variant) in &inventory {
        let node = plan.nodes.iter().find(|n| n.host == host.name).unwrap();
        assert_eq!(node.variant, *variant, "{}: {}", host.name, node.reason);
    }
}

#[test]
fn an_explicit_grid_variant_applies_to_every_host() {
    let mut grid = grid(2);
    grid.spec.variant = "universal".to_owned();
    let hosts = [
        host("a", &[(labels::ARCH, "arm64"), (labels::PI_MODEL, "5")]),
        amd64("b"),
    ];
    let plan = plan(&grid, &hosts, &[]);
    assert!(plan.nodes.iter().all(|n| n.variant == "universal"));
    assert!(plan.nodes[0].reason.contains("grid sets variant universal"));
}

#[test]
fn names_and_ordinals_run_from_zero_to_replicas() {
    let hosts: Vec<Host> = (0..5).map(|i| amd64(&format!("h{i}"))).collect();
    let plan = plan(&grid(3), &hosts, &[]);
    let names: Vec<&str> = plan.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["g-0", "g-1", "g-2"]);
    let ordinals: Vec<i32> = plan.nodes.iter().map(|n| n.ordinal).collect();
    assert_eq!(ordinals, [0, 1, 2]);
}

#[test]
fn at_most_one_per_host_and_the_rest_unplaced_with_a_reason() {
    let hosts = [amd64("a"), amd64("b")];
    let plan = plan(&grid(3), &hosts, &[]);
    assert_eq!(hosts_of(&plan), [("g-0", "a"), ("g-1", "b")]);
    assert_eq!(plan.unplaced.len(), 1);
    assert_eq!(plan.unplaced[0].0, 2);
    assert!(
        plan.unplaced[0].1.contains("at most 1 per host"),
        "{}",
        plan.unplaced[0].1
    );
}

#[test]
fn no_hosts_leaves_every_ordinal_unplaced() {
    let plan = plan(&grid(2), &[], &[]);
    assert!(plan.nodes.is_empty());
    assert_eq!(
        plan.unplaced,
        [
            (0, "no hosts exist".to_owned()),
            (1, "no hosts exist".to_owned())
        ]
    );
}

#[test]
fn the_local_backend_puts_every_replica_on_its_one_host() {
    let plan = plan_grid(
        &grid(3),
        &[amd64("laptop")],
        &[],
        VariantCatalog::builtin(),
        &PlanOptions::local(),
    );
    assert_eq!(
        hosts_of(&plan),
        [("g-0", "laptop"), ("g-1", "laptop"), ("g-2", "laptop")]
    );
}

#[test]
fn cordoned_and_not_ready_hosts_get_no_new_nodes() {
    let mut cordoned = amd64("a");
    cordoned.schedulable = false;
    let mut not_ready = amd64("b");
    not_ready.ready = false;
    let plan = plan(&grid(2), &[cordoned, not_ready, amd64("c")], &[]);
    assert_eq!(hosts_of(&plan), [("g-0", "c")]);
    let why = &plan.unplaced[0].1;
    assert!(why.contains("is cordoned (1 host(s))"), "{why}");
    assert!(why.contains("is not Ready (1 host(s))"), "{why}");
}

#[test]
fn the_node_selector_limits_placement() {
    let mut grid = grid(2);
    grid.spec
        .placement
        .node_selector
        .insert("pool".to_owned(), "storage".to_owned());
    let storage = host("b", &[(labels::ARCH, "amd64"), ("pool", "storage")]);
    let plan = plan(&grid, &[amd64("a"), storage], &[]);
    assert_eq!(hosts_of(&plan), [("g-0", "b")]);
    assert!(plan.unplaced[0].1.contains("pool=storage"));
}

#[test]
fn untolerated_no_schedule_and_no_execute_taints_exclude_a_host() {
    for effect in ["NoSchedule", "NoExecute"] {
        let mut tainted = amd64("a");
        tainted.taints = vec![taint("dedicated", Some("db"), effect)];
        let plan = plan(&grid(1), &[tainted, amd64("b")], &[]);
        assert_eq!(hosts_of(&plan), [("g-0", "b")], "{effect}");
    }
}

#[test]
fn prefer_no_schedule_taints_are_ignored() {
    let mut tainted = amd64("a");
    tainted.taints = vec![taint("busy", None, "PreferNoSchedule")];
    let plan = plan(&grid(1), &[tainted], &[]);
    assert_eq!(hosts_of(&plan), [("g-0", "a")]);
}

#[test]
fn tolerated_taints_admit_the_host() {
    let cases = [
        toleration("dedicated", "Equal", Some("db"), Some("NoSchedule")),
        toleration("dedicated", "Equal", Some("db"), None),
        toleration("dedicated", "Exists", None, Some("NoSchedule")),
        toleration("", "Exists", None, None),
    ];
    for tol in cases {
        let mut grid = grid(1);
        grid.spec.placement.tolerations = vec![tol.clone()];
        let mut tainted = amd64("a");
        tainted.taints = vec![taint("dedicated", Some("db"), "NoSchedule")];
        let plan = plan(&grid, &[tainted], &[]);
        assert_eq!(hosts_of(&plan), [("g-0", "a")], "{tol:?}");
    }
}

#[test]
fn toleration_matching_follows_kubernetes() {
    let t = taint("k", Some("v"), "NoSchedule");
    let yes = [
        toleration("k", "Equal", Some("v"), Some("NoSchedule")),
        toleration("k", "Exists", None, None),
        toleration("", "Exists", None, Some("NoSchedule")),
    ];
    let no = [
        toleration("k", "Equal", Some("other"), None),
        toleration("k", "Equal", Some("v"), Some("NoExecute")),
        toleration("other", "Exists", None, None),
        toleration("", "Equal", Some("v"), None),
        toleration("k", "Bogus", Some("v"), None),
    ];
    for tol in yes {
        assert!(tolerates(&tol, &t), "{tol:?}");
    }
    for tol in no {
        assert!(!tolerates(&tol, &t), "{tol:?}");
    }
    let default_operator = Toleration {
        key: Some("k".to_owned()),
        value: Some("v".to_owned()),
        ..Toleration::default()
    };
    assert!(tolerates(&default_operator, &t));
    let valueless = taint("k", None, "NoSchedule");
    let empty_value = Toleration {
        key: Some("k".to_owned()),
        ..Toleration::default()
    };
    assert!(tolerates(&empty_value, &valueless));
}

#[test]
fn new_nodes_spread_over_zones_least_used_first() {
    let hosts = [
        zoned("a1", "a"),
        zoned("a2", "a"),
        zoned("a3", "a"),
        zoned("b1", "b"),
        zoned("c1", "c"),
        zoned("c2", "c"),
    ];
    let plan = plan(&grid(5), &hosts, &[]);
    assert_eq!(
        hosts_of(&plan),
        [
            ("g-0", "a1"),
            ("g-1", "b1"),
            ("g-2", "c1"),
            ("g-3", "a2"),
            ("g-4", "c2")
        ]
    );
}

#[test]
fn spread_counts_the_zones_of_existing_nodes() {
    let hosts = [zoned("a1", "a"), zoned("a2", "a"), zoned("b1", "b")];
    let plan = plan(&grid(2), &hosts, &[existing("g-0", 0, "a1")]);
    assert_eq!(hosts_of(&plan), [("g-0", "a1"), ("g-1", "b1")]);
}

#[test]
fn existing_nodes_keep_their_hosts() {
    let hosts = [amd64("a"), amd64("b"), amd64("c")];
    let current = [existing("g-0", 0, "c"), existing("g-1", 1, "a")];
    let plan = plan(&grid(3), &hosts, &current);
    assert_eq!(hosts_of(&plan), [("g-0", "c"), ("g-1", "a"), ("g-2", "b")]);
    assert!(plan.lost.is_empty());
}

#[test]
fn a_cordoned_host_keeps_its_existing_node() {
    let mut cordoned = amd64("a");
    cordoned.schedulable = false;
    cordoned.taints = vec![taint(
        "node.kubernetes.io/unschedulable",
        None,
        "NoSchedule",
    )];
    let plan = plan(
        &grid(1),
        &[cordoned, amd64("b")],
        &[existing("g-0", 0, "a")],
    );
    assert_eq!(hosts_of(&plan), [("g-0", "a")]);
    assert!(plan.lost.is_empty());
}

#[test]
fn an_existing_node_without_a_host_is_placed() {
    let unpinned = ExistingNode {
        name: "g-0".to_owned(),
        ordinal: 0,
        host: None,
    };
    let plan = plan(&grid(1), &[amd64("a")], &[unpinned]);
    assert_eq!(hosts_of(&plan), [("g-0", "a")]);
}

#[test]
fn scaling_down_removes_the_highest_ordinals() {
    let hosts: Vec<Host> = (0..4).map(|i| amd64(&format!("h{i}"))).collect();
    let current: Vec<ExistingNode> = (0..4)
        .map(|i| existing(&format!("g-{i}"), i, &format!("h{i}")))
        .collect();
    let plan = plan(&grid(2), &hosts, &current);
    assert_eq!(hosts_of(&plan), [("g-0", "h0"), ("g-1", "h1")]);
    assert_eq!(plan.remove, ["g-2", "g-3"]);
}

#[test]
fn scaling_to_zero_removes_everything() {
    let plan = plan(&grid(0), &[amd64("a")], &[existing("g-0", 0, "a")]);
    assert!(plan.nodes.is_empty());
    assert_eq!(plan.remove, ["g-0"]);
}

#[test]
fn stray_names_and_duplicate_ordinals_are_removed() {
    let current = [
        existing("g-0", 0, "a"),
        existing("other-0", 0, "b"),
        existing("g-0-copy", 0, "b"),
    ];
    let plan = plan(&grid(1), &[amd64("a"), amd64("b")], &current);
    assert_eq!(hosts_of(&plan), [("g-0", "a")]);
    assert_eq!(plan.remove, ["g-0-copy", "other-0"]);
}

#[test]
fn a_deleted_host_with_wait_keeps_the_node_bound_and_reports_it() {
    let plan = plan(&grid(1), &[amd64("b")], &[existing("g-0", 0, "gone")]);
    assert_eq!(hosts_of(&plan), [("g-0", "gone")]);
    assert_eq!(plan.lost.len(), 1);
    assert_eq!(plan.lost[0].action, LossAction::Wait);
    assert!(plan.lost[0].why.contains("no longer exists"));
    assert_eq!(
        plan.nodes[0].variant, "universal",
        "no labels to select from"
    );
}

fn rescheduling(replicas: i32) -> StorageGrid {
    let mut grid = grid(replicas);
    grid.spec.placement.on_node_loss = NodeLossPolicy::Reschedule;
    grid
}

#[test]
fn a_deleted_host_with_reschedule_moves_the_node() {
    let plan = plan(
        &rescheduling(1),
        &[amd64("b")],
        &[existing("g-0", 0, "gone")],
    );
    assert_eq!(hosts_of(&plan), [("g-0", "b")]);
    assert_eq!(plan.lost[0].action, LossAction::MovedTo("b".to_owned()));
    assert_eq!(plan.lost[0].host, "gone");
}

/// Host `a`, which holds g-0, NotReady for `seconds`, and a healthy host `b`.
fn not_ready_for(seconds: i64) -> [Host; 2] {
    let mut host = amd64("a");
    host.ready = false;
    host.not_ready_seconds = seconds;
    [host, amd64("b")]
}

#[test]
fn a_not_ready_host_within_the_grace_period_is_waited_for() {
    let plan = plan(
        &rescheduling(1),
        &not_ready_for(299),
        &[existing("g-0", 0, "a")],
    );
    assert_eq!(hosts_of(&plan), [("g-0", "a")]);
    assert_eq!(plan.lost[0].action, LossAction::Wait);
    assert!(plan.lost[0].why.contains("within the 300s grace period"));
}

#[test]
fn a_not_ready_host_past_the_grace_period_is_lost() {
    let current = [existing("g-0", 0, "a")];
    let plan = plan(&rescheduling(1), &not_ready_for(300), &current);
    assert_eq!(hosts_of(&plan), [("g-0", "b")]);
    assert!(plan.lost[0].why.contains("past the 300s grace period"));
    let waiting = self::plan(&grid(1), &not_ready_for(300), &current);
    assert_eq!(hosts_of(&waiting), [("g-0", "a")]);
}

#[test]
fn reschedule_without_a_free_host_stays_and_says_so() {
    let current = [existing("g-0", 0, "gone"), existing("g-1", 1, "b")];
    let plan = plan(&rescheduling(2), &[amd64("b")], &current);
    assert_eq!(hosts_of(&plan), [("g-0", "gone"), ("g-1", "b")]);
    assert_eq!(plan.lost[0].action, LossAction::NoHostAvailable);
}

#[test]
fn a_no_execute_taint_on_an_existing_host_counts_as_loss() {
    let mut evicting = amd64("a");
    evicting.taints = vec![taint("maintenance", None, "NoExecute")];
    let plan = plan(
        &rescheduling(1),
        &[evicting, amd64("b")],
        &[existing("g-0", 0, "a")],
    );
    assert_eq!(hosts_of(&plan), [("g-0", "b")]);
    assert!(plan.lost[0].why.contains("evicts"));
}

#[test]
fn kubernetes_nodes_become_hosts() {
    let node: k8s_openapi::api::core::v1::Node = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "n1", "labels": {"kubernetes.io/arch": "arm64"}},
        "spec": {"unschedulable": true, "taints": [{"key": "k", "effect": "NoSchedule"}]},
        "status": {"conditions": [{
            "type": "Ready", "status": "False",
            "lastTransitionTime": "2025-01-01T00:00:00Z"
        }]}
    }))
    .unwrap();
    let now: k8s_openapi::jiff::Timestamp = "2025-01-01T00:10:00Z".parse().unwrap();
    let host = host_from_node(&node, now);
    assert_eq!(host.name, "n1");
    assert_eq!(host.labels[labels::ARCH], "arm64");
    assert!(!host.schedulable);
    assert!(!host.ready);
    assert_eq!(host.not_ready_seconds, 600);
    assert_eq!(host.taints.len(), 1);

    let bare: k8s_openapi::api::core::v1::Node =
        serde_json::from_value(serde_json::json!({"metadata": {"name": "n2"}})).unwrap();
    let host = host_from_node(&bare, now);
    assert!(host.schedulable);
    assert!(!host.ready, "a Node without a Ready condition is not ready");
    assert_eq!(host.not_ready_seconds, 0);
}

/// A small deterministic generator, so the property loops need no extra dependency and
/// every failure reproduces.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

fn random_host(rng: &mut XorShift, index: usize) -> Host {
    let arch = ["amd64", "arm64", "riscv64"][rng.next(3) as usize];
    let mut pairs = vec![(labels::ARCH.to_owned(), arch.to_owned())];
    if rng.next(2) == 0 {
        pairs.push((labels::ZONE.to_owned(), format!("z{}", rng.next(3))));
    }
    if arch == "arm64" && rng.next(2) == 0 {
        let types = ["r7g.2xlarge", "m8g.xlarge", "c6g.large", "t2.micro"];
        pairs.push((
            labels::INSTANCE_TYPE.to_owned(),
            types[rng.next(4) as usize].to_owned(),
        ));
    }
    if arch == "amd64" && rng.next(2) == 0 {
        for f in ["AVX", "AVX2", "FMA3"] {
            pairs.push((nfd(f), "true".to_owned()));
        }
    }
    let mut host = Host::new(format!("h{index:03}"), pairs.into_iter().collect());
    host.schedulable = rng.next(5) != 0;
    host.ready = rng.next(6) != 0;
    host.not_ready_seconds = if host.ready { 0 } else { rng.next(600) as i64 };
    if rng.next(6) == 0 {
        host.taints = vec![taint("dedicated", None, "NoSchedule")];
    }
    host
}

#[test]
fn plans_hold_their_invariants_over_random_inventories() {
    let catalog = VariantCatalog::builtin();
    let mut rng = XorShift(0x5eed_1234_abcd_0001);
    for round in 0..400 {
        let hosts: Vec<Host> = (0..rng.next(12) as usize)
            .map(|i| random_host(&mut rng, i))
            .collect();
        let replicas = rng.next(10) as i32;
        let mut grid = if rng.next(2) == 0 {
            rescheduling(replicas)
        } else {
            grid(replicas)
        };
        if rng.next(4) == 0 {
            grid.spec.placement.tolerations = vec![toleration("dedicated", "Exists", None, None)];
        }
        let mut current = Vec::new();
        for ordinal in 0..rng.next(8) as i32 {
            if rng.next(3) != 0 {
                let host = format!("h{:03}", rng.next(14));
                current.push(existing(&format!("g-{ordinal}"), ordinal, &host));
            }
        }
        let plan = plan(&grid, &hosts, &current);
        let context = format!("round {round}: {plan:#?}");

        let mut ordinals: Vec<i32> = plan.nodes.iter().map(|n| n.ordinal).collect();
        ordinals.extend(plan.unplaced.iter().map(|(o, _)| *o));
        ordinals.sort();
        assert_eq!(ordinals, (0..replicas).collect::<Vec<_>>(), "{context}");

        let new_hosts: Vec<&str> = plan
            .nodes
            .iter()
            .filter(|n| !current.iter().any(|c| c.name == n.name))
            .map(|n| n.host.as_str())
            .collect();
        let mut per_host: BTreeMap<&str, usize> = BTreeMap::new();
        for node in &plan.nodes {
            *per_host.entry(node.host.as_str()).or_default() += 1;
            assert_eq!(node.name, format!("g-{}", node.ordinal), "{context}");
            let labels = hosts
                .iter()
                .find(|h| h.name == node.host)
                .map(|h| h.labels.clone())
                .unwrap_or_default();
            assert_eq!(node.variant, catalog.select(&labels).variant, "{context}");
        }
        for host in new_hosts {
            assert_eq!(
                per_host[host], 1,
                "new node doubled up on {host}: {context}"
            );
        }
        for (name, count) in &per_host {
            let existing_here = current
                .iter()
                .filter(|c| c.host.as_deref() == Some(name))
                .count();
            assert!(*count <= existing_here.max(1), "{name}: {context}");
        }

        for name in &plan.remove {
            let node = current.iter().find(|c| &c.name == name).unwrap();
            let duplicate = current.iter().filter(|c| c.ordinal == node.ordinal).count() > 1;
            assert!(node.ordinal >= replicas || duplicate, "{context}");
        }
        assert_eq!(
            plan,
            self::plan(&grid, &hosts, &current),
            "determinism, {context}"
        );
    }
}

#[test]
fn input_order_does_not_change_the_plan() {
    let mut rng = XorShift(42);
    for _ in 0..100 {
        let hosts: Vec<Host> = (0..8).map(|i| random_host(&mut rng, i)).collect();
        let mut reversed = hosts.clone();
        reversed.reverse();
        let grid = grid(rng.next(9) as i32);
        assert_eq!(plan(&grid, &hosts, &[]), plan(&grid, &reversed, &[]));
    }
}
