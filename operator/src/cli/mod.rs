//! The `sutra-grid` command line: one subcommand per job, each delegating to the library.

mod agent;
mod crds;
mod operator;
mod rbac;

use clap::{Parser, Subcommand};

pub use agent::AgentArgs;
pub use crds::CrdsArgs;
pub use operator::OperatorArgs;
pub use rbac::RbacArgs;

/// sutra-grid: run grids of sutra-storage nodes on Kubernetes or on local hosts.
#[derive(Debug, Parser)]
#[command(name = "sutra-grid", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the CustomResourceDefinitions, or write one file per CRD with --output-dir.
    Crds(CrdsArgs),
    /// Run the Kubernetes operator (StorageGrid and StorageNode controllers).
    Operator(OperatorArgs),
    /// Print the RBAC rules the operator needs, as a ClusterRole's `rules:` list.
    Rbac(RbacArgs),
    /// Run a StorageGrid on this machine as processes or containers (local agent).
    Agent(AgentArgs),
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Crds(args) => crds::run(&args, &mut std::io::stdout().lock()),
        Command::Operator(args) => operator::run(&args),
        Command::Rbac(args) => rbac::run(&args, &mut std::io::stdout().lock()),
        Command::Agent(args) => agent::run(&args),
    }
}
