//! The process backend's memory limit: a watchdog, since a child process has no cgroup of
//! its own to carry the limit (that needs root or a delegated cgroup) and `RLIMIT_AS`
//! would count the storage engine's large file mappings.
//!
//! What is counted is what a container's cgroup could not reclaim either: anonymous and
//! shared-memory pages (`RssAnon + RssShmem` of `/proc/<pid>/status`). Pages of the data
//! files the engine maps are page cache, which the kernel drops under pressure before it
//! OOM-kills a container, so they do not count against the limit.

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

/// Bytes as a person reads them: `512 KiB`, `12.3 MiB`, `2.0 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    let value = bytes as f64;
    if value < KIB * KIB {
        format!("{:.0} KiB", value / KIB)
    } else if value < KIB * KIB * KIB {
        format!("{:.1} MiB", value / (KIB * KIB))
    } else {
        format!("{:.1} GiB", value / (KIB * KIB * KIB))
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

    #[test]
    fn bytes_read_like_a_person_writes_them() {
        assert_eq!(human_bytes(512 * 1024), "512 KiB");
        assert_eq!(human_bytes(12_900_000), "12.3 MiB");
        assert_eq!(human_bytes(2 << 30), "2.0 GiB");
    }
}
