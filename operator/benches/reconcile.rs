//! Operator benchmark: a grid of 1,000 StorageNodes over 1,000 Nodes against a mocked API
//! server. Reports plan time, CPU time per reconcile, the requests a reconcile issues in a
//! steady state (target: no writes) and after one Node changes (target: one apply), and
//! the RSS of 1,000 Nodes + 1,000 StorageNodes held in reflector stores.
//!
//! Run: `cargo bench -p sutra-grid --bench reconcile`

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::{Method, Request, Response};
use k8s_openapi::api::core::v1::Node;
use kube::client::Body;
use kube::runtime::{reflector, watcher};
use serde_json::{Value, json};
use sutra_core::crd::{StorageGrid, StorageNode};
use sutra_core::plan::{ExistingNode, PlanOptions, host_from_node, plan_grid};
use sutra_core::variant::{VariantCatalog, VariantRules};
use sutra_grid::controller::grid::build::build_storage_node;
use sutra_grid::controller::{Config, Context, Metrics, grid, node};
use tower_test::mock;

const SIZE: usize = 1000;

fn main() {
    let nodes: Vec<Value> = (0..SIZE).map(node_json).collect();
    let grid_value = grid_json(None);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    report_rss(&nodes, &grid_value);

    bench_plan(&nodes, &grid_value);
    let (grid_status, storage_nodes) = runtime.block_on(create_grid(&nodes));
    let settled = grid_json(Some(grid_status));
    runtime.block_on(steady_grid(&nodes, &storage_nodes, &settled));
    runtime.block_on(one_node_changed(&nodes, &storage_nodes, &settled));
    runtime.block_on(steady_storage_nodes(&nodes, &storage_nodes));
}

fn node_json(index: usize) -> Value {
    let arch = if index.is_multiple_of(2) {
        "amd64"
    } else {
        "arm64"
    };
    let mut labels = json!({
        "kubernetes.io/arch": arch,
        "kubernetes.io/hostname": format!("node-{index:04}"),
        "kubernetes.io/os": "linux",
        "topology.kubernetes.io/zone": format!("zone-{}", index % 3),
        "topology.kubernetes.io/region": "eu-west-1",
        "node.kubernetes.io/instance-type": if arch == "arm64" { "r7g.2xlarge" } else { "m6i.2xlarge" },
    });
    if arch == "amd64" {
        for feature in [
            "AVX", "AVX2", "FMA3", "AVX512F", "AVX512BW", "AVX512VL", "AVX512DQ", "AVX512CD",
        ] {
            labels[format!("feature.node.kubernetes.io/cpu-cpuid.{feature}")] = json!("true");
        }
    }
    let images: Vec<Value> = (0..10)
        .map(|i| json!({"names": [format!("registry.example.com/team/app-{i}@sha256:{:064x}", i)], "sizeBytes": 123456789}))
        .collect();
    let conditions: Vec<Value> = ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
        .iter()
        .map(|t| {
            json!({
                "type": t, "status": if *t == "Ready" { "True" } else { "False" },
                "lastTransitionTime": "2025-01-01T00:00:00Z", "lastHeartbeatTime": "2025-01-01T00:00:00Z",
                "reason": "KubeletReady", "message": "kubelet is posting ready status"
            })
        })
        .collect();
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": format!("node-{index:04}"), "uid": format!("uid-{index}"), "labels": labels,
                     "resourceVersion": "1"},
        "spec": {"providerID": format!("aws:///eu-west-1a/i-{index:017x}")},
        "status": {
            "conditions": conditions,
            "capacity": {"cpu": "8", "memory": "64Gi", "pods": "110"},
            "allocatable": {"cpu": "7910m", "memory": "62Gi", "pods": "110"},
            "images": images,
            "nodeInfo": {"architecture": arch, "kernelVersion": "6.1.0", "osImage": "Bottlerocket",
                         "containerRuntimeVersion": "containerd://1.7", "kubeletVersion": "v1.33.0",
                         "kubeProxyVersion": "v1.33.0", "operatingSystem": "linux", "machineID": "m",
                         "systemUUID": "s", "bootID": "b"}
        }
    })
}

fn grid_json(status: Option<Value>) -> Value {
    let mut grid = json!({
        "apiVersion": "grid.sutra.ai/v1alpha1", "kind": "StorageGrid",
        "metadata": {"name": "g", "namespace": "default", "uid": "grid-uid", "generation": 1},
        "spec": {"replicas": SIZE, "vector": {"dimension": 768}}
    });
    if let Some(status) = status {
        grid["status"] = status;
    }
    grid
}

fn bench_plan(nodes: &[Value], grid_value: &Value) {
    let grid: StorageGrid = serde_json::from_value(grid_value.clone()).unwrap();
    let now = k8s_openapi::jiff::Timestamp::now();
    let hosts: Vec<_> = nodes
        .iter()
        .map(|n| host_from_node(&serde_json::from_value::<Node>(n.clone()).unwrap(), now))
        .collect();
    let catalog = VariantCatalog::builtin();
    let opts = PlanOptions::kubernetes();
    let fresh = time_per(20, || plan_grid(&grid, &hosts, &[], catalog, &opts));
    let existing: Vec<ExistingNode> = plan_grid(&grid, &hosts, &[], catalog, &opts)
        .nodes
        .iter()
        .map(|n| ExistingNode {
            name: n.name.clone(),
            ordinal: n.ordinal,
            host: Some(n.host.clone()),
        })
        .collect();
    let settled = time_per(20, || plan_grid(&grid, &hosts, &existing, catalog, &opts));
    println!(
        "plan 1000 StorageNodes over 1000 hosts, none existing: {:.2} ms",
        ms(fresh)
    );
    println!(
        "plan 1000 StorageNodes over 1000 hosts, all existing:  {:.2} ms",
        ms(settled)
    );
}

fn time_per<T>(iterations: u32, mut f: impl FnMut() -> T) -> Duration {
    let start = Instant::now();
    for _ in 0..iterations {
        std::hint::black_box(f());
    }
    start.elapsed() / iterations
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Requests the mock server saw, by method.
#[derive(Debug, Default, Clone)]
struct Counts {
    by_method: BTreeMap<String, usize>,
    applies: usize,
    status_writes: usize,
    events: usize,
    last_status: Option<Value>,
    applied: Vec<Value>,
}

impl Counts {
    fn writes(&self) -> usize {
        self.by_method
            .iter()
            .filter(|(method, _)| *method != "GET")
            .map(|(_, n)| n)
            .sum::<usize>()
            - self.events
    }
}

/// Answers every request from fixed objects: Node and StorageNode lists, owned objects by
/// name, and echoes of writes.
struct Fixtures {
    node_list: Vec<u8>,
    sn_list: Vec<u8>,
    by_path: BTreeMap<String, Vec<u8>>,
    grid: Value,
}

fn client_for(fixtures: Fixtures, counts: Arc<Mutex<Counts>>) -> kube::Client {
    let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    tokio::spawn(async move {
        while let Some((request, reply)) = handle.next_request().await {
            let (parts, body) = request.into_parts();
            let bytes = body.collect_bytes().await.unwrap().to_vec();
            let path = parts.uri.path().to_owned();
            let mut counts = counts.lock().unwrap();
            *counts
                .by_method
                .entry(parts.method.to_string())
                .or_default() += 1;
            let (status, payload) = if path.contains("/events") {
                counts.events += 1;
                (200, bytes)
            } else if parts.method == Method::GET && path == "/api/v1/nodes" {
                (200, fixtures.node_list.clone())
            } else if parts.method == Method::GET && path.ends_with("/storagenodes") {
                (200, fixtures.sn_list.clone())
            } else if parts.method == Method::GET {
                match fixtures.by_path.get(&path) {
                    Some(object) => (200, object.clone()),
                    None => (404, serde_json::to_vec(&json!({"kind": "Status", "apiVersion": "v1", "code": 404, "reason": "NotFound", "status": "Failure", "message": "not found"})).unwrap()),
                }
            } else if path.ends_with("/status") {
                counts.status_writes += 1;
                let sent: Value = serde_json::from_slice(&bytes).unwrap();
                counts.last_status = Some(sent["status"].clone());
                let owner = path.trim_end_matches("/status");
                let mut object = match fixtures.by_path.get(owner) {
                    Some(bytes) => serde_json::from_slice(bytes).unwrap(),
                    None => fixtures.grid.clone(),
                };
                object["status"] = sent["status"].clone();
                (200, serde_json::to_vec(&object).unwrap())
            } else {
                counts.applies += 1;
                counts.applied.push(serde_json::from_slice(&bytes).unwrap());
                (200, bytes)
            };
            reply.send_response(
                Response::builder()
                    .status(status)
                    .header("content-type", "application/json")
                    .body(Body::from(payload))
                    .unwrap(),
            );
        }
    });
    kube::Client::new(service, "default")
}

fn context(client: kube::Client) -> Arc<Context> {
    Context::new(
        client,
        Arc::new(Metrics::new()),
        Arc::new(VariantRules::builtin()),
        Config::default(),
    )
}

fn list_bytes(kind: &str, items: &[Value]) -> Vec<u8> {
    serde_json::to_vec(&json!({"kind": kind, "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": items})).unwrap()
}

fn fixtures(nodes: &[Value], sns: &[Value], grid: &Value) -> Fixtures {
    Fixtures {
        node_list: list_bytes("NodeList", nodes),
        sn_list: list_bytes("StorageNodeList", sns),
        by_path: BTreeMap::new(),
        grid: grid.clone(),
    }
}

async fn run_grid(fixtures: Fixtures, grid: &Value) -> (Counts, Duration) {
    let counts = Arc::new(Mutex::new(Counts::default()));
    let ctx = context(client_for(fixtures, counts.clone()));
    let grid: Arc<StorageGrid> = Arc::new(serde_json::from_value(grid.clone()).unwrap());
    let cpu = cpu_time();
    grid::reconcile(grid, ctx).await.unwrap();
    let spent = cpu_time() - cpu;
    let counts = counts.lock().unwrap().clone();
    (counts, spent)
}

/// First reconcile: every StorageNode is created. Returns the grid status written and the
/// StorageNodes (as applied, marked Ready).
async fn create_grid(nodes: &[Value]) -> (Value, Vec<Value>) {
    let grid = grid_json(None);
    let (counts, spent) = run_grid(fixtures(nodes, &[], &grid), &grid).await;
    println!(
        "grid reconcile creating 1000 StorageNodes: {:.1} ms CPU, {} applies, {} status writes, {} events, {} requests",
        ms(spent),
        counts.applies,
        counts.status_writes,
        counts.events,
        counts.by_method.values().sum::<usize>()
    );
    let sns: Vec<Value> = counts
        .applied
        .iter()
        .enumerate()
        .map(|(i, sn)| {
            let mut sn = sn.clone();
            sn["metadata"]["uid"] = json!(format!("sn-{i}"));
            sn["metadata"]["generation"] = json!(1);
            sn["status"] = json!({"phase": "Ready", "variant": sn["spec"]["variant"],
                "conditions": [{"type": "Ready", "status": "True", "reason": "Serving", "message": "",
                                "lastTransitionTime": "2025-01-01T00:00:00Z"}]});
            sn
        })
        .collect();
    // A second pass records the status of the now-existing nodes.
    let (counts, _) = run_grid(fixtures(nodes, &sns, &grid), &grid).await;
    (counts.last_status.expect("status written"), sns)
}

async fn steady_grid(nodes: &[Value], sns: &[Value], grid: &Value) {
    let mut total = Duration::ZERO;
    let rounds = 10;
    let mut last = Counts::default();
    for _ in 0..rounds {
        let (counts, spent) = run_grid(fixtures(nodes, sns, grid), grid).await;
        total += spent;
        last = counts;
    }
    println!(
        "grid reconcile, steady state: {:.1} ms CPU per reconcile (1000 Nodes, 1000 StorageNodes), requests {:?}, writes {}",
        ms(total / rounds),
        last.by_method,
        last.writes()
    );
}

async fn one_node_changed(nodes: &[Value], sns: &[Value], grid: &Value) {
    let mut changed = nodes.to_vec();
    // Node Feature Discovery drops AVX-512 from node-0000: its StorageNode becomes x86-64-v3.
    let labels = changed[0]["metadata"]["labels"].as_object_mut().unwrap();
    labels.retain(|key, _| !key.contains("AVX512"));
    let (counts, spent) = run_grid(fixtures(&changed, sns, grid), grid).await;
    println!(
        "grid reconcile after one Node changed: {:.1} ms CPU, {} StorageNode applies, {} status writes, {} events",
        ms(spent),
        counts.applies,
        counts.status_writes,
        counts.events
    );
}

async fn steady_storage_nodes(nodes: &[Value], sns: &[Value]) {
    let mut by_path = BTreeMap::new();
    let mut settled = Vec::new();
    for (sn_value, node_value) in sns.iter().zip(nodes) {
        let mut sn_value = sn_value.clone();
        sn_value["metadata"]["finalizers"] = json!(["grid.sutra.ai/storage-volume"]);
        let sn: StorageNode = serde_json::from_value(sn_value.clone()).unwrap();
        let name = sn.metadata.name.clone().unwrap();
        let mut pod =
            serde_json::to_value(node::build::build_pod(&sn, &sn.spec.variant, None)).unwrap();
        pod["status"] =
            json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]});
        pod["spec"]["nodeName"] = sn_value["spec"]["nodeName"].clone();
        let pvc = serde_json::to_value(node::build::build_pvc(&sn)).unwrap();
        let svc = serde_json::to_value(node::build::build_service(&sn)).unwrap();
        let host = sn.spec.node_name.clone().unwrap();
        by_path.insert(
            format!("/api/v1/namespaces/default/pods/{name}"),
            serde_json::to_vec(&pod).unwrap(),
        );
        by_path.insert(
            format!("/api/v1/namespaces/default/persistentvolumeclaims/{name}-data"),
            serde_json::to_vec(&pvc).unwrap(),
        );
        by_path.insert(
            format!("/api/v1/namespaces/default/services/{name}"),
            serde_json::to_vec(&svc).unwrap(),
        );
        by_path.insert(
            format!("/api/v1/nodes/{host}"),
            serde_json::to_vec(node_value).unwrap(),
        );
        by_path.insert(
            format!("/apis/grid.sutra.ai/v1alpha1/namespaces/default/storagenodes/{name}"),
            serde_json::to_vec(&sn_value).unwrap(),
        );
        settled.push(sn_value);
    }
    let fixtures = Fixtures {
        node_list: Vec::new(),
        sn_list: Vec::new(),
        by_path,
        grid: Value::Null,
    };
    let counts = Arc::new(Mutex::new(Counts::default()));
    let ctx = context(client_for(fixtures, counts.clone()));
    // The first pass writes each node's status once; the second, on objects that carry
    // the status the operator wrote, is the steady state.
    let mut written = Vec::with_capacity(settled.len());
    for sn in settled {
        let typed: Arc<StorageNode> = Arc::new(serde_json::from_value(sn.clone()).unwrap());
        node::reconcile(typed, ctx.clone()).await.unwrap();
        let mut sn = sn;
        sn["status"] = counts
            .lock()
            .unwrap()
            .last_status
            .take()
            .expect("the first reconcile writes the status");
        written.push(sn);
    }
    *counts.lock().unwrap() = Counts::default();
    let cpu = cpu_time();
    for sn in &written {
        let sn: Arc<StorageNode> = Arc::new(serde_json::from_value(sn.clone()).unwrap());
        node::reconcile(sn, ctx.clone()).await.unwrap();
    }
    let spent = cpu_time() - cpu;
    let counts = counts.lock().unwrap().clone();
    println!(
        "StorageNode reconcile, steady state: {:.1} µs CPU per object, requests {:?}, writes {}",
        spent.as_secs_f64() * 1e6 / written.len() as f64,
        counts.by_method,
        counts.writes()
    );
}

/// RSS of the operator's caches, measured first so freed benchmark memory does not hide
/// it: 1,000 Nodes (field-pruned as the watch would keep them: no image list, no managed
/// fields) and 1,000 StorageNodes in reflector stores.
fn report_rss(nodes: &[Value], grid_value: &Value) {
    let grid: StorageGrid = serde_json::from_value(grid_value.clone()).unwrap();
    let now = k8s_openapi::jiff::Timestamp::now();
    let typed: Vec<Node> = nodes
        .iter()
        .map(|n| serde_json::from_value(n.clone()).unwrap())
        .collect();
    let hosts: Vec<_> = typed.iter().map(|n| host_from_node(n, now)).collect();
    let plan = plan_grid(
        &grid,
        &hosts,
        &[],
        VariantCatalog::builtin(),
        &PlanOptions::kubernetes(),
    );
    let sns: Vec<StorageNode> = plan
        .nodes
        .iter()
        .map(|planned| build_storage_node(&grid, planned))
        .collect();
    drop(hosts);
    let before = rss_kib();
    let (node_store, mut node_writer) = reflector::store::<Node>();
    let (sn_store, mut sn_writer) = reflector::store::<StorageNode>();
    for mut node in typed {
        if let Some(status) = node.status.as_mut() {
            status.images = None;
        }
        node.metadata.managed_fields = None;
        node_writer.apply_watcher_event(&watcher::Event::Apply(node));
    }
    for sn in sns {
        sn_writer.apply_watcher_event(&watcher::Event::Apply(sn));
    }
    let after = rss_kib();
    println!(
        "RSS: {before} KiB before the caches, {after} KiB with {} Nodes + {} StorageNodes in reflector stores",
        node_store.state().len(),
        sn_store.state().len(),
    );
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse().ok())
        })
        .unwrap_or(0)
}

fn cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: getrusage writes a complete rusage into the pointer it is given and
    // RUSAGE_SELF is always valid.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let time = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    time(usage.ru_utime) + time(usage.ru_stime)
}
