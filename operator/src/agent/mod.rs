//! The local agent: runs a StorageGrid manifest on this machine through a [`Backend`],
//! with the same planner and variant rules the Kubernetes operator uses.
//!
//! `up` checks the manifest, detects the host, plans, starts the nodes and supervises them
//! (restarting crashed ones with backoff), in the foreground or detached; `status`,
//! `logs` and `down` work from the grid's state files under the state directory.
//!
//! [`Backend`]: crate::backend::Backend

mod backends;
mod backoff;
mod config;
mod error;
mod grid;
mod manage;
mod metrics;
mod progress;
mod record;
mod supervisor;
mod table;
mod up;
mod words;

pub use backends::{AgentBackend, BackendKind, open_backend};
pub use backoff::Backoff;
pub use config::{AgentConfig, UpSettings, default_state_dir, resolve_state_dir};
pub use error::{AgentError, AgentResult};
pub use grid::{assign_ports, load_grid, local_host, node_specs, plan_local};
pub use manage::{OutputFormat, down, logs, node_statuses, resolve_grid, status};
pub use metrics::{agent_metrics, merge_node_metrics, with_node_label};
pub use record::AgentRecord;
pub use supervisor::{start_nodes, stop_all, supervise};
pub use up::{UpRequest, supervise_detached, up};
