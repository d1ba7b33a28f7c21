//! `sutra-grid`: parses the command line and hands it to the library.

use clap::Parser;
use sutra_grid::cli::{Cli, run};

fn main() -> anyhow::Result<()> {
    run(Cli::parse())
}
