//! Server settings: flags and environment (parsed by the CLI), a TOML file, defaults, and
//! the store layout derived from them, the detected platform and any existing collection.
//!
//! Precedence is flag > env > config file > default. clap already applies flag > env, so
//! this module merges that layer over the file and fills the rest with defaults.

mod layout;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sutra_core::vector::{Compression, Metric};

pub use layout::store_config;

use crate::storage::{
    CompactionPolicy, DEFAULT_COMPACT_DEAD_RATIO, DEFAULT_COMPACT_MIN_DEAD_BYTES,
};

/// `--data` when nothing sets it.
pub const DEFAULT_DATA_DIR: &str = "./data";
/// `--grpc-addr` when nothing sets it.
pub const DEFAULT_GRPC_ADDR: &str = "0.0.0.0:50051";
/// `--metrics-addr` when nothing sets it.
pub const DEFAULT_METRICS_ADDR: &str = "0.0.0.0:9090";
/// `--max-message-bytes` when nothing sets it: 64 MiB, room for ~20,000 768-dim vectors.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 << 20;
/// `--scrub-mib-per-second` when nothing sets it: the start-up scrub of a 1,000,000 x 768
/// store (2.9 GiB of values) then takes about 12 s.
pub const DEFAULT_SCRUB_MIB_PER_SECOND: u64 = 256;
/// The bytes of the scanned arrays to read ahead at start-up: `--read-ahead-mib` when set,
/// else half of `usable_memory` (the container limit when there is one), so the pages read
/// ahead never crowd out the rest of what the process and its neighbours need.
pub fn read_ahead_bytes(read_ahead_mib: Option<u64>, usable_memory: u64) -> u64 {
    read_ahead_mib.map_or(usable_memory / 2, |mib| mib.saturating_mul(1 << 20))
}

/// `--metric` for a new collection when nothing sets it.
pub const DEFAULT_METRIC: Metric = Metric::Cosine;

/// The variant this binary was built as (`SUTRA_BUILD_VARIANT` at compile time).
pub fn build_variant() -> &'static str {
    option_env!("SUTRA_BUILD_VARIANT").unwrap_or(sutra_core::variant::UNIVERSAL)
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Settings from one source; `None` leaves the choice to a lower source. The same shape
/// is the TOML file (`config/storage.example.toml`) and the flag/env layer.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PartialSettings {
    pub data: Option<PathBuf>,
    pub dimension: Option<u32>,
    pub metric: Option<Metric>,
    pub grpc_addr: Option<SocketAddr>,
    pub metrics_addr: Option<SocketAddr>,
    pub compression: Option<Compression>,
    pub variant: Option<String>,
    pub variant_rules: Option<PathBuf>,
    pub log_format: Option<LogFormat>,
    pub max_message_bytes: Option<usize>,
    pub compact_dead_ratio: Option<f64>,
    pub compact_min_dead_bytes: Option<u64>,
    pub scrub_mib_per_second: Option<u64>,
    pub read_ahead_mib: Option<u64>,
}

/// Everything `serve` needs to start, after merging and defaults. `dimension` and
/// `metric` stay optional: an existing collection supplies them.
#[derive(Debug, Clone, PartialEq)]
pub struct ServeSettings {
    pub data: PathBuf,
    pub dimension: Option<u32>,
    pub metric: Option<Metric>,
    pub grpc_addr: SocketAddr,
    pub metrics_addr: SocketAddr,
    pub compression: Compression,
    pub variant: String,
    /// The variant rules to judge the hardware with; `None` uses the builtin ones.
    pub variant_rules: Option<PathBuf>,
    pub log_format: LogFormat,
    pub max_message_bytes: usize,
    pub compaction: CompactionPolicy,
    /// Pace of the background scrub after start-up; 0 runs none.
    pub scrub_mib_per_second: u64,
    /// MiB of the scanned arrays read ahead at start-up; `None` derives it from the memory
    /// the process may use ([`read_ahead_bytes`]).
    pub read_ahead_mib: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {}: {source}", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error(transparent)]
    Store(#[from] crate::storage::StoreError),
    #[error(transparent)]
    Rules(#[from] sutra_core::variant::VariantError),
}

impl ConfigError {
    pub(crate) fn invalid(field: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

impl PartialSettings {
    /// Reads a TOML config file; unknown keys are an error, so a typo is not ignored.
    pub fn from_file(path: &Path) -> Result<PartialSettings, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        PartialSettings::from_toml(&text).map_err(|source| ConfigError::Parse {
            path: path.to_path_buf(),
            source,
        })
    }

    pub fn from_toml(text: &str) -> Result<PartialSettings, toml::de::Error> {
        toml::from_str(text)
    }

    /// `self` where it has a value, `lower` elsewhere.
    pub fn over(self, lower: PartialSettings) -> PartialSettings {
        PartialSettings {
            data: self.data.or(lower.data),
            dimension: self.dimension.or(lower.dimension),
            metric: self.metric.or(lower.metric),
            grpc_addr: self.grpc_addr.or(lower.grpc_addr),
            metrics_addr: self.metrics_addr.or(lower.metrics_addr),
            compression: self.compression.or(lower.compression),
            variant: self.variant.or(lower.variant),
            variant_rules: self.variant_rules.or(lower.variant_rules),
            log_format: self.log_format.or(lower.log_format),
            max_message_bytes: self.max_message_bytes.or(lower.max_message_bytes),
            compact_dead_ratio: self.compact_dead_ratio.or(lower.compact_dead_ratio),
            compact_min_dead_bytes: self.compact_min_dead_bytes.or(lower.compact_min_dead_bytes),
            scrub_mib_per_second: self.scrub_mib_per_second.or(lower.scrub_mib_per_second),
            read_ahead_mib: self.read_ahead_mib.or(lower.read_ahead_mib),
        }
    }

    /// Fills what no source set with the defaults and checks the values.
    pub fn resolve(self) -> Result<ServeSettings, ConfigError> {
        if self.dimension == Some(0) {
            return Err(ConfigError::invalid(
                "dimension",
                "must be at least 1, got 0",
            ));
        }
        if self.max_message_bytes == Some(0) {
            return Err(ConfigError::invalid(
                "max-message-bytes",
                "must be at least 1, got 0",
            ));
        }
        if let Some(ratio) = self.compact_dead_ratio
            && !(0.0..=1.0).contains(&ratio)
        {
            return Err(ConfigError::invalid(
                "compact-dead-ratio",
                format!("must be between 0 (never compact on its own) and 1, got {ratio}"),
            ));
        }
        let variant = self.variant.unwrap_or_else(|| build_variant().to_string());
        if variant.trim().is_empty() {
            return Err(ConfigError::invalid(
                "variant",
                "is empty; name a catalog variant such as universal",
            ));
        }
        Ok(ServeSettings {
            data: self.data.unwrap_or_else(|| DEFAULT_DATA_DIR.into()),
            dimension: self.dimension,
            metric: self.metric,
            grpc_addr: self
                .grpc_addr
                .unwrap_or_else(|| default_addr(DEFAULT_GRPC_ADDR)),
            metrics_addr: self
                .metrics_addr
                .unwrap_or_else(|| default_addr(DEFAULT_METRICS_ADDR)),
            compression: self.compression.unwrap_or_default(),
            variant,
            variant_rules: self.variant_rules,
            log_format: self.log_format.unwrap_or_default(),
            max_message_bytes: self.max_message_bytes.unwrap_or(DEFAULT_MAX_MESSAGE_BYTES),
            compaction: CompactionPolicy {
                dead_ratio: self
                    .compact_dead_ratio
                    .unwrap_or(DEFAULT_COMPACT_DEAD_RATIO),
                min_dead_bytes: self
                    .compact_min_dead_bytes
                    .unwrap_or(DEFAULT_COMPACT_MIN_DEAD_BYTES),
            },
            scrub_mib_per_second: self
                .scrub_mib_per_second
                .unwrap_or(DEFAULT_SCRUB_MIB_PER_SECOND),
            read_ahead_mib: self.read_ahead_mib,
        })
    }
}

fn default_addr(text: &str) -> SocketAddr {
    text.parse().expect("default addresses are valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let file = PartialSettings::from_toml(
            "data = \"/srv/vectors\"\ndimension = 384\nmetric = \"l2\"\ngrpc-addr = \"127.0.0.1:7000\"\n",
        )
        .unwrap();
        let flags = PartialSettings {
            dimension: Some(768),
            ..PartialSettings::default()
        };
        let settings = flags.over(file).resolve().unwrap();
        assert_eq!(settings.dimension, Some(768));
        assert_eq!(settings.data, PathBuf::from("/srv/vectors"));
        assert_eq!(settings.metric, Some(Metric::L2));
        assert_eq!(settings.grpc_addr, "127.0.0.1:7000".parse().unwrap());
        assert_eq!(settings.metrics_addr, default_addr(DEFAULT_METRICS_ADDR));
        assert_eq!(settings.max_message_bytes, DEFAULT_MAX_MESSAGE_BYTES);
        assert_eq!(settings.variant, build_variant());
    }

    #[test]
    fn defaults_need_no_source() {
        let settings = PartialSettings::default().resolve().unwrap();
        assert_eq!(settings.data, PathBuf::from(DEFAULT_DATA_DIR));
        assert_eq!(settings.dimension, None);
        assert_eq!(settings.compression, Compression::Auto);
        assert_eq!(settings.log_format, LogFormat::Text);
    }

    #[test]
    fn unknown_file_keys_are_rejected_by_name() {
        let error = PartialSettings::from_toml("dimensions = 3\n").unwrap_err();
        assert!(error.to_string().contains("dimensions"), "{error}");
    }

    #[test]
    fn the_example_config_file_parses() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../config/storage.example.toml"
        );
        let settings = PartialSettings::from_file(Path::new(path))
            .unwrap()
            .resolve()
            .unwrap();
        assert_eq!(settings.dimension, Some(768));
        assert_eq!(settings.metric, Some(Metric::Cosine));
        assert_eq!(settings.max_message_bytes, DEFAULT_MAX_MESSAGE_BYTES);
        assert_eq!(settings.compaction, CompactionPolicy::default());
        assert_eq!(settings.scrub_mib_per_second, DEFAULT_SCRUB_MIB_PER_SECOND);
    }

    #[test]
    fn the_compaction_policy_is_set_and_checked() {
        let flags = PartialSettings {
            compact_dead_ratio: Some(0.0),
            compact_min_dead_bytes: Some(4096),
            ..PartialSettings::default()
        };
        let file = PartialSettings::from_toml("compact-dead-ratio = 0.5\n").unwrap();
        assert_eq!(
            flags.over(file).resolve().unwrap().compaction,
            CompactionPolicy {
                dead_ratio: 0.0,
                min_dead_bytes: 4096
            }
        );
        for bad in [1.5, -0.1, f64::NAN] {
            let error = PartialSettings {
                compact_dead_ratio: Some(bad),
                ..PartialSettings::default()
            }
            .resolve()
            .unwrap_err();
            assert_eq!(
                error.to_string(),
                format!(
                    "compact-dead-ratio: must be between 0 (never compact on its own) and 1, got {bad}"
                )
            );
        }
    }

    #[test]
    fn the_scrub_pace_defaults_and_can_be_turned_off() {
        let default = PartialSettings::default().resolve().unwrap();
        assert_eq!(default.scrub_mib_per_second, DEFAULT_SCRUB_MIB_PER_SECOND);
        let file = PartialSettings::from_toml("scrub-mib-per-second = 64\n").unwrap();
        assert_eq!(
            PartialSettings::default()
                .over(file.clone())
                .resolve()
                .unwrap()
                .scrub_mib_per_second,
            64
        );
        let off = PartialSettings {
            scrub_mib_per_second: Some(0),
            ..PartialSettings::default()
        };
        assert_eq!(off.over(file).resolve().unwrap().scrub_mib_per_second, 0);
    }

    #[test]
    fn read_ahead_is_half_the_usable_memory_unless_set() {
        const GIB: u64 = 1 << 30;
        let default = PartialSettings::default().resolve().unwrap();
        assert_eq!(default.read_ahead_mib, None);
        assert_eq!(read_ahead_bytes(default.read_ahead_mib, 8 * GIB), 4 * GIB);
        let file = PartialSettings::from_toml("read-ahead-mib = 512\n").unwrap();
        let set = PartialSettings::default().over(file).resolve().unwrap();
        assert_eq!(set.read_ahead_mib, Some(512));
        assert_eq!(read_ahead_bytes(set.read_ahead_mib, 8 * GIB), 512 << 20);
        assert_eq!(read_ahead_bytes(Some(0), 8 * GIB), 0);
        assert_eq!(read_ahead_bytes(Some(u64::MAX), GIB), u64::MAX);
    }

    #[test]
    fn zero_dimension_is_rejected() {
        let flags = PartialSettings {
            dimension: Some(0),
            ..PartialSettings::default()
        };
        let error = flags.resolve().unwrap_err();
        assert_eq!(error.to_string(), "dimension: must be at least 1, got 0");
    }
}
