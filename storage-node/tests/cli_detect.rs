//! `sutra-storage detect` run as a process, and `serve` refusing a configuration that
//! contradicts the stored collection. (The start-up guard is tested by `make test-guard`,
//! on emulated CPUs that lack a variant's features.)

mod server_support;

use std::process::Output;

use server_support::{assert_contains_all, sutra_storage_command};

use sutra_core::platform::{Arch, PlatformReport};
use sutra_core::variant::VariantCatalog;

fn sutra_storage(args: &[&str]) -> Output {
    sutra_storage_command()
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

/// Runs `args`, which must exit with `code` and a stderr that contains every fragment.
fn fails_with(args: &[&str], code: i32, fragments: &[&str]) {
    let output = sutra_storage(args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "{stderr}");
    assert_contains_all(&stderr, fragments);
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
    assert_eq!(row("built as"), sutra_storage::config::build_variant());
    // The child runs on the same CPU as this test (under the same emulated CPU when a
    // runner is set), so dispatch must pick the same kernels in both.
    assert_eq!(row("kernels"), sutra_storage::simd::kernels().isa);
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
fn detect_json_holds_everything_the_table_shows() {
    let table = stdout(&sutra_storage(&["detect"]));
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&sutra_storage(&["detect", "--output", "json"]))).unwrap();
    let row = |key: &str| {
        let line = table
            .lines()
            .find(|line| line.starts_with(&format!("{key}  ")))
            .unwrap_or_else(|| panic!("no {key} row in\n{table}"));
        line[key.len()..].trim().to_string()
    };
    let text = |value: &serde_json::Value| match value {
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    for (key, pointer) in [
        ("summary", "/summary"),
        ("built as", "/builtVariant"),
        ("kernels", "/kernels"),
        ("best variant", "/bestVariant"),
        ("why", "/bestVariantReason"),
        ("simd alignment", "/config/simdAlignment"),
        ("segment bytes", "/config/segmentBytes"),
        ("huge pages", "/config/hugePages"),
        ("compression", "/config/compression"),
        ("page size", "/pageSize"),
    ] {
        let value = json
            .pointer(pointer)
            .unwrap_or_else(|| panic!("{pointer} missing from {json}"));
        assert_eq!(text(value), row(key), "{key} vs {pointer}");
    }
    assert_eq!(json["config"]["bestVariant"], json["bestVariant"]);
    assert!(
        json.get("variant").is_none(),
        "an unnamed variant in {json}"
    );
}

#[test]
fn an_unknown_output_format_is_a_usage_error() {
    fails_with(&["detect", "--output", "xml"], 2, &["xml", "json"]);
}

#[test]
fn serve_refuses_a_dimension_that_contradicts_the_collection() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut config =
        sutra_storage::storage::StoreConfig::new(&data, 4, sutra_core::vector::Metric::Dot);
    config.segment_bytes = 1 << 20;
    sutra_storage::storage::Store::open(config)
        .unwrap()
        .close()
        .unwrap();

    let data = data.to_str().unwrap();
    let common = ["serve", "--data", data, "--grpc-addr", "127.0.0.1:0"];
    fails_with(
        &[&common[..], &["--dimension", "768"]].concat(),
        1,
        &[
            "dimension: 768 was given but the collection in",
            "was created with 4",
        ],
    );
    fails_with(
        &[&common[..], &["--metric", "l2"]].concat(),
        1,
        &["metric: l2 was given", "created with dot"],
    );
}

#[test]
fn serve_without_a_dimension_for_a_new_collection_says_how_to_give_one() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fresh");
    fails_with(
        &["serve", "--data", data.to_str().unwrap()],
        1,
        &["dimension: required", "--dimension N"],
    );
}
