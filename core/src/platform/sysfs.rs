//! Small `/proc` and `/sys` files: memory, cgroup limits, cache line, THP, board names.

use super::model::ThpMode;

/// Cache line size assumed when sysfs does not say: right for every x86-64 and Arm
/// Neoverse/Cortex core we target (Apple's 128 comes from sysctl instead).
pub const DEFAULT_CACHE_LINE: u32 = 64;

/// `MemTotal` from `/proc/meminfo`, in bytes.
pub fn parse_meminfo_total(text: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix("MemTotal:")?;
        let kib: u64 = rest.trim().strip_suffix("kB")?.trim().parse().ok()?;
        kib.checked_mul(1024)
    })
}

/// A cgroup memory limit file: v2 `memory.max` (`max` or bytes) or v1
/// `memory.limit_in_bytes` (bytes; "unlimited" is a huge number). `None` means no limit.
pub fn parse_cgroup_limit(text: &str) -> Option<u64> {
    match text.trim() {
        "max" => None,
        number => number.parse().ok(),
    }
}

/// The memory cgroup paths of this process from `/proc/self/cgroup`: the v2 path
/// (`0::/path`) and the v1 memory controller path (`N:...memory...:/path`).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CgroupPaths {
    pub v2: Option<String>,
    pub v1_memory: Option<String>,
}

pub fn parse_proc_self_cgroup(text: &str) -> CgroupPaths {
    let mut paths = CgroupPaths::default();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if id == "0" && controllers.is_empty() {
            paths.v2 = Some(path.to_string());
        } else if controllers.split(',').any(|name| name == "memory") {
            paths.v1_memory = Some(path.to_string());
        }
    }
    paths
}

/// Coherency line size from `cache/index*/coherency_line_size`; garbage or zero is ignored.
pub fn parse_cache_line(text: &str) -> Option<u32> {
    text.trim().parse().ok().filter(|size| *size > 0)
}

/// `always [madvise] never`: the bracketed word is the active mode.
pub fn parse_thp(text: &str) -> ThpMode {
    let active = text
        .split_whitespace()
        .find_map(|word| word.strip_prefix('[')?.strip_suffix(']'));
    match active {
        Some("always") => ThpMode::Always,
        Some("madvise") => ThpMode::Madvise,
        Some("never") => ThpMode::Never,
        _ => ThpMode::Unavailable,
    }
}

/// Firmware strings (device-tree `model`, DMI files) end in NUL or newline.
pub fn clean_firmware_string(raw: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(raw);
    let cleaned = text.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    (!cleaned.is_empty()).then(|| cleaned.to_string())
}

/// The Raspberry Pi model number from a board name: `Raspberry Pi 5 Model B Rev 1.0` → 5,
/// `Raspberry Pi Compute Module 4 Rev 1.0` → 4, `Raspberry Pi 400 Rev 1.0` → 4 (the 400 is
/// a Pi 4 in a keyboard), `Raspberry Pi Zero 2 W` → none (not a numbered model).
pub fn pi_model(board: &str) -> Option<u8> {
    let rest = board.strip_prefix("Raspberry Pi ")?;
    let rest = rest.strip_prefix("Compute Module ").unwrap_or(rest);
    let number = rest.split_whitespace().next()?;
    match number {
        "400" => Some(4),
        "500" => Some(5),
        single => single.parse().ok().filter(|model| (1..=9).contains(model)),
    }
}

/// DMI exposes the instance type only on EC2 (`sys_vendor` `Amazon EC2`, `product_name`
/// `m7g.large`); other clouds put a generic product name there.
pub fn instance_type(sys_vendor: Option<&str>, product_name: Option<&str>) -> Option<String> {
    match (sys_vendor, product_name) {
        (Some("Amazon EC2"), Some(product)) if product.contains('.') => Some(product.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_total_is_in_kib() {
        let text = "MemTotal:       16183108 kB\nMemFree:        15000000 kB\n";
        assert_eq!(parse_meminfo_total(text), Some(16_183_108 * 1024));
    }

    #[test]
    fn meminfo_without_total_or_with_garbage_gives_nothing() {
        assert_eq!(parse_meminfo_total("MemFree: 12 kB\n"), None);
        assert_eq!(parse_meminfo_total("MemTotal: lots kB\n"), None);
        assert_eq!(parse_meminfo_total("MemTotal: 12\n"), None);
    }

    #[test]
    fn cgroup_limit_max_means_unlimited() {
        assert_eq!(parse_cgroup_limit("max\n"), None);
        assert_eq!(parse_cgroup_limit("1073741824\n"), Some(1 << 30));
        assert_eq!(parse_cgroup_limit("-1"), None);
    }

    #[test]
    fn proc_self_cgroup_finds_v2_and_v1_memory_paths() {
        let v1 = "12:memory:/docker/abc\n11:cpu,cpuacct:/docker/abc\n0::/\n";
        assert_eq!(
            parse_proc_self_cgroup(v1),
            CgroupPaths {
                v2: Some("/".into()),
                v1_memory: Some("/docker/abc".into())
            }
        );
        assert_eq!(parse_proc_self_cgroup("garbage"), CgroupPaths::default());
    }

    #[test]
    fn thp_mode_is_the_bracketed_word() {
        for (text, mode) in [
            ("always [madvise] never\n", ThpMode::Madvise),
            ("[always] madvise never", ThpMode::Always),
            ("always madvise [never]", ThpMode::Never),
            ("always madvise never", ThpMode::Unavailable),
            ("[sometimes]", ThpMode::Unavailable),
        ] {
            assert_eq!(parse_thp(text), mode, "{text:?}");
        }
    }

    #[test]
    fn raspberry_pi_models_from_board_names() {
        for (board, model) in [
            ("Raspberry Pi 5 Model B Rev 1.0", Some(5)),
            ("Raspberry Pi 4 Model B Rev 1.4", Some(4)),
            ("Raspberry Pi Compute Module 4 Rev 1.0", Some(4)),
            ("Raspberry Pi 400 Rev 1.0", Some(4)),
            ("Raspberry Pi Zero 2 W Rev 1.0", None),
            ("Pine64 Rock64", None),
        ] {
            assert_eq!(pi_model(board), model, "{board}");
        }
    }

    #[test]
    fn firmware_strings_lose_their_nul() {
        assert_eq!(
            clean_firmware_string(b"Raspberry Pi 5 Model B Rev 1.0\0"),
            Some("Raspberry Pi 5 Model B Rev 1.0".into())
        );
        assert_eq!(clean_firmware_string(b"\0\n"), None);
    }

    #[test]
    fn instance_type_only_from_ec2() {
        assert_eq!(
            instance_type(Some("Amazon EC2"), Some("m7g.large")),
            Some("m7g.large".into())
        );
        assert_eq!(
            instance_type(Some("Google"), Some("Google Compute Engine")),
            None
        );
        assert_eq!(instance_type(Some("Amazon EC2"), None), None);
    }
}
