//! Detection on Linux from a filesystem root (`/` live, a fixture directory in tests).

use std::path::Path;

use super::cpuinfo::{CpuinfoFacts, parse_cpuinfo};
use super::features::{simd_from_linux_flags, x86_64_level, x86_flag_of};
use super::model::{Arch, CpuInfo, MemoryInfo, Os, PlatformReport, SimdFeature, ThpMode};
use super::probes::Probes;
use super::sysfs::{
    DEFAULT_CACHE_LINE, clean_firmware_string, instance_type, parse_cache_line, parse_cgroup_limit,
    parse_meminfo_total, parse_proc_self_cgroup, parse_thp, pi_model,
};

/// Everything detection knows about a Linux host under `root`. Missing or unreadable
/// files degrade to defaults (cache line 64, THP unavailable, no limit); it never fails.
pub fn detect_from(root: &Path, probes: &dyn Probes) -> PlatformReport {
    let files = Root(root);
    let cpuinfo = parse_cpuinfo(&files.text("proc/cpuinfo").unwrap_or_default());
    let arch = cpuinfo.arch.unwrap_or(Arch::Other);
    let simd = usable_simd(arch, &cpuinfo.flags, probes);
    let board = board_name(&files, &cpuinfo);
    PlatformReport {
        arch,
        os: Os::Linux,
        sve_vector_bytes: simd
            .contains(&SimdFeature::Sve)
            .then(|| probes.sve_vector_bytes())
            .flatten(),
        cpu: cpu_info(arch, cpuinfo, &simd),
        simd,
        page_size: probes.page_size(),
        cache_line: cache_line(&files),
        thp: files
            .text("sys/kernel/mm/transparent_hugepage/enabled")
            .map_or(ThpMode::Unavailable, |text| parse_thp(&text)),
        pi_model: board.as_deref().and_then(pi_model),
        instance_type: instance_type(
            files.firmware("sys/class/dmi/id/sys_vendor").as_deref(),
            files.firmware("sys/class/dmi/id/product_name").as_deref(),
        ),
        board,
        memory: memory(&files),
    }
}

/// Files relative to the detection root.
struct Root<'a>(&'a Path);

impl Root<'_> {
    fn text(&self, relative: &str) -> Option<String> {
        std::fs::read_to_string(self.0.join(relative)).ok()
    }

    fn firmware(&self, relative: &str) -> Option<String> {
        clean_firmware_string(&std::fs::read(self.0.join(relative)).ok()?)
    }
}

/// Features the kernel lists, confirmed by the live probe when there is one.
fn usable_simd(arch: Arch, flags: &[String], probes: &dyn Probes) -> Vec<SimdFeature> {
    let listed = simd_from_linux_flags(arch, flags);
    match probes.cpu_features() {
        Some(confirmed) => listed
            .into_iter()
            .filter(|feature| confirmed.contains(feature))
            .collect(),
        None => listed,
    }
}

fn cpu_info(arch: Arch, cpuinfo: CpuinfoFacts, usable: &[SimdFeature]) -> CpuInfo {
    let x86_64_level = (arch == Arch::Amd64)
        .then(|| x86_64_level(&without_unusable_x86_flags(&cpuinfo.flags, usable)));
    CpuInfo {
        vendor: cpuinfo.vendor,
        model: cpuinfo.model,
        implementer: cpuinfo.implementer,
        part: cpuinfo.part,
        logical_cpus: cpuinfo.logical_cpus.max(1),
        x86_64_level,
        flags: cpuinfo.flags,
    }
}

/// The level must not count a feature the OS disabled, so drop the flags of tracked
/// features that did not survive the probe.
fn without_unusable_x86_flags(flags: &[String], usable: &[SimdFeature]) -> Vec<String> {
    let unusable: Vec<&str> = SimdFeature::ALL
        .into_iter()
        .filter(|feature| !usable.contains(feature))
        .filter_map(x86_flag_of)
        .collect();
    flags
        .iter()
        .filter(|flag| !unusable.contains(&flag.as_str()))
        .cloned()
        .collect()
}

/// The largest coherency line any cache level reports, so padding avoids false sharing
/// at every level.
fn cache_line(files: &Root) -> u32 {
    (0..8)
        .filter_map(|index| {
            files.text(&format!(
                "sys/devices/system/cpu/cpu0/cache/index{index}/coherency_line_size"
            ))
        })
        .filter_map(|text| parse_cache_line(&text))
        .max()
        .unwrap_or(DEFAULT_CACHE_LINE)
}

/// The device tree model (boards), the Pi kernel's cpuinfo `Model`, or DMI product name.
fn board_name(files: &Root, cpuinfo: &CpuinfoFacts) -> Option<String> {
    files
        .firmware("proc/device-tree/model")
        .or_else(|| cpuinfo.board_model.clone())
        .or_else(|| files.firmware("sys/class/dmi/id/product_name"))
}

fn memory(files: &Root) -> MemoryInfo {
    let total_bytes = files
        .text("proc/meminfo")
        .and_then(|text| parse_meminfo_total(&text))
        .unwrap_or(0);
    let limit_bytes = cgroup_limit(files).filter(|limit| total_bytes == 0 || *limit < total_bytes);
    MemoryInfo {
        total_bytes,
        limit_bytes,
    }
}

/// The tightest memory limit on this process's cgroup and its ancestors, v2 then v1.
///
/// In a container with its own cgroup namespace `/proc/self/cgroup` says `0::/` and the
/// limit sits at the top of `/sys/fs/cgroup`; on a host the path names a slice, and a
/// parent slice may hold the lower limit, so every ancestor is read.
fn cgroup_limit(files: &Root) -> Option<u64> {
    let paths = parse_proc_self_cgroup(&files.text("proc/self/cgroup").unwrap_or_default());
    let v2 = tightest_limit(files, "sys/fs/cgroup", paths.v2.as_deref(), "memory.max");
    v2.or_else(|| {
        tightest_limit(
            files,
            "sys/fs/cgroup/memory",
            paths.v1_memory.as_deref(),
            "memory.limit_in_bytes",
        )
    })
}

fn tightest_limit(files: &Root, mount: &str, path: Option<&str>, file: &str) -> Option<u64> {
    ancestors(path.unwrap_or("/"))
        .iter()
        .filter_map(|dir| files.text(&format!("{mount}{dir}{file}")))
        .filter_map(|text| parse_cgroup_limit(&text))
        .min()
}

/// `/a/b` → `["/a/b/", "/a/", "/"]`.
fn ancestors(path: &str) -> Vec<String> {
    let parts: Vec<&str> = path.split('/').filter(|part| !part.is_empty()).collect();
    (0..=parts.len())
        .rev()
        .map(|depth| {
            let joined = parts[..depth].join("/");
            if joined.is_empty() {
                "/".to_string()
            } else {
                format!("/{joined}/")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestors_go_from_the_cgroup_up_to_the_root() {
        assert_eq!(ancestors("/a/b"), ["/a/b/", "/a/", "/"]);
        assert_eq!(ancestors("/"), ["/"]);
        assert_eq!(ancestors(""), ["/"]);
    }
}
