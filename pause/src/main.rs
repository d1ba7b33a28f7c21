//! `sutra-pause`: the first container of a storage node in the Docker backend. It owns the
//! node's network namespace and published ports and does nothing else until it is told to
//! stop, the role the pause container plays in a Kubernetes Pod. The `sutra-storage`
//! container joins its namespace, so restarting the server after a crash skips the network
//! set-up and tear-down that dominate a container start on Docker.
//!
//! It runs as PID 1 of its container, where the kernel delivers no signal that has no
//! handler; it waits for SIGTERM or SIGINT explicitly and exits 0 on either.

use std::process::ExitCode;

fn main() -> ExitCode {
    match wait_for_stop_signal() {
        Ok(signal) => {
            eprintln!("sutra-pause: signal {signal}, exiting");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("sutra-pause: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Blocks SIGTERM and SIGINT and waits until one of them arrives.
fn wait_for_stop_signal() -> std::io::Result<libc::c_int> {
    // SAFETY: the signal set is a local value initialised by sigemptyset before use, and
    // the calls only change this thread's signal mask and wait on it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        let blocked = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if blocked != 0 {
            return Err(std::io::Error::from_raw_os_error(blocked));
        }
        eprintln!("sutra-pause: waiting for SIGTERM or SIGINT");
        let mut signal: libc::c_int = 0;
        let waited = libc::sigwait(&set, &mut signal);
        if waited != 0 {
            return Err(std::io::Error::from_raw_os_error(waited));
        }
        Ok(signal)
    }
}
