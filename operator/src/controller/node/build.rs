//! Pure builders of the objects a StorageNode owns: its Pod, volume claim and headless
//! Service; and of the identity its Pod runs as, shared by the namespace
//! ([`super::identity`]).
//!
//! The Pod is pinned with a required node affinity on `metadata.name` (as DaemonSets do)
//! rather than `spec.nodeName`: the scheduler still runs, so volumes with
//! `WaitForFirstConsumer` binding are provisioned on the right host, resource requests are
//! checked, and a Pod that cannot fit stays visibly `Pending` instead of being rejected by
//! the kubelet.

use std::collections::BTreeMap;
use sutra_core::serve::ServeCommand;

use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EnvVar,
    EnvVarSource, GRPCAction, NodeAffinity, NodeSelector, NodeSelectorRequirement,
    NodeSelectorTerm, ObjectFieldSelector, PersistentVolumeClaim, PersistentVolumeClaimSpec,
    PersistentVolumeClaimVolumeSource, Pod, PodSecurityContext, PodSpec, Probe,
    ResourceRequirements, SeccompProfile, SecurityContext, Service, ServiceAccount, ServicePort,
    ServiceSpec, Volume, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Resource;
use serde::Serialize;
use sutra_core::crd::{ReclaimPolicy, StorageNode};
use sutra_core::labels;

use super::identity::{STORAGE_IDENTITY, VARIANT_RULES_CONFIG_MAP};
use crate::controller::MANAGER_NAME;
use crate::controller::apply::hash_annotation;
use sutra_core::crd::quantity_value;

/// Name of the storage container.
pub const CONTAINER: &str = "sutra-storage";
/// Where the volume is mounted and the storage node keeps its data.
pub const DATA_PATH: &str = "/data";
/// The non-root user and group of the storage image (distroless `nonroot`).
pub const RUN_AS: i64 = 65532;
/// Where the namespace's copy of the operator's variant rules is mounted.
pub const VARIANT_RULES_DIR: &str = "/etc/sutra-storage";
/// The rules file inside [`VARIANT_RULES_DIR`] (the ConfigMap's key).
pub const VARIANT_RULES_KEY: &str = "variants.yaml";
/// Seconds between startup probes when the spec sets none.
pub const DEFAULT_STARTUP_PERIOD_SECONDS: i32 = 5;
/// Start-up time every store gets, whatever its size.
const STARTUP_BASE_SECONDS: u64 = 60;
/// Start-up time per GiB of volume: a cold open of 1M 768-d vectors (2.9 GiB) takes 1-2 s
/// on a local SSD, so 5 s per GiB leaves room for slow network disks.
const STARTUP_SECONDS_PER_GIB: u64 = 5;

pub fn pod_name(node: &StorageNode) -> String {
    node_name(node)
}

pub fn pvc_name(node: &StorageNode) -> String {
    format!("{}-data", node_name(node))
}

pub fn service_name(node: &StorageNode) -> String {
    node_name(node)
}

fn node_name(node: &StorageNode) -> String {
    node.metadata.name.clone().unwrap_or_default()
}

/// Labels on every object a StorageNode owns; the Service selects the Pod by them.
pub fn selector_labels(node: &StorageNode) -> BTreeMap<String, String> {
    BTreeMap::from([(labels::NODE_NAME.to_owned(), node_name(node))])
}

fn owned_labels(node: &StorageNode, variant: Option<&str>) -> BTreeMap<String, String> {
    let mut labels = selector_labels(node);
    labels.insert(labels::MANAGED_BY.to_owned(), MANAGER_NAME.to_owned());
    if let Some(grid) = &node.spec.grid {
        labels.insert(labels::GRID_NAME.to_owned(), grid.clone());
    }
    if let Some(variant) = variant {
        labels.insert(labels::VARIANT.to_owned(), variant.to_owned());
    }
    labels
}

/// Metadata of an owned object, with the hash of its content.
fn owned_meta<T: Serialize>(
    node: &StorageNode,
    name: String,
    labels: BTreeMap<String, String>,
    owned: bool,
    content: &T,
) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: node.metadata.namespace.clone(),
        labels: Some(labels),
        annotations: Some(hash_annotation(content)),
        owner_references: owned
            .then(|| node.controller_owner_ref(&()))
            .flatten()
            .map(|owner| vec![owner]),
        ..ObjectMeta::default()
    }
}

/// The Pod running `variant` of the storage image on the StorageNode's host;
/// `default_resources` apply when the StorageNode sets none.
pub fn build_pod(
    node: &StorageNode,
    variant: &str,
    default_resources: Option<&ResourceRequirements>,
) -> Pod {
    let spec = pod_spec(node, variant, default_resources);
    Pod {
        metadata: owned_meta(
            node,
            pod_name(node),
            owned_labels(node, Some(variant)),
            true,
            &spec,
        ),
        spec: Some(spec),
        status: None,
    }
}

fn pod_spec(
    node: &StorageNode,
    variant: &str,
    default_resources: Option<&ResourceRequirements>,
) -> PodSpec {
    PodSpec {
        affinity: node.spec.node_name.as_deref().map(pinned_to),
        tolerations: (!node.spec.tolerations.is_empty()).then(|| node.spec.tolerations.clone()),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(RUN_AS),
            run_as_group: Some(RUN_AS),
            fs_group: Some(RUN_AS),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".to_owned(),
                localhost_profile: None,
            }),
            ..PodSecurityContext::default()
        }),
        containers: vec![container(node, variant, default_resources)],
        volumes: Some(vec![
            Volume {
                name: "data".to_owned(),
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                    claim_name: pvc_name(node),
                    read_only: None,
                }),
                ..Volume::default()
            },
            Volume {
                name: "variant-rules".to_owned(),
                config_map: Some(ConfigMapVolumeSource {
                    name: VARIANT_RULES_CONFIG_MAP.to_owned(),
                    ..ConfigMapVolumeSource::default()
                }),
                ..Volume::default()
            },
        ]),
        restart_policy: Some("Always".to_owned()),
        // The storage node reports its own status through the API server.
        service_account_name: Some(STORAGE_IDENTITY.to_owned()),
        automount_service_account_token: Some(true),
        ..PodSpec::default()
    }
}

fn pinned_to(host: &str) -> Affinity {
    Affinity {
        node_affinity: Some(NodeAffinity {
            required_during_scheduling_ignored_during_execution: Some(NodeSelector {
                node_selector_terms: vec![NodeSelectorTerm {
                    match_fields: Some(vec![NodeSelectorRequirement {
                        key: "metadata.name".to_owned(),
                        operator: "In".to_owned(),
                        values: Some(vec![host.to_owned()]),
                    }]),
                    match_expressions: None,
                }],
            }),
            preferred_during_scheduling_ignored_during_execution: None,
        }),
        ..Affinity::default()
    }
}

fn container(
    node: &StorageNode,
    variant: &str,
    default_resources: Option<&ResourceRequirements>,
) -> Container {
    let spec = &node.spec;
    Container {
        name: CONTAINER.to_owned(),
        image: Some(spec.image.reference(variant)),
        image_pull_policy: Some(spec.image.pull_policy.as_str().to_owned()),
        args: Some(serve_args(node, variant)),
        env: Some(environment(node)),
        ports: Some(vec![
            port("grpc", spec.ports.grpc),
            port("metrics", spec.ports.metrics),
        ]),
        startup_probe: Some(startup_probe(node)),
        readiness_probe: Some(grpc_probe(spec.ports.grpc, 0, 10, 3)),
        liveness_probe: Some(grpc_probe(spec.ports.grpc, 0, 20, 3)),
        resources: spec
            .resources
            .clone()
            .or_else(|| default_resources.cloned()),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".to_owned()]),
                add: None,
            }),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(vec![
            VolumeMount {
                name: "data".to_owned(),
                mount_path: DATA_PATH.to_owned(),
                ..VolumeMount::default()
            },
            VolumeMount {
                name: "variant-rules".to_owned(),
                mount_path: VARIANT_RULES_DIR.to_owned(),
                read_only: Some(true),
                ..VolumeMount::default()
            },
        ]),
        ..Container::default()
    }
}

/// `sutra-storage serve ...`: every setting once, as flags; the environment carries only
/// where the node's StorageNode is.
pub fn serve_args(node: &StorageNode, variant: &str) -> Vec<String> {
    let spec = &node.spec;
    ServeCommand {
        data_dir: DATA_PATH,
        vector: &spec.vector,
        grpc_addr: format!("0.0.0.0:{}", spec.ports.grpc),
        metrics_addr: format!("0.0.0.0:{}", spec.ports.metrics),
        variant: Some(variant),
        variant_rules: Some(&format!("{VARIANT_RULES_DIR}/{VARIANT_RULES_KEY}")),
    }
    .args()
}

fn environment(node: &StorageNode) -> Vec<EnvVar> {
    vec![
        env("STORAGENODE_NAME", &node_name(node)),
        EnvVar {
            name: "POD_NAMESPACE".to_owned(),
            value: None,
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    field_path: "metadata.namespace".to_owned(),
                    api_version: None,
                }),
                ..EnvVarSource::default()
            }),
        },
    ]
}

fn env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value.to_owned()),
        value_from: None,
    }
}

fn port(name: &str, number: i32) -> ContainerPort {
    ContainerPort {
        name: Some(name.to_owned()),
        container_port: number,
        protocol: Some("TCP".to_owned()),
        ..ContainerPort::default()
    }
}

/// A gRPC health probe (GA since Kubernetes 1.27) against the storage node's health
/// service.
fn grpc_probe(port: i32, initial_delay: i32, period: i32, failure_threshold: i32) -> Probe {
    Probe {
        grpc: Some(GRPCAction {
            port,
            service: None,
        }),
        initial_delay_seconds: Some(initial_delay),
        period_seconds: Some(period),
        failure_threshold: Some(failure_threshold),
        ..Probe::default()
    }
}

/// The startup probe: liveness and readiness wait until it passes, so opening a large
/// store is not mistaken for a hung server. Sized from the volume unless the spec says.
fn startup_probe(node: &StorageNode) -> Probe {
    let spec = &node.spec.startup_probe;
    let period = spec
        .period_seconds
        .unwrap_or(DEFAULT_STARTUP_PERIOD_SECONDS);
    let threshold = spec
        .failure_threshold
        .unwrap_or_else(|| startup_failure_threshold(&node.spec.storage.size, period));
    grpc_probe(node.spec.ports.grpc, 0, period, threshold)
}

/// Attempts that cover 60 s plus 5 s per GiB of `size`, at one per `period` seconds.
pub fn startup_failure_threshold(size: &str, period: i32) -> i32 {
    let gib = quantity_value(size).unwrap_or_default().div_ceil(1 << 30);
    let seconds = STARTUP_BASE_SECONDS + STARTUP_SECONDS_PER_GIB * gib;
    let attempts = seconds.div_ceil(u64::from(period.max(1).unsigned_abs()));
    i32::try_from(attempts).unwrap_or(i32::MAX)
}

/// The claim for `/data`. With `reclaimPolicy: Delete` the StorageNode owns it (and the
/// finalizer deletes it); with `Retain` it has no owner, so nothing collects it.
pub fn build_pvc(node: &StorageNode) -> PersistentVolumeClaim {
    let storage = &node.spec.storage;
    let spec = PersistentVolumeClaimSpec {
        access_modes: Some(vec!["ReadWriteOnce".to_owned()]),
        storage_class_name: storage.storage_class_name.clone(),
        resources: Some(VolumeResourceRequirements {
            requests: Some(BTreeMap::from([(
                "storage".to_owned(),
                Quantity(storage.size.clone()),
            )])),
            limits: None,
        }),
        ..PersistentVolumeClaimSpec::default()
    };
    let owned = storage.reclaim_policy == ReclaimPolicy::Delete;
    PersistentVolumeClaim {
        metadata: owned_meta(node, pvc_name(node), owned_labels(node, None), owned, &spec),
        spec: Some(spec),
        status: None,
    }
}

/// A headless Service giving the Pod a stable DNS name for gRPC and metrics.
pub fn build_service(node: &StorageNode) -> Service {
    let spec = ServiceSpec {
        cluster_ip: Some("None".to_owned()),
        selector: Some(selector_labels(node)),
        publish_not_ready_addresses: Some(false),
        ports: Some(vec![
            service_port("grpc", node.spec.ports.grpc),
            service_port("metrics", node.spec.ports.metrics),
        ]),
        ..ServiceSpec::default()
    };
    Service {
        metadata: owned_meta(
            node,
            service_name(node),
            owned_labels(node, None),
            true,
            &spec,
        ),
        spec: Some(spec),
        status: None,
    }
}

fn service_port(name: &str, number: i32) -> ServicePort {
    ServicePort {
        name: Some(name.to_owned()),
        port: number,
        target_port: Some(IntOrString::String(name.to_owned())),
        protocol: Some("TCP".to_owned()),
        ..ServicePort::default()
    }
}

/// What storage Pods in one namespace run as, and the variant rules they judge with.
#[derive(Debug, Clone, PartialEq)]
pub struct StorageIdentity {
    pub service_account: ServiceAccount,
    pub role_binding: RoleBinding,
    pub variant_rules: ConfigMap,
}

/// The `sutra-storage` ServiceAccount of `namespace`, its RoleBinding to `cluster_role`,
/// and the ConfigMap holding the operator's `rules_yaml` (a Pod can mount only a ConfigMap
/// of its own namespace). No owner: the namespace's StorageNodes share them.
pub fn build_storage_identity(
    namespace: &str,
    cluster_role: &str,
    rules_yaml: &str,
) -> StorageIdentity {
    let labels = BTreeMap::from([(labels::MANAGED_BY.to_owned(), MANAGER_NAME.to_owned())]);
    let meta = |name: &str, hash: BTreeMap<String, String>| ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(namespace.to_owned()),
        labels: Some(labels.clone()),
        annotations: Some(hash),
        ..ObjectMeta::default()
    };
    let role_ref = RoleRef {
        api_group: "rbac.authorization.k8s.io".to_owned(),
        kind: "ClusterRole".to_owned(),
        name: cluster_role.to_owned(),
    };
    let subjects = vec![Subject {
        kind: "ServiceAccount".to_owned(),
        name: STORAGE_IDENTITY.to_owned(),
        namespace: Some(namespace.to_owned()),
        api_group: None,
    }];
    StorageIdentity {
        service_account: ServiceAccount {
            metadata: meta(STORAGE_IDENTITY, hash_annotation(&labels)),
            ..ServiceAccount::default()
        },
        role_binding: RoleBinding {
            metadata: meta(STORAGE_IDENTITY, hash_annotation(&(&role_ref, &subjects))),
            role_ref,
            subjects: Some(subjects),
        },
        variant_rules: ConfigMap {
            metadata: meta(VARIANT_RULES_CONFIG_MAP, hash_annotation(&rules_yaml)),
            data: Some(BTreeMap::from([(
                VARIANT_RULES_KEY.to_owned(),
                rules_yaml.to_owned(),
            )])),
            ..ConfigMap::default()
        },
    }
}
