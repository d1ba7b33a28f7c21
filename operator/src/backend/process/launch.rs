//! Starting a node's process: the `sutra-storage serve` command line, the addresses it
//! listens on, and the log file its output goes to.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;

use chrono::Utc;
use sutra_core::serve::ServeCommand;
use tokio::process::{Child, Command};

use crate::backend::{BackendError, BackendResult, NodeSpec, check_node_ports};
use crate::host::loopback;
use crate::state_dir::GridDir;

/// Starts `storage_bin` as the node of `spec`, in a process group of its own (a Ctrl-C
/// meant for the agent does not reach it), its output appended to the node's log.
pub fn start(storage_bin: &Path, dir: &GridDir, spec: &NodeSpec) -> BackendResult<Child> {
    check_node_ports(spec)?;
    create_dir(&spec.data_dir)?;
    create_dir(&dir.logs_dir())?;
    let log = open_log(&dir.node_log(&spec.name), &spec.name)?;
    let stderr = log
        .try_clone()
        .map_err(|error| BackendError::io("duplicating the log file handle", error))?;
    Command::new(storage_bin)
        .args(serve_args(spec))
        // The log is a file: colour escapes would only clutter it.
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(stderr)
        .process_group(0)
        .spawn()
        .map_err(|source| BackendError::Spawn {
            name: spec.name.clone(),
            source,
        })
}

/// The `sutra-storage serve` arguments for a node.
///
/// No `--variant`: a process runs the one `sutra-storage` binary that was built here, which
/// knows the variant it was compiled as and reports it; claiming the planned variant would
/// label a universal build as, say, `x86-64-v4`.
pub fn serve_args(spec: &NodeSpec) -> Vec<String> {
    let rules = spec.variant_rules.as_ref().map(|p| p.display().to_string());
    ServeCommand {
        data_dir: &spec.data_dir.display().to_string(),
        vector: &spec.vector,
        grpc_addr: grpc_addr(spec).to_string(),
        metrics_addr: metrics_addr(spec).to_string(),
        variant: None,
        variant_rules: rules.as_deref(),
    }
    .args()
}

/// Nodes listen on loopback only: the local agent serves this machine.
pub fn grpc_addr(spec: &NodeSpec) -> SocketAddr {
    loopback(spec.grpc_port)
}

pub fn metrics_addr(spec: &NodeSpec) -> SocketAddr {
    loopback(spec.metrics_port)
}

fn create_dir(path: &Path) -> BackendResult<()> {
    fs::create_dir_all(path)
        .map_err(|error| BackendError::io(format!("creating {}", path.display()), error))
}

/// Opens a node's log for appending and marks where this run starts.
fn open_log(path: &Path, node: &str) -> BackendResult<File> {
    let open = || -> io::Result<File> {
        let mut file = OpenOptions::new().create(true).append(true).open(path)?;
        writeln!(
            file,
            "--- sutra-grid agent: starting {node} at {} ---",
            Utc::now().to_rfc3339()
        )?;
        Ok(file)
    };
    open().map_err(|error| BackendError::io(format!("opening {}", path.display()), error))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::backend::process::tests::spec;

    #[test]
    fn serve_arguments_follow_the_storage_contract() {
        let args = serve_args(&spec(Path::new("/state/local")));
        assert_eq!(
            args.join(" "),
            "serve --data /state/local/data/local-1 --dimension 128 --metric l2 --compression int8 \
             --grpc-addr 127.0.0.1:50052 --metrics-addr 127.0.0.1:9091"
        );
        let mut with_rules = spec(Path::new("/state/local"));
        with_rules.variant_rules = Some(PathBuf::from("/home/me/variants.yaml"));
        assert!(
            serve_args(&with_rules)
                .join(" ")
                .ends_with("--variant-rules /home/me/variants.yaml")
        );
    }
}
