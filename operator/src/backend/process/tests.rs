use std::fs;
use std::net::TcpListener;

use sutra_core::crd::VectorSpec;
use sutra_core::vector::{Compression, Metric};

use super::*;

pub(super) fn spec(dir: &Path) -> NodeSpec {
    NodeSpec {
        grid: "local".to_owned(),
        name: "local-1".to_owned(),
        ordinal: 1,
        variant: "x86-64-v3".to_owned(),
        image: String::new(),
        vector: VectorSpec {
            dimension: 128,
            metric: Metric::L2,
            compression: Compression::Int8,
        },
        grpc_port: 50052,
        metrics_port: 9091,
        data_dir: dir.join("data/local-1"),
        memory_limit: None,
        variant_rules: None,
    }
}

/// A backend whose `sutra-storage` is a shell script running `body`, and a node of it on
/// free ports.
fn fake_storage(temp: &Path, body: &str) -> (ProcessBackend, NodeSpec) {
    use std::os::unix::fs::PermissionsExt;
    let script = temp.join("fake-storage");
    fs::write(&script, format!("#!/bin/sh\n{body}")).unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    let backend = ProcessBackend::new(temp, "local", script);
    let mut node = spec(temp);
    node.grpc_port = free_port();
    node.metrics_port = free_port();
    (backend, node)
}

/// A stand-in `sutra-storage` (a shell script) exercises spawning, the log file, the
/// state file, SIGTERM handling and purging with a real process.
#[tokio::test]
async fn spawns_logs_stops_and_purges_a_real_process() {
    let temp = tempfile::tempdir().unwrap();
    let (backend, node) = fake_storage(temp.path(), "echo \"args: $*\"\nexec sleep 600\n");

    let handle = backend.spawn(&node).await.unwrap();
    assert!(backend.is_alive("local-1").await.unwrap());
    let again = backend.spawn(&node).await.unwrap_err();
    assert!(
        matches!(again, BackendError::AlreadyRunning { .. }),
        "{again}"
    );

    let pid = ProcessId::of(handle.id.parse().unwrap());
    let logs = wait_for_log(&backend, "args: serve").await;
    assert!(logs.contains("--data"), "{logs}");
    assert!(!logs.contains("--variant"), "{logs}");

    backend
        .stop("local-1", Duration::from_secs(5))
        .await
        .unwrap();
    assert!(!pid.is_running());
    let status = backend.status("local-1").await.unwrap();
    assert_eq!((status.phase, status.pid), (NodePhase::Pending, None));

    backend.remove("local-1", true).await.unwrap();
    assert!(!node.data_dir.exists());
    assert!(!backend.dir().state_file().exists());
}

/// The watchdog with a real process (a shell script that sleeps) and a limit it is
/// over from its first page: killed, recorded as OOMKilled through a restart, and a
/// later crash of another kind replaces that record.
#[tokio::test]
async fn a_node_over_its_memory_limit_is_oom_killed_and_recorded() {
    let temp = tempfile::tempdir().unwrap();
    let (backend, mut node) = fake_storage(temp.path(), "exec sleep 600\n");

    node.memory_limit = Some(1 << 30);
    backend.spawn(&node).await.unwrap();
    wait_until_exec(&backend).await;
    assert_eq!(backend.enforce_memory_limits().await.unwrap(), []);
    assert!(backend.is_alive("local-1").await.unwrap());
    backend
        .stop("local-1", Duration::from_secs(5))
        .await
        .unwrap();

    node.memory_limit = Some(1024);
    let handle = backend.spawn(&node).await.unwrap();
    let pid = ProcessId::of(handle.id.parse().unwrap());
    let kills = backend.enforce_memory_limits().await.unwrap();
    assert_eq!(kills.len(), 1, "{kills:?}");
    assert_eq!((kills[0].node.as_str(), kills[0].limit), ("local-1", 1024));
    assert!(kills[0].used > 1024, "{kills:?}");
    wait_until_dead(&backend).await;
    assert!(!pid.is_running());
    let status = backend.status("local-1").await.unwrap();
    assert_eq!(status.phase, NodePhase::Failed);
    let last = status.last_termination.expect("the kill is recorded");
    assert_eq!(
        (last.reason, last.exit_code),
        (TerminationReason::OomKilled, Some(137))
    );
    assert!(
        last.message.ends_with("over its limit of 1 KiB"),
        "{}",
        last.message
    );

    node.memory_limit = None;
    let handle = backend.spawn(&node).await.unwrap();
    let status = backend.status("local-1").await.unwrap();
    assert_eq!(status.restarts, 2);
    assert_eq!(
        status.last_termination.map(|last| last.reason),
        Some(TerminationReason::OomKilled),
        "the restarted node still tells why its previous run ended"
    );

    ProcessId::of(handle.id.parse().unwrap())
        .signal(libc::SIGKILL)
        .unwrap();
    wait_until_dead(&backend).await;
    backend.spawn(&node).await.unwrap();
    let last = backend
        .status("local-1")
        .await
        .unwrap()
        .last_termination
        .expect("the crash is recorded");
    assert_eq!(
        (last.reason, last.exit_code, last.message.as_str()),
        (TerminationReason::Error, Some(137), "killed by signal 9")
    );
    backend
        .stop("local-1", Duration::from_secs(5))
        .await
        .unwrap();
    backend.remove("local-1", true).await.unwrap();
}

/// Waits until the spawned shell has become `sleep`: before that its memory is the
/// shell's, and after it the limit check sees the program that keeps running.
async fn wait_until_exec(backend: &ProcessBackend) {
    let pid = backend.records().unwrap().nodes["local-1"]
        .process
        .unwrap()
        .pid;
    for _ in 0..500 {
        let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == "sleep" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the node never became `sleep`");
}

async fn wait_until_dead(backend: &ProcessBackend) {
    for _ in 0..500 {
        if !backend.is_alive("local-1").await.unwrap() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the node never died");
}

async fn wait_for_log(backend: &ProcessBackend, needle: &str) -> String {
    for _ in 0..500 {
        let logs = backend.logs("local-1", 10).await.unwrap();
        if logs.contains(needle) {
            return logs;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the log never showed {needle:?}");
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
