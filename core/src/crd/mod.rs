//! Custom resource types `StorageGrid` and `StorageNode` (`grid.sutra.ai/v1alpha1`).
