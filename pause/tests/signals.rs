//! The real `sutra-pause` binary: it keeps running until SIGTERM or SIGINT, then exits 0.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::time::{Duration, Instant};

/// Starts `sutra-pause` and returns once it says it waits for its signals: a signal sent
/// before it blocked them would meet the default action, not the pause.
fn start() -> (Child, BufReader<ChildStderr>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sutra-pause"))
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sutra-pause");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert_eq!(line, "sutra-pause: waiting for SIGTERM or SIGINT\n");
    (child, stderr)
}

fn signal(child: &Child, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: kill(2) on the pid of a child this test started and has not reaped yet.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
}

fn exit_within(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

#[test]
fn runs_until_sigterm_then_exits_cleanly() {
    let (mut pause, mut stderr) = start();
    assert_eq!(exit_within(&mut pause, Duration::from_millis(300)), None);
    signal(&pause, libc::SIGTERM);
    let status = exit_within(&mut pause, Duration::from_secs(10)).expect("exits on SIGTERM");
    assert!(status.success(), "{status}");
    let mut last = String::new();
    stderr.read_to_string(&mut last).unwrap();
    assert_eq!(last, "sutra-pause: signal 15, exiting\n");
}

#[test]
fn sigint_stops_it_too() {
    let (mut pause, _stderr) = start();
    signal(&pause, libc::SIGINT);
    let status = exit_within(&mut pause, Duration::from_secs(10)).expect("exits on SIGINT");
    assert!(status.success(), "{status}");
}
