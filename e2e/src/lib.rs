//! Helpers shared by the end-to-end tests and benches in `tests/` and `benches/`: where the
//! workspace and its built binaries are, building them once, and free loopback ports.
//!
//! Binaries are looked up in cargo's real target directory, so the tests also work with
//! `CARGO_TARGET_DIR` set (a shared cache, CI) and not only in `<workspace>/target`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The workspace root (the folder holding `Cargo.toml`, `config/`, `scripts/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("e2e lives inside the workspace")
        .to_path_buf()
}

/// Cargo's target directory: `CARGO_TARGET_DIR` (relative to the workspace when relative),
/// else `<workspace>/target`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => workspace_root().join(dir),
        None => workspace_root().join("target"),
    }
}

/// A build profile of the two binaries the tests drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Debug,
    Release,
}

impl Profile {
    fn dir(self) -> &'static str {
        match self {
            Profile::Debug => "debug",
            Profile::Release => "release",
        }
    }
}

/// Path of a workspace binary (`sutra-storage`, `sutra-grid`) built with `profile`.
pub fn bin(profile: Profile, name: &str) -> PathBuf {
    target_dir().join(profile.dir()).join(name)
}

/// Builds `sutra-storage` and `sutra-grid` with `profile`, once per test process; cargo's
/// lock makes concurrent builds from several test binaries safe.
pub fn build_binaries(profile: Profile) {
    static DEBUG: OnceLock<()> = OnceLock::new();
    static RELEASE: OnceLock<()> = OnceLock::new();
    let once = match profile {
        Profile::Debug => &DEBUG,
        Profile::Release => &RELEASE,
    };
    once.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut command = Command::new(cargo);
        command.args(["build", "-p", "sutra-storage", "-p", "sutra-grid"]);
        if profile == Profile::Release {
            command.arg("--release");
        }
        let status = command
            .current_dir(workspace_root())
            .status()
            .expect("run cargo build");
        assert!(
            status.success(),
            "cargo build -p sutra-storage -p sutra-grid ({profile:?}) failed"
        );
    });
}

/// `count` consecutive free ports on loopback, as `(first, last)`.
pub fn free_port_range(count: u16) -> (u16, u16) {
    for _ in 0..100 {
        let start = TcpListener::bind("127.0.0.1:0")
            .expect("bind an ephemeral port on 127.0.0.1")
            .local_addr()
            .expect("local address of a bound socket")
            .port();
        if start > u16::MAX - count {
            continue;
        }
        if (start..start + count).all(|port| TcpListener::bind(("127.0.0.1", port)).is_ok()) {
            return (start, start + count - 1);
        }
    }
    panic!("no {count} consecutive free ports on 127.0.0.1");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_port_range_is_consecutive_and_bindable() {
        let (first, last) = free_port_range(5);
        assert_eq!(last - first, 4);
        for port in first..=last {
            TcpListener::bind(("127.0.0.1", port)).expect("port of the range is free");
        }
    }

    #[test]
    fn binaries_live_under_the_profile_folder() {
        let path = bin(Profile::Release, "sutra-grid");
        assert!(path.ends_with("release/sutra-grid"), "{}", path.display());
        assert!(path.starts_with(target_dir()));
    }
}
