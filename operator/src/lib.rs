//! sutra-grid: Kubernetes operator and local agent.
pub mod cli;
