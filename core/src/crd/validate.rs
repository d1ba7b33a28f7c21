//! Client-side validation of specs: the CEL rules' twins plus what CEL does not check.
//!
//! The local agent reads grids without an API server, and the operator re-checks specs
//! before acting, so both call these. Each error names the field path, the bad value and
//! what was expected.

use std::fmt;

use super::common::{ImageSpec, PortsSpec, StorageSpec, VectorSpec};
use super::grid::{PlacementSpec, StorageGrid, StorageGridSpec};
use super::node::{StorageNode, StorageNodeSpec};
use super::rules::{AUTO_VARIANT, MAX_DIMENSION};

/// One invalid field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// JSON path of the field, e.g. `spec.vector.dimension`.
    pub path: String,
    /// The offending value as written.
    pub value: String,
    /// What the field accepts.
    pub expected: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: got {}, expected {}",
            self.path, self.value, self.expected
        )
    }
}

/// Every invalid field of a spec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind}: {}", join(.errors))]
pub struct InvalidSpec {
    /// `StorageGrid` or `StorageNode`.
    pub kind: &'static str,
    pub errors: Vec<FieldError>,
}

fn join(errors: &[FieldError]) -> String {
    let lines: Vec<String> = errors.iter().map(FieldError::to_string).collect();
    lines.join("; ")
}

impl StorageGrid {
    /// Checks the spec; `catalog_names` are the variants `spec.variant` may name besides
    /// `auto`.
    pub fn validate(&self, catalog_names: &[&str]) -> Result<(), InvalidSpec> {
        into_result("StorageGrid", self.spec.field_errors(catalog_names))
    }
}

impl StorageNode {
    /// Checks the spec; `spec.variant` must be one of `catalog_names`.
    pub fn validate(&self, catalog_names: &[&str]) -> Result<(), InvalidSpec> {
        into_result("StorageNode", self.spec.field_errors(catalog_names))
    }
}

fn into_result(kind: &'static str, errors: Vec<FieldError>) -> Result<(), InvalidSpec> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(InvalidSpec { kind, errors })
    }
}

impl StorageGridSpec {
    /// Every invalid field, in spec order; empty when the spec is valid.
    pub fn field_errors(&self, catalog_names: &[&str]) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.replicas < 0 {
            errors.push(error("spec.replicas", self.replicas, "an integer >= 0"));
        }
        check_image(&self.image, &mut errors);
        if self.variant != AUTO_VARIANT && !catalog_names.contains(&self.variant.as_str()) {
            let expected = format!("`{AUTO_VARIANT}` or one of {}", list(catalog_names));
            errors.push(error("spec.variant", quoted(&self.variant), &expected));
        }
        check_variant_policy(self, &mut errors);
        check_placement(&self.placement, &mut errors);
        check_storage(&self.storage, &mut errors);
        check_vector(&self.vector, &mut errors);
        check_ports(&self.ports, &mut errors);
        errors
    }
}

impl StorageNodeSpec {
    /// Every invalid field, in spec order; empty when the spec is valid.
    pub fn field_errors(&self, catalog_names: &[&str]) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if self.ordinal < 0 {
            errors.push(error("spec.ordinal", self.ordinal, "an integer >= 0"));
        }
        if !catalog_names.contains(&self.variant.as_str()) {
            let expected = format!("a resolved variant, one of {}", list(catalog_names));
            errors.push(error("spec.variant", quoted(&self.variant), &expected));
        }
        check_image(&self.image, &mut errors);
        check_vector(&self.vector, &mut errors);
        check_storage(&self.storage, &mut errors);
        check_ports(&self.ports, &mut errors);
        errors
    }
}

/// `Fixed` runs one named variant; `Auto` and `Labels` let the labels pick (`variant: auto`).
fn check_variant_policy(spec: &StorageGridSpec, errors: &mut Vec<FieldError>) {
    let Some(policy) = spec.variant_policy else {
        return;
    };
    if policy.picks_from_labels() != (spec.variant == AUTO_VARIANT) {
        let expected = if policy.picks_from_labels() {
            format!(
                "`Fixed` while spec.variant names a variant ({:?})",
                spec.variant
            )
        } else {
            format!("`Auto` or `Labels` while spec.variant is `{AUTO_VARIANT}`")
        };
        errors.push(error("spec.variantPolicy", policy.as_str(), &expected));
    }
}

fn check_image(image: &ImageSpec, errors: &mut Vec<FieldError>) {
    if image.repository.trim().is_empty() {
        errors.push(error(
            "spec.image.repository",
            "\"\"",
            "an image repository",
        ));
    }
    if image.tag.trim().is_empty() {
        errors.push(error("spec.image.tag", "\"\"", "an image tag"));
    }
}

fn check_placement(placement: &PlacementSpec, errors: &mut Vec<FieldError>) {
    if placement.node_loss_grace_period_seconds < 0 {
        errors.push(error(
            "spec.placement.nodeLossGracePeriodSeconds",
            placement.node_loss_grace_period_seconds,
            "seconds >= 0",
        ));
    }
}

fn check_storage(storage: &StorageSpec, errors: &mut Vec<FieldError>) {
    if !is_quantity(&storage.size) {
        errors.push(error(
            "spec.storage.size",
            quoted(&storage.size),
            "a Kubernetes quantity such as 10Gi or 500M",
        ));
    }
}

fn check_vector(vector: &VectorSpec, errors: &mut Vec<FieldError>) {
    if !(1..=MAX_DIMENSION).contains(&vector.dimension) {
        let expected = format!("an integer from 1 to {MAX_DIMENSION}");
        errors.push(error("spec.vector.dimension", vector.dimension, &expected));
    }
}

fn check_ports(ports: &PortsSpec, errors: &mut Vec<FieldError>) {
    for (path, port) in [
        ("spec.ports.grpc", ports.grpc),
        ("spec.ports.metrics", ports.metrics),
    ] {
        if !(1..=65535).contains(&port) {
            errors.push(error(path, port, "a port from 1 to 65535"));
        }
    }
    if ports.grpc == ports.metrics {
        errors.push(error(
            "spec.ports.metrics",
            ports.metrics,
            "a port different from spec.ports.grpc",
        ));
    }
}

/// Bytes of a Kubernetes memory quantity (`512Mi`, `2G`, `1000`); `None` for fractions of
/// a byte or unknown suffixes.
pub fn quantity_bytes(text: &str) -> Option<u64> {
    const SUFFIXES: [(&str, u64); 12] = [
        ("Ki", 1 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
        ("Pi", 1 << 50),
        ("Ei", 1 << 60),
        ("k", 1_000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
        ("T", 1_000_000_000_000),
        ("P", 1_000_000_000_000_000),
        ("E", 1_000_000_000_000_000_000),
    ];
    let (number, scale) = SUFFIXES
        .iter()
        .find_map(|(suffix, scale)| text.strip_suffix(suffix).map(|n| (n, *scale)))
        .unwrap_or((text, 1));
    let value: f64 = number.parse().ok()?;
    (value >= 0.0).then_some((value * scale as f64) as u64)
}

/// Whether `text` is a Kubernetes quantity: a non-negative decimal number with an optional
/// binary (`Ki`..`Ei`), decimal (`k`..`E`, `m`) or exponent (`e3`) suffix.
pub fn is_quantity(text: &str) -> bool {
    let number_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(number_end);
    is_decimal(number) && is_quantity_suffix(suffix)
}

fn is_decimal(number: &str) -> bool {
    let mut parts = number.split('.');
    let whole = parts.next().unwrap_or_default();
    let fraction = parts.next();
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    parts.next().is_none()
        && digits(whole)
        && fraction.is_none_or(digits)
        && (!whole.is_empty() || fraction.is_some_and(|f| !f.is_empty()))
}

fn is_quantity_suffix(suffix: &str) -> bool {
    const SUFFIXES: [&str; 14] = [
        "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "m", "k", "M", "G", "T", "P", "E",
    ];
    if SUFFIXES.contains(&suffix) {
        return true;
    }
    let exponent = suffix
        .strip_prefix('e')
        .or_else(|| suffix.strip_prefix('E'));
    exponent.is_some_and(|e| {
        let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
        !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
    })
}

fn error(path: &str, value: impl fmt::Display, expected: &str) -> FieldError {
    FieldError {
        path: path.to_owned(),
        value: value.to_string(),
        expected: expected.to_owned(),
    }
}

fn quoted(value: &str) -> String {
    format!("{value:?}")
}

fn list(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
    quoted.join(", ")
}
