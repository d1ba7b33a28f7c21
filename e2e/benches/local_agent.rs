//! Local agent timings on the process backend, with release binaries:
//! * `up → ready`: wall time of `sutra-grid agent up --detach` for the 3-node
//!   `config/samples/local-grid.yaml`; the command returns once every node answers
//!   `/readyz` (it includes starting sutra-grid itself, hardware detection, planning, the
//!   background supervisor and the three nodes);
//! * `crash → ready`: from SIGKILL of one node to its replacement answering `/readyz`
//!   (crash detection, the first 200 ms backoff step, spawn, start-up, WAL replay).
//!
//! Run: `cargo bench -p sutra-e2e --bench local_agent` (builds the release binaries first).
//! Under `cargo test --all-targets` (no `--bench` argument) it makes one run with the debug
//! binaries to check that it works, and reports no figures.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use sutra_e2e::{Profile, bin, build_binaries, free_port_range, workspace_root};

use serde_json::Value;

const RUNS: usize = 7;

fn main() {
    let benchmarking = std::env::args().any(|arg| arg == "--bench");
    let profile = if benchmarking {
        Profile::Release
    } else {
        Profile::Debug
    };
    build_binaries(profile);
    let mut up_times = Vec::new();
    let mut restart_times = Vec::new();
    for _ in 0..if benchmarking { RUNS } else { 1 } {
        let (up, restart) = one_run(profile);
        up_times.push(up);
        restart_times.push(restart);
    }
    if benchmarking {
        report("up → 3 nodes ready", &mut up_times);
        report("crash (SIGKILL) → ready", &mut restart_times);
    } else {
        println!("local_agent: one run with debug binaries worked; `cargo bench` measures");
    }
}

fn one_run(profile: Profile) -> (Duration, Duration) {
    let state = tempfile::tempdir().unwrap();
    let (port_base, metrics_port) = free_port_range(7);
    let start = Instant::now();
    let up = agent(state.path(), profile)
        .args(["up", "--detach", "-f"])
        .arg(workspace_root().join("config/samples/local-grid.yaml"))
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
    while ready(metrics) {
        std::thread::sleep(Duration::from_micros(200));
    }
    while !ready(metrics) {
        assert!(
            killed.elapsed() < Duration::from_secs(60),
            "the node was not restarted"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
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
        "{what:<26} median {:>7.1} ms   min {:>7.1} ms   max {:>7.1} ms   ({} runs)",
        ms(times[times.len() / 2]),
        ms(times[0]),
        ms(times[times.len() - 1]),
        times.len()
    );
}

fn ready(metrics: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect(metrics) else {
        return false;
    };
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
