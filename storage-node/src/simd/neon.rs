//! NEON kernels for aarch64, mirroring `x86/avx2.rs` line for line with 4-lane vectors.
//!
//! f32: four independent FMA chains (16 floats per step), single-vector steps, scalar tail.
//! int8 without dotprod: `smull`/`smull2` widen 16 products to i16 (|x*y| <= 2^14 fits) and
//! `sadalp` adds them pairwise into i32 lanes. int8 with dotprod: `sdot` adds four i8
//! products per i32 lane. Its intrinsic `vdotq_s32` is still nightly-only
//! (`stdarch_neon_dotprod`), so the instruction is emitted with inline assembly.
//! Lane sums wrap modulo 2^32 like the scalar reference: exact whenever the true dot
//! product fits in i32 (any length <= 131_071).
//!
//! This file cannot be compiled on the x86_64 development hosts; the dispatch decisions
//! that choose it live in `dispatch.rs` and are tested everywhere.

use std::arch::aarch64::*;
use std::arch::asm;

use super::{CpuFeatures, Isa, Kernels};

const F32_LANES: usize = 4;
const F32_STEP: usize = 4 * F32_LANES;
const I8_LANES: usize = 16;
const I8_STEP: usize = 4 * I8_LANES;

const NEON: Kernels = Kernels {
    isa: "neon",
    dot_f32,
    cosine_f32,
    l2sq_f32,
    dot_i8,
};

const NEON_DOTPROD: Kernels = Kernels {
    isa: "neon-dotprod",
    dot_i8: dot_i8_sdot,
    ..NEON
};

/// The NEON table of `isa` when `detected` (a probe of this CPU) supports it.
pub(super) fn table(isa: Isa, detected: &CpuFeatures) -> Option<Kernels> {
    if !isa.runs_on(detected) {
        return None;
    }
    match isa {
        Isa::Neon => Some(NEON),
        Isa::NeonDotprod => Some(NEON_DOTPROD),
        Isa::Scalar | Isa::Avx2Fma | Isa::Avx512 | Isa::Avx512Vnni | Isa::Sve => None,
    }
}

fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: only reachable through the neon tables, which `table` builds after
    // `is_aarch64_feature_detected!` confirmed neon.
    unsafe { dot_f32_neon(a, b) }
}

fn cosine_f32(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: as in `dot_f32`: the tables holding this wrapper exist only when neon was
    // detected.
    unsafe { cosine_f32_neon(a, b) }
}

fn l2sq_f32(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: as in `dot_f32`: the tables holding this wrapper exist only when neon was
    // detected.
    unsafe { l2sq_f32_neon(a, b) }
}

fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    // SAFETY: as in `dot_f32`: the tables holding this wrapper exist only when neon was
    // detected.
    unsafe { dot_i8_neon(a, b) }
}

fn dot_i8_sdot(a: &[i8], b: &[i8]) -> i32 {
    // SAFETY: only reachable through the neon-dotprod table, built after detection
    // confirmed neon and dotprod.
    unsafe { dot_i8_neon_dotprod(a, b) }
}

#[inline]
#[target_feature(enable = "neon")]
fn sum4(s: [float32x4_t; 4]) -> float32x4_t {
    vaddq_f32(vaddq_f32(s[0], s[1]), vaddq_f32(s[2], s[3]))
}

#[target_feature(enable = "neon")]
unsafe fn dot_f32_neon(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut s = [vdupq_n_f32(0.0); 4];
    let mut i = 0;
    while i + F32_STEP <= n {
        for (k, acc) in s.iter_mut().enumerate() {
            let at = i + k * F32_LANES;
            // SAFETY: at + 4 <= i + 16 <= n, within both slices; ld1 takes any alignment.
            let (x, y) = unsafe { (vld1q_f32(pa.add(at)), vld1q_f32(pb.add(at))) };
            *acc = vfmaq_f32(*acc, x, y);
        }
        i += F32_STEP;
    }
    while i + F32_LANES <= n {
        // SAFETY: i + 4 <= n, within both slices; ld1 takes any alignment.
        let (x, y) = unsafe { (vld1q_f32(pa.add(i)), vld1q_f32(pb.add(i))) };
        s[0] = vfmaq_f32(s[0], x, y);
        i += F32_LANES;
    }
    let tail: f32 = a[i..n].iter().zip(&b[i..n]).map(|(x, y)| x * y).sum();
    vaddvq_f32(sum4(s)) + tail
}

#[target_feature(enable = "neon")]
unsafe fn l2sq_f32_neon(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut s = [vdupq_n_f32(0.0); 4];
    let mut i = 0;
    while i + F32_STEP <= n {
        for (k, acc) in s.iter_mut().enumerate() {
            let at = i + k * F32_LANES;
            // SAFETY: at + 4 <= i + 16 <= n, within both slices; ld1 takes any alignment.
            let (x, y) = unsafe { (vld1q_f32(pa.add(at)), vld1q_f32(pb.add(at))) };
            let d = vsubq_f32(x, y);
            *acc = vfmaq_f32(*acc, d, d);
        }
        i += F32_STEP;
    }
    while i + F32_LANES <= n {
        // SAFETY: i + 4 <= n, within both slices; ld1 takes any alignment.
        let (x, y) = unsafe { (vld1q_f32(pa.add(i)), vld1q_f32(pb.add(i))) };
        let d = vsubq_f32(x, y);
        s[0] = vfmaq_f32(s[0], d, d);
        i += F32_LANES;
    }
    let tail: f32 = a[i..n]
        .iter()
        .zip(&b[i..n])
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    vaddvq_f32(sum4(s)) + tail
}

#[target_feature(enable = "neon")]
unsafe fn cosine_f32_neon(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut ab = [vdupq_n_f32(0.0); 4];
    let mut aa = [vdupq_n_f32(0.0); 4];
    let mut bb = [vdupq_n_f32(0.0); 4];
    let mut i = 0;
    while i + F32_STEP <= n {
        for k in 0..4 {
            let at = i + k * F32_LANES;
            // SAFETY: at + 4 <= i + 16 <= n, within both slices; ld1 takes any alignment.
            let (x, y) = unsafe { (vld1q_f32(pa.add(at)), vld1q_f32(pb.add(at))) };
            ab[k] = vfmaq_f32(ab[k], x, y);
            aa[k] = vfmaq_f32(aa[k], x, x);
            bb[k] = vfmaq_f32(bb[k], y, y);
        }
        i += F32_STEP;
    }
    while i + F32_LANES <= n {
        // SAFETY: i + 4 <= n, within both slices; ld1 takes any alignment.
        let (x, y) = unsafe { (vld1q_f32(pa.add(i)), vld1q_f32(pb.add(i))) };
        ab[0] = vfmaq_f32(ab[0], x, y);
        aa[0] = vfmaq_f32(aa[0], x, x);
        bb[0] = vfmaq_f32(bb[0], y, y);
        i += F32_LANES;
    }
    let (mut dot, mut na, mut nb) = (
        vaddvq_f32(sum4(ab)),
        vaddvq_f32(sum4(aa)),
        vaddvq_f32(sum4(bb)),
    );
    for (x, y) in a[i..n].iter().zip(&b[i..n]) {
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    super::cosine_from_parts(dot, na, nb)
}

/// 16 products widened to i16 and added pairwise into the four i32 lanes of `acc`.
#[inline]
#[target_feature(enable = "neon")]
fn widening_dot(acc: int32x4_t, x: int8x16_t, y: int8x16_t) -> int32x4_t {
    let low = vmull_s8(vget_low_s8(x), vget_low_s8(y));
    let high = vmull_high_s8(x, y);
    vpadalq_s16(vpadalq_s16(acc, low), high)
}

#[inline]
#[target_feature(enable = "neon")]
fn sum4_i32(s: [int32x4_t; 4]) -> i32 {
    vaddvq_s32(vaddq_s32(vaddq_s32(s[0], s[1]), vaddq_s32(s[2], s[3])))
}

fn scalar_tail_i8(a: &[i8], b: &[i8]) -> i32 {
    a.iter().zip(b).fold(0i32, |acc, (&x, &y)| {
        acc.wrapping_add(i32::from(x) * i32::from(y))
    })
}

#[target_feature(enable = "neon")]
unsafe fn dot_i8_neon(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut s = [vdupq_n_s32(0); 4];
    let mut i = 0;
    while i + I8_STEP <= n {
        for (k, acc) in s.iter_mut().enumerate() {
            let at = i + k * I8_LANES;
            // SAFETY: at + 16 <= i + 64 <= n, within both slices; ld1 takes any alignment.
            let (x, y) = unsafe { (vld1q_s8(pa.add(at)), vld1q_s8(pb.add(at))) };
            *acc = widening_dot(*acc, x, y);
        }
        i += I8_STEP;
    }
    while i + I8_LANES <= n {
        // SAFETY: i + 16 <= n, within both slices; ld1 takes any alignment.
        let (x, y) = unsafe { (vld1q_s8(pa.add(i)), vld1q_s8(pb.add(i))) };
        s[0] = widening_dot(s[0], x, y);
        i += I8_LANES;
    }
    sum4_i32(s).wrapping_add(scalar_tail_i8(&a[i..n], &b[i..n]))
}

/// `acc[j] += x[4j]*y[4j] + ... + x[4j+3]*y[4j+3]` with the `sdot` instruction.
#[inline]
#[target_feature(enable = "neon,dotprod")]
fn sdot(acc: int32x4_t, x: int8x16_t, y: int8x16_t) -> int32x4_t {
    let mut acc = acc;
    // SAFETY: `sdot` only reads and writes the three vector registers named here; the
    // enclosing function requires the dotprod feature that defines the instruction.
    unsafe {
        asm!(
            "sdot {acc:v}.4s, {x:v}.16b, {y:v}.16b",
            acc = inout(vreg) acc,
            x = in(vreg) x,
            y = in(vreg) y,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    acc
}

#[target_feature(enable = "neon,dotprod")]
unsafe fn dot_i8_neon_dotprod(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut s = [vdupq_n_s32(0); 4];
    let mut i = 0;
    while i + I8_STEP <= n {
        for (k, acc) in s.iter_mut().enumerate() {
            let at = i + k * I8_LANES;
            // SAFETY: at + 16 <= i + 64 <= n, within both slices; ld1 takes any alignment.
            let (x, y) = unsafe { (vld1q_s8(pa.add(at)), vld1q_s8(pb.add(at))) };
            *acc = sdot(*acc, x, y);
        }
        i += I8_STEP;
    }
    while i + I8_LANES <= n {
        // SAFETY: i + 16 <= n, within both slices; ld1 takes any alignment.
        let (x, y) = unsafe { (vld1q_s8(pa.add(i)), vld1q_s8(pb.add(i))) };
        s[0] = sdot(s[0], x, y);
        i += I8_LANES;
    }
    sum4_i32(s).wrapping_add(scalar_tail_i8(&a[i..n], &b[i..n]))
}
