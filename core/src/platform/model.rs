//! What hardware detection found: the [`PlatformReport`].
//!
//! This is the shared contract between detection (this module), the variant rules, the
//! storage node (which serves it over gRPC and writes it into `StorageNode.status.platform`)
//! and the operator. Every field is plain data so that it serialises the same everywhere
//! and yields a structural CRD schema (no untagged enums, no maps of enums).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// CPU architecture, named as Kubernetes names it (`kubernetes.io/arch`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    Amd64,
    Arm64,
    /// Anything else (riscv64, s390x, ...); only the `universal` variant applies.
    Other,
}

impl Arch {
    /// The value of the `kubernetes.io/arch` label.
    pub fn label(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
            Arch::Other => "other",
        }
    }

    /// Parses a `kubernetes.io/arch` label value or a `uname -m` machine name.
    pub fn from_name(name: &str) -> Arch {
        match name.trim() {
            "amd64" | "x86_64" => Arch::Amd64,
            "arm64" | "aarch64" => Arch::Arm64,
            _ => Arch::Other,
        }
    }

    /// The architecture this binary was compiled for.
    pub fn current() -> Arch {
        Arch::from_name(std::env::consts::ARCH)
    }
}

/// Operating system family the report was taken on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Os {
    Linux,
    Macos,
    Other,
}

/// SIMD and atomics features the variant rules and the kernels care about.
///
/// Serialised with the names Linux uses in `/proc/cpuinfo` flags (x86) or Features (arm64).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum SimdFeature {
    Sse42,
    Avx,
    Avx2,
    Fma,
    Avx512f,
    Avx512bw,
    Avx512vl,
    Avx512dq,
    Avx512cd,
    Avx512vnni,
    /// Advanced SIMD (NEON); Linux calls it `asimd`.
    Neon,
    /// Dot-product instructions (`asimddp`).
    Dotprod,
    /// Int8 matrix multiply (`i8mm`).
    I8mm,
    Sve,
    Sve2,
    /// Large System Extensions atomics (`atomics`).
    Lse,
}

/// Transparent huge page mode, from `/sys/kernel/mm/transparent_hugepage/enabled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ThpMode {
    Always,
    Madvise,
    Never,
    /// The kernel has no THP support or the file could not be read.
    Unavailable,
}

/// The CPU as identified.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CpuInfo {
    /// `GenuineIntel`, `AuthenticAMD`, `ARM`, `Apple`, ...
    pub vendor: String,
    /// Human-readable model: x86 `model name`, the ARM core name (e.g. `Neoverse-V1`), or
    /// Apple's brand string.
    pub model: String,
    /// ARM `CPU implementer` (e.g. 0x41 for Arm Ltd), when the CPU is ARM.
    pub implementer: Option<u32>,
    /// ARM `CPU part` (e.g. 0xd40 for Neoverse-V1), when the CPU is ARM.
    pub part: Option<u32>,
    /// Logical CPUs seen by the OS.
    pub logical_cpus: u32,
    /// x86-64 psABI microarchitecture level 1..=4; absent on other architectures.
    pub x86_64_level: Option<u8>,
    /// Raw feature flags as the OS printed them (cpuinfo `flags`/`Features`, or the
    /// `hw.optional.*` sysctl names set to 1), sorted. Used for NFD-style labels.
    #[serde(default)]
    pub flags: Vec<String>,
}

/// Memory: physical total and the container (cgroup) limit if one applies.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemoryInfo {
    pub total_bytes: u64,
    /// The cgroup v2 `memory.max` or v1 `memory.limit_in_bytes`, when it is lower than the
    /// physical total (an unlimited cgroup reports no limit).
    pub limit_bytes: Option<u64>,
}

impl MemoryInfo {
    /// Memory this process may really use: the container limit when there is one.
    pub fn usable_bytes(&self) -> u64 {
        self.limit_bytes
            .map_or(self.total_bytes, |limit| limit.min(self.total_bytes))
    }
}

/// Everything hardware detection found on one host.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlatformReport {
    pub arch: Arch,
    pub os: Os,
    pub cpu: CpuInfo,
    /// Usable SIMD features (CPU and OS support both), sorted.
    pub simd: Vec<SimdFeature>,
    /// SVE vector length in bytes, when SVE is present (prctl on Linux).
    pub sve_vector_bytes: Option<u32>,
    /// Page size in bytes as the kernel runs it (sysconf), not as the platform is rumoured.
    pub page_size: u64,
    /// Cache line size in bytes.
    pub cache_line: u32,
    pub thp: ThpMode,
    /// Raspberry Pi model number (4, 5) when the device tree names one.
    pub pi_model: Option<u8>,
    /// The board or machine model as the firmware names it (`/proc/device-tree/model`,
    /// DMI `product_name`, Apple `hw.model`).
    pub board: Option<String>,
    /// Cloud instance type (e.g. `m7g.large`) when the firmware exposes it.
    pub instance_type: Option<String>,
    pub memory: MemoryInfo,
}

impl PlatformReport {
    pub fn has(&self, feature: SimdFeature) -> bool {
        self.simd.contains(&feature)
    }

    /// One line for the PLATFORM column of `kubectl get storagenodes` and `agent status`:
    /// `<cpu model> <arch> <widest simd> <page size>`; the instance type or board stands in
    /// for a CPU model the OS does not name.
    pub fn summary(&self) -> String {
        let model = [
            Some(self.cpu.model.as_str()),
            self.instance_type.as_deref(),
            self.board.as_deref(),
        ]
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|name| !name.is_empty())
        .unwrap_or("unknown-cpu");
        format!(
            "{model} {} {} {}",
            self.arch.label(),
            self.widest_simd(),
            page_size_name(self.page_size)
        )
    }

    /// The widest SIMD family the host offers, by name.
    fn widest_simd(&self) -> &'static str {
        use SimdFeature::*;
        [
            (Avx512f, "avx512"),
            (Sve2, "sve2"),
            (Sve, "sve"),
            (Avx2, "avx2"),
            (Neon, "neon"),
            (Sse42, "sse4.2"),
        ]
        .into_iter()
        .find(|(feature, _)| self.has(*feature))
        .map_or("scalar", |(_, name)| name)
    }
}

impl SimdFeature {
    /// Every feature, in declaration order.
    pub const ALL: [SimdFeature; 16] = [
        SimdFeature::Sse42,
        SimdFeature::Avx,
        SimdFeature::Avx2,
        SimdFeature::Fma,
        SimdFeature::Avx512f,
        SimdFeature::Avx512bw,
        SimdFeature::Avx512vl,
        SimdFeature::Avx512dq,
        SimdFeature::Avx512cd,
        SimdFeature::Avx512vnni,
        SimdFeature::Neon,
        SimdFeature::Dotprod,
        SimdFeature::I8mm,
        SimdFeature::Sve,
        SimdFeature::Sve2,
        SimdFeature::Lse,
    ];

    /// The serialised name (`sse42`, `avx512f`, `neon`, ...), as the variant catalog spells it.
    pub fn name(self) -> &'static str {
        match self {
            SimdFeature::Sse42 => "sse42",
            SimdFeature::Avx => "avx",
            SimdFeature::Avx2 => "avx2",
            SimdFeature::Fma => "fma",
            SimdFeature::Avx512f => "avx512f",
            SimdFeature::Avx512bw => "avx512bw",
            SimdFeature::Avx512vl => "avx512vl",
            SimdFeature::Avx512dq => "avx512dq",
            SimdFeature::Avx512cd => "avx512cd",
            SimdFeature::Avx512vnni => "avx512vnni",
            SimdFeature::Neon => "neon",
            SimdFeature::Dotprod => "dotprod",
            SimdFeature::I8mm => "i8mm",
            SimdFeature::Sve => "sve",
            SimdFeature::Sve2 => "sve2",
            SimdFeature::Lse => "lse",
        }
    }

    /// Parses a serialised name (see [`SimdFeature::name`]).
    pub fn from_name(name: &str) -> Option<SimdFeature> {
        SimdFeature::ALL
            .into_iter()
            .find(|feature| feature.name() == name)
    }

    /// The architecture that has this feature.
    pub fn arch(self) -> Arch {
        match self {
            SimdFeature::Neon
            | SimdFeature::Dotprod
            | SimdFeature::I8mm
            | SimdFeature::Sve
            | SimdFeature::Sve2
            | SimdFeature::Lse => Arch::Arm64,
            _ => Arch::Amd64,
        }
    }

    /// The Node Feature Discovery name, the suffix of `feature.node.kubernetes.io/cpu-cpuid.<name>`.
    pub fn nfd_name(self) -> &'static str {
        match self {
            SimdFeature::Sse42 => "SSE42",
            SimdFeature::Avx => "AVX",
            SimdFeature::Avx2 => "AVX2",
            SimdFeature::Fma => "FMA3",
            SimdFeature::Avx512f => "AVX512F",
            SimdFeature::Avx512bw => "AVX512BW",
            SimdFeature::Avx512vl => "AVX512VL",
            SimdFeature::Avx512dq => "AVX512DQ",
            SimdFeature::Avx512cd => "AVX512CD",
            SimdFeature::Avx512vnni => "AVX512VNNI",
            SimdFeature::Neon => "ASIMD",
            SimdFeature::Dotprod => "ASIMDDP",
            SimdFeature::I8mm => "I8MM",
            SimdFeature::Sve => "SVE",
            SimdFeature::Sve2 => "SVE2",
            SimdFeature::Lse => "ATOMICS",
        }
    }

    /// Parses a Node Feature Discovery cpuid name (see [`SimdFeature::nfd_name`]).
    pub fn from_nfd_name(name: &str) -> Option<SimdFeature> {
        SimdFeature::ALL
            .into_iter()
            .find(|feature| feature.nfd_name() == name)
    }

    /// Whether Node Feature Discovery publishes this feature with its default configuration.
    ///
    /// NFD's default `attributeBlacklist` hides baseline x86 flags (SSE, SSE2, ..., SSE42)
    /// because nearly every CPU has them, so a Node's labels never show SSE4.2 even when the
    /// CPU has it. Label checks must not count such a feature as missing.
    pub fn nfd_published_by_default(self) -> bool {
        self != SimdFeature::Sse42
    }
}

fn page_size_name(bytes: u64) -> String {
    if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{}KiB", bytes / 1024)
    } else {
        format!("{bytes}B")
    }
}
