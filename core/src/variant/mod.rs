//! Image variants: the catalog, and rules that map labels to a variant.
