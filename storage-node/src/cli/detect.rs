//! `sutra-storage detect`: the detected platform as a table, or as JSON or YAML: the
//! `PlatformReport` (the document the `Platform` RPC and the StorageNode status carry)
//! with everything the table adds: the variant this binary was built as, the best variant
//! for this host and why, and the platform config the server would run with.

use serde::Serialize;
use sutra_core::platform::{PlatformConfig, PlatformReport};
use sutra_core::variant::VariantCatalog;

use crate::config::build_variant;
use crate::report::thp_name;
use crate::simd;

/// What `detect` found and derived; the data formats print it whole.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Detected<'a> {
    #[serde(flatten)]
    report: &'a PlatformReport,
    /// One line for a table column, e.g. `Neoverse-V1 arm64 sve 64KiB`.
    summary: String,
    built_variant: &'static str,
    /// The SIMD kernels this binary dispatches to on this CPU.
    kernels: String,
    best_variant: String,
    /// Why the catalog's rules pick `best_variant`.
    best_variant_reason: String,
    config: PlatformConfig,
}

impl<'a> Detected<'a> {
    fn new(report: &'a PlatformReport) -> Self {
        let catalog = VariantCatalog::builtin();
        let best = catalog.best_for_host(report);
        Detected {
            report,
            summary: report.summary(),
            built_variant: build_variant(),
            kernels: simd::kernels().isa.to_string(),
            best_variant: best.variant,
            best_variant_reason: best.reason,
            config: PlatformConfig::derive(report, catalog),
        }
    }
}

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
    let detected = Detected::new(report);
    match format {
        OutputFormat::Table => Ok(table(&detected)),
        OutputFormat::Json => serde_json::to_string_pretty(&detected)
            .map(|text| text + "\n")
            .map_err(|error| format!("encoding the report as JSON: {error}")),
        OutputFormat::Yaml => serde_yaml::to_string(&detected)
            .map_err(|error| format!("encoding the report as YAML: {error}")),
    }
}

/// Two aligned columns: what was detected, then what the server would derive from it.
fn table(detected: &Detected<'_>) -> String {
    let rows = rows(detected);
    let width = rows.iter().map(|(key, _)| key.len()).max().unwrap_or(0);
    let mut text = String::new();
    for (key, value) in rows {
        text.push_str(&format!("{key:<width$}  {value}\n"));
    }
    text
}

fn rows(detected: &Detected<'_>) -> Vec<(&'static str, String)> {
    let Detected { report, config, .. } = detected;
    let optional = |value: Option<String>| value.unwrap_or_else(|| "-".to_string());
    let simd: Vec<&str> = report.simd.iter().map(|feature| feature.name()).collect();
    vec![
        ("summary", detected.summary.clone()),
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
        ("built as", detected.built_variant.to_string()),
        ("kernels", detected.kernels.clone()),
        ("best variant", detected.best_variant.clone()),
        ("why", detected.best_variant_reason.clone()),
        ("simd alignment", config.simd_alignment.to_string()),
        ("segment bytes", config.segment_bytes.to_string()),
        ("huge pages", config.huge_pages.to_string()),
        ("compression", config.compression.as_str().to_owned()),
    ]
}
