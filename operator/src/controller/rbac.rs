//! The exact permissions the controllers use, as data. `sutra-grid rbac` prints them and
//! the Helm chart's ClusterRole is tested against them, so neither drifts.

use serde::Serialize;

/// One rule of a (Cluster)Role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRule {
    pub api_groups: Vec<&'static str>,
    pub resources: Vec<&'static str>,
    pub verbs: Vec<&'static str>,
}

fn rule(group: &'static str, resources: &[&'static str], verbs: &[&'static str]) -> PolicyRule {
    PolicyRule {
        api_groups: vec![group],
        resources: resources.to_vec(),
        verbs: verbs.to_vec(),
    }
}

/// Cluster-wide rules of the operator, and why each verb is there:
/// * Nodes: listed to plan grids, watched for changes, read to check a StorageNode's host;
/// * Pods: created by server-side apply (`create` + `patch`), deleted to be re-created;
/// * PersistentVolumeClaims: created by apply, deleted by the finalizer under
///   `reclaimPolicy: Delete`;
/// * Services: created by apply; never deleted by hand (garbage collection does it through
///   the owner reference);
/// * Events: `create`, and `patch` to extend a repeated event's series;
/// * StorageGrids: read and watched; only their status is written;
/// * StorageNodes: applied, deleted on scale-down, patched to add/remove the finalizer;
/// * ServiceAccounts and RoleBindings: the storage Pods' identity, one `sutra-storage` of
///   each per namespace with StorageNodes, read and server-side applied (`create` +
///   `patch`); never listed, watched or deleted;
/// * ConfigMaps: the copy of the variant rules (`sutra-storage-variants`) the storage Pods
///   of each namespace mount, read and server-side applied like the identity.
///
/// No `bind` on ClusterRoles: Kubernetes lets a subject create a RoleBinding to a
/// ClusterRole when it either may `bind` it or already holds every permission the role
/// grants, in the binding's namespace. The operator holds all of [`storage_node_rules`]
/// cluster-wide (a test below keeps it so), so the escalation check passes without `bind`.
pub fn cluster_rules() -> Vec<PolicyRule> {
    vec![
        rule("", &["nodes"], &["get", "list", "watch"]),
        rule(
            "",
            &["pods", "persistentvolumeclaims"],
            &["get", "list", "watch", "create", "patch", "delete"],
        ),
        rule(
            "",
            &["services"],
            &["get", "list", "watch", "create", "patch"],
        ),
        rule("events.k8s.io", &["events"], &["create", "patch"]),
        rule(
            "grid.sutra.ai",
            &["storagegrids"],
            &["get", "list", "watch"],
        ),
        rule(
            "grid.sutra.ai",
            &["storagenodes"],
            &["get", "list", "watch", "create", "patch", "delete"],
        ),
        rule(
            "grid.sutra.ai",
            &["storagegrids/status", "storagenodes/status"],
            &["get", "patch"],
        ),
        rule(
            "",
            &["serviceaccounts", "configmaps"],
            &["get", "create", "patch"],
        ),
        rule(
            "rbac.authorization.k8s.io",
            &["rolebindings"],
            &["get", "create", "patch"],
        ),
    ]
}

/// Rules of the storage nodes' ClusterRole, bound in each namespace to the `sutra-storage`
/// ServiceAccount: a storage node reads its StorageNode and server-side applies its status.
pub fn storage_node_rules() -> Vec<PolicyRule> {
    vec![
        rule("grid.sutra.ai", &["storagenodes"], &["get"]),
        rule("grid.sutra.ai", &["storagenodes/status"], &["get", "patch"]),
    ]
}

/// Rules in the Lease's namespace for leader election (kube-lease-manager reads, creates
/// and patches the Lease).
pub fn leader_election_rules() -> Vec<PolicyRule> {
    vec![rule(
        "coordination.k8s.io",
        &["leases"],
        &["get", "create", "patch"],
    )]
}

/// YAML list of rules, as under a ClusterRole's `rules:`.
pub fn rules_yaml(rules: &[PolicyRule]) -> String {
    serde_yaml::to_string(rules).expect("rules always serialise")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn rules_print_as_a_role_rules_list() {
        let yaml = rules_yaml(&cluster_rules());
        let parsed: Vec<serde_yaml::Value> = serde_yaml::from_str(&yaml).unwrap();
        assert_eq!(parsed.len(), cluster_rules().len());
        assert!(yaml.contains("apiGroups:"), "{yaml}");
        assert!(yaml.contains("- storagegrids/status"), "{yaml}");
    }

    fn grants(rules: &[PolicyRule]) -> BTreeSet<(&'static str, &'static str, &'static str)> {
        let mut grants = BTreeSet::new();
        for rule in rules {
            for group in &rule.api_groups {
                for resource in &rule.resources {
                    for verb in &rule.verbs {
                        grants.insert((*group, *resource, *verb));
                    }
                }
            }
        }
        grants
    }

    /// What lets the operator bind the storage-node ClusterRole without `bind`.
    #[test]
    fn the_operator_holds_every_storage_node_permission() {
        let operator = grants(&cluster_rules());
        let missing: Vec<_> = grants(&storage_node_rules())
            .difference(&operator)
            .copied()
            .collect();
        assert_eq!(missing, [], "add them to cluster_rules or grant `bind`");
    }

    #[test]
    fn storage_nodes_read_their_object_and_write_only_its_status() {
        assert_eq!(
            grants(&storage_node_rules()),
            BTreeSet::from([
                ("grid.sutra.ai", "storagenodes", "get"),
                ("grid.sutra.ai", "storagenodes/status", "get"),
                ("grid.sutra.ai", "storagenodes/status", "patch"),
            ])
        );
    }

    #[test]
    fn the_operator_never_binds_escalates_or_deletes_rbac() {
        for (group, resource, verb) in grants(&cluster_rules()) {
            assert!(!matches!(verb, "bind" | "escalate" | "impersonate" | "*"));
            if group == "rbac.authorization.k8s.io" {
                assert_eq!(resource, "rolebindings");
                assert!(matches!(verb, "get" | "create" | "patch"), "{verb}");
            }
        }
    }

    #[test]
    fn nothing_is_granted_twice() {
        let mut seen = std::collections::BTreeSet::new();
        for rule in cluster_rules() {
            for group in &rule.api_groups {
                for resource in &rule.resources {
                    assert!(seen.insert((*group, *resource)), "{group}/{resource} twice");
                }
            }
        }
    }
}
