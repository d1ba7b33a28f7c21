//! The variant catalog: which image variants exist, what each needs, and the rule table,
//! loaded and validated from YAML.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use serde::Deserialize;

use crate::platform::{Arch, SimdFeature};

use super::error::VariantError;

/// The default catalog, embedded so every binary has it without a config file.
pub const BUILTIN_YAML: &str = include_str!("../../../config/variants.yaml");

/// The variant every host can run and every fallback chain ends at.
pub const UNIVERSAL: &str = "universal";

/// A catalog and the YAML it was read from: the operator copies the text to where storage
/// nodes read it, so every decision uses the same table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariantRules {
    pub catalog: VariantCatalog,
    pub yaml: String,
}

impl VariantRules {
    /// The embedded `config/variants.yaml`.
    pub fn builtin() -> VariantRules {
        VariantRules {
            catalog: VariantCatalog::builtin().clone(),
            yaml: BUILTIN_YAML.to_owned(),
        }
    }

    /// The rules in `path` (the format of `config/variants.yaml`); errors name the file.
    pub fn from_file(path: &std::path::Path) -> Result<VariantRules, VariantError> {
        let yaml = std::fs::read_to_string(path).map_err(|source| VariantError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let catalog = VariantCatalog::from_yaml(&yaml).map_err(|source| VariantError::InFile {
            path: path.to_path_buf(),
            source: Box::new(source),
        })?;
        Ok(VariantRules { catalog, yaml })
    }

    /// The rules in `path` when given, else the builtin ones: one loader for the operator,
    /// the agent and the storage node.
    pub fn load(path: Option<&std::path::Path>) -> Result<VariantRules, VariantError> {
        path.map_or_else(|| Ok(VariantRules::builtin()), VariantRules::from_file)
    }
}

/// One image variant: a build of sutra-storage for a class of CPUs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    pub name: String,
    /// The architecture it is built for; `None` for a build that exists for every one.
    pub arch: Option<Arch>,
    pub description: String,
    /// CPU features the build executes unconditionally, sorted.
    pub requires: Vec<SimdFeature>,
    /// rustc `-C target-cpu`, `None` for a portable build.
    pub target_cpu: Option<String>,
    /// rustc `-C target-feature` entries such as `+sve`.
    pub target_features: Vec<String>,
    /// The next variant to try when a host lacks a required feature.
    pub fallback: Option<String>,
}

impl Variant {
    /// Whether the build exists for `arch`.
    pub fn runs_on(&self, arch: Arch) -> bool {
        self.arch.is_none_or(|own| own == arch)
    }

    /// The architecture as the catalog spells it (`amd64`, `arm64`, `any`).
    pub fn arch_name(&self) -> &'static str {
        self.arch.map_or("any", Arch::label)
    }
}

/// What must hold for a rule to match; every condition given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Condition {
    /// The node's `kubernetes.io/arch`.
    pub arch: Option<Arch>,
    /// Exact label values.
    pub labels: BTreeMap<String, String>,
    /// Families of `node.kubernetes.io/instance-type` (`c7g` of `c7g.2xlarge`).
    pub instance_families: Vec<String>,
    /// Node Feature Discovery cpuid features that must be labelled `true`.
    pub nfd_features: Vec<SimdFeature>,
}

/// One row of the rule table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub name: String,
    /// Why the rule exists, quoted in selection reasons.
    pub description: String,
    pub variant: String,
    pub when: Condition,
}

/// The variants and the ordered rule table that picks one of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariantCatalog {
    pub(super) variants: Vec<Variant>,
    pub(super) rules: Vec<Rule>,
}

impl VariantCatalog {
    /// The catalog embedded from `config/variants.yaml`.
    pub fn builtin() -> &'static VariantCatalog {
        static BUILTIN: OnceLock<VariantCatalog> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            VariantCatalog::from_yaml(BUILTIN_YAML)
                .expect("config/variants.yaml is embedded at build time and validated by tests")
        })
    }

    /// Loads and validates a catalog.
    pub fn from_yaml(text: &str) -> Result<VariantCatalog, VariantError> {
        let raw: RawCatalog = serde_yaml::from_str(text).map_err(VariantError::Yaml)?;
        let variants = raw
            .variants
            .into_iter()
            .map(RawVariant::validate)
            .collect::<Result<Vec<_>, _>>()?;
        let rules = raw
            .rules
            .into_iter()
            .map(RawRule::validate)
            .collect::<Result<Vec<_>, _>>()?;
        let catalog = VariantCatalog { variants, rules };
        catalog.check_references()?;
        Ok(catalog)
    }

    /// Variant names in catalog order.
    pub fn names(&self) -> Vec<&str> {
        self.variants
            .iter()
            .map(|variant| variant.name.as_str())
            .collect()
    }

    pub fn get(&self, name: &str) -> Option<&Variant> {
        self.variants.iter().find(|variant| variant.name == name)
    }

    pub fn variants(&self) -> &[Variant] {
        &self.variants
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// `name` followed by its fallbacks, in order, ending at `universal`; empty when `name`
    /// is not in the catalog.
    pub fn fallback_chain(&self, name: &str) -> Vec<&Variant> {
        let mut chain = Vec::new();
        let mut next = self.get(name);
        while let Some(variant) = next {
            chain.push(variant);
            next = variant.fallback.as_deref().and_then(|name| self.get(name));
        }
        chain
    }

    fn check_references(&self) -> Result<(), VariantError> {
        self.check_unique_names()?;
        self.check_universal()?;
        for variant in &self.variants {
            self.check_fallback(variant)?;
        }
        for rule in &self.rules {
            if self.get(&rule.variant).is_none() {
                return Err(VariantError::UnknownRuleVariant {
                    rule: rule.name.clone(),
                    variant: rule.variant.clone(),
                    known: self.names().join(", "),
                });
            }
        }
        Ok(())
    }

    fn check_unique_names(&self) -> Result<(), VariantError> {
        let mut seen = BTreeSet::new();
        for name in self.names() {
            if !seen.insert(name) {
                return Err(VariantError::DuplicateVariant(name.to_string()));
            }
        }
        let mut seen_rules = BTreeSet::new();
        for rule in &self.rules {
            if !seen_rules.insert(rule.name.as_str()) {
                return Err(VariantError::DuplicateRule(rule.name.clone()));
            }
        }
        Ok(())
    }

    fn check_universal(&self) -> Result<(), VariantError> {
        match self.get(UNIVERSAL) {
            Some(universal)
                if universal.arch.is_none()
                    && universal.requires.is_empty()
                    && universal.fallback.is_none() =>
            {
                Ok(())
            }
            Some(_) => Err(VariantError::UniversalNotPortable),
            None => Err(VariantError::MissingUniversal),
        }
    }

    /// A fallback must exist, run on the same architecture, need no feature its parent
    /// lacks (so falling back never makes things worse) and the chain must end at `universal`.
    fn check_fallback(&self, variant: &Variant) -> Result<(), VariantError> {
        let mut visited = BTreeSet::from([variant.name.as_str()]);
        let mut current = variant;
        while let Some(fallback_name) = current.fallback.as_deref() {
            let fallback =
                self.get(fallback_name)
                    .ok_or_else(|| VariantError::UnknownFallback {
                        variant: current.name.clone(),
                        fallback: fallback_name.to_string(),
                        known: self.names().join(", "),
                    })?;
            if !visited.insert(fallback.name.as_str()) {
                return Err(VariantError::FallbackCycle(variant.name.clone()));
            }
            check_fallback_is_safer(current, fallback)?;
            current = fallback;
        }
        if current.name != UNIVERSAL {
            return Err(VariantError::FallbackNotUniversal {
                variant: variant.name.clone(),
                last: current.name.clone(),
            });
        }
        Ok(())
    }
}

fn check_fallback_is_safer(variant: &Variant, fallback: &Variant) -> Result<(), VariantError> {
    if fallback.arch.is_some() && fallback.arch != variant.arch {
        return Err(VariantError::FallbackArch {
            variant: variant.name.clone(),
            fallback: fallback.name.clone(),
        });
    }
    let extra: Vec<&str> = fallback
        .requires
        .iter()
        .filter(|feature| !variant.requires.contains(feature))
        .map(|feature| feature.name())
        .collect();
    if !extra.is_empty() {
        return Err(VariantError::FallbackNeedsMore {
            variant: variant.name.clone(),
            fallback: fallback.name.clone(),
            features: extra.join(", "),
        });
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    variants: Vec<RawVariant>,
    #[serde(default)]
    rules: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawVariant {
    name: String,
    arch: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    requires: Vec<String>,
    target_cpu: Option<String>,
    #[serde(default)]
    target_features: Vec<String>,
    fallback: Option<String>,
}

impl RawVariant {
    fn validate(self) -> Result<Variant, VariantError> {
        check_variant_name(&self.name)?;
        let arch = parse_variant_arch(&self.name, &self.arch)?;
        let mut requires = self
            .requires
            .iter()
            .map(|feature| parse_required_feature(&self.name, arch, feature))
            .collect::<Result<Vec<_>, _>>()?;
        requires.sort();
        requires.dedup();
        Ok(Variant {
            name: self.name,
            arch,
            description: self.description,
            requires,
            target_cpu: self.target_cpu,
            target_features: self.target_features,
            fallback: self.fallback,
        })
    }
}

/// Variant names end up in image tags and CEL rules, so keep them to `[a-z0-9-]`.
fn check_variant_name(name: &str) -> Result<(), VariantError> {
    let valid = !name.is_empty()
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if valid {
        Ok(())
    } else {
        Err(VariantError::BadVariantName(name.to_string()))
    }
}

fn parse_variant_arch(variant: &str, arch: &str) -> Result<Option<Arch>, VariantError> {
    match arch {
        "any" => Ok(None),
        "amd64" => Ok(Some(Arch::Amd64)),
        "arm64" => Ok(Some(Arch::Arm64)),
        other => Err(VariantError::UnknownArch {
            place: format!("variant {variant}"),
            arch: other.to_string(),
        }),
    }
}

fn parse_required_feature(
    variant: &str,
    arch: Option<Arch>,
    feature: &str,
) -> Result<SimdFeature, VariantError> {
    let parsed = SimdFeature::from_name(feature).ok_or_else(|| VariantError::UnknownFeature {
        variant: variant.to_string(),
        feature: feature.to_string(),
        known: feature_names(SimdFeature::name),
    })?;
    if arch.is_some_and(|arch| arch != parsed.arch()) {
        return Err(VariantError::FeatureArch {
            variant: variant.to_string(),
            feature: feature.to_string(),
        });
    }
    Ok(parsed)
}

fn feature_names(name: fn(SimdFeature) -> &'static str) -> String {
    SimdFeature::ALL.map(name).join(", ")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: String,
    #[serde(default)]
    description: String,
    variant: String,
    #[serde(default)]
    when: RawCondition,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawCondition {
    arch: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    instance_families: Vec<String>,
    #[serde(default)]
    nfd_features: Vec<String>,
}

impl RawRule {
    fn validate(self) -> Result<Rule, VariantError> {
        let when = self.when;
        let arch = when
            .arch
            .map(|arch| parse_rule_arch(&self.name, &arch))
            .transpose()?;
        let nfd_features = when
            .nfd_features
            .iter()
            .map(|feature| {
                SimdFeature::from_nfd_name(feature).ok_or_else(|| VariantError::UnknownNfdFeature {
                    rule: self.name.clone(),
                    feature: feature.clone(),
                    known: feature_names(SimdFeature::nfd_name),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Rule {
            name: self.name,
            description: self.description,
            variant: self.variant,
            when: Condition {
                arch,
                labels: when.labels,
                instance_families: when.instance_families,
                nfd_features,
            },
        })
    }
}

fn parse_rule_arch(rule: &str, arch: &str) -> Result<Arch, VariantError> {
    match Arch::from_name(arch) {
        Arch::Other => Err(VariantError::UnknownArch {
            place: format!("rule {rule}"),
            arch: arch.to_string(),
        }),
        known => Ok(known),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalog_loads_with_every_variant_in_file_order() {
        assert_eq!(
            VariantCatalog::builtin().names(),
            [
                "universal",
                "x86-64-v3",
                "x86-64-v4",
                "graviton2",
                "graviton3",
                "graviton4",
                "pi4",
                "pi5"
            ]
        );
    }
}
