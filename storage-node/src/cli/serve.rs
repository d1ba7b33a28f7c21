//! `sutra-storage serve`: settings, logging, platform, store layout, then the server until
//! SIGTERM or Ctrl-C.

use std::io::Write;
use std::path::PathBuf;

use sutra_core::platform::PlatformReport;
use sutra_core::signal::shutdown_signal;
use sutra_core::variant::VariantRules;
use sutra_core::vector::{Compression, Metric};

use crate::config::{
    ConfigError, LogFormat, PartialSettings, ServeSettings, read_ahead_bytes, store_config,
};
use crate::report::{ClusterIdentity, PlatformStatus, spawn_reporter};
use crate::server::{ServeError, ServerSettings};
use crate::storage::{StoreConfig, StoredLayout, stored_layout};

/// The flags of `serve`; each falls back to its environment variable, then the config
/// file, then the default.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// TOML config file (keys as the long flags, e.g. `grpc-addr = "0.0.0.0:50051"`).
    #[arg(long, env = "SUTRA_CONFIG", value_name = "FILE.toml")]
    pub config: Option<PathBuf>,
    /// Data directory holding the collection [default: ./data].
    #[arg(long, env = "SUTRA_DATA", value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Vector dimension; required unless the data directory holds a collection.
    #[arg(long, env = "SUTRA_DIMENSION", value_name = "N")]
    pub dimension: Option<u32>,
    /// Similarity metric of a new collection: cosine, dot or l2 [default: cosine].
    #[arg(long, env = "SUTRA_METRIC", value_name = "cosine|dot|l2")]
    pub metric: Option<Metric>,
    /// gRPC listen address [default: 0.0.0.0:50051]; port 0 picks a free port.
    #[arg(long, env = "SUTRA_GRPC_ADDR", value_name = "ADDR")]
    pub grpc_addr: Option<std::net::SocketAddr>,
    /// Metrics and probes listen address [default: 0.0.0.0:9090].
    #[arg(long, env = "SUTRA_METRICS_ADDR", value_name = "ADDR")]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Vector compression [default: auto, which follows the detected platform]. `int8`
    /// keeps an int8 copy of each vector that searches scan first (a quarter of the
    /// bytes); results stay exact, since only vectors the int8 scores cannot rule out are
    /// re-scored in f32.
    #[arg(long, env = "SUTRA_COMPRESSION", value_enum)]
    pub compression: Option<Compression>,
    /// The image variant this process runs as [default: the variant it was built as].
    #[arg(long, env = "SUTRA_VARIANT", value_name = "NAME")]
    pub variant: Option<String>,
    /// Variant rules (the format of config/variants.yaml) to judge this host with: the
    /// same table the operator or agent placed the node with [default: the builtin rules].
    #[arg(long, env = "SUTRA_VARIANT_RULES", value_name = "FILE.yaml")]
    pub variant_rules: Option<PathBuf>,
    /// Log format [default: text].
    #[arg(long, env = "SUTRA_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Largest gRPC request message in bytes [default: 67108864].
    #[arg(long, env = "SUTRA_MAX_MESSAGE_BYTES", value_name = "N")]
    pub max_message_bytes: Option<usize>,
    /// Compact on its own once this share of the vector slots is dead (replaced or
    /// deleted); 0 never does [default: 0.3].
    #[arg(long, env = "SUTRA_COMPACT_DEAD_RATIO", value_name = "0..1")]
    pub compact_dead_ratio: Option<f64>,
    /// ...and the dead slots hold at least this many bytes [default: 67108864].
    #[arg(long, env = "SUTRA_COMPACT_MIN_DEAD_BYTES", value_name = "N")]
    pub compact_min_dead_bytes: Option<u64>,
    /// After start-up, read everything stored once in the background (values, int8 codes,
    /// payloads, slot metadata) to check it against its checksums, at most this many MiB/s;
    /// 0 skips it [default: 256].
    #[arg(long, env = "SUTRA_SCRUB_MIB_PER_SECOND", value_name = "N")]
    pub scrub_mib_per_second: Option<u64>,
    /// At start-up, read up to this many MiB of the arrays searches scan (int8 codes with
    /// compression, else the vectors) into the page cache in the background, so the first
    /// searches after a cold start do not wait on the disk one page fault at a time; 0
    /// reads nothing ahead [default: half the memory the process may use].
    #[arg(long, env = "SUTRA_READ_AHEAD_MIB", value_name = "N")]
    pub read_ahead_mib: Option<u64>,
}

impl ServeArgs {
    /// Flags and env over the config file, then defaults.
    pub fn settings(&self) -> Result<ServeSettings, ConfigError> {
        let file = match &self.config {
            Some(path) => PartialSettings::from_file(path)?,
            None => PartialSettings::default(),
        };
        self.flags().over(file).resolve()
    }

    fn flags(&self) -> PartialSettings {
        PartialSettings {
            data: self.data.clone(),
            dimension: self.dimension,
            metric: self.metric,
            grpc_addr: self.grpc_addr,
            metrics_addr: self.metrics_addr,
            compression: self.compression,
            variant: self.variant.clone(),
            variant_rules: self.variant_rules.clone(),
            log_format: self.log_format,
            max_message_bytes: self.max_message_bytes,
            compact_dead_ratio: self.compact_dead_ratio,
            compact_min_dead_bytes: self.compact_min_dead_bytes,
            scrub_mib_per_second: self.scrub_mib_per_second,
            read_ahead_mib: self.read_ahead_mib,
        }
    }
}

/// Why `serve` stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeFailure {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// Runs the server until SIGTERM or Ctrl-C.
pub fn serve(args: &ServeArgs, report: PlatformReport) -> Result<(), ServeFailure> {
    let settings = args.settings()?;
    init_logging(settings.log_format);
    let rules = VariantRules::load(settings.variant_rules.as_deref()).map_err(ConfigError::from)?;
    let platform = PlatformStatus::new(report, &settings.variant, &rules.catalog);
    log_platform(&platform);
    let stored = stored_layout(&settings.data).map_err(ConfigError::Store)?;
    let store = memory_sized_store(&settings, &platform, stored)?;
    let server = ServerSettings::new(&settings, store, platform);
    tokio::runtime::Runtime::new()
        .map_err(ServeFailure::Runtime)?
        .block_on(run(server))
}

/// The store's settings: segment size, compression and read-ahead all follow the memory
/// this process may use, which is its cgroup's limit when it has one (a Pod's
/// `resources.limits.memory`), not the host's total.
fn memory_sized_store(
    settings: &ServeSettings,
    platform: &PlatformStatus,
    stored: Option<StoredLayout>,
) -> Result<StoreConfig, ConfigError> {
    let mut store = store_config(settings, &platform.config, stored)?;
    store.read_ahead_bytes = read_ahead_bytes(
        settings.read_ahead_mib,
        platform.report.memory.usable_bytes(),
    );
    Ok(store)
}

async fn run(settings: ServerSettings) -> Result<(), ServeFailure> {
    if let Some(identity) = ClusterIdentity::from_env() {
        spawn_reporter(identity, settings.platform.clone());
    }
    let server = crate::server::start(settings).await?;
    announce(&server);
    shutdown_signal().await;
    tracing::info!("stop signal received; shutting down");
    server.shutdown().await?;
    Ok(())
}

/// The one stdout line scripts and tests wait for, with the real bound addresses.
fn announce(server: &crate::server::RunningServer) {
    let mut stdout = std::io::stdout().lock();
    // stdout may be closed by a supervisor that does not read it; serving goes on.
    let _ = writeln!(
        stdout,
        "sutra-storage listening grpc={} metrics={}",
        server.grpc_addr(),
        server.metrics_addr()
    );
    let _ = stdout.flush();
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Logs go to stderr: stdout carries only the listening line.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    if let Err(error) = installed {
        eprintln!("warning: logging was already set up: {error}");
    }
}

fn log_platform(platform: &PlatformStatus) {
    let verdict = &platform.verdict;
    tracing::info!(
        platform = %platform.summary(),
        variant = %verdict.running,
        best_variant = %verdict.best,
        matched = verdict.matched,
        reason = %verdict.reason,
        "detected the platform"
    );
    if !verdict.matched {
        tracing::warn!(message = %verdict.message, "the running variant does not match this host");
    }
}

#[cfg(test)]
mod tests {
    use sutra_core::platform::fixture::detect_with_files;
    use sutra_core::variant::VariantCatalog;

    use super::*;

    const GIB: u64 = 1 << 30;

    /// A 16 GB host whose cgroup (a Pod limited to `limit`) sits under a slice.
    fn report_in_cgroup(limit: &str) -> PlatformReport {
        detect_with_files(&[
            ("proc/meminfo", "MemTotal:       16777216 kB\n"),
            ("proc/self/cgroup", "0::/kubepods.slice/pod-a\n"),
            ("sys/fs/cgroup/kubepods.slice/pod-a/memory.max", limit),
        ])
    }

    fn store_for(report: PlatformReport) -> StoreConfig {
        let settings = PartialSettings {
            dimension: Some(8),
            ..PartialSettings::default()
        }
        .resolve()
        .unwrap();
        let platform = PlatformStatus::new(report, "universal", VariantCatalog::builtin());
        memory_sized_store(&settings, &platform, None).unwrap()
    }

    #[test]
    fn memory_derived_settings_follow_the_cgroup_limit_not_the_host() {
        let limited = store_for(report_in_cgroup("2147483648\n"));
        assert_eq!(limited.read_ahead_bytes, GIB, "half of the 2 GiB limit");
        let unlimited = store_for(report_in_cgroup("max\n"));
        assert_eq!(
            unlimited.read_ahead_bytes,
            8 * GIB,
            "half of the 16 GiB host"
        );
        assert!(
            limited.segment_bytes < unlimited.segment_bytes,
            "segments shrink with the limit: {} vs {}",
            limited.segment_bytes,
            unlimited.segment_bytes
        );
    }
}
