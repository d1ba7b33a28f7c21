//! `sutra-storage`: checks the CPU, parses the command line, runs the library.

use std::process::ExitCode;

use clap::Parser;
use sutra_storage::cli::{Cli, detect_and_guard, run};

fn main() -> ExitCode {
    let report = match detect_and_guard() {
        Ok(report) => report,
        Err(code) => return code,
    };
    run(Cli::parse(), report)
}
