//! The `sutra-storage` command line: `detect` and `serve`.

pub mod detect;
pub mod guard;
pub mod serve;

use std::process::ExitCode;

use sutra_core::platform::PlatformReport;

pub use detect::OutputFormat;
pub use serve::ServeArgs;

/// Exit code of a configuration or runtime error (clap uses 2 for bad usage).
pub const EXIT_FAILURE: u8 = 1;

#[derive(Debug, clap::Parser)]
#[command(
    name = "sutra-storage",
    version,
    about = "A vector storage server that detects its hardware"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Print the detected platform.
    Detect {
        #[arg(long, short, value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
    },
    /// Serve the gRPC API until SIGTERM or Ctrl-C.
    Serve(Box<ServeArgs>),
}

/// Runs a parsed command on a host that passed the start-up guard ([`guard`]).
pub fn run(cli: Cli, report: PlatformReport) -> ExitCode {
    match cli.command {
        Command::Detect { output } => match detect::render(&report, output) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(message) => fail(&message),
        },
        Command::Serve(args) => match serve::serve(&args, report) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                tracing::error!(%error, "sutra-storage stopped");
                fail(&error.to_string())
            }
        },
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(EXIT_FAILURE)
}
