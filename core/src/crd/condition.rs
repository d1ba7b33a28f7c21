//! Status conditions, the Kubernetes way (`type`, `status`, `reason`, `message`,
//! `lastTransitionTime`, `observedGeneration`).
//!
//! The type is k8s-openapi's `meta/v1` [`Condition`]: its schema is structural and its
//! `lastTransitionTime` serialises as RFC 3339 (`2025-01-02T03:04:05Z`), which is what
//! `kubectl wait --for=condition=Ready` and every other Kubernetes tool expect.

pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// Condition types set on a `StorageNode`.
pub mod node {
    /// The storage node read its hardware and reported a `PlatformReport`.
    pub const PLATFORM_DETECTED: &str = "PlatformDetected";
    /// The running image variant is the best one for the detected hardware.
    pub const VARIANT_MATCHED: &str = "VariantMatched";
    /// The storage node serves requests.
    pub const READY: &str = "Ready";
    /// The host the storage node is pinned to exists and is Ready.
    pub const NODE_AVAILABLE: &str = "NodeAvailable";
}

/// Condition types set on a `StorageGrid`.
pub mod grid {
    /// Every replica is ready.
    pub const READY: &str = "Ready";
    /// The grid is creating, moving or replacing storage nodes.
    pub const PROGRESSING: &str = "Progressing";
    /// At least one replica is missing, failed or runs on a lost host.
    pub const DEGRADED: &str = "Degraded";
    /// The storage containers run with a memory limit.
    pub const MEMORY_LIMITED: &str = "MemoryLimited";
}

/// Common `reason` values (CamelCase, as Kubernetes conventions ask).
pub mod reason {
    /// `PlatformDetected=True`: the report arrived.
    pub const DETECTED: &str = "Detected";
    /// `VariantMatched=Unknown`: the storage node has not reported its hardware yet, so
    /// the variant it runs cannot be judged.
    pub const AWAITING_REPORT: &str = "AwaitingReport";
    /// `VariantMatched=False`: the best image could not be pulled; a fallback runs.
    pub const IMAGE_UNAVAILABLE: &str = "ImageUnavailable";
    /// `VariantMatched` reasons come from the variant rules, so the storage node, the operator
    /// and the agent all report the same words for the same decision.
    pub use crate::variant::reason::{
        ALLOWED_FALLBACK, BEST_VARIANT, BETTER_VARIANT_AVAILABLE, MISSING_FEATURES, UNKNOWN_VARIANT,
    };
    /// `Ready=True` on a storage node: it serves requests.
    pub const SERVING: &str = "Serving";
    /// `Ready=False`: the Pod or process is not ready yet.
    pub const NOT_SERVING: &str = "NotServing";
    /// `Ready=True` on a grid: every replica is ready.
    pub const ALL_REPLICAS_READY: &str = "AllReplicasReady";
    /// `Ready=False` on a grid: some replicas are not ready.
    pub const REPLICAS_NOT_READY: &str = "ReplicasNotReady";
    /// `Progressing=True`: storage nodes are being created or replaced.
    pub const RECONCILING: &str = "Reconciling";
    /// `Progressing=False`: the observed state matches the spec.
    pub const RECONCILED: &str = "Reconciled";
    /// `Degraded=True`: a host holding a replica is gone.
    pub const NODE_LOST: &str = "NodeLost";
    /// `Degraded=True`: some ordinals found no eligible host.
    pub const UNPLACED: &str = "Unplaced";
    /// `Degraded=False`: nothing is missing.
    pub const AS_EXPECTED: &str = "AsExpected";
    /// `MemoryLimited=True`.
    pub const LIMIT_SET: &str = "LimitSet";
    /// `MemoryLimited=False`: the Pods are Burstable or BestEffort, and the servers size
    /// their caches and read-ahead from the whole host's memory.
    pub const NO_MEMORY_LIMIT: &str = "NoMemoryLimit";
    /// `NodeAvailable=True`.
    pub const NODE_READY: &str = "NodeReady";
    /// `NodeAvailable=False`: the Node is NotReady.
    pub const NODE_NOT_READY: &str = "NodeNotReady";
    /// `NodeAvailable=False`: the Node object is gone.
    pub const NODE_DELETED: &str = "NodeDeleted";
    /// Any condition: the spec failed validation.
    pub const INVALID_SPEC: &str = "InvalidSpec";
}

/// The three values Kubernetes allows in `Condition.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConditionStatus {
    True,
    False,
    Unknown,
}

impl ConditionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConditionStatus::True => "True",
            ConditionStatus::False => "False",
            ConditionStatus::Unknown => "Unknown",
        }
    }
}

impl From<bool> for ConditionStatus {
    fn from(value: bool) -> Self {
        if value {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        }
    }
}

/// Builds a condition observed at `now` for object generation `observed_generation`.
pub fn new_condition(
    type_: &str,
    status: ConditionStatus,
    reason: &str,
    message: impl Into<String>,
    observed_generation: Option<i64>,
    now: Time,
) -> Condition {
    Condition {
        type_: type_.to_owned(),
        status: status.as_str().to_owned(),
        reason: reason.to_owned(),
        message: message.into(),
        observed_generation,
        last_transition_time: now,
    }
}

/// The current time as a condition timestamp.
pub fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::now())
}

/// Inserts or updates the condition of `new.type_`.
///
/// `lastTransitionTime` only moves when `status` changes: a condition that stays `True`
/// across reconciles keeps the time it became `True`, as Kubernetes conventions require.
/// Returns whether the list changed, so callers can skip a no-op status write.
pub fn set_condition(conditions: &mut Vec<Condition>, new: Condition) -> bool {
    let Some(existing) = conditions.iter_mut().find(|c| c.type_ == new.type_) else {
        conditions.push(new);
        return true;
    };
    let last_transition_time = if existing.status == new.status {
        existing.last_transition_time.clone()
    } else {
        new.last_transition_time.clone()
    };
    let updated = Condition {
        last_transition_time,
        ..new
    };
    if *existing == updated {
        return false;
    }
    *existing = updated;
    true
}

/// The condition of the given type, if set.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether the condition of the given type is set and `True`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    find(conditions, type_).is_some_and(|c| c.status == ConditionStatus::True.as_str())
}
