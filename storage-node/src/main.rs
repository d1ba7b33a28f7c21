//! `sutra-storage`: parses the command line, runs the library. The start-up guard has
//! already run by then (`cli::guard`, before `main`).

use std::process::ExitCode;

use clap::Parser;
use sutra_core::platform::detect;
use sutra_storage::cli::{Cli, run};

fn main() -> ExitCode {
    run(Cli::parse(), detect())
}
