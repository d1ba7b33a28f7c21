//! How the agent words counts and the commands it suggests.

use std::path::Path;

use crate::state_dir::default_state_dir;

/// `1 node`, `3 nodes`.
pub fn nodes(count: usize) -> String {
    match count {
        1 => "1 node".to_owned(),
        _ => format!("{count} nodes"),
    }
}

/// `sutra-grid agent <command>` for `grid`, with `--state-dir` when it is not the default
/// and `--grid`, so a suggested command works when copied as printed.
pub fn agent_command(command: &str, state_dir: &Path, grid: &str) -> String {
    let state_dir = if state_dir == default_state_dir() {
        String::new()
    } else {
        format!(" --state-dir {}", state_dir.display())
    };
    format!("sutra-grid agent {command}{state_dir} --grid {grid}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_node_is_singular() {
        assert_eq!(nodes(1), "1 node");
        assert_eq!(nodes(0), "0 nodes");
        assert_eq!(nodes(3), "3 nodes");
    }

    #[test]
    fn commands_keep_a_state_dir_other_than_the_default_and_the_grid() {
        assert_eq!(
            agent_command("down", Path::new("/tmp/grids"), "local"),
            "sutra-grid agent down --state-dir /tmp/grids --grid local"
        );
        assert_eq!(
            agent_command("status", &default_state_dir(), "local"),
            "sutra-grid agent status --grid local"
        );
    }
}
