//! Local agent timings on both backends, with release binaries:
//! * `up → ready`: wall time of `sutra-grid agent up --detach` for a 3-node grid (process:
//!   `config/samples/local-grid.yaml`; Docker, in the host network and in the bridge
//!   network with a pause container per node: the same grid, named `agent-bench`, with
//!   `variant: universal`, the image this machine builds); the command returns once every node answers
//!   `/readyz` (it includes starting sutra-grid itself, hardware detection, planning, the
//!   background supervisor and the three nodes);
//! * `crash → ready`: from SIGKILL of one node's server process to it answering `/readyz`
//!   again (process: crash detection by the supervisor's 20 ms poll, spawn, start-up, WAL
//!   replay; Docker: the engine's restart of the container in its network).
//!
//! The Docker runs need the image `ghcr.io/sutra-ai/sutra-storage:0.1.0-universal` with `/sutra-pause`
//! (`scripts/build-image.sh universal`); without it, or without an engine, they are
//! skipped with a line that says so; the host-network runs are skipped where the engine
//! does not run on this machine's kernel or is rootless (`auto` would not pick host there).
//!
//! Run: `cargo bench -p sutra-e2e --bench local_agent` (builds the release binaries first).
//! Under `cargo test --all-targets` (no `--bench` argument) it makes one run per backend
//! with the debug binaries to check that it works, and reports no figures.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use sutra_e2e::{Profile, bin, build_binaries, free_port_range, workspace_root};

use serde_json::Value;

const RUNS: usize = 7;

/// The image the Docker runs use, and the label that says it holds the pause program.
const DOCKER_IMAGE: &str = "ghcr.io/sutra-ai/sutra-storage:0.1.0-universal";
const PAUSE_LABEL: &str = "ai.sutra.grid.pause";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Process,
    /// `--backend docker --docker-network host`: one container per node in the host's
    /// network (what `auto` picks where the engine runs on this kernel).
    DockerHost,
    /// `--backend docker --docker-network bridge`: a pause container per node publishes
    /// its ports (what `auto` picks on Docker Desktop, VMs and rootless engines).
    DockerBridge,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Process => "process",
            Backend::DockerHost => "docker host",
            Backend::DockerBridge => "docker bridge",
        }
    }

    fn args(self) -> &'static [&'static str] {
        match self {
            Backend::Process => &["--backend", "process"],
            Backend::DockerHost => &["--backend", "docker", "--docker-network", "host"],
            Backend::DockerBridge => &["--backend", "docker", "--docker-network", "bridge"],
        }
    }
}

fn main() {
    let benchmarking = std::env::args().any(|arg| arg == "--bench");
    let profile = if benchmarking {
        Profile::Release
    } else {
        Profile::Debug
    };
    build_binaries(profile);
    let state = tempfile::tempdir().unwrap();
    let docker_manifest = state.path().join("docker-grid.yaml");
    std::fs::write(
        &docker_manifest,
        std::fs::read_to_string(workspace_root().join("config/samples/local-grid.yaml"))
            .unwrap()
            .replace("variant: auto", "variant: universal")
            .replace("name: local", "name: agent-bench"),
    )
    .unwrap();
    for backend in [Backend::Process, Backend::DockerHost, Backend::DockerBridge] {
        if backend != Backend::Process && !docker_image_ready() {
            println!(
                "{}: skipped (no engine, or no {DOCKER_IMAGE} with /sutra-pause; build it with scripts/build-image.sh universal)",
                backend.name()
            );
            continue;
        }
        if backend == Backend::DockerHost && !engine_shares_this_kernel() {
            println!(
                "docker host: skipped (the engine does not run rootful on this machine's kernel)"
            );
            continue;
        }
        let manifest = match backend {
            Backend::Process => workspace_root().join("config/samples/local-grid.yaml"),
            Backend::DockerHost | Backend::DockerBridge => docker_manifest.clone(),
        };
        let mut up_times = Vec::new();
        let mut restart_times = Vec::new();
        for _ in 0..if benchmarking { RUNS } else { 1 } {
            let (up, restart) = one_run(profile, backend, &manifest);
            up_times.push(up);
            restart_times.push(restart);
        }
        let name = backend.name();
        if benchmarking {
            report(&format!("{name}: up → 3 nodes ready"), &mut up_times);
            report(
                &format!("{name}: crash (SIGKILL) → ready"),
                &mut restart_times,
            );
        } else {
            println!(
                "local_agent: one {name} run with debug binaries worked; `cargo bench` measures"
            );
        }
    }
}

/// Whether the engine runs rootful on this machine's kernel, so its host network is ours.
fn engine_shares_this_kernel() -> bool {
    let local = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    Command::new("docker")
        .args([
            "info",
            "--format",
            "{{.KernelVersion}} {{json .SecurityOptions}}",
        ])
        .output()
        .is_ok_and(|output| {
            let said = String::from_utf8_lossy(&output.stdout);
            output.status.success()
                && !said.contains("name=rootless")
                && said.split_whitespace().next() == Some(local.trim())
        })
}

/// Whether the Docker engine answers and holds the universal image with the pause program.
fn docker_image_ready() -> bool {
    let format = format!("{{{{index .Config.Labels \"{PAUSE_LABEL}\"}}}}");
    Command::new("docker")
        .args(["image", "inspect", "--format", &format, DOCKER_IMAGE])
        .output()
        .is_ok_and(|output| {
            output.status.success()
                && String::from_utf8_lossy(&output.stdout).trim() == "/sutra-pause"
        })
}

fn one_run(profile: Profile, backend: Backend, manifest: &Path) -> (Duration, Duration) {
    let state = tempfile::tempdir().unwrap();
    let (port_base, metrics_port) = free_port_range(7);
    let start = Instant::now();
    let up = agent(state.path(), profile)
        .args(["up", "--detach", "-f"])
        .arg(manifest)
        .args(backend.args())
        .args(["--port-base", &port_base.to_string()])
        .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
        .output()
        .unwrap();
    let up_time = start.elapsed();
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );

    let status = agent(state.path(), profile)
        .args(["status", "-o", "json"])
        .output()
        .unwrap();
    let nodes: Vec<Value> = serde_json::from_slice(&status.stdout).unwrap();
    let pid = nodes[1]["pid"].as_u64().unwrap().to_string();
    let metrics: SocketAddr = nodes[1]["metricsAddr"].as_str().unwrap().parse().unwrap();
    let killed = Instant::now();
    assert!(
        Command::new("kill")
            .args(["-KILL", &pid])
            .status()
            .unwrap()
            .success()
    );
    // A live server answers in well under 20 ms, so no answer in time counts as down.
    while ready(metrics, Duration::from_millis(20)) {
        std::thread::sleep(Duration::from_micros(200));
    }
    wait_ready(metrics, killed + Duration::from_secs(60));
    let restart_time = killed.elapsed();

    let down = agent(state.path(), profile)
        .args(["down", "--purge"])
        .output()
        .unwrap();
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    (up_time, restart_time)
}

fn report(what: &str, times: &mut [Duration]) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{what:<40} median {:>7.1} ms   min {:>7.1} ms   max {:>7.1} ms   ({} runs)",
        ms(times[times.len() / 2]),
        ms(times[0]),
        ms(times[times.len() - 1]),
        times.len()
    );
}

/// Waits until the node at `metrics` answers `/readyz`, starting a check every millisecond
/// in a thread of its own: while a container starts, Docker's port proxy may hold a
/// connection for ~300 ms, and a check that waited for it would add that to the figure.
fn wait_ready(metrics: SocketAddr, deadline: Instant) {
    const IN_FLIGHT: usize = 16;
    let (answers, answered) = std::sync::mpsc::channel();
    let mut in_flight = 0;
    loop {
        if in_flight < IN_FLIGHT {
            in_flight += 1;
            let answers = answers.clone();
            std::thread::spawn(move || answers.send(ready(metrics, Duration::from_millis(500))));
        }
        match answered.recv_timeout(Duration::from_millis(1)) {
            Ok(true) => return,
            Ok(false) => in_flight -= 1,
            Err(_) => {}
        }
        assert!(Instant::now() < deadline, "the node was not ready in time");
    }
}

/// Whether the node answers `/readyz` with 200 within `limit`.
fn ready(metrics: SocketAddr, limit: Duration) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&metrics, limit) else {
        return false;
    };
    if stream.set_read_timeout(Some(limit)).is_err() {
        return false;
    }
    if write!(stream, "GET /readyz HTTP/1.0\r\n\r\n").is_err() {
        return false;
    }
    let mut response = String::new();
    if stream.read_to_string(&mut response).is_err() {
        return false;
    }
    response.starts_with("HTTP/1.0 200") || response.starts_with("HTTP/1.1 200")
}

fn agent(state_dir: &Path, profile: Profile) -> Command {
    let mut command = Command::new(bin(profile, "sutra-grid"));
    command
        .arg("agent")
        .env("SUTRA_GRID_STATE_DIR", state_dir)
        .env("SUTRA_STORAGE_BIN", bin(profile, "sutra-storage"));
    command
}
