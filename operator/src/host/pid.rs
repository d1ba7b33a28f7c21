//! Processes by id, safe against PID reuse: a process is identified by its pid together with
//! its start time (`/proc/<pid>/stat` field 22, clock ticks since boot), so a pid the kernel
//! handed to another program after ours died is never mistaken for ours.

use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::io_error::IoError;

/// A process as recorded in a state file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessId {
    pub pid: u32,
    /// Start time in clock ticks since boot; 0 where `/proc` is not available.
    pub start_ticks: u64,
}

impl ProcessId {
    /// The identity of a process that runs now.
    pub fn of(pid: u32) -> ProcessId {
        ProcessId {
            pid,
            start_ticks: read_stat(pid).map_or(0, |stat| stat.start_ticks),
        }
    }

    /// The identity of this process.
    pub fn current() -> ProcessId {
        ProcessId::of(std::process::id())
    }

    /// Whether this very process still runs (a zombie does not count).
    pub fn is_running(&self) -> bool {
        if !Path::new("/proc/self/stat").exists() {
            return signal_reaches(self.pid);
        }
        read_stat(self.pid).is_some_and(|stat| {
            stat.start_ticks == self.start_ticks && !matches!(stat.state, 'Z' | 'X')
        })
    }

    /// Sends `signal` if the process still runs; a process already gone is not an error.
    pub fn signal(&self, signal: i32) -> io::Result<()> {
        if !self.is_running() {
            return Ok(());
        }
        let pid = libc::pid_t::try_from(self.pid).map_err(io::Error::other)?;
        // SAFETY: kill(2) has no memory-safety preconditions; the pid was checked just above
        // to still belong to the process we started.
        let result = unsafe { libc::kill(pid, signal) };
        if result == 0 {
            return Ok(());
        }
        let error = io::Error::last_os_error();
        if error.raw_os_error() == Some(libc::ESRCH) {
            Ok(())
        } else {
            Err(error)
        }
    }

    /// [`ProcessId::signal`] with an error naming the process as `what`, e.g.
    /// `signalling node local-0 (pid 4242): Operation not permitted`.
    pub fn signal_naming(&self, signal: i32, what: &str) -> Result<(), IoError> {
        self.signal(signal)
            .map_err(|error| IoError::new(format!("signalling {what} (pid {})", self.pid), error))
    }
}

fn signal_reaches(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists and may be signalled.
    unsafe { libc::kill(pid, 0) == 0 }
}

/// The fields of `/proc/<pid>/stat` the agent needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcStat {
    /// `R`, `S`, `D`, `Z` (zombie), `X` (dead), ...
    pub state: char,
    pub start_ticks: u64,
}

fn read_stat(pid: u32) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// Parses `/proc/<pid>/stat`. The command name (field 2) is in parentheses and may itself
/// contain spaces and parentheses, so fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<ProcStat> {
    let after_name = &text[text.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // After the name come field 3 (state) .. field 22 (starttime): starttime is the 20th.
    let start_ticks = fields.nth(18)?.parse().ok()?;
    Some(ProcStat { state, start_ticks })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_state_and_start_time_past_a_tricky_name() {
        let text = "4242 (sutra (storage) 1) S 1 4242 4242 0 -1 4194560 95 0 0 0 1 2 0 0 20 0 3 0 987654 1000 10 18446744073709551615";
        assert_eq!(
            parse_stat(text),
            Some(ProcStat {
                state: 'S',
                start_ticks: 987654
            })
        );
    }

    #[test]
    fn rejects_a_truncated_line() {
        assert_eq!(parse_stat("4242 (x) S 1 2 3"), None);
    }

    #[test]
    fn this_process_runs_and_a_changed_start_time_does_not() {
        let me = ProcessId::current();
        assert!(me.is_running());
        let reused = ProcessId {
            start_ticks: me.start_ticks + 1,
            ..me
        };
        assert!(!reused.is_running());
    }

    #[test]
    fn a_reaped_child_is_gone() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let id = ProcessId::of(child.id());
        child.wait().unwrap();
        assert!(!id.is_running());
        id.signal(libc::SIGTERM).unwrap();
    }
}
