//! The process backend's memory limit: a watchdog, since a child process has no cgroup of
//! its own to carry the limit (that needs root or a delegated cgroup) and `RLIMIT_AS`
//! would count the storage engine's large file mappings.
//!
//! What is counted is what a container's cgroup could not reclaim either: anonymous and
//! shared-memory pages (`RssAnon + RssShmem` of `/proc/<pid>/status`). Pages of the data
//! files the engine maps are page cache, which the kernel drops under pressure before it
//! OOM-kills a container, so they do not count against the limit.

use chrono::{DateTime, Utc};

use crate::backend::{MemoryKill, Termination, TerminationReason};
use crate::host::human_bytes;

/// Resident bytes of `pid` that only its death frees; `None` when the process is gone (or
/// a zombie, which has no memory left).
pub fn unreclaimable_bytes(pid: u32) -> Option<u64> {
    parse_status(&std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

/// `RssAnon + RssShmem` in bytes from the text of `/proc/<pid>/status`.
pub fn parse_status(text: &str) -> Option<u64> {
    let kib = |field: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|rest| rest.trim().strip_suffix("kB"))
            .and_then(|number| number.trim().parse::<u64>().ok())
    };
    Some((kib("RssAnon:")? + kib("RssShmem:")?) * 1024)
}

/// The termination the watchdog records for a node it killed.
pub fn oom_killed(kill: &MemoryKill, finished_at: DateTime<Utc>) -> Termination {
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

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Name:\tsutra-storage\nState:\tS (sleeping)\nVmRSS:\t  300000 kB\nRssAnon:\t    9000 kB\nRssFile:\t  290976 kB\nRssShmem:\t      24 kB\nThreads:\t5\n";

    #[test]
    fn counts_anonymous_and_shared_memory_not_file_pages() {
        assert_eq!(parse_status(STATUS), Some((9000 + 24) * 1024));
    }

    #[test]
    fn a_zombie_has_no_memory_fields() {
        assert_eq!(parse_status("Name:\tx\nState:\tZ (zombie)\n"), None);
    }

    #[test]
    fn this_process_uses_some_memory() {
        assert!(unreclaimable_bytes(std::process::id()).is_some_and(|bytes| bytes > 0));
    }
}
