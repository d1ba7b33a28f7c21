//! Distance kernels: one per (metric, ISA), chosen once at start-up.
//!
//! `scalar` is the reference every SIMD kernel is tested against. [`kernels()`] returns
//! the dispatch table picked by runtime feature detection the first time it is called;
//! callers keep the `&'static Kernels` and never detect per call.

pub mod scalar;

use std::sync::OnceLock;

/// Similarity metric of a collection. Scores are "higher is more similar" for all three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    Dot,
    Cosine,
    L2,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::Dot => "dot",
            Metric::Cosine => "cosine",
            Metric::L2 => "l2",
        }
    }
}

impl std::str::FromStr for Metric {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "dot" | "ip" | "inner-product" => Ok(Metric::Dot),
            "cosine" | "cos" => Ok(Metric::Cosine),
            "l2" | "euclidean" => Ok(Metric::L2),
            other => Err(format!(
                "unknown metric {other:?}: expected one of dot, cosine, l2"
            )),
        }
    }
}

/// The dispatch table. Slices passed to one call have equal lengths (callers check).
#[derive(Debug, Clone, Copy)]
pub struct Kernels {
    /// Instruction set the table was built for, e.g. `avx2+fma`, `avx512`, `neon`, `scalar`.
    pub isa: &'static str,
    /// Inner product.
    pub dot_f32: fn(&[f32], &[f32]) -> f32,
    /// Cosine similarity in one pass (dot and both norms); 0 when either norm is 0.
    pub cosine_f32: fn(&[f32], &[f32]) -> f32,
    /// Squared Euclidean distance.
    pub l2sq_f32: fn(&[f32], &[f32]) -> f32,
    /// Inner product of int8 vectors, accumulated exactly in i32.
    pub dot_i8: fn(&[i8], &[i8]) -> i32,
}

/// The reference table: portable scalar code.
pub const SCALAR: Kernels = Kernels {
    isa: "scalar",
    dot_f32: scalar::dot_f32,
    cosine_f32: scalar::cosine_f32,
    l2sq_f32: scalar::l2sq_f32,
    dot_i8: scalar::dot_i8,
};

/// The best table for this CPU, chosen once.
pub fn kernels() -> &'static Kernels {
    static CHOSEN: OnceLock<Kernels> = OnceLock::new();
    CHOSEN.get_or_init(detect)
}

fn detect() -> Kernels {
    SCALAR
}
