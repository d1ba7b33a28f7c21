//! Image variants: the catalog, and rules that map labels to a variant.
//!
//! The catalog and its rule table load from YAML (`config/variants.yaml` is embedded as
//! the default). Rules read labels, and a detected host is turned into the same labels by
//! [`host_labels`], so one table serves Kubernetes Nodes and local hosts alike.

mod catalog;
mod error;
mod host;
mod select;

pub use catalog::{
    BUILTIN_YAML, Condition, Rule, UNIVERSAL, Variant, VariantCatalog, VariantRules,
};
pub use error::VariantError;
pub use host::{VariantMatch, host_labels, reason};
pub use select::{Selection, instance_family};
