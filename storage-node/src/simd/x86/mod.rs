//! x86_64 kernel tables. The tables are private: [`table`] hands one out only for a family
//! the running CPU supports, so the safe wrappers inside are never callable without the
//! features their `unsafe fn`s were compiled for.

mod avx2;
mod avx512;

use super::{CpuFeatures, Isa, Kernels};

const AVX2_FMA: Kernels = Kernels {
    isa: "avx2+fma",
    dot_f32: avx2::dot_f32,
    cosine_f32: avx2::cosine_f32,
    l2sq_f32: avx2::l2sq_f32,
    dot_i8: avx2::dot_i8,
};

const AVX512: Kernels = Kernels {
    isa: "avx512",
    dot_f32: avx512::dot_f32,
    cosine_f32: avx512::cosine_f32,
    l2sq_f32: avx512::l2sq_f32,
    dot_i8: avx512::dot_i8,
};

const AVX512_VNNI: Kernels = Kernels {
    isa: "avx512-vnni",
    dot_i8: avx512::dot_i8_vnni,
    ..AVX512
};

/// The x86 table of `isa` when `detected` (a probe of this CPU) supports it.
pub(super) fn table(isa: Isa, detected: &CpuFeatures) -> Option<Kernels> {
    if !isa.runs_on(detected) {
        return None;
    }
    match isa {
        Isa::Avx2Fma => Some(AVX2_FMA),
        Isa::Avx512 => Some(AVX512),
        Isa::Avx512Vnni => Some(AVX512_VNNI),
        Isa::Scalar | Isa::Neon | Isa::NeonDotprod | Isa::Sve => None,
    }
}
