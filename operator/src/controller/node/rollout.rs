//! The one-node-at-a-time roll (CloudNativePG's `rollout`): a Pod whose spec changed is
//! re-created by deleting it, and the next reconcile applies the new one. A serving Pod is
//! deleted only while every other StorageNode of its grid is Ready, so a roll never takes
//! two replicas out at once. A Pod that does not serve, or sits on a lost host, is replaced
//! at once: it serves nobody, so replacing it costs nothing.

use k8s_openapi::api::core::v1::Pod;
use kube::api::DeleteParams;
use sutra_core::crd::StorageNode;
use sutra_core::labels;

use super::dereference::HostObservation;
use crate::controller::apply::{list_labelled, pod_is_ready};
use crate::controller::status::is_ready;
use crate::controller::{Context, Result};

/// The sibling whose readiness the replacement of `pod` waits for, if any.
pub async fn blocker(
    ctx: &Context,
    node: &StorageNode,
    namespace: &str,
    pod: &Pod,
    host: &HostObservation,
) -> Result<Option<String>> {
    if !waits_for_siblings(pod, host) {
        return Ok(None);
    }
    let Some(grid) = &node.spec.grid else {
        return Ok(None);
    };
    let siblings = list_labelled(ctx, namespace, labels::GRID_NAME, grid).await?;
    Ok(first_not_ready(node.metadata.name.as_deref(), &siblings).map(str::to_owned))
}

/// Only a serving Pod on an available host waits for its siblings.
pub fn waits_for_siblings(pod: &Pod, host: &HostObservation) -> bool {
    pod_is_ready(pod) && !host.is_unavailable()
}

/// The first StorageNode of `siblings`, other than `own`, that is not Ready.
pub fn first_not_ready<'a>(own: Option<&str>, siblings: &'a [StorageNode]) -> Option<&'a str> {
    siblings
        .iter()
        .filter(|sibling| sibling.metadata.name.as_deref() != own)
        .find(|sibling| !is_ready(sibling))
        .and_then(|sibling| sibling.metadata.name.as_deref())
}

/// How the old Pod is deleted: a Pod on a lost host never confirms its deletion, so it is
/// forced (grace period 0) to free the name for its replacement.
pub fn delete_params(host: &HostObservation) -> DeleteParams {
    if host.is_unavailable() {
        DeleteParams::default().grace_period(0)
    } else {
        DeleteParams::default()
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::{PodCondition, PodStatus};
    use serde_json::json;

    use super::*;
    use sutra_core::plan::Host;

    fn pod(ready: bool) -> Pod {
        Pod {
            status: Some(PodStatus {
                conditions: Some(vec![PodCondition {
                    type_: "Ready".to_owned(),
                    status: if ready { "True" } else { "False" }.to_owned(),
                    ..PodCondition::default()
                }]),
                ..PodStatus::default()
            }),
            ..Pod::default()
        }
    }

    fn present(ready: bool) -> HostObservation {
        let mut host = Host::new("host-a", Default::default());
        host.ready = ready;
        HostObservation::Present(Box::new(host))
    }

    fn sibling(name: &str, ready: Option<bool>) -> StorageNode {
        let mut node: StorageNode = serde_json::from_value(json!({
            "apiVersion": "grid.sutra.ai/v1alpha1", "kind": "StorageNode",
            "metadata": {"name": name},
            "spec": {"grid": "g", "ordinal": 0, "variant": "universal",
                     "vector": {"dimension": 4}}
        }))
        .unwrap();
        if let Some(ready) = ready {
            node.status = serde_json::from_value(json!({"conditions": [{
                "type": "Ready", "status": if ready { "True" } else { "False" },
                "reason": "R", "message": "", "lastTransitionTime": "2025-01-01T00:00:00Z"
            }]}))
            .unwrap();
        }
        node
    }

    #[test]
    fn only_a_serving_pod_on_an_available_host_waits() {
        let cases = [
            (true, present(true), true),
            (true, HostObservation::Unpinned, true),
            (true, present(false), false),
            (true, HostObservation::Missing("host-a".to_owned()), false),
            (false, present(true), false),
            (false, HostObservation::Unpinned, false),
            (false, present(false), false),
            (false, HostObservation::Missing("host-a".to_owned()), false),
        ];
        for (serving, host, waits) in cases {
            assert_eq!(
                waits_for_siblings(&pod(serving), &host),
                waits,
                "serving {serving}, host {host:?}"
            );
        }
    }

    #[test]
    fn the_first_sibling_not_ready_blocks_and_the_node_itself_never_does() {
        let siblings = [
            sibling("g-0", Some(false)),
            sibling("g-1", Some(true)),
            sibling("g-2", None),
            sibling("g-3", Some(false)),
        ];
        assert_eq!(first_not_ready(Some("g-0"), &siblings), Some("g-2"));
        assert_eq!(first_not_ready(Some("g-2"), &siblings), Some("g-0"));
        assert_eq!(first_not_ready(Some("g-0"), &siblings[..2]), None);
        assert_eq!(first_not_ready(Some("g-0"), &[]), None);
    }

    #[test]
    fn a_pod_on_a_lost_host_is_deleted_without_grace() {
        let forced = |host: &HostObservation| delete_params(host).grace_period_seconds;
        assert_eq!(forced(&HostObservation::Missing("a".to_owned())), Some(0));
        assert_eq!(forced(&present(false)), Some(0));
        assert_eq!(forced(&present(true)), None);
        assert_eq!(forced(&HostObservation::Unpinned), None);
    }
}
