//! Writes the platform status into this node's `StorageNode`, in the background, retrying
//! with backoff until it succeeds; serving never waits for it.
//!
//! It reads the StorageNode first: `metadata.generation` becomes each condition's
//! `observedGeneration` (so `kubectl wait --for=condition=VariantMatched` can trust it),
//! and the existing conditions keep their `lastTransitionTime` when nothing changed.

use std::time::Duration;

use kube::Api;
use kube::api::{Patch, PatchParams};
use sutra_core::backoff::Backoff;
use sutra_core::crd::StorageNode;
use sutra_core::crd::Time;
use sutra_core::crd::condition::now;

use super::{FIELD_MANAGER, PlatformStatus, status_patch};

/// Where this node's StorageNode lives; set by the operator in the Pod's environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterIdentity {
    pub name: String,
    pub namespace: String,
}

impl ClusterIdentity {
    /// From `STORAGENODE_NAME` and `POD_NAMESPACE`; `None` outside a cluster.
    pub fn from_env() -> Option<ClusterIdentity> {
        let var = |key| {
            std::env::var(key)
                .ok()
                .filter(|v: &String| !v.trim().is_empty())
        };
        Some(ClusterIdentity {
            name: var("STORAGENODE_NAME")?,
            namespace: var("POD_NAMESPACE")?,
        })
    }
}

/// Reads the StorageNode and applies the status patch once.
pub async fn report_once(
    client: kube::Client,
    identity: &ClusterIdentity,
    status: &PlatformStatus,
) -> Result<(), kube::Error> {
    report_at(client, identity, status, now()).await
}

/// [`report_once`] with a given clock reading for new condition transitions.
pub async fn report_at(
    client: kube::Client,
    identity: &ClusterIdentity,
    status: &PlatformStatus,
    now: Time,
) -> Result<(), kube::Error> {
    let api: Api<StorageNode> = Api::namespaced(client, &identity.namespace);
    let current = api.get(&identity.name).await?;
    let existing = current.status.map(|s| s.conditions).unwrap_or_default();
    let patch = status_patch(
        &identity.name,
        status,
        current.metadata.generation,
        &existing,
        now,
    );
    api.patch_status(
        &identity.name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(())
}

/// Delays between attempts: doubling from one second up to a minute.
const REPORT_BACKOFF: Backoff = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));

/// Reports until one attempt succeeds; returns how many attempts it took.
pub async fn report_with_retry(
    client: kube::Client,
    identity: &ClusterIdentity,
    status: &PlatformStatus,
    mut backoff: Backoff,
) -> u32 {
    let mut attempts = 1;
    while let Err(error) = report_once(client.clone(), identity, status).await {
        let delay = backoff.next_delay();
        tracing::warn!(
            %error,
            storagenode = %identity.name,
            namespace = %identity.namespace,
            retry_in = ?delay,
            "writing the StorageNode status failed"
        );
        tokio::time::sleep(delay).await;
        attempts += 1;
    }
    tracing::info!(
        storagenode = %identity.name,
        namespace = %identity.namespace,
        variant_matched = status.verdict.matched,
        "wrote the StorageNode status"
    );
    attempts
}

/// Starts the reporter on the runtime: connects with the in-cluster config (retrying
/// too) and reports with the default backoff.
pub fn spawn_reporter(
    identity: ClusterIdentity,
    status: PlatformStatus,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut connecting = REPORT_BACKOFF;
        let client = loop {
            match kube::Client::try_default().await {
                Ok(client) => break client,
                Err(error) => {
                    let delay = connecting.next_delay();
                    tracing::warn!(%error, retry_in = ?delay, "no Kubernetes client for the status reporter");
                    tokio::time::sleep(delay).await;
                }
            }
        };
        report_with_retry(client, &identity, &status, REPORT_BACKOFF).await;
    })
}
