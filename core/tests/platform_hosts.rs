//! One test per fixture host: the whole detected `PlatformReport` and the whole derived
//! `PlatformConfig`, by struct equality. Fixtures live in `tests/fixtures/hosts/<host>/`
//! as a filesystem root (`proc/`, `sys/`) plus `probes.json` for the live-only facts.

use std::path::{Path, PathBuf};

use sutra_core::platform::fixture::{detect_with_files, linux_host};
use sutra_core::platform::{
    Arch, CpuInfo, FixedProbes, LiveProbes, MemoryInfo, OptLevel, Os, PlatformConfig,
    PlatformReport, Probes, SimdFeature, ThpMode, detect, detect_from, macos,
};
use sutra_core::variant::VariantCatalog;
use sutra_core::vector::ResolvedCompression;

use SimdFeature::*;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;

/// x86 `flags` line of the `ICX` fixture CPUs, as the kernel prints it.
const ICX: &str = "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush \
    mmx fxsr sse sse2 ss ht syscall nx pdpe1gb rdtscp lm constant_tsc rep_good nopl \
    xtopology nonstop_tsc cpuid aperfmperf tsc_known_freq pni pclmulqdq ssse3 fma \
    cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave avx \
    f16c rdrand hypervisor lahf_lm abm 3dnowprefetch invpcid_single ssbd ibrs ibpb \
    stibp ibrs_enhanced fsgsbase tsc_adjust bmi1 avx2 smep bmi2 erms invpcid avx512f \
    avx512dq rdseed adx smap avx512ifma clflushopt clwb avx512cd sha_ni avx512bw \
    avx512vl xsaveopt xsavec xgetbv1 xsaves wbnoinvd ida arat avx512vbmi pku ospke \
    avx512_vbmi2 gfni vaes vpclmulqdq avx512_vnni avx512_bitalg tme avx512_vpopcntdq \
    rdpid md_clear flush_l1d arch_capabilities";
/// x86 `flags` line of the `ROME` fixture CPUs, as the kernel prints it.
const ROME: &str = "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush \
    mmx fxsr sse sse2 ht syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc \
    rep_good nopl nonstop_tsc cpuid extd_apicid aperfmperf rapl pni pclmulqdq \
    monitor ssse3 fma cx16 sse4_1 sse4_2 movbe popcnt aes xsave avx f16c rdrand \
    lahf_lm cmp_legacy svm extapic cr8_legacy abm sse4a misalignsse 3dnowprefetch \
    osvw ibs skinit wdt tce topoext perfctr_core perfctr_nb bpext perfctr_llc mwaitx \
    cpb cat_l3 cdp_l3 hw_pstate ssbd mba ibrs ibpb stibp vmmcall fsgsbase bmi1 avx2 \
    smep bmi2 cqm rdt_a rdseed adx smap clflushopt clwb sha_ni xsaveopt xsavec \
    xgetbv1 xsaves cqm_llc cqm_occup_llc cqm_mbm_total cqm_mbm_local clzero irperf \
    xsaveerptr rdpru wbnoinvd amd_ppin arat npt lbrv svm_lock nrip_save tsc_scale \
    vmcb_clean flushbyasid decodeassists pausefilter pfthreshold avic \
    v_vmsave_vmload vgif v_spec_ctrl umip rdpid overflow_recov succor smca sev \
    sev_es";
/// x86 `flags` line of the `MILAN` fixture CPUs, as the kernel prints it.
const MILAN: &str = "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush \
    mmx fxsr sse sse2 ht syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc \
    rep_good nopl nonstop_tsc cpuid extd_apicid aperfmperf tsc_known_freq pni \
    pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx \
    f16c rdrand hypervisor lahf_lm cmp_legacy cr8_legacy abm sse4a misalignsse \
    3dnowprefetch topoext perfctr_core invpcid_single ssbd ibrs ibpb stibp vmmcall \
    fsgsbase bmi1 avx2 smep bmi2 invpcid rdseed adx smap clflushopt clwb sha_ni \
    xsaveopt xsavec xgetbv1 clzero xsaveerptr rdpru wbnoinvd arat npt nrip_save vaes \
    vpclmulqdq rdpid";
/// arm64 `Features` line of the `N1` fixture CPUs, as the kernel prints it.
const N1: &str = "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm \
    lrcpc dcpop asimddp ssbs";
/// arm64 `Features` line of the `V1` fixture CPUs, as the kernel prints it.
const V1: &str = "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm \
    jscvt fcma lrcpc dcpop sha3 sm3 sm4 asimddp sha512 sve asimdfhm dit uscat ilrcpc \
    flagm ssbs paca pacg dcpodp svei8mm svebf16 i8mm bf16 dgh rng";
/// arm64 `Features` line of the `V2` fixture CPUs, as the kernel prints it.
const V2: &str = "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm \
    jscvt fcma lrcpc dcpop sha3 sm3 sm4 asimddp sha512 sve asimdfhm dit uscat ilrcpc \
    flagm ssbs sb paca pacg dcpodp sve2 sveaes svepmull svebitperm svesha3 svesm4 \
    flagm2 frint svei8mm svebf16 i8mm bf16 dgh rng bti";
/// arm64 `Features` line of the `A72` fixture CPUs, as the kernel prints it.
const A72: &str = "fp asimd evtstrm crc32 cpuid";
/// arm64 `Features` line of the `A76` fixture CPUs, as the kernel prints it.
const A76: &str = "fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm \
    lrcpc dcpop asimddp";
/// arm64 `Features` line of the `A53` fixture CPUs, as the kernel prints it.
const A53: &str = "fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid";

fn fixture(host: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hosts")
        .join(host)
}

fn fixture_probes(host: &str) -> FixedProbes {
    let path = fixture(host).join("probes.json");
    let text = std::fs::read_to_string(&path).expect("fixture has probes.json");
    serde_json::from_str(&text).expect("probes.json matches FixedProbes")
}

fn detect_fixture(host: &str) -> PlatformReport {
    detect_from(&fixture(host), &fixture_probes(host))
}

fn derive(report: &PlatformReport) -> PlatformConfig {
    PlatformConfig::derive(report, VariantCatalog::builtin())
}

/// Probes with 4 KiB pages, no SVE, and these CPU features confirmed (`None`: no probe).
fn probes(cpu_features: Option<Vec<SimdFeature>>) -> FixedProbes {
    FixedProbes {
        page_size: 4096,
        cpu_features,
        sve_vector_bytes: None,
    }
}

/// Detects the fixture host and checks the whole report and the whole derived config.
fn assert_host(host: &str, report: PlatformReport, config: PlatformConfig) {
    let detected = detect_fixture(host);
    assert_eq!(detected, report, "{host}: report");
    assert_eq!(derive(&detected), config, "{host}: config");
}

/// The builtin catalog's pick for `report` explains itself with `needle`.
fn assert_selection_reason(report: &PlatformReport, needle: &str) {
    let selection = VariantCatalog::builtin().best_for_host(report);
    assert!(selection.reason.contains(needle), "{}", selection.reason);
}

/// The kernel's flag words, sorted and deduplicated as `CpuInfo::flags` holds them.
fn sorted_flags(line: &str) -> Vec<String> {
    let mut flags: Vec<String> = line.split_whitespace().map(str::to_string).collect();
    flags.sort();
    flags.dedup();
    flags
}

const X86_AVX512: [SimdFeature; 10] = [
    Sse42, Avx, Avx2, Fma, Avx512f, Avx512bw, Avx512vl, Avx512dq, Avx512cd, Avx512vnni,
];
const X86_AVX2: [SimdFeature; 4] = [Sse42, Avx, Avx2, Fma];

/// An x86 CPU as the fixtures show it.
fn x86_cpu(vendor: &str, model: &str, logical_cpus: u32, level: u8, flags: &str) -> CpuInfo {
    CpuInfo {
        vendor: vendor.into(),
        model: model.into(),
        implementer: None,
        part: None,
        logical_cpus,
        x86_64_level: Some(level),
        flags: sorted_flags(flags),
    }
}

/// An Arm Ltd core (implementer 0x41) as the 4-CPU fixtures show it.
fn arm_cpu(model: &str, part: u32, features: &str) -> CpuInfo {
    CpuInfo {
        vendor: "ARM".into(),
        model: model.into(),
        implementer: Some(0x41),
        part: Some(part),
        logical_cpus: 4,
        x86_64_level: None,
        flags: sorted_flags(features),
    }
}

/// The common Linux host (see [`linux_host`]) with its memory in KiB, as `meminfo` gives it.
fn linux(arch: Arch, cpu: CpuInfo, simd: &[SimdFeature], total_kib: u64) -> PlatformReport {
    linux_host(arch, cpu, simd, total_kib * KIB)
}

/// A Linux cloud instance: the firmware names the instance type as the board too.
fn instance(instance_type: &str, host: PlatformReport) -> PlatformReport {
    PlatformReport {
        board: Some(instance_type.into()),
        instance_type: Some(instance_type.into()),
        ..host
    }
}

/// The config of a host with 4 KiB pages and memory to spare: 64 MiB segments on huge
/// pages, no compression, 64-byte cache lines.
fn roomy(best_variant: &str, opt_level: OptLevel, simd_alignment: u32) -> PlatformConfig {
    PlatformConfig {
        page_size: 4096,
        simd_alignment,
        segment_bytes: 64 * MIB,
        huge_pages: true,
        compression: ResolvedCompression::None,
        best_variant: best_variant.into(),
        opt_level,
        cache_line: 64,
    }
}

/// The config of a host short of memory: int8 compression and smaller segments.
fn lean(best_variant: &str, segment_bytes: u64, huge_pages: bool) -> PlatformConfig {
    PlatformConfig {
        segment_bytes,
        huge_pages,
        compression: ResolvedCompression::Int8,
        ..roomy(best_variant, OptLevel::Simd128, 16)
    }
}

#[test]
fn intel_xeon_with_avx512_on_ec2_m6i() {
    let cpu = x86_cpu(
        "GenuineIntel",
        "Intel(R) Xeon(R) Platinum 8375C CPU @ 2.90GHz",
        4,
        4,
        ICX,
    );
    assert_host(
        "intel-xeon-avx512",
        instance(
            "m6i.xlarge",
            linux(Arch::Amd64, cpu, &X86_AVX512, 15_928_760),
        ),
        roomy("x86-64-v4", OptLevel::Simd512, 64),
    );
}

#[test]
fn intel_xeon_whose_os_disabled_avx512_falls_back_to_level_3() {
    let report = detect_from(
        &fixture("intel-xeon-avx512"),
        &probes(Some(X86_AVX2.to_vec())),
    );
    assert_eq!(report.simd, X86_AVX2);
    assert_eq!(report.cpu.x86_64_level, Some(3));
    let config = derive(&report);
    assert_eq!(config.best_variant, "x86-64-v3");
    assert_eq!(config.opt_level, OptLevel::Simd256);
    assert_eq!(config.simd_alignment, 32);
    assert_selection_reason(&report, "x86-64-v4 needs avx512f");
}

#[test]
fn amd_epyc_with_avx2_and_no_avx512_on_a_cgroup_v1_host() {
    let cpu = x86_cpu(
        "AuthenticAMD",
        "AMD EPYC 7402P 24-Core Processor",
        4,
        3,
        ROME,
    );
    // cgroup v1 reports "unlimited" as 9223372036854771712: no limit.
    assert_host(
        "amd-epyc-avx2",
        PlatformReport {
            thp: ThpMode::Always,
            board: Some("PowerEdge R6515".into()),
            ..linux(Arch::Amd64, cpu, &X86_AVX2, 65_682_592)
        },
        roomy("x86-64-v3", OptLevel::Simd256, 32),
    );
}

#[test]
fn graviton2_on_ec2_m6g() {
    let cpu = arm_cpu("Neoverse-N1", 0xd0c, N1);
    assert_host(
        "graviton2",
        instance(
            "m6g.xlarge",
            linux(Arch::Arm64, cpu, &[Neon, Dotprod, Lse], 15_847_336),
        ),
        roomy("graviton2", OptLevel::Simd128, 16),
    );
}

#[test]
fn graviton3_on_ec2_m7g_with_a_64k_page_kernel() {
    let cpu = arm_cpu("Neoverse-V1", 0xd40, V1);
    let simd = [Neon, Dotprod, I8mm, Sve, Lse];
    // 256-bit SVE sets the alignment; with 64 KiB pages a huge page is 512 MiB, larger
    // than a 64 MiB segment, so no MADV_HUGEPAGE.
    assert_host(
        "graviton3",
        PlatformReport {
            sve_vector_bytes: Some(32),
            page_size: 64 * KIB,
            ..instance("m7g.xlarge", linux(Arch::Arm64, cpu, &simd, 15_866_368))
        },
        PlatformConfig {
            page_size: 64 * KIB,
            huge_pages: false,
            ..roomy("graviton3", OptLevel::Simd256, 32)
        },
    );
}

#[test]
fn graviton3_guest_without_sve_falls_back_to_graviton2() {
    let guest = FixedProbes {
        sve_vector_bytes: Some(32),
        ..probes(Some(vec![Neon, Dotprod, I8mm, Lse]))
    };
    let report = detect_from(&fixture("graviton3"), &guest);
    assert_eq!(report.simd, [Neon, Dotprod, I8mm, Lse]);
    assert_eq!(report.sve_vector_bytes, None);
    let config = derive(&report);
    assert_eq!(config.best_variant, "graviton2");
    assert_eq!(config.simd_alignment, 16);
}

#[test]
fn graviton4_on_ec2_r8g() {
    let cpu = arm_cpu("Neoverse-V2", 0xd4f, V2);
    let simd = [Neon, Dotprod, I8mm, Sve, Sve2, Lse];
    // Graviton4's SVE2 vectors are 128 bits: no wider than NEON.
    assert_host(
        "graviton4",
        PlatformReport {
            sve_vector_bytes: Some(16),
            thp: ThpMode::Always,
            ..instance("r8g.xlarge", linux(Arch::Arm64, cpu, &simd, 32_330_452))
        },
        roomy("graviton4", OptLevel::Simd128, 16),
    );
}

#[test]
fn raspberry_pi_4() {
    let cpu = arm_cpu("Cortex-A72", 0xd08, A72);
    // The Pi 4 kernel exposes no cache sysfs: the default 64-byte cache line applies.
    assert_host(
        "raspberry-pi-4",
        PlatformReport {
            pi_model: Some(4),
            board: Some("Raspberry Pi 4 Model B Rev 1.4".into()),
            ..linux(Arch::Arm64, cpu, &[Neon], 3_880_176)
        },
        lean("pi4", 16 * MIB, true),
    );
}

#[test]
fn raspberry_pi_5_with_a_16k_page_kernel() {
    let cpu = arm_cpu("Cortex-A76", 0xd0b, A76);
    // With 16 KiB pages a huge page is 32 MiB, more than a 16 MiB segment of this
    // memory-poor board: no MADV_HUGEPAGE.
    assert_host(
        "raspberry-pi-5",
        PlatformReport {
            page_size: 16 * KIB,
            pi_model: Some(5),
            board: Some("Raspberry Pi 5 Model B Rev 1.0".into()),
            ..linux(Arch::Arm64, cpu, &[Neon, Dotprod, Lse], 8_245_856)
        },
        PlatformConfig {
            page_size: 16 * KIB,
            ..lean("pi5", 16 * MIB, false)
        },
    );
}

#[test]
fn generic_cortex_a53_board_runs_universal() {
    let cpu = arm_cpu("Cortex-A53", 0xd03, A53);
    assert_host(
        "cortex-a53-board",
        PlatformReport {
            thp: ThpMode::Never,
            board: Some("Pine64 Rock64".into()),
            ..linux(Arch::Arm64, cpu, &[Neon], 2_031_888)
        },
        lean("universal", 4 * MIB, false),
    );
}

#[test]
fn apple_m2_from_sysctl_runs_universal() {
    let text = std::fs::read_to_string(fixture("apple-m2").join("sysctl.txt")).unwrap();
    let report = macos::parse_sysctl(&text);
    assert_eq!(
        report,
        PlatformReport {
            arch: Arch::Arm64,
            os: Os::Macos,
            cpu: CpuInfo {
                vendor: "Apple".into(),
                model: "Apple M2".into(),
                implementer: None,
                part: None,
                logical_cpus: 8,
                x86_64_level: None,
                flags: vec![
                    "hw.optional.AdvSIMD".into(),
                    "hw.optional.AdvSIMD_HPFPCvt".into(),
                    "hw.optional.arm.FEAT_AES".into(),
                    "hw.optional.arm.FEAT_AFP".into(),
                    "hw.optional.arm.FEAT_BF16".into(),
                    "hw.optional.arm.FEAT_BTI".into(),
                    "hw.optional.arm.FEAT_CSV2".into(),
                    "hw.optional.arm.FEAT_CSV3".into(),
                    "hw.optional.arm.FEAT_DIT".into(),
                    "hw.optional.arm.FEAT_DPB".into(),
                    "hw.optional.arm.FEAT_DPB2".into(),
                    "hw.optional.arm.FEAT_DotProd".into(),
                    "hw.optional.arm.FEAT_ECV".into(),
                    "hw.optional.arm.FEAT_FCMA".into(),
                    "hw.optional.arm.FEAT_FHM".into(),
                    "hw.optional.arm.FEAT_FP16".into(),
                    "hw.optional.arm.FEAT_FRINTTS".into(),
                    "hw.optional.arm.FEAT_FlagM".into(),
                    "hw.optional.arm.FEAT_FlagM2".into(),
                    "hw.optional.arm.FEAT_I8MM".into(),
                    "hw.optional.arm.FEAT_JSCVT".into(),
                    "hw.optional.arm.FEAT_LRCPC".into(),
                    "hw.optional.arm.FEAT_LRCPC2".into(),
                    "hw.optional.arm.FEAT_LSE".into(),
                    "hw.optional.arm.FEAT_LSE2".into(),
                    "hw.optional.arm.FEAT_PAuth".into(),
                    "hw.optional.arm.FEAT_PMULL".into(),
                    "hw.optional.arm.FEAT_RDM".into(),
                    "hw.optional.arm.FEAT_SB".into(),
                    "hw.optional.arm.FEAT_SHA1".into(),
                    "hw.optional.arm.FEAT_SHA256".into(),
                    "hw.optional.arm.FEAT_SHA3".into(),
                    "hw.optional.arm.FEAT_SHA512".into(),
                    "hw.optional.arm.FEAT_SSBS".into(),
                    "hw.optional.arm.FP_SyncExceptions".into(),
                    "hw.optional.arm64".into(),
                    "hw.optional.armv8_1_atomics".into(),
                    "hw.optional.armv8_2_fhm".into(),
                    "hw.optional.armv8_2_sha3".into(),
                    "hw.optional.armv8_2_sha512".into(),
                    "hw.optional.armv8_3_compnum".into(),
                    "hw.optional.armv8_crc32".into(),
                    "hw.optional.armv8_gpi".into(),
                    "hw.optional.floatingpoint".into(),
                    "hw.optional.neon".into(),
                    "hw.optional.neon_fp16".into(),
                    "hw.optional.neon_hpfp".into(),
                    "hw.optional.ucnormal_mem".into(),
                ],
            },
            simd: vec![Neon, Dotprod, I8mm, Lse],
            sve_vector_bytes: None,
            page_size: 16 * KIB,
            cache_line: 128,
            thp: ThpMode::Unavailable,
            pi_model: None,
            board: Some("Mac14,2".into()),
            instance_type: None,
            memory: MemoryInfo {
                total_bytes: 8 * GIB,
                limit_bytes: None,
            },
        }
    );
    assert_eq!(
        derive(&report),
        PlatformConfig {
            page_size: 16 * KIB,
            huge_pages: false,
            cache_line: 128,
            ..roomy("universal", OptLevel::Simd128, 16)
        }
    );
    assert_selection_reason(&report, "Apple Silicon");
}

#[test]
fn container_with_a_cgroup_v2_memory_limit() {
    let cpu = x86_cpu("AuthenticAMD", "AMD EPYC 7R13 Processor", 2, 3, MILAN);
    let host = instance("m6a.large", linux(Arch::Amd64, cpu, &X86_AVX2, 7_908_568));
    // The 1 GiB limit, not the 7.5 GiB host, sizes everything.
    assert_host(
        "container-cgroup-limit",
        PlatformReport {
            memory: MemoryInfo {
                limit_bytes: Some(GIB),
                ..host.memory
            },
            ..host
        },
        PlatformConfig {
            simd_alignment: 32,
            opt_level: OptLevel::Simd256,
            ..lean("x86-64-v3", 4 * MIB, false)
        },
    );
}

#[test]
fn empty_root_degrades_to_safe_defaults() {
    let report = detect_with_files(&[]);
    assert_eq!(
        report,
        PlatformReport {
            arch: Arch::Other,
            os: Os::Linux,
            cpu: CpuInfo {
                logical_cpus: 1,
                ..CpuInfo::default()
            },
            simd: vec![],
            sve_vector_bytes: None,
            page_size: 4096,
            cache_line: 64,
            thp: ThpMode::Unavailable,
            pi_model: None,
            board: None,
            instance_type: None,
            memory: MemoryInfo::default(),
        }
    );
    let config = derive(&report);
    assert_eq!(config.best_variant, "universal");
    assert_eq!(config.opt_level, OptLevel::Baseline);
    assert_eq!(config.compression, ResolvedCompression::Int8);
}

#[test]
fn cgroup_limit_on_a_parent_slice_applies_to_the_process() {
    let report = detect_with_files(&[
        ("proc/meminfo", "MemTotal:       16000000 kB\n"),
        ("proc/self/cgroup", "0::/grid.slice/node-a.scope\n"),
        ("sys/fs/cgroup/grid.slice/memory.max", "2147483648\n"),
        ("sys/fs/cgroup/grid.slice/node-a.scope/memory.max", "max\n"),
    ]);
    assert_eq!(report.memory.limit_bytes, Some(2 * GIB));
    assert_eq!(report.memory.usable_bytes(), 2 * GIB);
}

#[test]
fn live_detection_on_this_machine_agrees_with_the_live_probes() {
    let report = detect();
    assert_eq!(report.arch, Arch::current());
    assert_eq!(report.page_size, LiveProbes.page_size());
    assert!(report.cache_line >= 16, "cache line {}", report.cache_line);
    if let Some(live) = LiveProbes.cpu_features() {
        assert!(
            report.simd.iter().all(|feature| live.contains(feature)),
            "{:?} not all confirmed by {live:?}",
            report.simd
        );
    }
    let config = derive(&report);
    assert_eq!(config.page_size, report.page_size);
    assert!(
        VariantCatalog::builtin()
            .missing_features(&config.best_variant, &report)
            .is_empty()
    );
}
