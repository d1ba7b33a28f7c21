//! The operator on a real cluster, when `KUBECONFIG` names one; otherwise the test prints
//! `skipped: no cluster (set KUBECONFIG)` and returns without claiming a run.
//!
//! With a cluster it:
//! 1. applies `crds/` with kubectl and waits until they are established,
//! 2. builds the operator (`cargo build -p sutra-grid`) and runs
//!    `<target>/debug/sutra-grid operator` from this machine against the cluster, watching
//!    only a fresh namespace, with its metrics on a free loopback port,
//! 3. applies `config/samples/storagegrid.yaml` into that namespace,
//! 4. waits, at most five minutes, until the sample's StorageNodes exist, one per replica,
//!    each on a Node and with the variant the built-in rules pick for that Node's labels
//!    (`VariantCatalog::builtin().select`, over `kubectl get nodes -o json`),
//! 5. checks each of their Pods: a gRPC startupProbe, the resources the operator was given
//!    (`--storage-node-resources`), and the rules ConfigMap mounted,
//! 6. creates a StorageNode `variantPolicy: Auto`, `variant: x86-64-v4` whose images do not
//!    exist: the kubelet's `ImagePullBackOff` makes the operator fall back along the chain
//!    (x86-64-v4 → x86-64-v3 → universal), each missing image recorded once, until the node
//!    is `Failed` with `VariantMatched=False` reason `ImageUnavailable`; its Events tell each
//!    step, none folded into another's series,
//! 7. stops the operator and deletes the namespace, also when a step fails.
//!
//! Run it: `KUBECONFIG=~/.kube/config cargo test -p sutra-e2e --test cluster_e2e`
//! (CI runs it against kind).
//!
//! This test target has no libtest harness (`harness = false` in e2e/Cargo.toml): libtest
//! would count a skipped run as `1 passed`. Here a skip prints only the skip line, a run
//! ends with `1 passed, 0 failed`, and a failure exits non-zero with the reason.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use sutra_e2e::workspace_root;

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;
use sutra_core::variant::VariantCatalog;

const SAMPLE: &str = "config/samples/storagegrid.yaml";
const SAMPLE_GRID_NAME: &str = "sample";
const WAIT_LIMIT: Duration = Duration::from_secs(300);
const POLL_EVERY: Duration = Duration::from_secs(3);

fn main() -> ExitCode {
    if std::env::var_os("KUBECONFIG").is_none() {
        println!("skipped: no cluster (set KUBECONFIG)");
        return ExitCode::SUCCESS;
    }
    match sample_grid_gets_storage_nodes_with_the_variants_their_nodes_call_for() {
        Ok(()) => {
            println!("1 passed, 0 failed");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("cluster e2e failed: {error:#}");
            println!("0 passed, 1 failed");
            ExitCode::FAILURE
        }
    }
}

fn sample_grid_gets_storage_nodes_with_the_variants_their_nodes_call_for() -> Result<()> {
    let root = workspace_root();
    kubectl(&[
        "apply",
        "--server-side",
        "-f",
        path_str(&root.join("crds"))?,
    ])?;
    // A grid applied before its CRD is established fails with "no matches for kind".
    kubectl(&[
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/storagegrids.grid.sutra.ai",
        "crd/storagenodes.grid.sutra.ai",
    ])?;
    let operator_binary = build_operator(&root)?;

    let namespace = TestNamespace::create()?;
    let mut operator = Operator::start(&operator_binary, &namespace.name)?;
    kubectl(&[
        "apply",
        "-n",
        &namespace.name,
        "-f",
        path_str(&root.join(SAMPLE))?,
    ])?;

    let replicas = sample_replicas(&root)?;
    let expected = expected_variants_by_node()?;
    wait_for_storage_nodes(&namespace.name, replicas, &expected, &mut operator)?;
    check_storage_pods(&namespace.name)?;
    missing_images_fall_back_until_none_is_left(&namespace.name, &mut operator)
}

/// The resources the operator is started with, which every storage container gets.
const STORAGE_RESOURCES: &str =
    r#"{"requests":{"cpu":"100m","memory":"256Mi"},"limits":{"memory":"1Gi"}}"#;

/// Every Pod of the sample grid has the production defaults.
fn check_storage_pods(namespace: &str) -> Result<()> {
    let pods = kubectl_json(&[
        "get",
        "pods",
        "-n",
        namespace,
        "-l",
        &format!("grid.sutra.ai/grid={SAMPLE_GRID_NAME}"),
        "-o",
        "json",
    ])?;
    let items = pods["items"].as_array().context("no Pod list")?;
    ensure!(!items.is_empty(), "the sample grid has no Pods");
    for pod in items {
        let name = pod["metadata"]["name"].as_str().unwrap_or_default();
        let container = &pod["spec"]["containers"][0];
        ensure!(
            container["startupProbe"]["grpc"]["port"].is_number(),
            "Pod {name} has no gRPC startupProbe: {container}"
        );
        ensure!(
            container["resources"]["limits"]["memory"] == "1Gi",
            "Pod {name} lacks the operator's resources: {}",
            container["resources"]
        );
        let args = container["args"].to_string();
        ensure!(
            args.contains("--variant-rules"),
            "Pod {name} is not given the rules: {args}"
        );
    }
    println!(
        "{} Pods with startupProbe, resources and variant rules",
        items.len()
    );
    Ok(())
}

const MISSING: &str = "missing-images";

/// A StorageNode whose images no registry has: it walks the fallback chain, then fails.
fn missing_images_fall_back_until_none_is_left(
    namespace: &str,
    operator: &mut Operator,
) -> Result<()> {
    let manifest = format!(
        "apiVersion: grid.sutra.ai/v1alpha1\nkind: StorageNode\nmetadata:\n  name: {MISSING}\n\
         spec:\n  variant: x86-64-v4\n  variantPolicy: Auto\n  image:\n    repository: sutra-e2e.invalid/none\n\
         \x20 vector:\n    dimension: 8\n  storage:\n    size: 64Mi\n    reclaimPolicy: Delete\n"
    );
    let path = std::env::temp_dir().join(format!("{namespace}-{MISSING}.yaml"));
    std::fs::write(&path, manifest)?;
    kubectl(&["apply", "-n", namespace, "-f", path_str(&path)?])?;
    let deadline = Instant::now() + WAIT_LIMIT;
    let node = loop {
        operator.ensure_running()?;
        let node = kubectl_json(&["get", "storagenode", MISSING, "-n", namespace, "-o", "json"])?;
        if node["status"]["phase"] == "Failed" {
            break node;
        }
        if Instant::now() >= deadline {
            bail!("{MISSING} never became Failed: {}", node["status"]);
        }
        thread::sleep(POLL_EVERY);
    };
    let missing: Vec<&str> = node["status"]["unavailableImages"]
        .as_array()
        .context("no status.unavailableImages")?
        .iter()
        .filter_map(|u| u["variant"].as_str())
        .collect();
    ensure!(
        missing == ["x86-64-v4", "x86-64-v3", "universal"],
        "the fallback chain was not walked in order: {missing:?}"
    );
    let matched = node["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "VariantMatched"))
        .context("no VariantMatched condition")?;
    ensure!(
        matched["reason"] == "ImageUnavailable"
            && matched["message"]
                .as_str()
                .unwrap_or_default()
                .contains("sutra-e2e.invalid/none"),
        "VariantMatched does not name the missing image: {matched}"
    );
    let events = kubectl_json(&[
        "get",
        "events.v1.events.k8s.io",
        "-n",
        namespace,
        "-o",
        "json",
    ])?;
    let notes: Vec<(String, String)> = events["items"]
        .as_array()
        .context("no Event list")?
        .iter()
        .filter(|e| e["regarding"]["name"] == MISSING)
        .map(|e| {
            (
                e["reason"].as_str().unwrap_or_default().to_owned(),
                e["note"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let count = |reason: &str| notes.iter().filter(|(r, _)| r == reason).count();
    ensure!(
        count("ImageUnavailable") == 3 && count("VariantSwitched") == 2,
        "expected three ImageUnavailable and two VariantSwitched Events: {notes:?}"
    );
    ensure!(
        notes
            .iter()
            .any(|(_, note)| note.contains("x86-64-v3 instead of x86-64-v4"))
            && notes
                .iter()
                .any(|(_, note)| note.contains("universal instead of x86-64-v3")),
        "the switches are not told from → to: {notes:?}"
    );
    println!("{MISSING}: fell back x86-64-v4 → x86-64-v3 → universal, then Failed; {notes:?}");
    Ok(())
}

fn path_str(path: &Path) -> Result<&str> {
    path.to_str()
        .with_context(|| format!("path {} is not UTF-8", path.display()))
}

/// Builds the operator and returns its binary, in the target dir cargo uses for this test.
fn build_operator(root: &Path) -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args(["build", "-p", "sutra-grid"])
        .current_dir(root)
        .status()
        .context("running cargo build -p sutra-grid")?;
    ensure!(
        status.success(),
        "cargo build -p sutra-grid failed: {status}"
    );
    let binary = sutra_e2e::bin(sutra_e2e::Profile::Debug, "sutra-grid");
    ensure!(
        binary.is_file(),
        "expected the operator binary at {}",
        binary.display()
    );
    Ok(binary)
}

/// Runs kubectl and returns its standard output; a failure names the command and its stderr.
fn kubectl(args: &[&str]) -> Result<String> {
    let output = Command::new("kubectl")
        .args(args)
        .output()
        .context("running kubectl (is it installed and on PATH?)")?;
    if !output.status.success() {
        bail!(
            "kubectl {} failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8(output.stdout)?)
}

fn kubectl_json(args: &[&str]) -> Result<Value> {
    let text = kubectl(args)?;
    serde_json::from_str(&text)
        .with_context(|| format!("kubectl {} printed no JSON", args.join(" ")))
}

/// A namespace of its own, deleted when the test ends however it ends.
struct TestNamespace {
    name: String,
}

impl TestNamespace {
    fn create() -> Result<TestNamespace> {
        let seconds = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let name = format!("sutra-e2e-{}-{seconds}", std::process::id());
        kubectl(&["create", "namespace", &name])?;
        Ok(TestNamespace { name })
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        if let Err(error) = kubectl(&["delete", "namespace", &self.name, "--wait=false"]) {
            eprintln!("cleanup: {error:#}");
        }
    }
}

/// The operator process, stopped when the test ends.
struct Operator {
    child: Child,
}

impl Operator {
    fn start(binary: &Path, namespace: &str) -> Result<Operator> {
        let metrics_addr = free_loopback_addr()?;
        let child = Command::new(binary)
            .args(["operator", "--namespace", namespace])
            .args(["--metrics-addr", &metrics_addr, "--log-format", "text"])
            .args(["--storage-node-resources", STORAGE_RESOURCES])
            .stdout(Stdio::inherit())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        Ok(Operator { child })
    }

    /// An error when the operator has already exited: waiting on would be pointless.
    fn ensure_running(&mut self) -> Result<()> {
        match self.child.try_wait()? {
            Some(status) => bail!("the operator exited early ({status}); its log is above"),
            None => Ok(()),
        }
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback address with a port nobody listens on right now, for the operator's metrics.
fn free_loopback_addr() -> Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.to_string())
}

fn sample_replicas(root: &Path) -> Result<usize> {
    let grid = kubectl_json(&[
        "create",
        "--dry-run=client",
        "-o",
        "json",
        "-f",
        path_str(&root.join(SAMPLE))?,
    ])?;
    let replicas = grid["spec"]["replicas"]
        .as_u64()
        .context("the sample grid has no spec.replicas")?;
    Ok(usize::try_from(replicas)?)
}

/// Node name -> the variant the built-in rules pick from that Node's labels.
fn expected_variants_by_node() -> Result<BTreeMap<String, String>> {
    let nodes = kubectl_json(&["get", "nodes", "-o", "json"])?;
    let catalog = VariantCatalog::builtin();
    let items = nodes["items"]
        .as_array()
        .context("kubectl get nodes: no items")?;
    items
        .iter()
        .map(|node| {
            let name = node["metadata"]["name"]
                .as_str()
                .context("a Node without a name")?;
            let labels: BTreeMap<String, String> =
                serde_json::from_value(node["metadata"]["labels"].clone()).unwrap_or_default();
            Ok((name.to_owned(), catalog.select(&labels).variant))
        })
        .collect()
}

/// What one StorageNode of the sample grid shows: its host and its variant.
#[derive(Debug)]
struct ObservedNode {
    name: String,
    host: Option<String>,
    variant: String,
}

fn observe_storage_nodes(namespace: &str) -> Result<Vec<ObservedNode>> {
    let list = kubectl_json(&["get", "storagenodes", "-n", namespace, "-o", "json"])?;
    let items = list["items"]
        .as_array()
        .context("kubectl get storagenodes: no items")?;
    Ok(items
        .iter()
        .filter(|node| node["spec"]["grid"] == SAMPLE_GRID_NAME)
        .map(|node| ObservedNode {
            name: node["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            host: node["spec"]["nodeName"]
                .as_str()
                .or_else(|| node["status"]["nodeName"].as_str())
                .map(str::to_owned),
            variant: node["spec"]["variant"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        })
        .collect())
}

/// Why the observed StorageNodes are not yet what the grid and the rules call for, if they
/// are not.
fn mismatch(
    observed: &[ObservedNode],
    replicas: usize,
    expected: &BTreeMap<String, String>,
) -> Option<String> {
    if observed.len() != replicas {
        return Some(format!(
            "{} StorageNodes of grid {SAMPLE_GRID_NAME}, expected {replicas}",
            observed.len()
        ));
    }
    observed.iter().find_map(|node| match &node.host {
        None => Some(format!("StorageNode {} has no Node yet", node.name)),
        Some(host) => match expected.get(host) {
            None => Some(format!(
                "StorageNode {} is on {host}, which is not a Node of the cluster",
                node.name
            )),
            Some(variant) if *variant != node.variant => Some(format!(
                "StorageNode {} on {host} runs variant {}, the rules pick {variant}",
                node.name, node.variant
            )),
            Some(_) => None,
        },
    })
}

fn wait_for_storage_nodes(
    namespace: &str,
    replicas: usize,
    expected: &BTreeMap<String, String>,
    operator: &mut Operator,
) -> Result<()> {
    let deadline = Instant::now() + WAIT_LIMIT;
    loop {
        operator.ensure_running()?;
        let observed = observe_storage_nodes(namespace)?;
        let Some(reason) = mismatch(&observed, replicas, expected) else {
            println!("{replicas} StorageNodes with the expected variants: {observed:?}");
            return Ok(());
        };
        if Instant::now() >= deadline {
            bail!("gave up after {WAIT_LIMIT:?}: {reason}; observed {observed:?}");
        }
        thread::sleep(POLL_EVERY);
    }
}
