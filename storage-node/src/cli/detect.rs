//! `sutra-storage detect`: the detected platform as a table, or the `PlatformReport` as
//! JSON or YAML (the same document the `Platform` RPC and the StorageNode status carry).

use sutra_core::platform::{PlatformConfig, PlatformReport};
use sutra_core::variant::VariantCatalog;

use crate::config::build_variant;
use crate::simd;
use crate::status::thp_name;

/// `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    #[default]
    Table,
    Json,
    Yaml,
}

/// The text `detect` prints for `report`.
pub fn render(report: &PlatformReport, format: OutputFormat) -> Result<String, String> {
    match format {
        OutputFormat::Table => Ok(table(report)),
        OutputFormat::Json => serde_json::to_string_pretty(report)
            .map(|text| text + "\n")
            .map_err(|error| format!("encoding the report as JSON: {error}")),
        OutputFormat::Yaml => serde_yaml::to_string(report)
            .map_err(|error| format!("encoding the report as YAML: {error}")),
    }
}

/// Two aligned columns: what was detected, then what the server would derive from it.
fn table(report: &PlatformReport) -> String {
    let catalog = VariantCatalog::builtin();
    let config = PlatformConfig::derive(report, catalog);
    let best = catalog.best_for_host(report);
    let rows = rows(report, &config, &best.variant);
    let width = rows.iter().map(|(key, _)| key.len()).max().unwrap_or(0);
    let mut text = String::new();
    for (key, value) in rows {
        text.push_str(&format!("{key:<width$}  {value}\n"));
    }
    text.push_str(&format!("{:<width$}  {}\n", "why", best.reason));
    text
}

fn rows(
    report: &PlatformReport,
    config: &PlatformConfig,
    best: &str,
) -> Vec<(&'static str, String)> {
    let optional = |value: Option<String>| value.unwrap_or_else(|| "-".to_string());
    let simd: Vec<&str> = report.simd.iter().map(|feature| feature.name()).collect();
    vec![
        ("summary", report.summary()),
        ("arch", report.arch.label().to_string()),
        ("os", format!("{:?}", report.os).to_lowercase()),
        ("cpu vendor", report.cpu.vendor.clone()),
        ("cpu model", report.cpu.model.clone()),
        ("logical cpus", report.cpu.logical_cpus.to_string()),
        (
            "x86-64 level",
            optional(report.cpu.x86_64_level.map(|level| format!("v{level}"))),
        ),
        (
            "simd",
            if simd.is_empty() {
                "-".into()
            } else {
                simd.join(" ")
            },
        ),
        (
            "sve vector bytes",
            optional(report.sve_vector_bytes.map(|bytes| bytes.to_string())),
        ),
        ("page size", report.page_size.to_string()),
        ("cache line", report.cache_line.to_string()),
        ("thp", thp_name(report.thp).to_string()),
        (
            "pi model",
            optional(report.pi_model.map(|model| model.to_string())),
        ),
        ("board", optional(report.board.clone())),
        ("instance type", optional(report.instance_type.clone())),
        ("memory bytes", report.memory.total_bytes.to_string()),
        (
            "memory limit bytes",
            optional(report.memory.limit_bytes.map(|bytes| bytes.to_string())),
        ),
        ("best variant", best.to_string()),
        ("built as", build_variant().to_string()),
        ("kernels", simd::kernels().isa.to_string()),
        ("simd alignment", config.simd_alignment.to_string()),
        ("segment bytes", config.segment_bytes.to_string()),
        ("huge pages", config.huge_pages.to_string()),
        (
            "compression",
            format!("{:?}", config.compression).to_lowercase(),
        ),
    ]
}
