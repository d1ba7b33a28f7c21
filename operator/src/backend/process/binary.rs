//! The `sutra-storage` binary process nodes run: where it is (`--storage-bin`, then
//! `SUTRA_STORAGE_BIN`, then next to the running `sutra-grid`, as both land in the same
//! `target/<profile>/`, then `PATH`) and which variant it was built as.

use std::path::{Path, PathBuf};

use crate::backend::{BackendError, BackendResult};

/// Name of the storage node executable.
pub const STORAGE_BIN: &str = "sutra-storage";
/// Environment variable naming the storage node executable.
pub const STORAGE_BIN_ENV: &str = "SUTRA_STORAGE_BIN";

/// The first existing candidate, or an error listing every place looked at.
pub fn locate_storage_bin(explicit: Option<&Path>) -> BackendResult<PathBuf> {
    let candidates = candidates(
        explicit,
        std::env::var_os(STORAGE_BIN_ENV).map(PathBuf::from),
        std::env::current_exe().ok(),
        std::env::var_os("PATH"),
    );
    candidates
        .iter()
        .find(|path| is_executable(path))
        .cloned()
        .ok_or(BackendError::BinaryNotFound { looked: candidates })
}

/// Candidates in search order. An explicit choice (flag or environment) is the only
/// candidate: silently running another binary than the one asked for would mislead.
fn candidates(
    explicit: Option<&Path>,
    from_env: Option<PathBuf>,
    current_exe: Option<PathBuf>,
    path_var: Option<std::ffi::OsString>,
) -> Vec<PathBuf> {
    if let Some(path) = explicit.map(Path::to_path_buf).or(from_env) {
        return vec![path];
    }
    let beside_us = current_exe
        .as_deref()
        .and_then(Path::parent)
        .map(|dir| dir.join(STORAGE_BIN));
    let on_path = path_var
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(STORAGE_BIN));
    beside_us.into_iter().chain(on_path).collect()
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// The variant `storage_bin` was built as, from its `detect --output json` (a few
/// milliseconds): every process node runs that build, whatever variant the plan picked.
pub fn built_variant(storage_bin: &Path) -> BackendResult<String> {
    let context = || {
        format!(
            "asking {} which variant it was built as",
            storage_bin.display()
        )
    };
    let output = std::process::Command::new(storage_bin)
        .args(["detect", "--output", "json"])
        .output()
        .map_err(|error| BackendError::io(context(), error))?;
    let detected: serde_json::Value = serde_json::from_slice(&output.stdout)
        .ok()
        .filter(|_| output.status.success())
        .ok_or_else(|| BackendError::Engine {
            backend: "process",
            message: format!(
                "{}: {}",
                context(),
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        })?;
    detected["builtVariant"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| BackendError::Engine {
            backend: "process",
            message: format!("{}: its detect output names no builtVariant", context()),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_choice_is_the_only_candidate() {
        let found = candidates(
            Some(Path::new("/opt/sutra-storage")),
            Some(PathBuf::from("/env/sutra-storage")),
            Some(PathBuf::from("/bin/sutra-grid")),
            None,
        );
        assert_eq!(found, vec![PathBuf::from("/opt/sutra-storage")]);
    }

    #[test]
    fn looks_beside_the_running_binary_then_on_path() {
        let found = candidates(
            None,
            None,
            Some(PathBuf::from("/repo/target/release/sutra-grid")),
            Some("/usr/local/bin:/usr/bin".into()),
        );
        assert_eq!(
            found,
            vec![
                PathBuf::from("/repo/target/release/sutra-storage"),
                PathBuf::from("/usr/local/bin/sutra-storage"),
                PathBuf::from("/usr/bin/sutra-storage"),
            ]
        );
    }

    #[test]
    fn missing_binary_error_lists_places_and_the_build_command() {
        let error = locate_storage_bin(Some(Path::new("/nonexistent/sutra-storage")))
            .unwrap_err()
            .to_string();
        assert!(error.contains("/nonexistent/sutra-storage"), "{error}");
        assert!(
            error.contains("cargo build --release -p sutra-storage"),
            "{error}"
        );
    }
}
