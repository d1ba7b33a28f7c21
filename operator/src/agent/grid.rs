//! From a StorageGrid manifest to the node specs a backend starts: checked parsing, the
//! shared planner over the one local host, port assignment.

use std::collections::BTreeMap;
use std::path::Path;

use sutra_core::crd::{StorageGrid, catalog_names, parse_storage_grid_yaml, quantity_value};
use sutra_core::plan::{ExistingNode, Host, Plan, PlanOptions, plan_grid};
use sutra_core::platform::PlatformReport;
use sutra_core::variant::{VariantCatalog, host_labels};

use super::error::{AgentError, AgentResult, read_text};
use crate::backend::NodeSpec;
use crate::state_dir::GridDir;

/// Reads and checks a StorageGrid manifest; nothing is started when this fails.
pub fn load_grid(path: &Path) -> AgentResult<StorageGrid> {
    let text = read_text(path)?;
    let grid = parse_storage_grid_yaml(&text).map_err(|error| AgentError::Manifest {
        path: path.to_path_buf(),
        error,
    })?;
    let names = catalog_names();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    grid.validate(&names)
        .map_err(|error| AgentError::InvalidGrid {
            path: path.to_path_buf(),
            error,
        })?;
    Ok(grid)
}

/// The one machine the local agent runs on, as the planner sees it.
pub fn local_host(report: &PlatformReport) -> Host {
    Host::new(host_name(), host_labels(report))
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Plans the grid on `host`; fails when an ordinal finds no place (e.g. a node selector the
/// local host does not match).
pub fn plan_local(
    grid: &StorageGrid,
    host: &Host,
    existing: &[ExistingNode],
    catalog: &VariantCatalog,
) -> AgentResult<Plan> {
    let plan = plan_grid(
        grid,
        std::slice::from_ref(host),
        existing,
        catalog,
        &PlanOptions::local(),
    );
    if let Some((_, reason)) = plan.unplaced.first() {
        let ordinals: Vec<String> = plan.unplaced.iter().map(|(o, _)| o.to_string()).collect();
        return Err(AgentError::Unplaced {
            grid: grid_name(grid).to_owned(),
            ordinals: format!("ordinals {}", ordinals.join(", ")),
            reason: reason.clone(),
        });
    }
    Ok(plan)
}

pub fn grid_name(grid: &StorageGrid) -> &str {
    grid.metadata.name.as_deref().unwrap_or_default()
}

/// The gRPC and metrics port of each ordinal: the manifest's `ports` plus the ordinal, or,
/// with a port base `B`, `B + 2·ordinal` and `B + 2·ordinal + 1`. Every port must be valid
/// and distinct.
pub fn assign_ports(
    grid: &StorageGrid,
    ordinals: &[u32],
    port_base: Option<u16>,
) -> AgentResult<BTreeMap<u32, (u16, u16)>> {
    let mut ports = BTreeMap::new();
    let mut owner: BTreeMap<u32, String> = BTreeMap::new();
    for &ordinal in ordinals {
        let (grpc, metrics) = match port_base {
            Some(base) => {
                let grpc = u32::from(base) + 2 * ordinal;
                (grpc, grpc + 1)
            }
            None => (
                grid.spec.ports.grpc as u32 + ordinal,
                grid.spec.ports.metrics as u32 + ordinal,
            ),
        };
        for (port, purpose) in [(grpc, "gRPC"), (metrics, "metrics")] {
            let user = format!("the {purpose} port of ordinal {ordinal}");
            let valid = u16::try_from(port).is_ok_and(|port| port > 0);
            if !valid {
                return Err(AgentError::Ports(format!(
                    "{user} would be {port}, expected a port from 1 to 65535; lower spec.ports or --port-base"
                )));
            }
            if let Some(other) = owner.insert(port, user.clone()) {
                return Err(AgentError::Ports(format!(
                    "{user} and {other} would both be {port}; move spec.ports.grpc and spec.ports.metrics further apart, or use --port-base"
                )));
            }
        }
        ports.insert(ordinal, (grpc as u16, metrics as u16));
    }
    Ok(ports)
}

/// One node spec per planned node; `variant_rules` is the agent's rules file, passed on so
/// each node judges itself with the table it was planned by.
pub fn node_specs(
    grid: &StorageGrid,
    plan: &Plan,
    dir: &GridDir,
    port_base: Option<u16>,
    variant_rules: Option<&Path>,
) -> AgentResult<Vec<NodeSpec>> {
    let variant_rules = variant_rules
        .map(std::path::absolute)
        .transpose()
        .map_err(|error| AgentError::io("resolving the variant rules path", error))?;
    let ordinals: Vec<u32> = plan.nodes.iter().map(|node| node.ordinal as u32).collect();
    let ports = assign_ports(grid, &ordinals, port_base)?;
    let memory_limit = memory_limit(grid);
    Ok(plan
        .nodes
        .iter()
        .map(|node| {
            let ordinal = node.ordinal as u32;
            let (grpc_port, metrics_port) = ports[&ordinal];
            NodeSpec {
                grid: grid_name(grid).to_owned(),
                name: node.name.clone(),
                ordinal,
                variant: node.variant.clone(),
                image: grid.spec.image.reference(&node.variant),
                vector: grid.spec.vector.clone(),
                grpc_port,
                metrics_port,
                data_dir: dir.data_dir(&node.name),
                memory_limit,
                variant_rules: variant_rules.clone(),
            }
        })
        .collect())
}

/// `resources.limits.memory` in bytes; [`load_grid`] refused a grid whose limit is not a
/// quantity, so none is dropped here.
fn memory_limit(grid: &StorageGrid) -> Option<u64> {
    let limits = grid.spec.resources.as_ref()?.limits.as_ref()?;
    quantity_value(&limits.get("memory")?.0).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(yaml_spec: &str) -> StorageGrid {
        let text = format!(
            "apiVersion: grid.sutra.ai/v1alpha1\nkind: StorageGrid\nmetadata:\n  name: local\nspec:\n{yaml_spec}"
        );
        parse_storage_grid_yaml(&text).unwrap()
    }

    #[test]
    fn ports_follow_the_manifest_base_plus_ordinal() {
        let grid = grid("  replicas: 3\n  vector:\n    dimension: 4\n");
        let ports = assign_ports(&grid, &[0, 1, 2], None).unwrap();
        assert_eq!(ports[&2], (50053, 9092));
    }

    #[test]
    fn a_port_base_interleaves_grpc_and_metrics() {
        let grid = grid("  replicas: 2\n  vector:\n    dimension: 4\n");
        let ports = assign_ports(&grid, &[0, 1], Some(20000)).unwrap();
        assert_eq!((ports[&0], ports[&1]), ((20000, 20001), (20002, 20003)));
    }

    #[test]
    fn overlapping_port_ranges_are_named() {
        let grid =
            grid("  vector:\n    dimension: 4\n  ports:\n    grpc: 7000\n    metrics: 7001\n");
        let error = assign_ports(&grid, &[0, 1], None).unwrap_err().to_string();
        assert!(error.contains("would both be 7001"), "{error}");
    }

    #[test]
    fn ports_past_65535_are_refused() {
        let grid = grid("  vector:\n    dimension: 4\n");
        let error = assign_ports(&grid, &[0, 1], Some(65535))
            .unwrap_err()
            .to_string();
        assert!(error.contains("expected a port from 1 to 65535"), "{error}");
    }

    #[test]
    fn unknown_spec_fields_are_named_with_the_expected_ones() {
        let text = "apiVersion: grid.sutra.ai/v1alpha1\nkind: StorageGrid\nmetadata:\n  name: local\nspec:\n  replica: 3\n  vector:\n    dimension: 4\n";
        let error = parse_storage_grid_yaml(text).unwrap_err().to_string();
        assert!(
            error.contains("replica") && error.contains("`replicas`"),
            "{error}"
        );
    }

    #[test]
    fn unknown_top_level_field_lists_the_top_level_fields() {
        let text = "apiVersion: grid.sutra.ai/v1alpha1\nkind: StorageGrid\nmetadata:\n  name: local\nspec:\n  vector:\n    dimension: 4\nstatuss: {a: 1}\n";
        let error = parse_storage_grid_yaml(text).unwrap_err().to_string();
        assert!(
            error.contains("statuss: got an unknown field `statuss`, expected one of the fields `apiVersion`, `kind`, `metadata`, `spec`, `status`"),
            "{error}"
        );
    }

    #[test]
    fn plans_every_ordinal_on_the_local_host_with_data_under_the_grid_dir() {
        let grid = grid("  replicas: 3\n  variant: universal\n  vector:\n    dimension: 4\n");
        let host = Host::new("laptop", BTreeMap::new());
        let plan = plan_local(&grid, &host, &[], VariantCatalog::builtin()).unwrap();
        let dir = GridDir::new(Path::new("/state"), "local");
        let rules = Path::new("/etc/sutra-grid/variants.yaml");
        let specs = node_specs(&grid, &plan, &dir, None, Some(rules)).unwrap();
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["local-0", "local-1", "local-2"]);
        assert_eq!(specs[1].data_dir, Path::new("/state/local/data/local-1"));
        assert_eq!(specs[1].variant, "universal");
        assert!(
            specs
                .iter()
                .all(|s| s.variant_rules.as_deref() == Some(rules))
        );
    }

    #[test]
    fn a_node_selector_the_host_lacks_is_an_error() {
        let grid = grid(
            "  vector:\n    dimension: 4\n  placement:\n    nodeSelector:\n      disk: nvme\n",
        );
        let host = Host::new("laptop", BTreeMap::new());
        let error = plan_local(&grid, &host, &[], VariantCatalog::builtin())
            .unwrap_err()
            .to_string();
        assert!(error.contains("cannot place ordinals 0"), "{error}");
    }
}
