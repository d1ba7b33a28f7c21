//! The agent's settings: command-line flags over an optional TOML file
//! (`config/agent.example.toml`) over defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::backends::BackendKind;
use super::error::{AgentError, AgentResult, read_text};
use crate::backend::docker::NetworkSetting;
use crate::state_dir::default_state_dir;

pub const DEFAULT_METRICS_ADDR: &str = "127.0.0.1:9100";
/// How long a node may take to stop between SIGTERM and SIGKILL.
pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(10);
pub const DEFAULT_READY_TIMEOUT_SECONDS: u64 = 60;

/// The agent's settings from one source: the config file, where every key is optional,
/// or the flags of `agent up`, which document each setting.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Where nodes run [default: process].
    #[arg(long, value_enum)]
    pub backend: Option<BackendKind>,
    /// Docker backend: host network where the engine runs on this machine's kernel, else
    /// a pause container per node publishing its ports [default: auto].
    #[arg(long, value_enum, value_name = "NETWORK")]
    pub docker_network: Option<NetworkSetting>,
    /// State directory [default: $XDG_STATE_HOME/sutra-grid or ~/.local/state/sutra-grid].
    #[arg(long, env = "SUTRA_GRID_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// The sutra-storage binary [default: $SUTRA_STORAGE_BIN, next to sutra-grid, PATH].
    #[arg(long, value_name = "PATH")]
    pub storage_bin: Option<PathBuf>,
    /// Node i listens on gRPC PORT+2i and metrics PORT+2i+1 [default: the manifest's ports].
    #[arg(long, value_name = "PORT")]
    pub port_base: Option<u16>,
    /// Address of the agent's aggregated /metrics [default: 127.0.0.1:9100].
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Seconds between SIGTERM and SIGKILL when stopping a node [default: 10].
    #[arg(long = "grace", value_name = "SECONDS")]
    pub stop_grace_seconds: Option<u64>,
    /// Seconds to wait for every node to become ready [default: 60].
    #[arg(long = "ready-timeout", value_name = "SECONDS")]
    pub ready_timeout_seconds: Option<u64>,
    /// Variant rules (the format of config/variants.yaml) to plan with; every node judges
    /// its hardware with the same file [default: the builtin rules].
    #[arg(long, value_name = "FILE.yaml")]
    pub variant_rules: Option<PathBuf>,
}

impl AgentConfig {
    pub fn load(path: &Path) -> AgentResult<AgentConfig> {
        let text = read_text(path)?;
        AgentConfig::parse(&text).map_err(|message| AgentError::Config {
            path: path.to_path_buf(),
            message,
        })
    }

    pub fn parse(text: &str) -> Result<AgentConfig, String> {
        toml::from_str(text).map_err(|error| error.to_string())
    }

    /// A file when one is named, defaults otherwise.
    pub fn load_optional(path: Option<&Path>) -> AgentResult<AgentConfig> {
        path.map_or_else(|| Ok(AgentConfig::default()), AgentConfig::load)
    }
}

/// Settings of `agent up` after flags, file and defaults are combined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpSettings {
    pub backend: BackendKind,
    pub docker_network: NetworkSetting,
    pub state_dir: PathBuf,
    pub storage_bin: Option<PathBuf>,
    pub port_base: Option<u16>,
    pub metrics_addr: SocketAddr,
    pub stop_grace: Duration,
    pub ready_timeout: Duration,
    /// Variant rules to plan with and to pass to every node; the builtin ones when `None`.
    pub variant_rules: Option<PathBuf>,
}

impl UpSettings {
    /// `flags` win over `file`, which wins over the defaults.
    pub fn resolve(flags: &AgentConfig, file: &AgentConfig) -> UpSettings {
        UpSettings {
            backend: flags.backend.or(file.backend).unwrap_or_default(),
            docker_network: flags
                .docker_network
                .or(file.docker_network)
                .unwrap_or_default(),
            state_dir: resolve_state_dir(flags, file),
            storage_bin: flags
                .storage_bin
                .clone()
                .or_else(|| file.storage_bin.clone()),
            port_base: flags.port_base.or(file.port_base),
            metrics_addr: flags
                .metrics_addr
                .or(file.metrics_addr)
                .unwrap_or_else(|| DEFAULT_METRICS_ADDR.parse().expect("a valid address")),
            stop_grace: flags
                .stop_grace_seconds
                .or(file.stop_grace_seconds)
                .map_or(DEFAULT_STOP_GRACE, Duration::from_secs),
            ready_timeout: Duration::from_secs(
                flags
                    .ready_timeout_seconds
                    .or(file.ready_timeout_seconds)
                    .unwrap_or(DEFAULT_READY_TIMEOUT_SECONDS),
            ),
            variant_rules: flags
                .variant_rules
                .clone()
                .or_else(|| file.variant_rules.clone()),
        }
    }
}

/// The state directory from flags or file, else the default.
pub fn resolve_state_dir(flags: &AgentConfig, file: &AgentConfig) -> PathBuf {
    flags
        .state_dir
        .clone()
        .or_else(|| file.state_dir.clone())
        .unwrap_or_else(default_state_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_parses() {
        let text = include_str!("../../../config/agent.example.toml");
        let config = AgentConfig::parse(text).unwrap();
        assert_eq!(config.backend, Some(BackendKind::Process));
        assert_eq!(
            config.stop_grace_seconds,
            Some(DEFAULT_STOP_GRACE.as_secs())
        );
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let error = AgentConfig::parse("port_bsae = 1\n").unwrap_err();
        assert!(error.contains("port_bsae"), "{error}");
    }

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let file = AgentConfig {
            port_base: Some(30000),
            stop_grace_seconds: Some(3),
            ..AgentConfig::default()
        };
        let flags = AgentConfig {
            port_base: Some(40000),
            ..AgentConfig::default()
        };
        let settings = UpSettings::resolve(&flags, &file);
        assert_eq!(settings.port_base, Some(40000));
        assert_eq!(settings.stop_grace, Duration::from_secs(3));
        assert_eq!(settings.metrics_addr.to_string(), DEFAULT_METRICS_ADDR);
        assert_eq!(settings.backend, BackendKind::Process);
        assert_eq!(settings.docker_network, NetworkSetting::Auto);
    }

    #[test]
    fn docker_network_comes_from_flag_then_file() {
        let file = AgentConfig::parse("docker_network = \"bridge\"\n").unwrap();
        assert_eq!(
            UpSettings::resolve(&AgentConfig::default(), &file).docker_network,
            NetworkSetting::Bridge
        );
        let flags = AgentConfig {
            docker_network: Some(NetworkSetting::Host),
            ..AgentConfig::default()
        };
        assert_eq!(
            UpSettings::resolve(&flags, &file).docker_network,
            NetworkSetting::Host
        );
        let error = AgentConfig::parse("docker_network = \"overlay\"\n").unwrap_err();
        assert!(
            error.contains("overlay") && error.contains("bridge"),
            "{error}"
        );
    }
}
