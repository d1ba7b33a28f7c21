//! sutra-grid: Kubernetes operator and local agent.
