//! The `sutra-grid` command line: one subcommand per job, each delegating to the library.

mod crds;

use clap::{Parser, Subcommand};

pub use crds::CrdsArgs;

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
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Crds(args) => crds::run(&args, &mut std::io::stdout().lock()),
    }
}
