//! Label keys: the common language between Kubernetes Nodes and local hosts.
//!
//! A Kubernetes Node carries these labels (set by the kubelet, the cloud provider or Node
//! Feature Discovery); a local host gets the same keys from hardware detection, so one
//! rule table maps either to an image variant.

/// CPU architecture as Kubernetes names it (`amd64`, `arm64`).
pub const ARCH: &str = "kubernetes.io/arch";
/// Cloud instance type, e.g. `r7g.2xlarge`.
pub const INSTANCE_TYPE: &str = "node.kubernetes.io/instance-type";
/// Zone used to spread storage nodes.
pub const ZONE: &str = "topology.kubernetes.io/zone";
/// Raspberry Pi model (`4`, `5`), set by hardware detection or by the cluster admin.
pub const PI_MODEL: &str = "grid.sutra.ai/pi-model";
/// CPU core as hardware detection identifies it from the ARM implementer and part
/// (`neoverse-v1`, `cortex-a76`, ...); a cluster admin may set it on Nodes too.
pub const CPU_CORE: &str = "grid.sutra.ai/cpu-core";
/// Node Feature Discovery: CPU vendor (`Intel`, `AMD`, `ARM`).
pub const NFD_CPU_VENDOR: &str = "feature.node.kubernetes.io/cpu-model.vendor_id";
/// Prefix of Node Feature Discovery CPUID feature labels, e.g. `...cpu-cpuid.AVX2`.
pub const NFD_CPUID_PREFIX: &str = "feature.node.kubernetes.io/cpu-cpuid.";

/// Labels put on every object the grid owns.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const GRID_NAME: &str = "grid.sutra.ai/grid";
pub const NODE_NAME: &str = "grid.sutra.ai/storagenode";
pub const VARIANT: &str = "grid.sutra.ai/variant";
