//! `sutra-grid rbac`: the PolicyRules the operator (or its storage nodes) need, as YAML.

use std::io::Write;

use clap::Args;

use crate::controller::rbac::{
    cluster_rules, leader_election_rules, rules_yaml, storage_node_rules,
};

#[derive(Debug, Args)]
pub struct RbacArgs {
    /// Print the namespaced leader-election rules (the Lease) instead of the cluster rules.
    #[arg(long, conflicts_with = "storage_node")]
    pub leader_election: bool,
    /// Print the rules of the storage nodes' ClusterRole (bound in each namespace to the
    /// `sutra-storage` ServiceAccount) instead of the operator's.
    #[arg(long)]
    pub storage_node: bool,
}

pub fn run(args: &RbacArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let rules = if args.leader_election {
        leader_election_rules()
    } else if args.storage_node {
        storage_node_rules()
    } else {
        cluster_rules()
    };
    out.write_all(rules_yaml(&rules).as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn printed(args: &[&str]) -> String {
        let cli = Cli::try_parse_from(args).unwrap();
        let Command::Rbac(args) = cli.command else {
            panic!("not the rbac command");
        };
        let mut out = Vec::new();
        run(&args, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn each_flag_prints_its_own_rules() {
        assert_eq!(
            printed(&["sutra-grid", "rbac"]),
            rules_yaml(&cluster_rules())
        );
        assert_eq!(
            printed(&["sutra-grid", "rbac", "--leader-election"]),
            rules_yaml(&leader_election_rules())
        );
        assert_eq!(
            printed(&["sutra-grid", "rbac", "--storage-node"]),
            rules_yaml(&storage_node_rules())
        );
    }

    #[test]
    fn one_set_of_rules_at_a_time() {
        assert!(
            Cli::try_parse_from(["sutra-grid", "rbac", "--leader-election", "--storage-node"])
                .is_err()
        );
    }
}
