//! The identity storage Pods run as: in each namespace with StorageNodes, a ServiceAccount
//! `sutra-storage` and a RoleBinding `sutra-storage` granting it the storage-node
//! ClusterRole (read its StorageNode, apply its status), as CloudNativePG does for its
//! instances.
//!
//! With them goes the ConfigMap `sutra-storage-variants`: the operator's variant rules,
//! which every storage Pod mounts so a node judges its hardware with the table it was
//! placed by. Editing the chart's rules updates every namespace's copy on the next
//! [`RECHECK`]; a running node keeps the table it started with until its Pod is re-created.
//!
//! All three are owned by nobody. They are shared by every StorageNode of the namespace, so an
//! owner reference to one StorageNode would let the garbage collector take them when that
//! node goes (a scale-down of ordinal 0) while its siblings' Pods still run as the account,
//! and a Pod created meanwhile would be refused for want of it; listing every StorageNode
//! as an owner would cost a write per node added or removed. Left behind after the last
//! StorageNode they grant nothing beyond reading and reporting StorageNodes of that
//! namespace; `kubectl delete serviceaccount,rolebinding sutra-storage` removes them.
//!
//! They are read (and applied when missing or different) at most once per [`RECHECK`] per
//! namespace, not on every reconcile of every StorageNode: a thousand nodes in a namespace
//! would otherwise read the same two objects a thousand times per resync.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Name of the storage nodes' ServiceAccount and of its RoleBinding.
pub const STORAGE_IDENTITY: &str = "sutra-storage";

/// Name of the ConfigMap holding the variant rules storage Pods mount.
pub const VARIANT_RULES_CONFIG_MAP: &str = "sutra-storage-variants";

/// How long a namespace's identity counts as checked.
pub const RECHECK: Duration = Duration::from_secs(300);

/// Namespaces whose ServiceAccount and RoleBinding were found (or made) as desired, and
/// when.
#[derive(Debug, Default)]
pub struct Verified {
    checked: Mutex<HashMap<String, Instant>>,
}

impl Verified {
    /// Whether `namespace` was checked less than [`RECHECK`] ago.
    pub fn is_fresh(&self, namespace: &str) -> bool {
        self.lock()
            .get(namespace)
            .is_some_and(|at| at.elapsed() < RECHECK)
    }

    pub fn mark(&self, namespace: &str) {
        self.lock().insert(namespace.to_owned(), Instant::now());
    }

    /// Checks `namespace` again on its next reconcile (after a failed write, say, which
    /// may come from a ServiceAccount deleted meanwhile).
    pub fn forget(&self, namespace: &str) {
        self.lock().remove(namespace);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.checked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespace_is_fresh_once_marked_until_forgotten() {
        let verified = Verified::default();
        assert!(!verified.is_fresh("a"));
        verified.mark("a");
        assert!(verified.is_fresh("a"));
        assert!(!verified.is_fresh("b"));
        verified.forget("a");
        assert!(!verified.is_fresh("a"));
    }
}
