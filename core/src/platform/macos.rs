//! Detection on macOS from `sysctl -a` output.

use std::collections::BTreeMap;

use super::features::{simd_from_macos_optionals, x86_64_level_from_simd};
use super::model::{Arch, CpuInfo, MemoryInfo, Os, PlatformReport, ThpMode};
use super::sysfs::DEFAULT_CACHE_LINE;

/// Page size when sysctl does not say; only on damaged output.
const FALLBACK_PAGE_SIZE: u64 = 4096;

/// Builds a report from `sysctl -a` text (`name: value` lines). Unknown or malformed lines
/// are skipped; absent values degrade to defaults.
pub fn parse_sysctl(text: &str) -> PlatformReport {
    let values = sysctl_values(text);
    let number = |name: &str| values.get(name).and_then(|value| value.parse::<u64>().ok());
    let enabled = enabled_optionals(&values);
    let simd = simd_from_macos_optionals(&enabled);
    let arch = macos_arch(&values);
    PlatformReport {
        arch,
        os: Os::Macos,
        cpu: CpuInfo {
            vendor: vendor(&values, arch),
            model: values
                .get("machdep.cpu.brand_string")
                .cloned()
                .unwrap_or_default(),
            implementer: None,
            part: None,
            logical_cpus: number("hw.logicalcpu")
                .or_else(|| number("hw.ncpu"))
                .and_then(|count| u32::try_from(count).ok())
                .unwrap_or(1)
                .max(1),
            x86_64_level: (arch == Arch::Amd64).then(|| x86_64_level_from_simd(&simd)),
            flags: enabled,
        },
        simd,
        sve_vector_bytes: None,
        page_size: number("hw.pagesize").unwrap_or(FALLBACK_PAGE_SIZE),
        cache_line: number("hw.cachelinesize")
            .and_then(|size| u32::try_from(size).ok())
            .filter(|size| *size > 0)
            .unwrap_or(DEFAULT_CACHE_LINE),
        thp: ThpMode::Unavailable,
        pi_model: None,
        board: values.get("hw.model").cloned(),
        instance_type: None,
        memory: MemoryInfo {
            total_bytes: number("hw.memsize").unwrap_or(0),
            limit_bytes: None,
        },
    }
}

/// Runs `sysctl -a` and parses it; a failed command yields a report of defaults.
pub fn detect_live() -> PlatformReport {
    let output = std::process::Command::new("sysctl").arg("-a").output();
    let text = output
        .ok()
        .filter(|output| output.status.success())
        .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
        .unwrap_or_default();
    parse_sysctl(&text)
}

fn sysctl_values(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
        .filter(|(name, _)| !name.is_empty() && !name.contains(' '))
        .collect()
}

/// `hw.optional.*` names whose value is 1, sorted.
fn enabled_optionals(values: &BTreeMap<String, String>) -> Vec<String> {
    values
        .iter()
        .filter(|(name, value)| name.starts_with("hw.optional.") && value.as_str() == "1")
        .map(|(name, _)| name.clone())
        .collect()
}

fn macos_arch(values: &BTreeMap<String, String>) -> Arch {
    let is = |name: &str, wanted: &str| values.get(name).is_some_and(|value| value == wanted);
    if is("hw.optional.arm64", "1") {
        Arch::Arm64
    } else if is("hw.optional.x86_64", "1") || values.contains_key("machdep.cpu.vendor") {
        Arch::Amd64
    } else {
        Arch::Other
    }
}

fn vendor(values: &BTreeMap<String, String>, arch: Arch) -> String {
    match (values.get("machdep.cpu.vendor"), arch) {
        (Some(vendor), _) => vendor.clone(),
        (None, Arch::Arm64) => "Apple".to_string(),
        (None, _) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_sysctl_output_degrades_to_defaults() {
        let report = parse_sysctl("hw.pagesize: lots\nnot a sysctl line\nhw.cachelinesize: 0\n");
        assert_eq!(report.arch, Arch::Other);
        assert_eq!(report.page_size, FALLBACK_PAGE_SIZE);
        assert_eq!(report.cache_line, DEFAULT_CACHE_LINE);
        assert_eq!(report.memory.total_bytes, 0);
        assert!(report.simd.is_empty());
    }

    #[test]
    fn intel_mac_gets_an_x86_level_from_its_optionals() {
        let text = "machdep.cpu.vendor: GenuineIntel\nhw.optional.x86_64: 1\n\
                    hw.optional.sse4_2: 1\nhw.optional.avx1_0: 1\nhw.optional.avx2_0: 1\n\
                    hw.optional.fma: 1\nhw.optional.avx512f: 0\n";
        let report = parse_sysctl(text);
        assert_eq!(report.arch, Arch::Amd64);
        assert_eq!(report.cpu.vendor, "GenuineIntel");
        assert_eq!(report.cpu.x86_64_level, Some(3));
    }
}
