//! `sutra-grid`: parses the command line and hands it to the library.

use std::process::ExitCode;

use clap::Parser;
use sutra_grid::cli::{Cli, run};

/// A failed command prints its message chain only: the errors that reach here are the
/// user's to fix (a bad manifest, a taken port), and a backtrace would bury them, even
/// with `RUST_BACKTRACE` set. Bugs panic, and panics keep their backtraces.
fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
