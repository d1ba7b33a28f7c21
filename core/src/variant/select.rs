//! Picking a variant from labels: the rule table, then the feature check and fallbacks.

use std::collections::BTreeMap;

use crate::labels;
use crate::platform::{Arch, SimdFeature};

use super::catalog::{Condition, Rule, UNIVERSAL, Variant, VariantCatalog};

/// The picked variant and why, in words an operator can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    pub variant: String,
    /// The rule that matched first, `None` when none did.
    pub rule: Option<String>,
    pub reason: String,
}

impl VariantCatalog {
    /// The variant for a node with these labels.
    ///
    /// Rules are tried in order and the first whose conditions hold and whose variant is
    /// built for the node's `kubernetes.io/arch` wins; a rule pointing at another arch
    /// (e.g. instance type `r7g` on an amd64 node) is skipped and the conflict is named in
    /// the reason: the arch label wins. When NFD cpuid labels are present the winner is then
    /// checked against them, following fallbacks while a required feature is not labelled.
    /// Without a known arch the answer is `universal`.
    pub fn select(&self, labels: &BTreeMap<String, String>) -> Selection {
        let Some(arch) = labelled_arch(labels) else {
            return Selection {
                variant: UNIVERSAL.to_string(),
                rule: None,
                reason: unknown_arch_reason(labels),
            };
        };
        let mut notes = Vec::new();
        for rule in &self.rules {
            if !rule.when.holds(arch, labels) {
                continue;
            }
            let variant = self
                .get(&rule.variant)
                .expect("a validated catalog's rules name known variants");
            if !variant.runs_on(arch) {
                notes.push(format!(
                    "rule {} matched but {} is built for {}, and the node's kubernetes.io/arch is {}: arch wins",
                    rule.name,
                    variant.name,
                    variant.arch_name(),
                    arch.label()
                ));
                continue;
            }
            return self.checked_against_labels(rule, variant, labels, notes);
        }
        notes.push(format!("no rule matched this {} node", arch.label()));
        Selection {
            variant: UNIVERSAL.to_string(),
            rule: None,
            reason: join_notes(notes),
        }
    }

    fn checked_against_labels(
        &self,
        rule: &Rule,
        picked: &Variant,
        labels: &BTreeMap<String, String>,
        mut notes: Vec<String>,
    ) -> Selection {
        notes.push(format!(
            "rule {} ({}) picked {}",
            rule.name, rule.description, picked.name
        ));
        let variant = if has_nfd_cpuid_labels(labels) {
            self.first_with_features(
                &picked.name,
                "the NFD labels do not show",
                &mut notes,
                |feature| !feature.nfd_published_by_default() || nfd_labelled(labels, feature),
            )
        } else {
            picked
        };
        Selection {
            variant: variant.name.clone(),
            rule: Some(rule.name.clone()),
            reason: join_notes(notes),
        }
    }

    /// The first variant in `name`'s fallback chain whose required features all satisfy
    /// `present`; each skipped variant adds a note naming what was missing, and where it was looked for.
    pub(super) fn first_with_features(
        &self,
        name: &str,
        absent_from: &str,
        notes: &mut Vec<String>,
        present: impl Fn(SimdFeature) -> bool,
    ) -> &Variant {
        for variant in self.fallback_chain(name) {
            let missing: Vec<&str> = variant
                .requires
                .iter()
                .filter(|feature| !present(**feature))
                .map(|feature| feature.name())
                .collect();
            if missing.is_empty() {
                return variant;
            }
            notes.push(format!(
                "{} needs {} which {absent_from}, falling back to {}",
                variant.name,
                missing.join(", "),
                variant.fallback.as_deref().unwrap_or(UNIVERSAL)
            ));
        }
        self.get(UNIVERSAL)
            .expect("a validated catalog contains the universal variant")
    }
}

impl Condition {
    /// Whether every condition given holds for a node of `arch` with `labels`.
    fn holds(&self, arch: Arch, labels: &BTreeMap<String, String>) -> bool {
        self.arch.is_none_or(|wanted| wanted == arch)
            && self
                .labels
                .iter()
                .all(|(key, value)| labels.get(key) == Some(value))
            && (self.instance_families.is_empty() || self.instance_family_matches(labels))
            && self
                .nfd_features
                .iter()
                .all(|feature| nfd_labelled(labels, *feature))
    }

    fn instance_family_matches(&self, labels: &BTreeMap<String, String>) -> bool {
        labels
            .get(labels::INSTANCE_TYPE)
            .map(|instance_type| instance_family(instance_type))
            .is_some_and(|family| self.instance_families.iter().any(|f| f == family))
    }
}

/// `c7g` of `c7g.2xlarge`; the whole value when it has no size suffix.
pub fn instance_family(instance_type: &str) -> &str {
    instance_type
        .split_once('.')
        .map_or(instance_type, |(family, _size)| family)
}

fn labelled_arch(labels: &BTreeMap<String, String>) -> Option<Arch> {
    match labels.get(labels::ARCH).map(|value| Arch::from_name(value)) {
        Some(Arch::Other) | None => None,
        known => known,
    }
}

fn unknown_arch_reason(labels: &BTreeMap<String, String>) -> String {
    match labels.get(labels::ARCH) {
        Some(arch) => {
            format!("arch {arch:?} has no specialised variant; universal is the only safe build")
        }
        None => format!(
            "no {} label, so the CPU is unknown; universal is the only safe build",
            labels::ARCH
        ),
    }
}

fn has_nfd_cpuid_labels(labels: &BTreeMap<String, String>) -> bool {
    labels
        .keys()
        .any(|key| key.starts_with(labels::NFD_CPUID_PREFIX))
}

fn nfd_labelled(labels: &BTreeMap<String, String>, feature: SimdFeature) -> bool {
    let key = format!("{}{}", labels::NFD_CPUID_PREFIX, feature.nfd_name());
    labels.get(&key).is_some_and(|value| value == "true")
}

fn join_notes(notes: Vec<String>) -> String {
    notes.join("; ")
}
