//! `sutra-grid rbac`: the PolicyRules the operator needs, as YAML.

use std::io::Write;

use clap::Args;

use crate::controller::rbac::{cluster_rules, leader_election_rules, rules_yaml};

#[derive(Debug, Args)]
pub struct RbacArgs {
    /// Print the namespaced leader-election rules (the Lease) instead of the cluster rules.
    #[arg(long)]
    pub leader_election: bool,
}

pub fn run(args: &RbacArgs, out: &mut impl Write) -> anyhow::Result<()> {
    let rules = if args.leader_election {
        leader_election_rules()
    } else {
        cluster_rules()
    };
    out.write_all(rules_yaml(&rules).as_bytes())?;
    Ok(())
}
