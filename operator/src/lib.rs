//! sutra-grid: Kubernetes operator and local agent.
pub mod agent;
pub mod backend;
pub mod cli;
pub mod controller;
pub mod host;
pub mod manager;
pub mod state_dir;
