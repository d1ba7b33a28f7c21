//! How a node's ports reach the host: the engine's host network, or a pause container that
//! publishes them from a network namespace of its own. The choice is a pure function of
//! what the engine says of itself and of the kernel the agent runs on, tested on fixtures.
//!
//! * [`DockerNetwork::Host`]: the server binds `127.0.0.1:<node port>` in the host's
//!   network namespace. A container start then sets up no network and no port proxy
//!   (~120 ms instead of ~300–600 ms per container on Docker 20.10), and a node is one
//!   container. It is only right when the engine's host *is* this machine: the same Linux
//!   kernel, and a rootful engine (rootless Docker's "host" is its own namespace).
//! * [`DockerNetwork::Bridge`]: the Kubernetes Pod model of [`super::container`]: a pause
//!   container publishes the node's ports on 127.0.0.1 and the server joins its network.
//!   Works wherever Docker does: Docker Desktop on macOS, colima, rootless engines.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The network a grid's node containers run in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DockerNetwork {
    /// The host's network namespace; the server listens on the node's loopback ports.
    Host,
    /// A pause container per node publishes its ports from the engine's bridge network.
    #[default]
    Bridge,
}

impl DockerNetwork {
    pub fn name(self) -> &'static str {
        match self {
            DockerNetwork::Host => "host",
            DockerNetwork::Bridge => "bridge",
        }
    }
}

impl fmt::Display for DockerNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the user asks for: `auto` picks [`DockerNetwork::Host`] when the engine shares
/// this machine's network, [`DockerNetwork::Bridge`] otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum NetworkSetting {
    #[default]
    Auto,
    Host,
    Bridge,
}

/// What the engine says of the machine it runs on (`GET /info`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineHost {
    /// `OSType`: `linux` or `windows`.
    pub os_type: String,
    /// `KernelVersion`, e.g. `6.8.0-45-generic`; inside Docker Desktop, the VM's kernel.
    pub kernel_version: String,
    /// `OperatingSystem`, e.g. `Ubuntu 24.04 LTS` or `Docker Desktop`.
    pub operating_system: String,
    /// `SecurityOptions`, e.g. `name=seccomp,profile=default`, `name=rootless`.
    pub security_options: Vec<String>,
}

impl EngineHost {
    fn rootless(&self) -> bool {
        self.security_options
            .iter()
            .any(|option| option.split(',').any(|part| part == "name=rootless"))
    }
}

/// The network for `setting`, with the reason shown to the user.
///
/// `local_kernel` is this machine's kernel release (`/proc/sys/kernel/osrelease`), `None`
/// where the agent does not run on Linux. An explicit `host` is honoured even where `auto`
/// would not pick it (the user knows their engine), and said so in the reason.
pub fn choose(
    setting: NetworkSetting,
    engine: &EngineHost,
    local_kernel: Option<&str>,
) -> (DockerNetwork, String) {
    let shared = shares_network(engine, local_kernel);
    match setting {
        NetworkSetting::Bridge => (
            DockerNetwork::Bridge,
            "bridge, as configured: a pause container per node publishes its ports".to_owned(),
        ),
        NetworkSetting::Host => {
            let caveat = match &shared {
                Ok(()) => String::new(),
                Err(why) => format!(" (auto would not: {why})"),
            };
            (DockerNetwork::Host, format!("host, as configured{caveat}"))
        }
        NetworkSetting::Auto => match shared {
            Ok(()) => (
                DockerNetwork::Host,
                format!(
                    "host: the engine runs on this machine's kernel {}, so nodes bind its loopback ports directly",
                    engine.kernel_version
                ),
            ),
            Err(why) => (
                DockerNetwork::Bridge,
                format!("bridge: {why}; a pause container per node publishes its ports"),
            ),
        },
    }
}

/// Whether the engine's host network is this machine's, or why not.
fn shares_network(engine: &EngineHost, local_kernel: Option<&str>) -> Result<(), String> {
    let Some(local_kernel) = local_kernel else {
        return Err("the agent does not run on Linux, so the engine runs in a VM".to_owned());
    };
    if engine.os_type != "linux" {
        return Err(format!("the engine runs {} containers", engine.os_type));
    }
    if engine.rootless() {
        return Err(
            "the engine is rootless, its host network is a namespace of its own".to_owned(),
        );
    }
    if engine.kernel_version.trim() != local_kernel.trim() {
        return Err(format!(
            "the engine runs on kernel {} ({}), this machine on {}: another machine or a VM",
            engine.kernel_version,
            engine.operating_system,
            local_kernel.trim()
        ));
    }
    Ok(())
}

/// This machine's kernel release, `None` off Linux or when it cannot be read.
pub fn local_kernel() -> Option<String> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .map(|release| release.trim().to_owned())
        .filter(|release| !release.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn native_linux() -> EngineHost {
        EngineHost {
            os_type: "linux".to_owned(),
            kernel_version: "6.8.0-45-generic".to_owned(),
            operating_system: "Ubuntu 24.04.1 LTS".to_owned(),
            security_options: vec![
                "name=apparmor".to_owned(),
                "name=seccomp,profile=builtin".to_owned(),
            ],
        }
    }

    /// Each case: the engine, this machine's kernel, what `auto` picks and words its
    /// reason must contain.
    #[test]
    fn auto_picks_host_only_for_a_rootful_engine_on_this_kernel() {
        let desktop = EngineHost {
            kernel_version: "6.10.14-linuxkit".to_owned(),
            operating_system: "Docker Desktop".to_owned(),
            ..native_linux()
        };
        let rootless = EngineHost {
            security_options: vec![
                "name=seccomp,profile=builtin".to_owned(),
                "name=rootless".to_owned(),
                "name=cgroupns".to_owned(),
            ],
            ..native_linux()
        };
        let windows = EngineHost {
            os_type: "windows".to_owned(),
            ..native_linux()
        };
        let linux = Some("6.8.0-45-generic");
        let cases: [(&EngineHost, Option<&str>, DockerNetwork, &[&str]); 5] = [
            (
                &native_linux(),
                Some("6.8.0-45-generic\n"),
                DockerNetwork::Host,
                &["6.8.0-45-generic"],
            ),
            (
                &desktop,
                None,
                DockerNetwork::Bridge,
                &["does not run on Linux"],
            ),
            (
                &desktop,
                linux,
                DockerNetwork::Bridge,
                &["6.10.14-linuxkit", "Docker Desktop"],
            ),
            (&rootless, linux, DockerNetwork::Bridge, &["rootless"]),
            (&windows, linux, DockerNetwork::Bridge, &[]),
        ];
        for (engine, local_kernel, expected, words) in cases {
            let (network, reason) = choose(NetworkSetting::Auto, engine, local_kernel);
            assert_eq!(network, expected, "{engine:?}: {reason}");
            for word in words {
                assert!(reason.contains(word), "{engine:?}: {reason}");
            }
        }
    }

    #[test]
    fn an_explicit_setting_wins_and_says_when_auto_would_differ() {
        let (network, reason) = choose(
            NetworkSetting::Bridge,
            &native_linux(),
            Some("6.8.0-45-generic"),
        );
        assert_eq!(network, DockerNetwork::Bridge);
        assert!(reason.contains("as configured"), "{reason}");
        let (network, reason) = choose(NetworkSetting::Host, &native_linux(), None);
        assert_eq!(network, DockerNetwork::Host);
        assert!(reason.contains("auto would not"), "{reason}");
        let (_, reason) = choose(
            NetworkSetting::Host,
            &native_linux(),
            Some("6.8.0-45-generic"),
        );
        assert!(!reason.contains("auto would not"), "{reason}");
    }

    #[test]
    fn settings_and_networks_read_and_write_lowercase() {
        let setting: NetworkSetting = serde_json::from_str("\"bridge\"").unwrap();
        assert_eq!(setting, NetworkSetting::Bridge);
        assert_eq!(
            serde_json::to_string(&DockerNetwork::Host).unwrap(),
            "\"host\""
        );
        assert_eq!(DockerNetwork::default(), DockerNetwork::Bridge);
    }
}
