//! Choosing a host for a new storage node: least-used zone first, then least-used host,
//! ties broken by name so the same inputs always give the same plan.

use std::collections::BTreeMap;

use super::host::Host;

/// How many storage nodes of the grid each host and zone already holds.
pub(super) struct Occupancy {
    max_per_host: Option<usize>,
    per_host: BTreeMap<String, usize>,
    per_zone: BTreeMap<String, usize>,
}

impl Occupancy {
    pub(super) fn new(max_per_host: Option<usize>) -> Occupancy {
        Occupancy {
            max_per_host,
            per_host: BTreeMap::new(),
            per_zone: BTreeMap::new(),
        }
    }

    pub(super) fn add(&mut self, host: &str, zone: &str) {
        *self.per_host.entry(host.to_owned()).or_default() += 1;
        *self.per_zone.entry(zone.to_owned()).or_default() += 1;
    }

    fn on_host(&self, host: &str) -> usize {
        self.per_host.get(host).copied().unwrap_or(0)
    }

    fn in_zone(&self, zone: &str) -> usize {
        self.per_zone.get(zone).copied().unwrap_or(0)
    }

    fn has_room(&self, host: &Host) -> bool {
        self.max_per_host
            .is_none_or(|max| self.on_host(&host.name) < max)
    }

    /// The host a new storage node should go to, `None` when every candidate is full.
    pub(super) fn choose<'a>(&self, candidates: &[&'a Host]) -> Option<&'a Host> {
        candidates
            .iter()
            .copied()
            .filter(|host| self.has_room(host))
            .min_by(|a, b| {
                let key = |h: &Host| (self.in_zone(h.zone()), self.on_host(&h.name));
                key(a)
                    .cmp(&key(b))
                    .then_with(|| a.zone().cmp(b.zone()))
                    .then_with(|| a.name.cmp(&b.name))
            })
    }
}
