//! Which Node changes re-plan the grids (the model is CloudNativePG's `nodesPredicate`).
//!
//! The planner reads four things of a Node: its labels, its taints, whether it is cordoned
//! and its `Ready` condition (status and transition time, which start the NotReady grace
//! period). Only a change to one of them, or a Node that appears or goes, can change a plan.
//! The kubelet rewrites its Node every few seconds for the heartbeat (`lastHeartbeatTime`,
//! `resourceVersion`, images, allocatable), and each write reaches every watcher; without
//! this filter each heartbeat of each Node would re-plan every grid.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::core::v1::{Node, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::watcher::Event;

/// What the planner reads of a Node.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedFacts {
    labels: BTreeMap<String, String>,
    taints: Vec<Taint>,
    schedulable: bool,
    /// Status and `lastTransitionTime` of the `Ready` condition, when there is one.
    ready: Option<(String, Option<Time>)>,
}

impl PlannedFacts {
    pub fn of(node: &Node) -> PlannedFacts {
        let spec = node.spec.as_ref();
        let ready = node
            .status
            .as_ref()
            .and_then(|status| status.conditions.as_ref())
            .and_then(|conditions| conditions.iter().find(|c| c.type_ == "Ready"))
            .map(|c| (c.status.clone(), c.last_transition_time.clone()));
        PlannedFacts {
            labels: node.metadata.labels.clone().unwrap_or_default(),
            taints: spec.and_then(|s| s.taints.clone()).unwrap_or_default(),
            schedulable: !spec.and_then(|s| s.unschedulable).unwrap_or(false),
            ready,
        }
    }
}

/// Whether a Node going from `before` to `after` may change a plan; `None` is a Node that
/// does not exist.
pub fn replans(before: Option<&PlannedFacts>, after: Option<&PlannedFacts>) -> bool {
    before != after
}

/// Follows the Node watch, remembering what the planner last saw of each Node.
#[derive(Debug, Default)]
pub struct NodeChanges {
    known: HashMap<String, PlannedFacts>,
    /// The Nodes of a (re-)list in progress.
    listing: Option<HashMap<String, PlannedFacts>>,
}

impl NodeChanges {
    /// Takes one watch event; true when the grids must be re-planned. A (re-)list counts
    /// once, at its end, and also notices the Nodes deleted while the watch was down.
    pub fn replans(&mut self, event: &Event<Node>) -> bool {
        match event {
            Event::Apply(node) => {
                let after = PlannedFacts::of(node);
                let before = self.known.insert(name(node), after.clone());
                replans(before.as_ref(), Some(&after))
            }
            Event::Delete(node) => {
                self.known.remove(&name(node));
                true
            }
            Event::Init => {
                self.listing = Some(HashMap::new());
                false
            }
            Event::InitApply(node) => {
                self.listing
                    .get_or_insert_default()
                    .insert(name(node), PlannedFacts::of(node));
                false
            }
            Event::InitDone => {
                let listed = self.listing.take().unwrap_or_default();
                let changed = listed != self.known;
                self.known = listed;
                changed
            }
        }
    }
}

fn name(node: &Node) -> String {
    node.metadata.name.clone().unwrap_or_default()
}

#[cfg(test)]
mod tests;
