//! A grid's status, computed from its StorageNodes and the plan.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use serde_json::Value;
use sutra_core::crd::condition::grid::{DEGRADED, MEMORY_LIMITED, PROGRESSING, READY};
use sutra_core::crd::condition::reason;
use sutra_core::crd::{
    Condition, ConditionStatus, StorageGrid, StorageGridStatus, StorageNode, set_condition,
};

use crate::controller::status::{DesiredStatus, condition, is_ready};
use sutra_core::plan::{LossAction, Plan};

/// The status for `nodes` (the grid's StorageNodes that the plan keeps) after a reconcile
/// that issued `writes` changes.
pub fn desired_status(
    grid: &StorageGrid,
    nodes: &[&StorageNode],
    plan: &Plan,
    writes: usize,
    default_resources: Option<&ResourceRequirements>,
) -> StorageGridStatus {
    let generation = grid.metadata.generation;
    let wanted = grid.spec.replicas.max(0);
    let ready = nodes.iter().filter(|n| is_ready(n)).count() as i32;
    let mut variants = BTreeMap::new();
    for node in nodes {
        let running = node
            .status
            .as_ref()
            .and_then(|s| s.variant.clone())
            .unwrap_or_else(|| node.spec.variant.clone());
        *variants.entry(running).or_insert(0) += 1;
    }
    let mut conditions = grid
        .status
        .as_ref()
        .map(|s| s.conditions.clone())
        .unwrap_or_default();
    let all_ready = ready == wanted;
    set_condition(
        &mut conditions,
        condition(
            READY,
            all_ready.into(),
            if all_ready {
                reason::ALL_REPLICAS_READY
            } else {
                reason::REPLICAS_NOT_READY
            },
            format!("{ready} of {wanted} storage nodes are Ready"),
            generation,
        ),
    );
    let progressing = writes > 0 || (!all_ready && plan.unplaced.is_empty());
    set_condition(
        &mut conditions,
        condition(
            PROGRESSING,
            progressing.into(),
            if progressing {
                reason::RECONCILING
            } else {
                reason::RECONCILED
            },
            if progressing {
                "storage nodes are being created, moved or replaced".to_owned()
            } else {
                "the storage nodes match the spec".to_owned()
            },
            generation,
        ),
    );
    set_condition(&mut conditions, degraded(plan, generation));
    set_condition(
        &mut conditions,
        memory_limited(grid, default_resources, generation),
    );
    StorageGridStatus {
        observed_generation: generation,
        replicas: nodes.len() as i32,
        ready_replicas: ready,
        variants,
        conditions,
    }
}

/// Whether storage containers get a memory limit, from the grid or the operator's defaults.
fn memory_limited(
    grid: &StorageGrid,
    default_resources: Option<&ResourceRequirements>,
    generation: Option<i64>,
) -> Condition {
    let limit = grid
        .spec
        .resources
        .as_ref()
        .or(default_resources)
        .and_then(|r| r.limits.as_ref())
        .and_then(|limits| limits.get("memory"));
    let (status, reason, message) = match limit {
        Some(limit) => (
            ConditionStatus::True,
            reason::LIMIT_SET,
            format!(
                "storage containers are limited to {} of memory; each server sizes its read-ahead and caches from it",
                limit.0
            ),
        ),
        None => (
            ConditionStatus::False,
            reason::NO_MEMORY_LIMIT,
            "storage containers have no memory limit: each server sizes its read-ahead and caches from the whole host's memory and may be evicted first; set spec.resources.limits.memory (or the chart's storageNode.resources)".to_owned(),
        ),
    };
    condition(MEMORY_LIMITED, status, reason, message, generation)
}

fn degraded(plan: &Plan, generation: Option<i64>) -> Condition {
    let lost: Vec<String> = plan
        .lost
        .iter()
        .map(|lost| {
            let action = match &lost.action {
                LossAction::Wait => "waiting for it".to_owned(),
                LossAction::MovedTo(host) => format!("moved to {host}"),
                LossAction::NoHostAvailable => "no eligible host to move to".to_owned(),
            };
            format!("{}: {} ({action})", lost.name, lost.why)
        })
        .collect();
    let unplaced: Vec<String> = plan
        .unplaced
        .iter()
        .map(|(ordinal, why)| format!("ordinal {ordinal}: {why}"))
        .collect();
    let (status, reason, message) = if !lost.is_empty() {
        (ConditionStatus::True, reason::NODE_LOST, lost.join("; "))
    } else if !unplaced.is_empty() {
        (ConditionStatus::True, reason::UNPLACED, unplaced.join("; "))
    } else {
        (
            ConditionStatus::False,
            reason::AS_EXPECTED,
            "every storage node has a host".to_owned(),
        )
    };
    condition(DEGRADED, status, reason, message, generation)
}

impl DesiredStatus for StorageGridStatus {
    type Object = StorageGrid;

    fn current(grid: &StorageGrid) -> Option<Self> {
        grid.status.clone()
    }

    fn conditions_mut(&mut self) -> &mut Vec<Condition> {
        &mut self.conditions
    }

    /// Every field, as the CRD serializes them: the operator alone writes a grid's status.
    fn fields(&self) -> Value {
        serde_json::to_value(self).expect("a grid status serializes to JSON")
    }
}
