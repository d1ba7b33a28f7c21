//! What a collection stores, as every part of the grid spells it: the distance [`Metric`],
//! the [`Compression`] asked for and what it comes to on a host ([`ResolvedCompression`]),
//! and the largest dimension. The CRD's `vector` block, the `sutra-storage serve` flags and
//! config file, and the storage engine's manifest share these types, so a value means the
//! same everywhere.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Largest vector dimension a grid and a store accept.
pub const MAX_DIMENSION: u32 = 65_536;

/// Distance metric between vectors.
///
/// The storage engine scores all three so that higher is more similar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    #[default]
    Cosine,
    Dot,
    L2,
}

impl Metric {
    /// The manifest spelling, which `sutra-storage serve --metric` also takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Cosine => "cosine",
            Metric::Dot => "dot",
            Metric::L2 => "l2",
        }
    }
}

/// `--metric`: the manifest spellings in any case, and the common aliases.
impl std::str::FromStr for Metric {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "dot" | "ip" | "inner-product" => Ok(Metric::Dot),
            "cosine" | "cos" => Ok(Metric::Cosine),
            "l2" | "euclidean" => Ok(Metric::L2),
            other => Err(format!(
                "unknown metric {other:?}: expected one of dot, cosine, l2"
            )),
        }
    }
}

/// How vectors are stored: `auto` lets the storage node choose from the hardware (int8
/// copies on bandwidth- or memory-poor hosts: Raspberry Pi class or under 8 GiB usable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    #[default]
    Auto,
    None,
    Int8,
}

impl Compression {
    /// The manifest spelling, which `sutra-storage serve --compression` also takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::Auto => "auto",
            Compression::None => "none",
            Compression::Int8 => "int8",
        }
    }

    /// What was asked for explicitly; `None` for `auto`.
    pub fn explicit(self) -> Option<ResolvedCompression> {
        match self {
            Compression::Auto => None,
            Compression::None => Some(ResolvedCompression::None),
            Compression::Int8 => Some(ResolvedCompression::Int8),
        }
    }

    /// What a new collection gets: the explicit choice, else `host` (the platform
    /// config's pick for this hardware).
    pub fn resolve(self, host: ResolvedCompression) -> ResolvedCompression {
        self.explicit().unwrap_or(host)
    }
}

/// How vectors are stored once `auto` is decided: the platform config's pick for a host,
/// and what a collection was created with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ResolvedCompression {
    /// f32 as given.
    None,
    /// Scalar-quantised to int8: a quarter of the memory and bandwidth.
    Int8,
}

impl ResolvedCompression {
    /// `none` or `int8`, as [`Compression`] spells the same choice.
    pub fn as_str(self) -> &'static str {
        match self {
            ResolvedCompression::None => "none",
            ResolvedCompression::Int8 => "int8",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_takes_the_host_pick_and_an_explicit_choice_wins() {
        use ResolvedCompression as R;
        for host in [R::None, R::Int8] {
            assert_eq!(Compression::Auto.resolve(host), host);
            assert_eq!(Compression::None.resolve(host), R::None);
            assert_eq!(Compression::Int8.resolve(host), R::Int8);
        }
        for choice in [Compression::None, Compression::Int8] {
            assert_eq!(choice.explicit().unwrap().as_str(), choice.as_str());
        }
    }

    #[test]
    fn metric_parses_its_spellings_and_names_the_valid_ones() {
        for metric in [Metric::Cosine, Metric::Dot, Metric::L2] {
            assert_eq!(metric.as_str().parse::<Metric>(), Ok(metric));
        }
        assert_eq!("IP".parse::<Metric>(), Ok(Metric::Dot));
        assert_eq!("euclidean".parse::<Metric>(), Ok(Metric::L2));
        assert_eq!(
            "manhattan".parse::<Metric>(),
            Err("unknown metric \"manhattan\": expected one of dot, cosine, l2".to_owned())
        );
    }
}
