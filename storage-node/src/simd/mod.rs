//! Distance kernels: one per (metric, ISA), chosen once at start-up.
//!
//! `scalar` is the reference every SIMD kernel is tested against. [`kernels()`] returns
//! the dispatch table picked by runtime feature detection the first time it is called;
//! callers keep the `&'static Kernels` and never detect per call.

pub mod dispatch;
#[cfg(target_arch = "aarch64")]
mod neon;
pub mod scalar;
#[cfg(target_arch = "aarch64")]
mod sve;
#[cfg(target_arch = "x86_64")]
mod x86;

use std::sync::OnceLock;

pub use dispatch::{CpuFeatures, Isa, Plan};

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

/// The best table for this CPU, chosen once: each entry comes from the family
/// [`dispatch::plan`] ranks first among those the CPU supports. `isa` names the mix,
/// e.g. `dot:avx2+fma cosine:avx512 l2:avx2+fma i8:avx512-vnni`.
pub fn kernels() -> &'static Kernels {
    static CHOSEN: OnceLock<Kernels> = OnceLock::new();
    CHOSEN.get_or_init(detect)
}

/// Every complete table this CPU can run, scalar first, so tests and benchmarks cover each
/// family and not only the chosen one.
pub fn available() -> Vec<Kernels> {
    let detected = CpuFeatures::detect();
    Isa::ALL
        .into_iter()
        .filter_map(|isa| table(isa, &detected))
        .collect()
}

/// The table of one family, if this CPU can run it.
pub fn table_for(isa: Isa) -> Option<Kernels> {
    table(isa, &CpuFeatures::detect())
}

fn detect() -> Kernels {
    let detected = CpuFeatures::detect();
    let plan = dispatch::plan(&detected);
    let entry = |isa: Isa| table(isa, &detected).unwrap_or(SCALAR);
    Kernels {
        // Runs once per process (inside `kernels()`'s OnceLock), so leaking the name is
        // one small allocation that lives as long as the table it describes.
        isa: Box::leak(plan.describe().into_boxed_str()),
        dot_f32: entry(plan.dot_f32).dot_f32,
        cosine_f32: entry(plan.cosine_f32).cosine_f32,
        l2sq_f32: entry(plan.l2sq_f32).l2sq_f32,
        dot_i8: entry(plan.dot_i8).dot_i8,
    }
}

/// The table of `isa` when `detected` (a probe of this CPU) supports it. Only this function
/// hands out SIMD tables, which is what makes their safe wrappers sound.
fn table(isa: Isa, detected: &CpuFeatures) -> Option<Kernels> {
    match isa {
        Isa::Scalar => Some(SCALAR),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2Fma | Isa::Avx512 | Isa::Avx512Vnni => x86::table(isa, detected),
        #[cfg(target_arch = "aarch64")]
        Isa::Neon | Isa::NeonDotprod => neon::table(isa, detected),
        #[cfg(target_arch = "aarch64")]
        Isa::Sve => sve::table(isa, detected),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// Asks the CPU to bring `bytes` into its L2 cache ahead of their use, one request per
/// 64-byte line. The int8 scan does this some kilobytes ahead of where it reads: its
/// arithmetic per byte is dense enough that the hardware prefetcher alone falls behind
/// (docs/PERFORMANCE.md, Scan). A no-op off x86_64: the ARM equivalent (`PRFM PLDL2KEEP`)
/// has not been measured, and an unmeasured hint can as well slow a scan down, as the
/// same hint does to the f32 scan on x86.
#[inline(always)]
pub fn prefetch_l2(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    for line in bytes.chunks(64) {
        // SAFETY: SSE is part of x86_64; a prefetch reads nothing the program sees and
        // never faults, and `line` is inside a live slice anyway.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T1 }>(
                line.as_ptr().cast(),
            )
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}

/// Cosine from its three sums, shared by every kernel so zero vectors behave identically:
/// 0 when either norm is 0.
pub(crate) fn cosine_from_parts(dot: f32, norm_a_sq: f32, norm_b_sq: f32) -> f32 {
    if norm_a_sq == 0.0 || norm_b_sq == 0.0 {
        0.0
    } else {
        dot / (norm_a_sq.sqrt() * norm_b_sq.sqrt())
    }
}
