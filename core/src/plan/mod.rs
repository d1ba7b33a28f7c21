//! The pure planner: which storage nodes a grid has, where each runs and which variant.
//!
//! [`plan_grid`] is a function of the grid spec, the host inventory, the storage nodes that
//! already exist and the variant rules; it does no I/O. The Kubernetes controller and the
//! local agent both call it, so one set of tests covers placement everywhere.
//!
//! Rules, in the order they apply:
//! * ordinals `0..replicas` exist; anything else (scale down, stray names) is removed, so
//!   scaling down removes the highest ordinals;
//! * an existing storage node keeps its host (its data lives there) unless the host is
//!   lost: deleted, NotReady past the grid's grace period, relabelled out of the node
//!   selector, or tainted `NoExecute`. Then `onNodeLoss: Reschedule` moves it and `Wait`
//!   keeps it where it is; both are reported in [`Plan::lost`];
//! * new (and moved) storage nodes go to eligible hosts in the least-used zone first, then
//!   the least-used host, ties broken by name, at most `max_per_host` per host;
//! * the variant is the grid's explicit one, or picked from the host's labels by the rules.

mod host;
mod placement;

use std::collections::BTreeMap;

use crate::crd::{AUTO_VARIANT, NodeLossPolicy, StorageGrid};
use crate::variant::VariantCatalog;

pub use host::{Host, host_from_node, tolerates};
use placement::Occupancy;

/// Knobs that differ between backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanOptions {
    /// Most storage nodes of one grid per host: `Some(1)` on Kubernetes (one node's disk
    /// and cores per replica), `None` for the local agent, which runs a grid on one machine.
    pub max_per_host: Option<usize>,
}

impl PlanOptions {
    /// One storage node per host.
    pub fn kubernetes() -> PlanOptions {
        PlanOptions {
            max_per_host: Some(1),
        }
    }

    /// No per-host limit.
    pub fn local() -> PlanOptions {
        PlanOptions { max_per_host: None }
    }
}

/// A storage node that exists already.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExistingNode {
    pub name: String,
    pub ordinal: i32,
    /// The host it is pinned to, if any.
    pub host: Option<String>,
}

/// A storage node as it should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedNode {
    /// `<grid>-<ordinal>`.
    pub name: String,
    pub ordinal: i32,
    pub host: String,
    pub variant: String,
    /// Why this variant, in words: the rule that matched or the grid's explicit choice.
    pub reason: String,
}

/// A storage node whose host is lost, and what the plan does about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LostNode {
    pub name: String,
    pub host: String,
    /// What happened to the host.
    pub why: String,
    pub action: LossAction,
}

/// The planner's answer to a lost host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LossAction {
    /// `onNodeLoss: Wait`, or still inside the grace period: stays on its host.
    Wait,
    /// `onNodeLoss: Reschedule`: moves to this host.
    MovedTo(String),
    /// `onNodeLoss: Reschedule` but no eligible host is free: stays until one is.
    NoHostAvailable,
}

/// What the grid should look like.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Placed storage nodes, by ordinal.
    pub nodes: Vec<PlannedNode>,
    /// Ordinals that found no eligible host, with the reason.
    pub unplaced: Vec<(i32, String)>,
    /// Names of existing storage nodes to delete, sorted.
    pub remove: Vec<String>,
    /// Storage nodes whose host is lost (or unavailable within its grace period).
    pub lost: Vec<LostNode>,
}

/// The storage node name of a grid's ordinal.
pub fn node_name(grid: &str, ordinal: i32) -> String {
    format!("{grid}-{ordinal}")
}

/// Plans `grid` over `hosts`, keeping `existing` storage nodes where they are when it can.
pub fn plan_grid(
    grid: &StorageGrid,
    hosts: &[Host],
    existing: &[ExistingNode],
    catalog: &VariantCatalog,
    opts: &PlanOptions,
) -> Plan {
    let grid_name = grid.metadata.name.as_deref().unwrap_or_default();
    let replicas = grid.spec.replicas.max(0);
    let hosts_by_name: BTreeMap<&str, &Host> = hosts.iter().map(|h| (h.name.as_str(), h)).collect();
    let (kept, remove) = split_existing(grid_name, replicas, existing);

    let mut occupancy = Occupancy::new(opts.max_per_host);
    let mut placed: BTreeMap<i32, (String, Option<LostNode>)> = BTreeMap::new();
    let mut to_place: Vec<i32> = Vec::new();
    let mut lost_to_move: Vec<(i32, LostNode)> = Vec::new();

    for ordinal in 0..replicas {
        let Some(node) = kept.get(&ordinal) else {
            to_place.push(ordinal);
            continue;
        };
        let Some(host_name) = node.host.as_deref() else {
            to_place.push(ordinal);
            continue;
        };
        match host_loss(grid, hosts_by_name.get(host_name).copied(), host_name) {
            HostState::Fine => {
                occupancy.add(host_name, zone_of(&hosts_by_name, host_name));
                placed.insert(ordinal, (host_name.to_owned(), None));
            }
            HostState::Unavailable(why) => {
                occupancy.add(host_name, zone_of(&hosts_by_name, host_name));
                let lost = lost(node, host_name, why, LossAction::Wait);
                placed.insert(ordinal, (host_name.to_owned(), Some(lost)));
            }
            HostState::Lost(why) => {
                let lost = lost(node, host_name, why, LossAction::Wait);
                if grid.spec.placement.on_node_loss == NodeLossPolicy::Reschedule {
                    lost_to_move.push((ordinal, lost));
                } else {
                    occupancy.add(host_name, zone_of(&hosts_by_name, host_name));
                    placed.insert(ordinal, (host_name.to_owned(), Some(lost)));
                }
            }
        }
    }

    let eligible: Vec<&Host> = hosts
        .iter()
        .filter(|h| h.admits_new(&grid.spec.placement).is_ok())
        .collect();
    let mut unplaced = Vec::new();
    for (ordinal, mut lost) in lost_to_move {
        match occupancy.choose(&eligible) {
            Some(host) => {
                occupancy.add(&host.name, host.zone());
                lost.action = LossAction::MovedTo(host.name.clone());
                placed.insert(ordinal, (host.name.clone(), Some(lost)));
            }
            None => {
                // Nowhere to go: stay bound to the lost host, so the data and the name
                // survive until a host frees up or the old one returns.
                occupancy.add(&lost.host, zone_of(&hosts_by_name, &lost.host));
                lost.action = LossAction::NoHostAvailable;
                placed.insert(ordinal, (lost.host.clone(), Some(lost)));
            }
        }
    }
    for ordinal in to_place {
        match occupancy.choose(&eligible) {
            Some(host) => {
                occupancy.add(&host.name, host.zone());
                placed.insert(ordinal, (host.name.clone(), None));
            }
            None => unplaced.push((ordinal, no_host_reason(grid, hosts, opts))),
        }
    }

    let mut plan = Plan {
        remove,
        unplaced,
        ..Plan::default()
    };
    for (ordinal, (host_name, lost)) in placed {
        let labels = hosts_by_name
            .get(host_name.as_str())
            .map(|h| h.labels.clone())
            .unwrap_or_default();
        let (variant, reason) = choose_variant(grid, &labels, catalog);
        plan.nodes.push(PlannedNode {
            name: node_name(grid_name, ordinal),
            ordinal,
            host: host_name,
            variant,
            reason,
        });
        plan.lost.extend(lost);
    }
    plan
}

/// Existing nodes to keep by ordinal, and names to remove: ordinals past `replicas`, names
/// that are not `<grid>-<ordinal>`, and duplicates of an ordinal.
fn split_existing(
    grid: &str,
    replicas: i32,
    existing: &[ExistingNode],
) -> (BTreeMap<i32, ExistingNode>, Vec<String>) {
    let mut kept = BTreeMap::new();
    let mut remove = Vec::new();
    let mut sorted: Vec<&ExistingNode> = existing.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    for node in sorted {
        let wanted = (0..replicas).contains(&node.ordinal)
            && node.name == node_name(grid, node.ordinal)
            && !kept.contains_key(&node.ordinal);
        if wanted {
            kept.insert(node.ordinal, node.clone());
        } else {
            remove.push(node.name.clone());
        }
    }
    remove.sort();
    (kept, remove)
}

enum HostState {
    Fine,
    /// NotReady, still inside the grace period.
    Unavailable(String),
    Lost(String),
}

fn host_loss(grid: &StorageGrid, host: Option<&Host>, host_name: &str) -> HostState {
    let placement = &grid.spec.placement;
    let Some(host) = host else {
        return HostState::Lost(format!("host {host_name} no longer exists"));
    };
    if let Err(why) = host.keeps_existing(placement) {
        return HostState::Lost(why);
    }
    if host.ready {
        return HostState::Fine;
    }
    let grace = placement.node_loss_grace_period_seconds;
    if host.not_ready_seconds >= grace {
        HostState::Lost(format!(
            "host {host_name} is NotReady, past the {grace}s grace period"
        ))
    } else {
        // No elapsed seconds in the text: it feeds conditions, which must not change on
        // every reconcile while nothing happens.
        HostState::Unavailable(format!(
            "host {host_name} is NotReady, within the {grace}s grace period"
        ))
    }
}

fn lost(node: &ExistingNode, host: &str, why: String, action: LossAction) -> LostNode {
    LostNode {
        name: node.name.clone(),
        host: host.to_owned(),
        why,
        action,
    }
}

fn zone_of<'a>(hosts: &BTreeMap<&str, &'a Host>, name: &str) -> &'a str {
    hosts.get(name).map_or("", |h| h.zone())
}

/// The grid's explicit variant, or the rules' pick for these labels.
fn choose_variant(
    grid: &StorageGrid,
    labels: &BTreeMap<String, String>,
    catalog: &VariantCatalog,
) -> (String, String) {
    if grid.spec.variant != AUTO_VARIANT {
        let variant = grid.spec.variant.clone();
        let reason = format!("the grid sets variant {variant}");
        return (variant, reason);
    }
    let selection = catalog.select(labels);
    (selection.variant, selection.reason)
}

/// Why an ordinal found no host, counting what excluded each host.
fn no_host_reason(grid: &StorageGrid, hosts: &[Host], opts: &PlanOptions) -> String {
    if hosts.is_empty() {
        return "no hosts exist".to_owned();
    }
    let mut excluded: BTreeMap<String, usize> = BTreeMap::new();
    for host in hosts {
        let why = match host.admits_new(&grid.spec.placement) {
            Ok(()) => "already holds its share of storage nodes".to_owned(),
            Err(why) => generic_reason(&why, &host.name),
        };
        *excluded.entry(why).or_default() += 1;
    }
    let parts: Vec<String> = excluded
        .into_iter()
        .map(|(why, count)| format!("{why} ({count} host(s))"))
        .collect();
    let limit = opts
        .max_per_host
        .map_or(String::new(), |max| format!(" (at most {max} per host)"));
    format!("no eligible host{limit}: {}", parts.join(", "))
}

/// "host a is cordoned" → "is cordoned", so the reasons of many hosts group together.
fn generic_reason(why: &str, host: &str) -> String {
    why.strip_prefix(&format!("host {host} "))
        .unwrap_or(why)
        .to_owned()
}
