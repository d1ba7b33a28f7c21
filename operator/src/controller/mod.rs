//! The Kubernetes controllers: `StorageGrid` → `StorageNode`s, `StorageNode` → Pod, PVC and
//! Service.
//!
//! Each reconcile is a pipeline `dereference → validate → build → apply → update_status`,
//! one submodule per step; only the first and the last two talk to the API server. The
//! steps both controllers share live here: [`validate`] (a spec checked once, reported as
//! an Event), [`apply`] (server-side apply with field manager [`FIELD_MANAGER`], issued only
//! when the desired object differs from the observed one, so a steady state issues no
//! writes) and [`status`] (one status write, only when it changed).

pub mod apply;
mod backoff;
mod error;
pub mod events;
pub mod grid;
pub mod metrics;
pub mod node;
pub mod rbac;
pub mod status;
pub mod validate;

use std::sync::Arc;

use k8s_openapi::api::core::v1::ResourceRequirements;
use kube::{Client, Resource};
use sutra_core::variant::{VariantCatalog, VariantRules};

pub use backoff::Backoff;
pub use error::{Error, Result, Verb, object_key};
pub use metrics::Metrics;

/// Field manager of every server-side apply the operator issues.
pub const FIELD_MANAGER: &str = "sutra-grid";
/// Finalizer that decides the fate of a StorageNode's volume before it goes.
pub const FINALIZER: &str = "grid.sutra.ai/storage-volume";
/// Hash of the desired spec of an owned object; a different hash means the object must
/// change (Pods: be re-created, since their spec is mostly immutable).
pub const SPEC_HASH_ANNOTATION: &str = "grid.sutra.ai/spec-hash";
/// `app.kubernetes.io/managed-by` value.
pub const MANAGER_NAME: &str = "sutra-grid";

/// The storage nodes' ClusterRole when no other name is configured (the chart's, for a
/// release named `sutra-grid`).
pub const DEFAULT_STORAGE_NODE_CLUSTER_ROLE: &str = "sutra-grid-storage-node";

/// Operator settings the controllers read.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Namespace watched; `None` for all.
    pub namespace: Option<String>,
    /// ClusterRole bound to the `sutra-storage` ServiceAccount in each namespace with
    /// StorageNodes ([`rbac::storage_node_rules`]).
    pub storage_node_cluster_role: String,
    /// Requests and limits of a storage container where its grid gives none (the chart's
    /// `storageNode.resources`).
    pub storage_node_resources: Option<ResourceRequirements>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            namespace: None,
            storage_node_cluster_role: DEFAULT_STORAGE_NODE_CLUSTER_ROLE.to_owned(),
            storage_node_resources: None,
        }
    }
}

/// Everything a reconcile needs, shared by all of them.
pub struct Context {
    pub client: Client,
    pub metrics: Arc<Metrics>,
    pub recorder: events::Recorder,
    /// The one rule table: the operator plans with it and copies it to every namespace
    /// with StorageNodes, where the storage Pods mount it.
    pub rules: Arc<VariantRules>,
    pub config: Config,
    pub backoff: Backoff,
    /// Namespaces whose storage identity was checked lately.
    pub identities: node::identity::Verified,
}

impl Context {
    pub fn new(
        client: Client,
        metrics: Arc<Metrics>,
        rules: Arc<VariantRules>,
        config: Config,
    ) -> Arc<Context> {
        Arc::new(Context {
            recorder: events::Recorder::new(
                client.clone(),
                MANAGER_NAME,
                std::env::var("POD_NAME").ok(),
            ),
            client,
            metrics,
            rules,
            config,
            backoff: Backoff::default(),
            identities: node::identity::Verified::default(),
        })
    }

    pub fn catalog(&self) -> &VariantCatalog {
        &self.rules.catalog
    }

    /// Variant names the specs may use.
    pub fn variant_names(&self) -> Vec<&str> {
        self.catalog().names()
    }

    /// Records an Event about `object`: every decision the operator takes is visible as a
    /// condition or an Event.
    pub async fn publish<K: Resource<DynamicType = ()>>(
        &self,
        object: &K,
        note: events::Note<'_>,
    ) -> Result<()> {
        let reason = note.reason.to_owned();
        self.recorder
            .publish(note, &object.object_ref(&()))
            .await
            .map_err(|source| Error::Api {
                verb: Verb::RecordEvent,
                kind: K::kind(&()).into_owned(),
                name: format!("{} ({reason})", object_key(object)),
                source,
            })
    }
}
