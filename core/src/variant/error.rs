//! Errors loading a variant catalog.

/// Why a variant catalog was rejected; each message names the offending entry and what
/// was expected instead.
#[derive(Debug, thiserror::Error)]
pub enum VariantError {
    #[error("cannot read the variant rules {}: {source}", path.display())]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("variant rules {}: {source}", path.display())]
    InFile {
        path: std::path::PathBuf,
        #[source]
        source: Box<VariantError>,
    },
    #[error("variant catalog is not valid YAML of the expected shape (variants, rules): {0}")]
    Yaml(#[source] serde_yaml::Error),
    #[error("variant name {0:?} is invalid: expected lowercase letters, digits and '-'")]
    BadVariantName(String),
    #[error("variant {0:?} is defined more than once; variant names must be unique")]
    DuplicateVariant(String),
    #[error("rule {0:?} is defined more than once; rule names must be unique")]
    DuplicateRule(String),
    #[error("the catalog has no `universal` variant; it is the fallback every chain ends at")]
    MissingUniversal,
    #[error(
        "variant `universal` must run everywhere: expected arch `any`, no required features and no fallback"
    )]
    UniversalNotPortable,
    #[error("{place}: unknown arch {arch:?}, expected amd64, arm64 (or `any` for a variant)")]
    UnknownArch { place: String, arch: String },
    #[error("variant {variant:?} requires unknown feature {feature:?}; known features: {known}")]
    UnknownFeature {
        variant: String,
        feature: String,
        known: String,
    },
    #[error("variant {variant:?} requires feature {feature:?}, which its arch does not have")]
    FeatureArch { variant: String, feature: String },
    #[error(
        "variant {variant:?} falls back to unknown variant {fallback:?}; known variants: {known}"
    )]
    UnknownFallback {
        variant: String,
        fallback: String,
        known: String,
    },
    #[error("the fallback chain of variant {0:?} loops back on itself")]
    FallbackCycle(String),
    #[error(
        "the fallback chain of variant {variant:?} ends at {last:?}; expected it to end at `universal`"
    )]
    FallbackNotUniversal { variant: String, last: String },
    #[error("variant {variant:?} falls back to {fallback:?}, which is built for another arch")]
    FallbackArch { variant: String, fallback: String },
    #[error(
        "variant {variant:?} falls back to {fallback:?}, which requires {features} that {variant:?} does not; a fallback must need no more than its parent"
    )]
    FallbackNeedsMore {
        variant: String,
        fallback: String,
        features: String,
    },
    #[error("rule {rule:?} names unknown variant {variant:?}; known variants: {known}")]
    UnknownRuleVariant {
        rule: String,
        variant: String,
        known: String,
    },
    #[error("rule {rule:?} names unknown NFD feature {feature:?}; known NFD cpuid names: {known}")]
    UnknownNfdFeature {
        rule: String,
        feature: String,
        known: String,
    },
}
