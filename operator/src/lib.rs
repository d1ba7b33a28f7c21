//! sutra-grid: Kubernetes operator and local agent.
pub mod cli;
pub mod plan;
pub mod backend;
pub mod agent;
pub mod controller;
pub mod runtime;
