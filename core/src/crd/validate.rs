//! Client-side validation of specs: the CEL rules' twins plus what CEL does not check.
//!
//! The local agent reads grids without an API server, and the operator re-checks specs
//! before acting, so both call these. Each error names the field path, the bad value and
//! what was expected.

use std::fmt;

use k8s_openapi::api::core::v1::ResourceRequirements;
use kube::api::ObjectMeta;

use super::common::{ImageSpec, PortsSpec, StorageSpec, VectorSpec};
use super::grid::{PlacementSpec, StorageGrid, StorageGridSpec};
use super::node::{StorageNode, StorageNodeSpec};
use super::quantity::{QUANTITY_FORMS, QuantityError, quantity_value};
use super::rules::AUTO_VARIANT;
use crate::vector::MAX_DIMENSION;

/// Longest DNS-1123 label: a Kubernetes Service name, and so a storage node's name.
pub const MAX_LABEL_LENGTH: usize = 63;

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

pub(crate) fn join(errors: &[FieldError]) -> String {
    let lines: Vec<String> = errors.iter().map(FieldError::to_string).collect();
    lines.join("; ")
}

impl StorageGrid {
    /// Checks the name and the spec; `catalog_names` are the variants `spec.variant` may
    /// name besides `auto`. Node names are `<grid>-<ordinal>`, so the grid's name leaves
    /// room for the highest ordinal's suffix.
    pub fn validate(&self, catalog_names: &[&str]) -> Result<(), InvalidSpec> {
        let highest_ordinal = self.spec.replicas.max(1) - 1;
        let suffix = format!("-{highest_ordinal}").len();
        let mut errors = name_errors(&self.metadata, MAX_LABEL_LENGTH - suffix);
        errors.extend(self.spec.field_errors(catalog_names));
        into_result("StorageGrid", errors)
    }
}

impl StorageNode {
    /// Checks the name and the spec; `spec.variant` must be one of `catalog_names`.
    pub fn validate(&self, catalog_names: &[&str]) -> Result<(), InvalidSpec> {
        let mut errors = name_errors(&self.metadata, MAX_LABEL_LENGTH);
        errors.extend(self.spec.field_errors(catalog_names));
        into_result("StorageNode", errors)
    }
}

/// `metadata.name` must be a DNS-1123 label of at most `max_length` characters: it names
/// Pods, Services, containers, volumes and directories.
fn name_errors(metadata: &ObjectMeta, max_length: usize) -> Vec<FieldError> {
    let name = metadata.name.as_deref().unwrap_or_default();
    if is_dns_label(name, max_length) {
        return Vec::new();
    }
    let expected = format!(
        "a DNS-1123 label of 1 to {max_length} characters: lowercase letters, digits and '-', \
         starting and ending with a letter or digit (e.g. `local`)"
    );
    vec![error("metadata.name", quoted(name), &expected)]
}

/// Whether `name` is a DNS-1123 label (`[a-z0-9]([-a-z0-9]*[a-z0-9])?`) of at most
/// `max_length` characters.
pub fn is_dns_label(name: &str, max_length: usize) -> bool {
    let alphanumeric = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = name.as_bytes();
    (1..=max_length).contains(&bytes.len())
        && bytes.iter().all(|&b| alphanumeric(b) || b == b'-')
        && bytes.first().copied().is_some_and(alphanumeric)
        && bytes.last().copied().is_some_and(alphanumeric)
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
        check_resources(self.resources.as_ref(), &mut errors);
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
        check_resources(self.resources.as_ref(), &mut errors);
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
    check_quantity("spec.storage.size", &storage.size, errors);
}

/// Every request and limit is a quantity; the local agent enforces `limits.memory` in
/// bytes, and a value it cannot read must not start a grid without a limit.
fn check_resources(resources: Option<&ResourceRequirements>, errors: &mut Vec<FieldError>) {
    let Some(resources) = resources else {
        return;
    };
    for (section, quantities) in [
        ("requests", resources.requests.as_ref()),
        ("limits", resources.limits.as_ref()),
    ] {
        for (resource, quantity) in quantities.into_iter().flatten() {
            let path = format!("spec.resources.{section}.{resource}");
            check_quantity(&path, &quantity.0, errors);
        }
    }
}

fn check_quantity(path: &str, text: &str, errors: &mut Vec<FieldError>) {
    if let Err(problem) = quantity_value(text) {
        let expected = match problem {
            QuantityError::Syntax { .. } => QUANTITY_FORMS.to_owned(),
            QuantityError::TooLarge { .. } => format!("at most {} units", u64::MAX),
        };
        errors.push(error(path, quoted(text), &expected));
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

/// Names in backticks, comma-separated: `` `a`, `b` ``.
pub(crate) fn list<T: AsRef<str>>(names: impl IntoIterator<Item = T>) -> String {
    let quoted: Vec<String> = names
        .into_iter()
        .map(|name| format!("`{}`", name.as_ref()))
        .collect();
    quoted.join(", ")
}
