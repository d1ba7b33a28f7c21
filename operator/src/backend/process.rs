//! The process backend: each storage node is a `sutra-storage serve` child process with its
//! own ports, data directory and log file, tracked in a state file that outlives the agent.
//!
//! Nodes run in their own process group, so a Ctrl-C meant for the agent in a terminal
//! does not reach them: the agent decides how they stop (SIGTERM, SIGKILL after a grace
//! period). Children this backend spawned are reaped through their `Child` handle; nodes a
//! previous agent started are followed by pid and start time.

mod binary;
mod memory;
mod pid;
mod state;

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::Duration;
use sutra_core::serve::ServeCommand;

use chrono::{DateTime, Utc};
use sutra_core::crd::NodePhase;
use tokio::process::{Child, Command};

pub use binary::{STORAGE_BIN, STORAGE_BIN_ENV, locate_storage_bin};
pub use memory::{human_bytes, parse_status, unreclaimable_bytes};
pub use pid::{ProcStat, ProcessId, parse_stat};
pub use state::{GridDir, GridState, NodeRecord, StateStore, write_atomically};

use super::{
    Backend, BackendError, BackendResult, MemoryKill, NodeHandle, NodeSpec, NodeStatus,
    Termination, TerminationReason, probe,
};

/// How often a stopping node is checked for having exited.
const EXIT_POLL: Duration = Duration::from_millis(10);
/// How long a node may take to die after SIGKILL before `stop` reports failure.
const KILL_WAIT: Duration = Duration::from_secs(5);
/// At most this much of a log file is read to find its last lines.
const LOG_TAIL_BYTES: u64 = 4 << 20;

/// Runs one grid's storage nodes as local processes.
#[derive(Debug)]
pub struct ProcessBackend {
    grid: String,
    dir: GridDir,
    storage_bin: PathBuf,
    store: StateStore,
    /// Nodes this backend spawned, reaped through their handle.
    children: Mutex<HashMap<String, Child>>,
    /// How reaped children ended, until their node is spawned again.
    exits: Mutex<HashMap<String, ExitStatus>>,
}

impl ProcessBackend {
    /// A backend for `grid` keeping its files under `<state_dir>/<grid>`.
    pub fn new(state_dir: &Path, grid: &str, storage_bin: PathBuf) -> ProcessBackend {
        let dir = GridDir::new(state_dir, grid);
        ProcessBackend {
            grid: grid.to_owned(),
            store: StateStore::new(dir.clone()),
            dir,
            storage_bin,
            children: Mutex::new(HashMap::new()),
            exits: Mutex::new(HashMap::new()),
        }
    }

    pub fn dir(&self) -> &GridDir {
        &self.dir
    }

    pub fn storage_bin(&self) -> &Path {
        &self.storage_bin
    }

    /// The recorded nodes, without probing them.
    pub fn records(&self) -> BackendResult<GridState> {
        self.store.load()
    }

    fn record(&self, name: &str) -> BackendResult<NodeRecord> {
        self.store
            .load()?
            .nodes
            .remove(name)
            .ok_or_else(|| BackendError::UnknownNode {
                grid: self.grid.clone(),
                name: name.to_owned(),
            })
    }

    /// Whether the recorded process runs, reaping it first when it is our child.
    fn process_alive(&self, name: &str, process: Option<ProcessId>) -> bool {
        let mut children = self.children.lock().expect("children lock");
        if let Some(child) = children.get_mut(name) {
            let exited = match child.try_wait() {
                Ok(None) => return true,
                Ok(Some(status)) => Some(status),
                Err(_) => None,
            };
            children.remove(name);
            if let Some(status) = exited {
                self.exits
                    .lock()
                    .expect("exits lock")
                    .insert(name.to_owned(), status);
            }
            return false;
        }
        process.is_some_and(|process| process.is_running())
    }

    fn start_process(&self, spec: &NodeSpec) -> BackendResult<Child> {
        check_port_free(&spec.name, "gRPC port", spec.grpc_port)?;
        check_port_free(&spec.name, "metrics port", spec.metrics_port)?;
        create_dir(&spec.data_dir)?;
        create_dir(&self.dir.logs_dir())?;
        let log = open_log(&self.dir.node_log(&spec.name), &spec.name)?;
        let stderr = log
            .try_clone()
            .map_err(|error| BackendError::io("duplicating the log file handle", error))?;
        Command::new(&self.storage_bin)
            .args(serve_args(spec))
            // The log is a file: colour escapes would only clutter it.
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr)
            .process_group(0)
            .spawn()
            .map_err(|source| BackendError::Spawn {
                name: spec.name.clone(),
                source,
            })
    }

    async fn wait_for_exit(&self, name: &str, process: ProcessId, limit: Duration) -> bool {
        let child = self.children.lock().expect("children lock").remove(name);
        match child {
            Some(mut child) => {
                let exited = tokio::time::timeout(limit, child.wait()).await.is_ok();
                if !exited {
                    self.children
                        .lock()
                        .expect("children lock")
                        .insert(name.to_owned(), child);
                }
                exited
            }
            None => {
                let deadline = tokio::time::Instant::now() + limit;
                while process.is_running() {
                    if tokio::time::Instant::now() >= deadline {
                        return false;
                    }
                    tokio::time::sleep(EXIT_POLL).await;
                }
                true
            }
        }
    }

    /// How the previous run of a node ended, for the record of its next run: an OOM kill
    /// recorded during that run, else the exit status if this backend reaped it; unknown
    /// for a process a previous agent started. A node stopped on purpose keeps the record.
    fn termination_of(&self, previous: &NodeRecord) -> Option<Termination> {
        let reaped = self
            .exits
            .lock()
            .expect("exits lock")
            .remove(&previous.spec.name);
        if previous.process.is_none() {
            return previous.last_termination.clone();
        }
        let during_that_run = |termination: &&Termination| {
            previous
                .started_at
                .is_some_and(|started| termination.finished_at >= started)
        };
        previous
            .last_termination
            .as_ref()
            .filter(during_that_run)
            .cloned()
            .or_else(|| reaped.map(|status| exited(status, Utc::now())))
    }

    /// Kills the node's process if it holds more unreclaimable memory than its limit.
    fn enforce_limit(&self, record: &NodeRecord) -> BackendResult<Option<MemoryKill>> {
        let (Some(limit), Some(process)) = (record.spec.memory_limit, record.process) else {
            return Ok(None);
        };
        let name = &record.spec.name;
        if !self.process_alive(name, Some(process)) {
            return Ok(None);
        }
        let Some(used) = unreclaimable_bytes(process.pid).filter(|used| *used > limit) else {
            return Ok(None);
        };
        process.signal(libc::SIGKILL).map_err(|error| {
            BackendError::io(
                format!(
                    "killing node {name} (pid {}) over its memory limit",
                    process.pid
                ),
                error,
            )
        })?;
        Ok(Some(MemoryKill {
            node: name.clone(),
            used,
            limit,
        }))
    }

    async fn node_status(&self, record: NodeRecord) -> NodeStatus {
        let spec = &record.spec;
        let alive = self.process_alive(&spec.name, record.process);
        let ready = alive && probe::is_ready(metrics_addr(spec)).await;
        let platform = if ready {
            probe::platform(grpc_addr(spec)).await.ok()
        } else {
            None
        };
        let phase = match (record.process, alive, ready) {
            (_, true, true) => NodePhase::Ready,
            (_, true, false) => NodePhase::Running,
            (Some(_), false, _) => NodePhase::Failed,
            (None, false, _) => NodePhase::Pending,
        };
        // The variant the binary reports it runs as; the planned one until it has answered.
        let variant = platform
            .as_ref()
            .map_or_else(|| spec.variant.clone(), |platform| platform.variant.clone());
        NodeStatus {
            name: spec.name.clone(),
            variant,
            phase,
            ready,
            platform,
            started_at: record.started_at.filter(|_| alive),
            restarts: record.restarts,
            grpc_addr: grpc_addr(spec),
            metrics_addr: metrics_addr(spec),
            pid: record.process.filter(|_| alive).map(|process| process.pid),
            last_termination: record.last_termination,
        }
    }
}

/// The termination of a process that exited with `status`.
fn exited(status: ExitStatus, finished_at: DateTime<Utc>) -> Termination {
    let (reason, exit_code, message) = match (status.code(), status.signal()) {
        (Some(0), _) => (
            TerminationReason::Completed,
            Some(0),
            "exited with code 0".to_owned(),
        ),
        (Some(code), _) => (
            TerminationReason::Error,
            Some(code),
            format!("exited with code {code}"),
        ),
        (None, Some(signal)) => (
            TerminationReason::Error,
            Some(128 + signal),
            format!("killed by signal {signal}"),
        ),
        (None, None) => (TerminationReason::Error, None, status.to_string()),
    };
    Termination {
        reason,
        message,
        exit_code,
        finished_at,
    }
}

/// The termination the watchdog records for a node it killed.
fn oom_killed(kill: &MemoryKill, finished_at: DateTime<Utc>) -> Termination {
    Termination {
        reason: TerminationReason::OomKilled,
        message: format!(
            "used {} of memory, over its limit of {}",
            human_bytes(kill.used),
            human_bytes(kill.limit)
        ),
        exit_code: Some(128 + libc::SIGKILL),
        finished_at,
    }
}

impl Backend for ProcessBackend {
    async fn spawn(&self, spec: &NodeSpec) -> BackendResult<NodeHandle> {
        let previous = self.store.load()?.nodes.remove(&spec.name);
        if let Some(previous) = &previous
            && let Some(process) = previous.process
            && self.process_alive(&spec.name, Some(process))
        {
            return Err(BackendError::AlreadyRunning {
                name: spec.name.clone(),
                id: format!("pid {}", process.pid),
            });
        }
        let child = self.start_process(spec)?;
        let pid = child.id().ok_or_else(|| BackendError::Spawn {
            name: spec.name.clone(),
            source: io::Error::other("the process exited before its pid was read"),
        })?;
        let process = ProcessId::of(pid);
        let last_termination = previous
            .as_ref()
            .and_then(|previous| self.termination_of(previous));
        let restarts = previous.map_or(0, |previous| previous.restarts + 1);
        self.children
            .lock()
            .expect("children lock")
            .insert(spec.name.clone(), child);
        let record = NodeRecord {
            spec: spec.clone(),
            process: Some(process),
            started_at: Some(Utc::now()),
            restarts,
            last_termination,
        };
        self.store
            .update(|state| state.nodes.insert(spec.name.clone(), record))?;
        Ok(NodeHandle {
            name: spec.name.clone(),
            id: pid.to_string(),
            grpc_addr: grpc_addr(spec),
            metrics_addr: metrics_addr(spec),
        })
    }

    async fn stop(&self, name: &str, grace: Duration) -> BackendResult<()> {
        let record = self.record(name)?;
        if let Some(process) = record.process {
            let signal = |signal| {
                process.signal(signal).map_err(|error| {
                    BackendError::io(
                        format!("signalling node {name} (pid {})", process.pid),
                        error,
                    )
                })
            };
            signal(libc::SIGTERM)?;
            if !self.wait_for_exit(name, process, grace).await {
                signal(libc::SIGKILL)?;
                if !self.wait_for_exit(name, process, KILL_WAIT).await {
                    return Err(BackendError::Engine {
                        backend: "process",
                        message: format!(
                            "node {name} (pid {}) survived SIGKILL for {KILL_WAIT:?}; it may be stuck in the kernel (state D)",
                            process.pid
                        ),
                    });
                }
            }
        }
        self.store.update(|state| {
            if let Some(record) = state.nodes.get_mut(name) {
                record.process = None;
                record.started_at = None;
            }
        })
    }

    async fn remove(&self, name: &str, purge: bool) -> BackendResult<()> {
        let record = self.record(name)?;
        if self.process_alive(name, record.process) {
            return Err(BackendError::AlreadyRunning {
                name: name.to_owned(),
                id: record
                    .process
                    .map_or_else(String::new, |p| format!("pid {}", p.pid)),
            });
        }
        self.store.update(|state| state.nodes.remove(name))?;
        if purge {
            remove_path(&record.spec.data_dir)?;
            remove_path(&self.dir.node_log(name))?;
        }
        Ok(())
    }

    async fn is_alive(&self, name: &str) -> BackendResult<bool> {
        let record = self.record(name)?;
        Ok(self.process_alive(name, record.process))
    }

    async fn status(&self, name: &str) -> BackendResult<NodeStatus> {
        let record = self.record(name)?;
        Ok(self.node_status(record).await)
    }

    async fn list(&self) -> BackendResult<Vec<NodeStatus>> {
        let records = self.store.load()?.nodes.into_values();
        Ok(futures::future::join_all(records.map(|record| self.node_status(record))).await)
    }

    async fn logs(&self, name: &str, tail_lines: usize) -> BackendResult<String> {
        self.record(name)?;
        let path = self.dir.node_log(name);
        let text = read_tail(&path)
            .map_err(|error| BackendError::io(format!("reading {}", path.display()), error))?;
        Ok(last_lines(&text, tail_lines))
    }

    /// The watchdog: SIGKILL to every node over its memory limit (what the kernel does to
    /// a container over its cgroup limit), recorded as `OOMKilled` in its state.
    async fn enforce_memory_limits(&self) -> BackendResult<Vec<MemoryKill>> {
        let records = self.store.load()?.nodes;
        let mut kills = Vec::new();
        for record in records.values() {
            kills.extend(self.enforce_limit(record)?);
        }
        if !kills.is_empty() {
            let now = Utc::now();
            self.store.update(|state| {
                for kill in &kills {
                    if let Some(record) = state.nodes.get_mut(&kill.node) {
                        record.last_termination = Some(oom_killed(kill, now));
                    }
                }
            })?;
        }
        Ok(kills)
    }
}

/// The variant `storage_bin` was built as, from its `detect --output json` (a few
/// milliseconds): every process node runs that build, whatever variant the plan picked.
pub fn built_variant(storage_bin: &Path) -> BackendResult<String> {
    let context = || {
        format!(
            "asking {} which variant it was built as",
            storage_bin.display()
        )
    };
    let output = std::process::Command::new(storage_bin)
        .args(["detect", "--output", "json"])
        .output()
        .map_err(|error| BackendError::io(context(), error))?;
    let detected: serde_json::Value = serde_json::from_slice(&output.stdout)
        .ok()
        .filter(|_| output.status.success())
        .ok_or_else(|| BackendError::Engine {
            backend: "process",
            message: format!(
                "{}: {}",
                context(),
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        })?;
    detected["builtVariant"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| BackendError::Engine {
            backend: "process",
            message: format!("{}: its detect output names no builtVariant", context()),
        })
}

/// The `sutra-storage serve` arguments for a node.
///
/// No `--variant`: a process runs the one `sutra-storage` binary that was built here, which
/// knows the variant it was compiled as and reports it; claiming the planned variant would
/// label a universal build as, say, `x86-64-v4`.
pub fn serve_args(spec: &NodeSpec) -> Vec<String> {
    let rules = spec.variant_rules.as_ref().map(|p| p.display().to_string());
    ServeCommand {
        data_dir: &spec.data_dir.display().to_string(),
        vector: &spec.vector,
        grpc_addr: grpc_addr(spec).to_string(),
        metrics_addr: metrics_addr(spec).to_string(),
        variant: None,
        variant_rules: rules.as_deref(),
    }
    .args()
}

/// Nodes listen on loopback only: the local agent serves this machine.
pub fn grpc_addr(spec: &NodeSpec) -> SocketAddr {
    loopback(spec.grpc_port)
}

pub fn metrics_addr(spec: &NodeSpec) -> SocketAddr {
    loopback(spec.metrics_port)
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))
}

/// Fails with [`BackendError::PortInUse`] when something listens on the port already, so
/// the user reads which port is taken instead of a node dying on a bind error.
pub fn check_port_free(node: &str, purpose: &'static str, port: u16) -> BackendResult<()> {
    TcpListener::bind(loopback(port))
        .map(drop)
        .map_err(|_| BackendError::PortInUse {
            node: node.to_owned(),
            purpose,
            port,
        })
}

fn create_dir(path: &Path) -> BackendResult<()> {
    fs::create_dir_all(path)
        .map_err(|error| BackendError::io(format!("creating {}", path.display()), error))
}

fn remove_path(path: &Path) -> BackendResult<()> {
    let result = if path.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
    match result {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(BackendError::io(
            format!("removing {}", path.display()),
            error,
        )),
        _ => Ok(()),
    }
}

/// Opens a node's log for appending and marks where this run starts.
fn open_log(path: &Path, node: &str) -> BackendResult<File> {
    let open = || -> io::Result<File> {
        let mut file = OpenOptions::new().create(true).append(true).open(path)?;
        writeln!(
            file,
            "--- sutra-grid agent: starting {node} at {} ---",
            Utc::now().to_rfc3339()
        )?;
        Ok(file)
    };
    open().map_err(|error| BackendError::io(format!("opening {}", path.display()), error))
}

/// The end of a file, at most [`LOG_TAIL_BYTES`]; an absent file reads as empty.
fn read_tail(path: &Path) -> io::Result<String> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(String::new()),
        Err(error) => return Err(error),
    };
    let length = file.metadata()?.len();
    file.seek(SeekFrom::Start(length.saturating_sub(LOG_TAIL_BYTES)))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// The last `count` lines of `text`, each ending in a newline.
pub fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(count);
    lines[start..]
        .iter()
        .map(|line| format!("{line}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use sutra_core::crd::VectorSpec;
    use sutra_core::vector::{Compression, Metric};

    use super::*;

    fn spec(dir: &Path) -> NodeSpec {
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

    #[test]
    fn serve_arguments_follow_the_storage_contract() {
        let args = serve_args(&spec(Path::new("/state/local")));
        assert_eq!(
            args.join(" "),
            "serve --data /state/local/data/local-1 --dimension 128 --metric l2 --compression int8 \
             --grpc-addr 127.0.0.1:50052 --metrics-addr 127.0.0.1:9091"
        );
        let mut with_rules = spec(Path::new("/state/local"));
        with_rules.variant_rules = Some(PathBuf::from("/home/me/variants.yaml"));
        assert!(
            serve_args(&with_rules)
                .join(" ")
                .ends_with("--variant-rules /home/me/variants.yaml")
        );
    }

    #[test]
    fn a_taken_port_is_named() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let error = check_port_free("local-0", "gRPC port", port)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(&format!("port {port} (gRPC port of node local-0)")),
            "{error}"
        );
    }

    #[test]
    fn keeps_the_last_lines() {
        assert_eq!(last_lines("a\nb\nc\n", 2), "b\nc\n");
        assert_eq!(last_lines("a\n", 5), "a\n");
    }

    /// A stand-in `sutra-storage` (a shell script) exercises spawning, the log file, the
    /// state file, SIGTERM handling and purging with a real process.
    #[tokio::test]
    async fn spawns_logs_stops_and_purges_a_real_process() {
        let temp = tempfile::tempdir().unwrap();
        let script = temp.path().join("fake-storage");
        fs::write(&script, "#!/bin/sh\necho \"args: $*\"\nexec sleep 600\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
        let backend = ProcessBackend::new(temp.path(), "local", script);
        let mut node = spec(temp.path());
        node.grpc_port = free_port();
        node.metrics_port = free_port();

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
        let script = temp.path().join("fake-storage");
        fs::write(&script, "#!/bin/sh\nexec sleep 600\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
        let backend = ProcessBackend::new(temp.path(), "local", script);
        let mut node = spec(temp.path());
        node.grpc_port = free_port();
        node.metrics_port = free_port();

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
}
