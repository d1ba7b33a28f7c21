//! CEL validation rules (`x-kubernetes-validations`) the API server enforces.
//!
//! Each rule has a Rust twin in [`super::validate`], which the local agent runs without an
//! API server; keep the two in step.

use kube::core::Rule;

use crate::variant::VariantCatalog;
use crate::vector::MAX_DIMENSION;

/// The value of `spec.variant` that lets the planner pick a variant per host.
pub const AUTO_VARIANT: &str = "auto";

/// Longest variant name; bounding the string keeps the API server's CEL cost estimate of
/// the variant rule small.
pub const MAX_VARIANT_NAME_LENGTH: u32 = 63;

pub(crate) fn replicas_not_negative() -> Rule {
    Rule::new("self >= 0").message("replicas must be 0 or more")
}

pub(crate) fn dimension_in_range() -> Rule {
    Rule::new(format!("self >= 1 && self <= {MAX_DIMENSION}"))
        .message(format!("dimension must be between 1 and {MAX_DIMENSION}").as_str())
}

/// Stored vectors have a fixed dimension and metric: changing either would make every
/// stored vector and index meaningless, so the API server refuses the update.
pub(crate) fn immutable(field: &str) -> Rule {
    Rule::new("self == oldSelf").message(format!("{field} is immutable").as_str())
}

/// `spec.variant` of a grid: `auto` or one of the builtin catalog's variants.
pub(crate) fn grid_variant_known() -> Rule {
    let allowed = quoted_list(std::iter::once(AUTO_VARIANT.to_owned()).chain(catalog_names()));
    Rule::new(format!("self in {allowed}"))
        .message(format!("variant must be one of {allowed}").as_str())
}

/// `spec.variantPolicy` of a grid agrees with `spec.variant`: `Fixed` names a variant,
/// `Auto` and `Labels` go with `auto`.
pub(crate) fn variant_policy_agrees() -> Rule {
    Rule::new(format!(
        "!has(self.variantPolicy) || ((self.variantPolicy == 'Fixed') == (self.variant != '{AUTO_VARIANT}'))"
    ))
    .message("variantPolicy Fixed needs a named variant; Auto and Labels need variant auto")
    .field_path(".variantPolicy")
}

/// `spec.variant` of a storage node: a resolved catalog variant, never `auto`.
pub(crate) fn node_variant_resolved() -> Rule {
    let allowed = quoted_list(catalog_names().into_iter());
    Rule::new(format!("self in {allowed}"))
        .message(format!("variant must be a resolved variant, one of {allowed}").as_str())
}

/// The builtin catalog's variant names, in catalog order (the CRD must be deterministic).
pub fn catalog_names() -> Vec<String> {
    VariantCatalog::builtin()
        .names()
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// A CEL list literal of strings: `['a', 'b']`. Variant names are `[a-z0-9-]`, so no
/// quoting is needed inside the literal.
fn quoted_list(items: impl Iterator<Item = String>) -> String {
    let quoted: Vec<String> = items.map(|item| format!("'{item}'")).collect();
    format!("[{}]", quoted.join(", "))
}
