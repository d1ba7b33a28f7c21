//! The [`StoreConfig`] a server opens: the detected platform decides the layout of a new
//! collection; an existing collection keeps the layout it was created with, and a setting
//! that contradicts it is an error naming both values.

use sutra_core::platform::PlatformConfig;
use sutra_core::vector::ResolvedCompression;

use super::{ConfigError, DEFAULT_METRIC, ServeSettings};
use crate::storage::{StoreConfig, StoredLayout};

/// The store config for `settings` on a host with `platform`, given the collection
/// already in the data directory (if any).
pub fn store_config(
    settings: &ServeSettings,
    platform: &PlatformConfig,
    stored: Option<StoredLayout>,
) -> Result<StoreConfig, ConfigError> {
    match stored {
        None => new_collection(settings, platform),
        Some(stored) => existing_collection(settings, platform, stored),
    }
}

fn new_collection(
    settings: &ServeSettings,
    platform: &PlatformConfig,
) -> Result<StoreConfig, ConfigError> {
    let dimension = settings.dimension.ok_or_else(|| {
        ConfigError::invalid(
            "dimension",
            format!(
                "required: {} holds no collection yet; pass --dimension N or set SUTRA_DIMENSION",
                settings.data.display()
            ),
        )
    })?;
    let metric = settings.metric.unwrap_or(DEFAULT_METRIC);
    let mut config = StoreConfig::new(&settings.data, dimension, metric);
    config.page_size = platform.page_size;
    config.alignment = platform.simd_alignment.max(16) as usize;
    config.segment_bytes = platform.segment_bytes;
    config.huge_pages = platform.huge_pages;
    config.compression =
        settings.compression.resolve(platform.compression) == ResolvedCompression::Int8;
    Ok(config)
}

fn existing_collection(
    settings: &ServeSettings,
    platform: &PlatformConfig,
    stored: StoredLayout,
) -> Result<StoreConfig, ConfigError> {
    let conflict = |field: &str, given: String, found: String| {
        ConfigError::invalid(
            field,
            format!(
                "{given} was given but the collection in {} was created with {found}",
                settings.data.display()
            ),
        )
    };
    if let Some(dimension) = settings.dimension.filter(|d| *d != stored.dimension) {
        return Err(conflict(
            "dimension",
            dimension.to_string(),
            stored.dimension.to_string(),
        ));
    }
    if let Some(metric) = settings.metric.filter(|m| *m != stored.metric) {
        return Err(conflict(
            "metric",
            metric.as_str().to_string(),
            stored.metric.as_str().to_string(),
        ));
    }
    let stored_compression = if stored.compression {
        ResolvedCompression::Int8
    } else {
        ResolvedCompression::None
    };
    if let Some(wanted) = settings
        .compression
        .explicit()
        .filter(|c| *c != stored_compression)
    {
        return Err(conflict(
            "compression",
            wanted.as_str().to_string(),
            stored_compression.as_str().to_string(),
        ));
    }
    // The files' sizes follow from the layout the collection was created with, wherever it
    // is reopened (a volume may move to a host with another page size).
    let mut config = StoreConfig::new(&settings.data, stored.dimension, stored.metric);
    config.page_size = stored.page_size;
    config.alignment = stored.alignment;
    config.segment_bytes = stored.segment_bytes;
    config.huge_pages = platform.huge_pages;
    config.compression = stored.compression;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use sutra_core::platform::OptLevel;

    use sutra_core::vector::{Compression, Metric};

    use super::*;
    use crate::config::PartialSettings;

    fn platform() -> PlatformConfig {
        PlatformConfig {
            page_size: 4096,
            simd_alignment: 32,
            segment_bytes: 64 << 20,
            huge_pages: true,
            compression: ResolvedCompression::Int8,
            best_variant: "x86-64-v3".into(),
            opt_level: OptLevel::Simd256,
            cache_line: 64,
        }
    }

    fn settings(flags: PartialSettings) -> ServeSettings {
        PartialSettings {
            data: Some(PathBuf::from("/data")),
            ..flags
        }
        .resolve()
        .unwrap()
    }

    fn stored() -> StoredLayout {
        StoredLayout {
            dimension: 3,
            metric: Metric::Dot,
            alignment: 64,
            page_size: 16384,
            segment_bytes: 16 << 20,
            compression: false,
        }
    }

    #[test]
    fn a_new_collection_follows_the_platform() {
        let flags = PartialSettings {
            dimension: Some(768),
            ..PartialSettings::default()
        };
        let config = store_config(&settings(flags), &platform(), None).unwrap();
        assert_eq!(config.dimension, 768);
        assert_eq!(config.metric, DEFAULT_METRIC);
        assert_eq!(config.alignment, 32);
        assert_eq!(config.segment_bytes, 64 << 20);
        assert!(config.huge_pages);
        assert!(
            config.compression,
            "auto follows PlatformConfig.compression"
        );
    }

    #[test]
    fn explicit_compression_overrides_auto() {
        let flags = PartialSettings {
            dimension: Some(8),
            compression: Some(Compression::None),
            ..PartialSettings::default()
        };
        let config = store_config(&settings(flags), &platform(), None).unwrap();
        assert!(!config.compression);
    }

    #[test]
    fn a_new_collection_needs_a_dimension() {
        let error = store_config(&settings(PartialSettings::default()), &platform(), None)
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("dimension: required"), "{error}");
        assert!(error.contains("--dimension"), "{error}");
    }

    #[test]
    fn an_existing_collection_supplies_its_layout() {
        let config = store_config(
            &settings(PartialSettings::default()),
            &platform(),
            Some(stored()),
        )
        .unwrap();
        assert_eq!(config.dimension, 3);
        assert_eq!(config.metric, Metric::Dot);
        assert_eq!(config.segment_bytes, 16 << 20);
        assert!(!config.compression, "auto keeps what the collection has");
        assert_eq!(
            (config.alignment, config.page_size),
            (64, 16384),
            "the stored layout, not this platform's (32, 4096)"
        );
    }

    #[test]
    fn a_conflicting_setting_names_both_values() {
        let cases = [
            (
                PartialSettings {
                    dimension: Some(768),
                    ..PartialSettings::default()
                },
                "dimension: 768 was given but the collection in /data was created with 3",
            ),
            (
                PartialSettings {
                    metric: Some(Metric::Cosine),
                    ..PartialSettings::default()
                },
                "metric: cosine was given but the collection in /data was created with dot",
            ),
            (
                PartialSettings {
                    compression: Some(Compression::Int8),
                    ..PartialSettings::default()
                },
                "compression: int8 was given but the collection in /data was created with none",
            ),
        ];
        for (flags, expected) in cases {
            let error = store_config(&settings(flags), &platform(), Some(stored()))
                .unwrap_err()
                .to_string();
            assert_eq!(error, expected);
        }
    }
}
