//! `sutra-grid agent`: run a StorageGrid manifest on this machine (up, status, logs, down).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use crate::agent::{
    self, AgentConfig, OutputFormat, UpRequest, UpSettings, resolve_grid, resolve_state_dir,
};

#[derive(Debug, Args)]
pub struct AgentArgs {
    #[command(subcommand)]
    pub command: AgentCommand,
}

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Start the grid of a StorageGrid manifest on this machine and supervise it.
    Up(UpArgs),
    /// Show the grid's nodes: the columns of `kubectl get storagenodes`.
    Status(StatusArgs),
    /// Print a node's recent log lines.
    Logs(LogsArgs),
    /// Stop every node and the supervisor; data is kept unless --purge.
    Down(DownArgs),
    /// The background supervisor of `up --detach` (started by `up`, not by hand).
    #[command(hide = true)]
    Supervise(GridArgs),
}

/// Where grids keep their state, and which grid.
#[derive(Debug, Args)]
pub struct GridArgs {
    /// State directory [default: $XDG_STATE_HOME/sutra-grid or ~/.local/state/sutra-grid].
    #[arg(long, env = "SUTRA_GRID_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Grid name; needed only when the state directory holds several grids.
    #[arg(long)]
    pub grid: Option<String>,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// The StorageGrid manifest, the same file `kubectl apply -f` takes.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub manifest: PathBuf,
    /// Agent settings file (TOML, see config/agent.example.toml); flags win over it.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub settings: AgentConfig,
    /// Supervise from a background process and return once the grid is ready.
    #[arg(short, long)]
    pub detach: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub grid: GridArgs,
    #[arg(short, long, value_enum, default_value = "table")]
    pub output: OutputFormat,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Node name, e.g. local-0.
    pub node: String,
    #[command(flatten)]
    pub grid: GridArgs,
    /// How many of the last lines to print.
    #[arg(long, default_value_t = 100)]
    pub tail: usize,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    #[command(flatten)]
    pub grid: GridArgs,
    /// Delete the nodes' data and logs too.
    #[arg(long)]
    pub purge: bool,
    /// Seconds between SIGTERM and SIGKILL [default: the value `up` was given, else 10].
    #[arg(long, value_name = "SECONDS")]
    pub grace: Option<u64>,
}

/// Runs an agent subcommand on a Tokio runtime of its own.
pub fn run(args: &AgentArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run_async(args))
}

async fn run_async(args: &AgentArgs) -> anyhow::Result<()> {
    let output = match &args.command {
        AgentCommand::Up(up) => {
            let file = AgentConfig::load_optional(up.config.as_deref())?;
            let request = UpRequest {
                manifest: up.manifest.clone(),
                settings: UpSettings::resolve(&up.settings, &file),
                detach: up.detach,
            };
            agent::up(&request).await?;
            String::new()
        }
        AgentCommand::Status(status) => {
            let (state_dir, grid) = locate(&status.grid)?;
            agent::status(&state_dir, &grid, status.output).await?
        }
        AgentCommand::Logs(logs) => {
            let (state_dir, grid) = locate(&logs.grid)?;
            agent::logs(&state_dir, &grid, &logs.node, logs.tail).await?
        }
        AgentCommand::Down(down) => {
            let (state_dir, grid) = locate(&down.grid)?;
            let grace = down.grace.map(Duration::from_secs);
            agent::down(&state_dir, &grid, grace, down.purge).await?
        }
        AgentCommand::Supervise(grid) => {
            let (state_dir, grid) = locate(grid)?;
            agent::supervise_detached(&state_dir, &grid).await?;
            String::new()
        }
    };
    std::io::stdout().lock().write_all(output.as_bytes())?;
    Ok(())
}

fn locate(args: &GridArgs) -> anyhow::Result<(PathBuf, String)> {
    let flags = AgentConfig {
        state_dir: args.state_dir.clone(),
        ..AgentConfig::default()
    };
    let state_dir = resolve_state_dir(&flags, &AgentConfig::default());
    let grid = resolve_grid(&state_dir, args.grid.as_deref())?;
    Ok((state_dir, grid))
}
