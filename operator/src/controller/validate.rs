//! The pipeline's validate step: a spec is checked against the operator's variant catalog
//! before anything is built from it. Only [`validate`] makes a [`Validated`], so the build,
//! apply and status steps cannot be handed an unchecked spec. An invalid spec becomes a
//! `Warning` Event `InvalidSpec` naming every bad field, and a permanent error (retried
//! only when the object changes).

use std::ops::Deref;

use kube::Resource;
use sutra_core::crd::condition::reason::INVALID_SPEC;
use sutra_core::crd::{InvalidSpec, StorageGrid, StorageNode};

use super::events::Note;
use super::{Context, Error, Result};

/// A custom resource whose spec can be checked against the variant names the operator
/// knows.
pub trait Validate: Resource<DynamicType = ()> {
    fn check(&self, catalog_names: &[&str]) -> Result<(), InvalidSpec>;
}

impl Validate for StorageGrid {
    fn check(&self, catalog_names: &[&str]) -> Result<(), InvalidSpec> {
        self.validate(catalog_names)
    }
}

impl Validate for StorageNode {
    fn check(&self, catalog_names: &[&str]) -> Result<(), InvalidSpec> {
        self.validate(catalog_names)
    }
}

/// An object whose spec passed [`validate`].
#[derive(Debug)]
pub struct Validated<'a, K> {
    object: &'a K,
}

impl<K> Clone for Validated<'_, K> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K> Copy for Validated<'_, K> {}

impl<K> Deref for Validated<'_, K> {
    type Target = K;

    fn deref(&self) -> &K {
        self.object
    }
}

/// Checks `object`'s spec; an invalid one is reported as an Event and returned as
/// [`Error::InvalidSpec`].
pub async fn validate<'a, K: Validate>(ctx: &Context, object: &'a K) -> Result<Validated<'a, K>> {
    match object.check(&ctx.variant_names()) {
        Ok(()) => Ok(Validated { object }),
        Err(invalid) => {
            let note = Note::warning(INVALID_SPEC, "Validate", invalid.to_string());
            ctx.publish(object, note).await?;
            Err(Error::invalid(object, invalid))
        }
    }
}
