//! Hosts as the planner sees them, and whether a grid may place a storage node on one.
//!
//! A [`Host`] is built from a Kubernetes Node by [`host_from_node`], or by the local agent
//! from the one machine it detected. Taint and toleration matching follows the
//! Kubernetes scheduler, so the operator never plans a node the scheduler would refuse.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Taint, Toleration};
use k8s_openapi::jiff::Timestamp;

use crate::crd::PlacementSpec;
use crate::labels;

/// One machine that may run storage nodes.
#[derive(Debug, Clone, PartialEq)]
pub struct Host {
    pub name: String,
    /// Node labels (or the labels hardware detection produced for a local host).
    pub labels: BTreeMap<String, String>,
    /// False when cordoned (`spec.unschedulable`).
    pub schedulable: bool,
    /// The Node's `Ready` condition is True.
    pub ready: bool,
    /// Seconds since the host stopped being ready; 0 when ready or unknown.
    pub not_ready_seconds: i64,
    pub taints: Vec<Taint>,
}

impl Host {
    /// A ready, schedulable host without taints.
    pub fn new(name: impl Into<String>, labels: BTreeMap<String, String>) -> Host {
        Host {
            name: name.into(),
            labels,
            schedulable: true,
            ready: true,
            not_ready_seconds: 0,
            taints: Vec::new(),
        }
    }

    /// The zone used to spread storage nodes; hosts without a zone share the empty one.
    pub fn zone(&self) -> &str {
        self.labels.get(labels::ZONE).map_or("", String::as_str)
    }

    /// Whether `placement` lets a new storage node land here, and if not, why.
    pub fn admits_new(&self, placement: &PlacementSpec) -> Result<(), String> {
        if !self.schedulable {
            return Err(format!("host {} is cordoned", self.name));
        }
        if !self.ready {
            return Err(format!("host {} is not Ready", self.name));
        }
        self.keeps_existing(placement)?;
        self.tolerated(placement, "NoSchedule", "the grid does not tolerate")
    }

    /// Whether a storage node already on this host may stay: its labels still match the
    /// node selector and no `NoExecute` taint would evict it. Cordoning and `NoSchedule`
    /// taints only stop new placements, as in Kubernetes.
    pub fn keeps_existing(&self, placement: &PlacementSpec) -> Result<(), String> {
        if let Some((key, wanted)) = placement
            .node_selector
            .iter()
            .find(|(key, value)| self.labels.get(*key) != Some(*value))
        {
            return Err(format!(
                "host {} does not carry the node selector label {key}={wanted}",
                self.name
            ));
        }
        self.tolerated(placement, "NoExecute", "evicts storage nodes")
    }

    /// Whether the grid tolerates every taint with `effect`; if not, the error names the
    /// first such taint and `what_it_does`.
    fn tolerated(
        &self,
        placement: &PlacementSpec,
        effect: &str,
        what_it_does: &str,
    ) -> Result<(), String> {
        let untolerated = self.taints.iter().find(|taint| {
            taint.effect == effect && !placement.tolerations.iter().any(|t| tolerates(t, taint))
        });
        match untolerated {
            Some(taint) => Err(format!(
                "host {} has taint {} that {what_it_does}",
                self.name,
                describe_taint(taint)
            )),
            None => Ok(()),
        }
    }
}

/// Kubernetes toleration semantics: an empty key with `Exists` tolerates every taint; an
/// empty effect matches every effect; `Equal` (the default operator) compares values.
pub fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    let effect_matches = toleration
        .effect
        .as_deref()
        .is_none_or(|effect| effect.is_empty() || effect == taint.effect);
    if !effect_matches {
        return false;
    }
    let key = toleration.key.as_deref().unwrap_or("");
    match toleration.operator.as_deref().unwrap_or("Equal") {
        "Exists" => key.is_empty() || key == taint.key,
        "Equal" => {
            key == taint.key
                && toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
        _ => false,
    }
}

fn describe_taint(taint: &Taint) -> String {
    match &taint.value {
        Some(value) => format!("{}={}:{}", taint.key, value, taint.effect),
        None => format!("{}:{}", taint.key, taint.effect),
    }
}

/// A Kubernetes Node as a planner host, with its NotReady age measured at `now`.
pub fn host_from_node(node: &Node, now: Timestamp) -> Host {
    let spec = node.spec.as_ref();
    let ready_condition = node
        .status
        .as_ref()
        .and_then(|status| status.conditions.as_ref())
        .and_then(|conditions| conditions.iter().find(|c| c.type_ == "Ready"));
    let ready = ready_condition.is_some_and(|c| c.status == "True");
    let not_ready_seconds = match ready_condition.and_then(|c| c.last_transition_time.as_ref()) {
        Some(since) if !ready => now.duration_since(since.0).as_secs().max(0),
        _ => 0,
    };
    Host {
        name: node.metadata.name.clone().unwrap_or_default(),
        labels: node.metadata.labels.clone().unwrap_or_default(),
        schedulable: !spec.and_then(|s| s.unschedulable).unwrap_or(false),
        ready,
        not_ready_seconds,
        taints: spec.and_then(|s| s.taints.clone()).unwrap_or_default(),
    }
}
