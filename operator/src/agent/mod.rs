//! The local agent: runs a StorageGrid manifest on this machine through a [`Backend`],
//! with the same planner and variant rules the Kubernetes operator uses.
//!
//! `up` checks the manifest, detects the host, plans, starts the nodes and supervises them
//! (restarting crashed ones with backoff), in the foreground or detached; `status`,
//! `logs` and `down` find the grid in the state directory ([`crate::state_dir`]) and work
//! from its files.
//!
//! [`Backend`]: crate::backend::Backend

mod backends;
mod config;
mod down;
mod error;
mod grid;
mod locate;
mod log;
mod metrics;
mod progress;
mod record;
mod status;
mod supervisor;
mod table;
mod up;
mod words;

pub use backends::{AgentBackend, BackendKind, open_backend};
pub use config::{AgentConfig, DEFAULT_STOP_GRACE, UpSettings, resolve_state_dir};
pub use down::down;
pub use error::{AgentError, AgentResult};
pub use grid::{assign_ports, load_grid, local_host, node_specs, plan_local};
pub use locate::resolve_grid;
pub use metrics::{agent_metrics, merge_node_metrics, with_node_label};
pub use record::AgentRecord;
pub use status::{OutputFormat, logs, node_statuses, status};
pub use supervisor::{start_nodes, stop_all, supervise};
pub use up::{UpRequest, supervise_detached, up};
