//! The state directory of local grids (`$XDG_STATE_HOME/sutra-grid` by default): one
//! folder per grid, shared by the agent and the process backend, laid out as
//!
//! ```text
//! <state-dir>/<grid>/
//!   agent.json        what the grid's agent runs and which process supervises it
//!   data.json         the backends that hold data of the grid
//!   state.json        the process backend's nodes (state.lock guards its updates)
//!   logs/<node>.log   each process node's output; logs/agent.log the detached supervisor's
//!   data/<node>/      each process node's vectors
//! ```

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Where one grid keeps its state, logs and data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridDir {
    root: PathBuf,
}

impl GridDir {
    /// `<state_dir>/<grid>`.
    pub fn new(state_dir: &Path, grid: &str) -> GridDir {
        GridDir {
            root: state_dir.join(grid),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn agent_record(&self) -> PathBuf {
        self.root.join("agent.json")
    }

    pub fn data_record(&self) -> PathBuf {
        self.root.join("data.json")
    }

    pub fn state_file(&self) -> PathBuf {
        self.root.join("state.json")
    }

    pub fn lock_file(&self) -> PathBuf {
        self.root.join("state.lock")
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }

    pub fn node_log(&self, node: &str) -> PathBuf {
        self.logs_dir().join(format!("{node}.log"))
    }

    pub fn agent_log(&self) -> PathBuf {
        self.logs_dir().join("agent.log")
    }

    /// Where the process backend keeps every node's data.
    pub fn data_root(&self) -> PathBuf {
        self.root.join("data")
    }

    pub fn data_dir(&self, node: &str) -> PathBuf {
        self.data_root().join(node)
    }
}

/// `$XDG_STATE_HOME/sutra-grid`, else `~/.local/state/sutra-grid`, else `./.sutra-grid`.
pub fn default_state_dir() -> PathBuf {
    state_dir_from(std::env::var_os("XDG_STATE_HOME"), std::env::var_os("HOME"))
}

fn state_dir_from(xdg_state_home: Option<OsString>, home: Option<OsString>) -> PathBuf {
    let non_empty = |value: Option<OsString>| value.filter(|v| !v.is_empty()).map(PathBuf::from);
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

    #[test]
    fn a_grid_keeps_everything_in_its_folder() {
        let dir = GridDir::new(Path::new("/state"), "local");
        let paths = [
            dir.agent_record(),
            dir.data_record(),
            dir.state_file(),
            dir.lock_file(),
            dir.node_log("local-0"),
            dir.agent_log(),
            dir.data_dir("local-0"),
        ];
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        assert_eq!(
            shown,
            [
                "/state/local/agent.json",
                "/state/local/data.json",
                "/state/local/state.json",
                "/state/local/state.lock",
                "/state/local/logs/local-0.log",
                "/state/local/logs/agent.log",
                "/state/local/data/local-0",
            ]
        );
    }
}
