//! `sutra-storage detect` run as a process, the start-up guard as a pure function, and
//! `serve` refusing a configuration that contradicts the stored collection.

use std::process::{Command, Output};

use sutra_core::platform::{Arch, CpuInfo, MemoryInfo, Os, PlatformReport, SimdFeature, ThpMode};
use sutra_core::variant::VariantCatalog;
use sutra_storage::cli::guard::{EXIT_WRONG_CPU, compiled_features, missing_features, refusal};

fn sutra_storage(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sutra-storage"))
        .args(args)
        .env_remove("SUTRA_CONFIG")
        .output()
        .expect("the binary runs")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}, stderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn detect_json_is_a_platform_report_of_this_arch() {
    let text = stdout(&sutra_storage(&["detect", "--output", "json"]));
    let report: PlatformReport = serde_json::from_str(&text).unwrap();
    assert_eq!(report.arch, Arch::from_name(std::env::consts::ARCH));
    assert!(report.page_size >= 4096 && report.page_size.is_power_of_two());
    assert!(report.cpu.logical_cpus >= 1);
}

#[test]
fn detect_yaml_is_the_same_report() {
    let yaml = stdout(&sutra_storage(&["detect", "--output", "yaml"]));
    let json = stdout(&sutra_storage(&["detect", "--output", "json"]));
    let from_yaml: PlatformReport = serde_yaml::from_str(&yaml).unwrap();
    let from_json: PlatformReport = serde_json::from_str(&json).unwrap();
    assert_eq!(from_yaml, from_json);
    for field in ["arch:", "cpu:", "simd:", "pageSize:", "thp:", "memory:"] {
        assert!(yaml.contains(field), "{field} missing from\n{yaml}");
    }
}

#[test]
fn detect_table_shows_every_field_and_the_best_variant() {
    let table = stdout(&sutra_storage(&["detect"]));
    let json = stdout(&sutra_storage(&["detect", "--output", "json"]));
    let report: PlatformReport = serde_json::from_str(&json).unwrap();
    let best = VariantCatalog::builtin().best_for_host(&report).variant;
    let row = |key: &str| {
        table
            .lines()
            .find(|line| line.starts_with(key))
            .unwrap_or_else(|| panic!("no {key} row in\n{table}"))
            .trim_start_matches(key)
            .trim()
            .to_string()
    };
    assert_eq!(row("arch"), report.arch.label());
    assert_eq!(row("page size"), report.page_size.to_string());
    assert_eq!(row("logical cpus"), report.cpu.logical_cpus.to_string());
    assert_eq!(row("best variant"), best);
    for key in [
        "simd",
        "thp",
        "cache line",
        "memory bytes",
        "segment bytes",
        "compression",
    ] {
        row(key);
    }
}

#[test]
fn an_unknown_output_format_is_a_usage_error() {
    let output = sutra_storage(&["detect", "--output", "xml"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("xml") && stderr.contains("json"),
        "{stderr}"
    );
}

#[test]
fn serve_refuses_a_dimension_that_contradicts_the_collection() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut config =
        sutra_storage::storage::StoreConfig::new(&data, 4, sutra_storage::simd::Metric::Dot);
    config.segment_bytes = 1 << 20;
    sutra_storage::storage::Store::open(config)
        .unwrap()
        .close()
        .unwrap();

    let data = data.to_str().unwrap();
    let common = ["serve", "--data", data, "--grpc-addr", "127.0.0.1:0"];
    let output = sutra_storage(&[&common[..], &["--dimension", "768"]].concat());
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("dimension: 768 was given but the collection in")
            && stderr.contains("was created with 4"),
        "{stderr}"
    );

    let output = sutra_storage(&[&common[..], &["--metric", "l2"]].concat());
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("metric: l2 was given") && stderr.contains("created with dot"),
        "{stderr}"
    );
}

#[test]
fn serve_without_a_dimension_for_a_new_collection_says_how_to_give_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fresh");
    let output = sutra_storage(&["serve", "--data", data.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("dimension: required") && stderr.contains("--dimension N"),
        "{stderr}"
    );
}

fn x86_host(simd: &[SimdFeature]) -> PlatformReport {
    PlatformReport {
        arch: Arch::Amd64,
        os: Os::Linux,
        cpu: CpuInfo {
            vendor: "GenuineIntel".into(),
            model: "Intel Xeon".into(),
            logical_cpus: 8,
            x86_64_level: Some(3),
            ..CpuInfo::default()
        },
        simd: simd.to_vec(),
        sve_vector_bytes: None,
        page_size: 4096,
        cache_line: 64,
        thp: ThpMode::Madvise,
        pi_model: None,
        board: None,
        instance_type: None,
        memory: MemoryInfo {
            total_bytes: 32 << 30,
            limit_bytes: None,
        },
    }
}

const V3: [SimdFeature; 4] = [
    SimdFeature::Sse42,
    SimdFeature::Avx,
    SimdFeature::Avx2,
    SimdFeature::Fma,
];

#[test]
fn the_guard_names_the_missing_features_and_the_variant_to_use() {
    let compiled = [
        &V3[..],
        &[
            SimdFeature::Avx512f,
            SimdFeature::Avx512bw,
            SimdFeature::Avx512vl,
        ],
    ]
    .concat();
    let host = x86_host(&V3);
    assert_eq!(
        missing_features(&compiled, &host),
        vec![
            SimdFeature::Avx512f,
            SimdFeature::Avx512bw,
            SimdFeature::Avx512vl
        ]
    );
    let message = refusal("x86-64-v4", &compiled, &host, VariantCatalog::builtin()).unwrap();
    assert_eq!(
        message,
        "error: this sutra-storage binary was built for x86-64-v4 (sse42, avx, avx2, fma, avx512f, avx512bw, avx512vl) but this CPU lacks: avx512f, avx512bw, avx512vl; use the x86-64-v3 image variant"
    );
}

#[test]
fn the_guard_lets_a_binary_run_on_a_cpu_with_every_compiled_feature() {
    let host = x86_host(&V3);
    assert_eq!(
        refusal("x86-64-v3", &V3, &host, VariantCatalog::builtin()),
        None
    );
    assert_eq!(
        refusal("universal", &[], &host, VariantCatalog::builtin()),
        None
    );
}

#[test]
fn an_arm_build_on_a_cpu_without_sve_is_refused() {
    let mut host = x86_host(&[]);
    host.arch = Arch::Arm64;
    host.simd = vec![SimdFeature::Neon, SimdFeature::Dotprod, SimdFeature::Lse];
    // A c7g instance whose CPU shows no SVE: the rules pick graviton3, whose fallback
    // graviton2 is what this CPU can run.
    host.instance_type = Some("c7g.large".into());
    let compiled = [
        SimdFeature::Neon,
        SimdFeature::Dotprod,
        SimdFeature::Lse,
        SimdFeature::Sve,
        SimdFeature::I8mm,
    ];
    let message = refusal("graviton3", &compiled, &host, VariantCatalog::builtin()).unwrap();
    assert!(message.contains("lacks: sve, i8mm;"), "{message}");
    assert!(
        message.ends_with("use the graviton2 image variant"),
        "{message}"
    );
}

#[test]
fn this_test_binary_passes_its_own_guard() {
    let json = stdout(&sutra_storage(&["detect", "--output", "json"]));
    let report: PlatformReport = serde_json::from_str(&json).unwrap();
    assert!(missing_features(&compiled_features(), &report).is_empty());
    assert_eq!(EXIT_WRONG_CPU, 3);
}
