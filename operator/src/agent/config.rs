//! The agent's settings: command-line flags over an optional TOML file
//! (`config/agent.example.toml`) over defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::backends::BackendKind;
use super::error::{AgentError, AgentResult};
use crate::backend::docker::NetworkSetting;

pub const DEFAULT_METRICS_ADDR: &str = "127.0.0.1:9100";
pub const DEFAULT_STOP_GRACE_SECONDS: u64 = 10;
pub const DEFAULT_READY_TIMEOUT_SECONDS: u64 = 60;

/// The agent config file; every key is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    pub backend: Option<BackendKind>,
    pub docker_network: Option<NetworkSetting>,
    pub state_dir: Option<PathBuf>,
    pub storage_bin: Option<PathBuf>,
    pub port_base: Option<u16>,
    pub metrics_addr: Option<SocketAddr>,
    pub stop_grace_seconds: Option<u64>,
    pub ready_timeout_seconds: Option<u64>,
    pub variant_rules: Option<PathBuf>,
}

impl AgentConfig {
    pub fn load(path: &Path) -> AgentResult<AgentConfig> {
        let text = std::fs::read_to_string(path).map_err(|source| AgentError::Read {
            path: path.to_path_buf(),
            source,
        })?;
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
            stop_grace: Duration::from_secs(
                flags
                    .stop_grace_seconds
                    .or(file.stop_grace_seconds)
                    .unwrap_or(DEFAULT_STOP_GRACE_SECONDS),
            ),
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

/// `$XDG_STATE_HOME/sutra-grid`, else `~/.local/state/sutra-grid`, else `./.sutra-grid`.
pub fn default_state_dir() -> PathBuf {
    state_dir_from(std::env::var_os("XDG_STATE_HOME"), std::env::var_os("HOME"))
}

fn state_dir_from(
    xdg_state_home: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> PathBuf {
    let non_empty =
        |value: Option<std::ffi::OsString>| value.filter(|v| !v.is_empty()).map(PathBuf::from);
    non_empty(xdg_state_home)
        .or_else(|| non_empty(home).map(|home| home.join(".local/state")))
        .map_or_else(
            || PathBuf::from(".sutra-grid"),
            |base| base.join("sutra-grid"),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_parses() {
        let text = include_str!("../../../config/agent.example.toml");
        let config = AgentConfig::parse(text).unwrap();
        assert_eq!(config.backend, Some(BackendKind::Process));
        assert_eq!(config.stop_grace_seconds, Some(DEFAULT_STOP_GRACE_SECONDS));
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

    #[test]
    fn state_dir_prefers_xdg_then_home() {
        assert_eq!(
            state_dir_from(Some("/xdg".into()), Some("/home/u".into())),
            PathBuf::from("/xdg/sutra-grid")
        );
        assert_eq!(
            state_dir_from(None, Some("/home/u".into())),
            PathBuf::from("/home/u/.local/state/sutra-grid")
        );
    }
}
