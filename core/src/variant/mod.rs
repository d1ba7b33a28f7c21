//! Image variants: the catalog, and rules that map labels to a variant.

mod catalog;
mod error;

pub use catalog::{BUILTIN_YAML, Condition, Rule, UNIVERSAL, Variant, VariantCatalog};
pub use error::VariantError;
