//! The local agent on the process backend, with the real `sutra-storage` and `sutra-grid`
//! binaries: a 3-node grid from `config/samples/local-grid.yaml` comes up detached, serves
//! upserts and searches on every node, gets a SIGKILLed node restarted with its data, shows
//! every node in the aggregated metrics, `down` leaves no process behind but keeps the
//! data, and a later `down --purge` deletes it.
//!
//! Run it: `cargo test -p sutra-e2e --test local_process`

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};
use sutra_e2e::{Profile, bin, build_binaries, free_port_range, workspace_root};

use serde_json::Value;
use sutra_api::proto::storage_client::StorageClient;
use sutra_api::proto::{GetRequest, SearchRequest, UpsertRequest, Vector};

const DIMENSION: usize = 128;
const VECTORS_PER_NODE: u64 = 20;
/// Bound of every wait; generous for a loaded 2-core machine, never a timing assertion.
const WAIT_LIMIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_node_grid_serves_survives_sigkill_and_goes_down_cleanly() {
    let state = tempfile::tempdir().unwrap();
    let grid = LocalGrid::new(state.path());
    let up = grid.up_detached(
        &workspace_root().join("config/samples/local-grid.yaml"),
        &[],
    );
    assert_success(&up, "agent up");

    let nodes = grid.status();
    assert_eq!(names(&nodes), ["local-0", "local-1", "local-2"]);
    for node in &nodes {
        assert_eq!(node["phase"], "Ready", "{node}");
        assert_eq!(node["platform"]["variantMatched"], true, "{node}");
    }

    for (ordinal, node) in nodes.iter().enumerate() {
        let mut client = client(node).await;
        let ids = ids_of(ordinal as u64);
        let vectors = ids.clone().map(|id| Vector {
            id,
            values: vector_for(id),
            payload: Vec::new(),
            values_le: Vec::new(),
        });
        let upserted = client
            .upsert(UpsertRequest {
                vectors: vectors.collect(),
            })
            .await
            .unwrap()
            .into_inner()
            .upserted;
        assert_eq!(upserted, VECTORS_PER_NODE);
        for id in ids {
            assert_eq!(nearest(&mut client, id).await, id);
        }
    }

    let metrics = http_get(grid.metrics_addr, "/metrics");
    for name in ["local-0", "local-1", "local-2"] {
        assert!(
            metrics.contains(&format!(
                "sutra_grid_agent_restarts_total{{node=\"{name}\"}} 0"
            )),
            "{metrics}"
        );
        assert!(metrics.contains(&format!("{{node=\"{name}\"")), "{metrics}");
    }

    let victim = &nodes[1];
    let old_pid = victim["pid"].as_u64().unwrap();
    let killed = Command::new("kill")
        .args(["-KILL", &old_pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let restarted = grid.wait_for(|nodes| {
        let node = &nodes[1];
        node["phase"] == "Ready"
            && node["restarts"].as_u64() >= Some(1)
            && node["pid"].as_u64().is_some_and(|pid| pid != old_pid)
    });
    let mut client = client(&restarted[1]).await;
    let stored = client
        .get(GetRequest {
            ids: ids_of(1).collect(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        stored.missing.is_empty(),
        "lost after SIGKILL: {:?}",
        stored.missing
    );
    assert_eq!(stored.vectors.len() as u64, VECTORS_PER_NODE);
    assert_eq!(nearest(&mut client, 100 + 7).await, 107);

    let logs = grid.agent(&["logs", "local-1", "--tail", "50"]);
    assert_success(&logs, "agent logs");
    assert!(String::from_utf8_lossy(&logs.stdout).contains("sutra-storage listening"));

    let supervisor = grid.supervisor_pid();
    let pids: Vec<u64> = restarted
        .iter()
        .filter_map(|node| node["pid"].as_u64())
        .collect();
    assert_eq!(pids.len(), 3);
    let down = grid.agent(&["down"]);
    assert_success(&down, "agent down");
    let said = String::from_utf8_lossy(&down.stdout);
    assert!(said.starts_with("grid local: stopped 3 nodes; "), "{said}");
    for pid in pids.iter().chain([old_pid, supervisor].iter()) {
        assert!(!process_runs(*pid), "process {pid} still runs after down");
    }
    let grid_dir = state.path().join("local");
    assert!(!grid_dir.join("state.json").exists());
    assert!(!grid_dir.join("agent.json").exists());
    assert!(
        grid_dir.join("data/local-1").is_dir(),
        "down without --purge keeps data"
    );

    let status = grid.agent(&["status"]);
    assert!(!status.status.success());
    assert!(
        String::from_utf8_lossy(&status.stderr).contains(&format!(
            "grid local is not running; its data is kept (`sutra-grid agent down --purge --state-dir {} --grid local` deletes it)",
            state.path().display()
        )),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let purge = grid.agent(&["down", "--purge"]);
    assert_success(&purge, "agent down --purge after down");
    assert!(
        String::from_utf8_lossy(&purge.stdout)
            .starts_with("grid local: stopped 0 nodes and deleted "),
        "{}",
        String::from_utf8_lossy(&purge.stdout)
    );
    assert!(
        !grid_dir.exists(),
        "down --purge after down left {}",
        grid_dir.display()
    );
}

/// The process backend enforces the grid's memory limit: a node over it is killed the way
/// the kernel kills a container over its cgroup limit, reported as OOMKilled (agent log,
/// status, metrics, the `up` error) and restarted with backoff. A real `sutra-storage`
/// uses far more than 1 KiB, so it never gets to answer `/readyz` and `up` gives up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_over_its_memory_limit_is_oom_killed_and_restarted_with_backoff() {
    let state = tempfile::tempdir().unwrap();
    let grid = LocalGrid::new(state.path());
    let manifest = state.path().join("tiny.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: grid.sutra.ai/v1alpha1\nkind: StorageGrid\nmetadata:\n  name: local\n\
         spec:\n  replicas: 1\n  variant: universal\n  vector:\n    dimension: 8\n\
         \x20 resources:\n    limits:\n      memory: 1Ki\n",
    )
    .unwrap();
    let up = grid.up_detached(&manifest, &["--ready-timeout", "3"]);
    assert!(
        !up.status.success(),
        "up succeeded with a 1 KiB memory limit"
    );
    let error = String::from_utf8_lossy(&up.stderr);
    assert!(
        error.contains("nodes did not become ready within 3s"),
        "{error}"
    );
    assert!(
        error.contains("restarts, the last run OOMKilled: used ")
            && error.contains(" of memory, over its limit of 1 KiB"),
        "{error}"
    );

    let agent_log = std::fs::read_to_string(state.path().join("local/logs/agent.log")).unwrap();
    let oom_kills = agent_log
        .lines()
        .filter(|line| line.contains("local-0 OOMKilled: it used "))
        .count();
    assert!(oom_kills >= 2, "{agent_log}");
    for backoff in [
        "restarting now",
        "restarting in 200 ms",
        "restarting in 400 ms",
    ] {
        assert!(
            agent_log.contains(&format!("local-0 exited; {backoff}")),
            "no `{backoff}` in the agent log:\n{agent_log}"
        );
    }
    let down = grid.agent(&["down", "--purge"]);
    assert_success(&down, "agent down --purge");
}

/// One rule table for the agent and its nodes: with rules that send every host to
/// `universal` (the builtin ones pick an x86-64 or Graviton build on any modern CPU), the
/// agent plans `universal` and each node, judging itself with the same file, reports
/// `universal` as its best variant: no disagreement for anything to correct.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agents_variant_rules_are_the_ones_its_nodes_judge_themselves_with() {
    let state = tempfile::tempdir().unwrap();
    let grid = LocalGrid::new(state.path());
    let builtin = sutra_core::variant::BUILTIN_YAML;
    let variants = &builtin[..builtin.find("\nrules:").unwrap()];
    let rules = state.path().join("variants.yaml");
    std::fs::write(
        &rules,
        format!(
            "{variants}\nrules:\n  - name: every-host-universal\n    description: one build everywhere\n    variant: universal\n    when: {{}}\n"
        ),
    )
    .unwrap();
    let manifest = state.path().join("one.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: grid.sutra.ai/v1alpha1\nkind: StorageGrid\nmetadata:\n  name: local\n\
         spec:\n  replicas: 1\n  variant: auto\n  vector:\n    dimension: 8\n",
    )
    .unwrap();
    let up = grid.up_detached(&manifest, &["--variant-rules", rules.to_str().unwrap()]);
    assert_success(&up, "agent up --variant-rules");

    let node = &grid.status()[0];
    let platform = &node["platform"];
    assert_eq!(node["variant"], "universal", "{node}");
    assert_eq!(platform["bestVariant"], "universal", "{node}");
    assert_eq!(platform["variantMatched"], true, "{node}");
    let message = platform["variantMessage"].as_str().unwrap();
    assert!(
        message.contains("rule every-host-universal"),
        "the node judged with the agent's file: {message}"
    );
    let down = grid.agent(&["down", "--purge"]);
    assert_success(&down, "agent down --purge");
}

/// A grid under test: its state dir and ports; `down --purge` runs on drop so a failing
/// test leaves no process behind.
struct LocalGrid {
    state_dir: PathBuf,
    port_base: u16,
    metrics_addr: SocketAddr,
}

impl LocalGrid {
    fn new(state_dir: &Path) -> LocalGrid {
        build_binaries(Profile::Debug);
        let (port_base, metrics_port) = free_port_range(7);
        LocalGrid {
            state_dir: state_dir.to_path_buf(),
            port_base,
            metrics_addr: SocketAddr::from(([127, 0, 0, 1], metrics_port)),
        }
    }

    fn agent(&self, args: &[&str]) -> Output {
        Command::new(bin(Profile::Debug, "sutra-grid"))
            .arg("agent")
            .args(args)
            .arg("--state-dir")
            .arg(&self.state_dir)
            .output()
            .unwrap()
    }

    /// `agent up --detach -f manifest` on this grid's ports with the debug `sutra-storage`,
    /// plus `extra` flags.
    fn up_detached(&self, manifest: &Path, extra: &[&str]) -> Output {
        let (port_base, metrics_addr) = (self.port_base.to_string(), self.metrics_addr.to_string());
        let storage_bin = bin(Profile::Debug, "sutra-storage");
        let mut args = vec![
            "up",
            "-f",
            manifest.to_str().unwrap(),
            "--detach",
            "--port-base",
            &port_base,
            "--metrics-addr",
            &metrics_addr,
            "--storage-bin",
            storage_bin.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        self.agent(&args)
    }

    fn status(&self) -> Vec<Value> {
        let output = self.agent(&["status", "--output", "json"]);
        assert_success(&output, "agent status");
        serde_json::from_slice(&output.stdout).unwrap()
    }

    fn wait_for(&self, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let start = Instant::now();
        loop {
            let nodes = self.status();
            if done(&nodes) {
                return nodes;
            }
            assert!(
                start.elapsed() < WAIT_LIMIT,
                "grid never reached the expected state: {nodes:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn supervisor_pid(&self) -> u64 {
        let record: Value = serde_json::from_str(
            &std::fs::read_to_string(self.state_dir.join("local/agent.json")).unwrap(),
        )
        .unwrap();
        record["supervisor"]["pid"].as_u64().unwrap()
    }
}

impl Drop for LocalGrid {
    fn drop(&mut self) {
        if self.state_dir.join("local/agent.json").exists() {
            let _ = self.agent(&["down", "--purge", "--grace", "2"]);
        }
    }
}

fn ids_of(ordinal: u64) -> std::ops::Range<u64> {
    ordinal * 100..ordinal * 100 + VECTORS_PER_NODE
}

/// A distinct direction per id, so each vector is its own nearest neighbour under cosine.
fn vector_for(id: u64) -> Vec<f32> {
    (0..DIMENSION)
        .map(|i| (((id as usize * 31 + i * 17) % 97) as f32 - 48.0) / 48.0)
        .collect()
}

async fn client(node: &Value) -> StorageClient<tonic::transport::Channel> {
    let addr = node["grpcAddr"].as_str().unwrap();
    StorageClient::connect(format!("http://{addr}"))
        .await
        .unwrap()
}

async fn nearest(client: &mut StorageClient<tonic::transport::Channel>, id: u64) -> u64 {
    let hits = client
        .search(SearchRequest {
            query: vector_for(id),
            k: 1,
            ..SearchRequest::default()
        })
        .await
        .unwrap()
        .into_inner()
        .hits;
    hits.first()
        .expect("a search over stored vectors finds one")
        .id
}

fn names(nodes: &[Value]) -> Vec<&str> {
    nodes
        .iter()
        .map(|node| node["name"].as_str().unwrap())
        .collect()
}

fn assert_success(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Whether `pid` is a live process (a zombie waiting to be reaped does not count).
fn process_runs(pid: u64) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    !matches!(state, Some("Z" | "X"))
}

fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}
