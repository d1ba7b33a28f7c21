//! SVE kernels for aarch64, vector-length agnostic: the same code runs on 128-bit to
//! 2048-bit vectors, reading the length from the CPU (`cntw`, `cntb`, `addvl`, `incw`).
//!
//! Stable Rust has neither SVE intrinsics nor a type for a scalable vector, so each kernel
//! is one `asm!` block inside a `#[target_feature(enable = "sve")]` function (the feature
//! is what lets the assembler accept SVE instructions). Every SVE register lives and dies
//! inside its block; only pointers, lengths and scalar results cross it. Every kernel has
//! the same three parts:
//!
//! 1. Main loop, while at least four vectors of each input are left: four loads per
//!    input addressed `[x, #k, mul vl]`, all lanes active (`ptrue`), four independent
//!    accumulators (as the NEON kernels' four chains, so consecutive multiply-adds do not
//!    wait for each other), pointers advanced by `addvl`.
//! 2. Tail, one vector per step under the predicate `whilelo` builds (lanes `i..n`
//!    active). Predicated loads zero the inactive lanes and the merging `fmla` leaves their
//!    accumulator lanes untouched, so the last partial vector needs no scalar loop.
//! 3. Reduction: the four accumulators added lane-wise, then across the vector (`faddv`
//!    for f32, `uaddv` for the int32 lanes of the int8 kernel).
//!
//! The f32 kernels sum in a different order than the scalar reference, within the
//! tolerance `tests/simd_props.rs` states. The int8 kernel accumulates `sdot` products in
//! i32 lanes that wrap modulo 2^32 like the reference, and reduces them in 64 bits, whose
//! low half is the same wrapping sum: exact whenever the true dot product fits in i32.
//!
//! Registers: z0-z7 and z16-z27 hold vectors, p0 and p1 predicates. Under AAPCS64 those
//! are caller-saved in full (z8-z15 are not: their low halves d8-d15 belong to the caller),
//! so each block declares what it writes as clobbered through the `vN` alias of `zN` and
//! `pN`, and the compiler saves nothing. Dispatch picks this table only where SVE is
//! wider than NEON (`dispatch::Isa::dispatchable_on`); tests run it on any SVE CPU.

use std::arch::asm;

use super::{CpuFeatures, Isa, Kernels};

const SVE: Kernels = Kernels {
    isa: "sve",
    dot_f32,
    cosine_f32,
    l2sq_f32,
    dot_i8,
};

/// The SVE table when `detected` (a probe of this CPU) has SVE.
pub(super) fn table(isa: Isa, detected: &CpuFeatures) -> Option<Kernels> {
    if !isa.runs_on(detected) {
        return None;
    }
    match isa {
        Isa::Sve => Some(SVE),
        Isa::Scalar
        | Isa::Avx2Fma
        | Isa::Avx512
        | Isa::Avx512Vnni
        | Isa::Neon
        | Isa::NeonDotprod => None,
    }
}

fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: only reachable through the SVE table, which `table` builds after
    // `is_aarch64_feature_detected!` confirmed sve.
    unsafe { dot_f32_sve(a, b) }
}

fn cosine_f32(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: as in `dot_f32`: the table holding this wrapper exists only when sve was
    // detected.
    unsafe { cosine_f32_sve(a, b) }
}

fn l2sq_f32(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: as in `dot_f32`: the table holding this wrapper exists only when sve was
    // detected.
    unsafe { l2sq_f32_sve(a, b) }
}

fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    // SAFETY: as in `dot_f32`: the table holding this wrapper exists only when sve was
    // detected.
    unsafe { dot_i8_sve(a, b) }
}

/// Inner product: `fmla` into z0-z3, reduced by `faddv`.
#[target_feature(enable = "sve")]
unsafe fn dot_f32_sve(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let dot: f32;
    // SAFETY: the main loop reads four whole vectors of each input only while at least
    // that many floats are left (`n >= step`, `n` counting what is left after the
    // pointers); the tail's predicated loads touch lanes `i < n` only, and inactive lanes
    // of a predicated load never access memory. ld1w needs no alignment beyond f32's.
    // The block writes only the registers declared below and no memory.
    unsafe {
        asm!(
            "ptrue p1.s",
            "mov z0.s, #0",
            "mov z1.s, #0",
            "mov z2.s, #0",
            "mov z3.s, #0",
            // Floats in four vectors.
            "cntw {step}, all, mul #4",
            "cmp {n}, {step}",
            "b.lo 2f",
            "1:",
            "ld1w {{ z4.s }}, p1/z, [{a}]",
            "ld1w {{ z5.s }}, p1/z, [{b}]",
            "ld1w {{ z6.s }}, p1/z, [{a}, #1, mul vl]",
            "ld1w {{ z7.s }}, p1/z, [{b}, #1, mul vl]",
            "ld1w {{ z16.s }}, p1/z, [{a}, #2, mul vl]",
            "ld1w {{ z17.s }}, p1/z, [{b}, #2, mul vl]",
            "ld1w {{ z18.s }}, p1/z, [{a}, #3, mul vl]",
            "ld1w {{ z19.s }}, p1/z, [{b}, #3, mul vl]",
            "fmla z0.s, p1/m, z4.s, z5.s",
            "fmla z1.s, p1/m, z6.s, z7.s",
            "fmla z2.s, p1/m, z16.s, z17.s",
            "fmla z3.s, p1/m, z18.s, z19.s",
            "addvl {a}, {a}, #4",
            "addvl {b}, {b}, #4",
            "sub {n}, {n}, {step}",
            "cmp {n}, {step}",
            "b.hs 1b",
            // Tail: fewer than four vectors left, one (partial) vector per step.
            "2:",
            "mov {i}, #0",
            "whilelo p0.s, {i}, {n}",
            "b.none 4f",
            "3:",
            "ld1w {{ z4.s }}, p0/z, [{a}, {i}, lsl #2]",
            "ld1w {{ z5.s }}, p0/z, [{b}, {i}, lsl #2]",
            "fmla z0.s, p0/m, z4.s, z5.s",
            "incw {i}",
            "whilelo p0.s, {i}, {n}",
            "b.first 3b",
            "4:",
            "fadd z0.s, z0.s, z1.s",
            "fadd z2.s, z2.s, z3.s",
            "fadd z0.s, z0.s, z2.s",
            "faddv s0, p1, z0.s",
            a = inout(reg) a.as_ptr() => _,
            b = inout(reg) b.as_ptr() => _,
            n = inout(reg) n => _,
            step = out(reg) _,
            i = out(reg) _,
            out("v0") dot,
            out("v1") _, out("v2") _, out("v3") _, out("v4") _, out("v5") _, out("v6") _,
            out("v7") _, out("v16") _, out("v17") _, out("v18") _, out("v19") _,
            out("p0") _, out("p1") _,
            options(pure, readonly, nostack),
        );
    }
    dot
}

/// Squared Euclidean distance: `fsub` then `fmla` of the difference with itself. In the
/// tail both loads zero the same inactive lanes, so their difference adds nothing.
#[target_feature(enable = "sve")]
unsafe fn l2sq_f32_sve(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let sum: f32;
    // SAFETY: the loads are those of `dot_f32_sve`, for the same reasons within both
    // slices; the block writes only the registers declared below and no memory.
    unsafe {
        asm!(
            "ptrue p1.s",
            "mov z0.s, #0",
            "mov z1.s, #0",
            "mov z2.s, #0",
            "mov z3.s, #0",
            "cntw {step}, all, mul #4",
            "cmp {n}, {step}",
            "b.lo 2f",
            "1:",
            "ld1w {{ z4.s }}, p1/z, [{a}]",
            "ld1w {{ z5.s }}, p1/z, [{b}]",
            "ld1w {{ z6.s }}, p1/z, [{a}, #1, mul vl]",
            "ld1w {{ z7.s }}, p1/z, [{b}, #1, mul vl]",
            "ld1w {{ z16.s }}, p1/z, [{a}, #2, mul vl]",
            "ld1w {{ z17.s }}, p1/z, [{b}, #2, mul vl]",
            "ld1w {{ z18.s }}, p1/z, [{a}, #3, mul vl]",
            "ld1w {{ z19.s }}, p1/z, [{b}, #3, mul vl]",
            "fsub z4.s, z4.s, z5.s",
            "fsub z6.s, z6.s, z7.s",
            "fsub z16.s, z16.s, z17.s",
            "fsub z18.s, z18.s, z19.s",
            "fmla z0.s, p1/m, z4.s, z4.s",
            "fmla z1.s, p1/m, z6.s, z6.s",
            "fmla z2.s, p1/m, z16.s, z16.s",
            "fmla z3.s, p1/m, z18.s, z18.s",
            "addvl {a}, {a}, #4",
            "addvl {b}, {b}, #4",
            "sub {n}, {n}, {step}",
            "cmp {n}, {step}",
            "b.hs 1b",
            "2:",
            "mov {i}, #0",
            "whilelo p0.s, {i}, {n}",
            "b.none 4f",
            "3:",
            "ld1w {{ z4.s }}, p0/z, [{a}, {i}, lsl #2]",
            "ld1w {{ z5.s }}, p0/z, [{b}, {i}, lsl #2]",
            "fsub z4.s, z4.s, z5.s",
            "fmla z0.s, p0/m, z4.s, z4.s",
            "incw {i}",
            "whilelo p0.s, {i}, {n}",
            "b.first 3b",
            "4:",
            "fadd z0.s, z0.s, z1.s",
            "fadd z2.s, z2.s, z3.s",
            "fadd z0.s, z0.s, z2.s",
            "faddv s0, p1, z0.s",
            a = inout(reg) a.as_ptr() => _,
            b = inout(reg) b.as_ptr() => _,
            n = inout(reg) n => _,
            step = out(reg) _,
            i = out(reg) _,
            out("v0") sum,
            out("v1") _, out("v2") _, out("v3") _, out("v4") _, out("v5") _, out("v6") _,
            out("v7") _, out("v16") _, out("v17") _, out("v18") _, out("v19") _,
            out("p0") _, out("p1") _,
            options(pure, readonly, nostack),
        );
    }
    sum
}

/// Cosine in one pass: three sets of four accumulators, a·b in z0-z3, a·a in z4-z7 and
/// b·b in z16-z19, fed by loads into z20-z27.
#[target_feature(enable = "sve")]
unsafe fn cosine_f32_sve(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (dot, norm_a_sq, norm_b_sq): (f32, f32, f32);
    // SAFETY: the loads are those of `dot_f32_sve`, for the same reasons within both
    // slices; the block writes only the registers declared below and no memory.
    unsafe {
        asm!(
            "ptrue p1.s",
            "mov z0.s, #0",
            "mov z1.s, #0",
            "mov z2.s, #0",
            "mov z3.s, #0",
            "mov z4.s, #0",
            "mov z5.s, #0",
            "mov z6.s, #0",
            "mov z7.s, #0",
            "mov z16.s, #0",
            "mov z17.s, #0",
            "mov z18.s, #0",
            "mov z19.s, #0",
            "cntw {step}, all, mul #4",
            "cmp {n}, {step}",
            "b.lo 2f",
            "1:",
            "ld1w {{ z20.s }}, p1/z, [{a}]",
            "ld1w {{ z21.s }}, p1/z, [{b}]",
            "ld1w {{ z22.s }}, p1/z, [{a}, #1, mul vl]",
            "ld1w {{ z23.s }}, p1/z, [{b}, #1, mul vl]",
            "ld1w {{ z24.s }}, p1/z, [{a}, #2, mul vl]",
            "ld1w {{ z25.s }}, p1/z, [{b}, #2, mul vl]",
            "ld1w {{ z26.s }}, p1/z, [{a}, #3, mul vl]",
            "ld1w {{ z27.s }}, p1/z, [{b}, #3, mul vl]",
            "fmla z0.s, p1/m, z20.s, z21.s",
            "fmla z4.s, p1/m, z20.s, z20.s",
            "fmla z16.s, p1/m, z21.s, z21.s",
            "fmla z1.s, p1/m, z22.s, z23.s",
            "fmla z5.s, p1/m, z22.s, z22.s",
            "fmla z17.s, p1/m, z23.s, z23.s",
            "fmla z2.s, p1/m, z24.s, z25.s",
            "fmla z6.s, p1/m, z24.s, z24.s",
            "fmla z18.s, p1/m, z25.s, z25.s",
            "fmla z3.s, p1/m, z26.s, z27.s",
            "fmla z7.s, p1/m, z26.s, z26.s",
            "fmla z19.s, p1/m, z27.s, z27.s",
            "addvl {a}, {a}, #4",
            "addvl {b}, {b}, #4",
            "sub {n}, {n}, {step}",
            "cmp {n}, {step}",
            "b.hs 1b",
            "2:",
            "mov {i}, #0",
            "whilelo p0.s, {i}, {n}",
            "b.none 4f",
            "3:",
            "ld1w {{ z20.s }}, p0/z, [{a}, {i}, lsl #2]",
            "ld1w {{ z21.s }}, p0/z, [{b}, {i}, lsl #2]",
            "fmla z0.s, p0/m, z20.s, z21.s",
            "fmla z4.s, p0/m, z20.s, z20.s",
            "fmla z16.s, p0/m, z21.s, z21.s",
            "incw {i}",
            "whilelo p0.s, {i}, {n}",
            "b.first 3b",
            "4:",
            "fadd z0.s, z0.s, z1.s",
            "fadd z2.s, z2.s, z3.s",
            "fadd z0.s, z0.s, z2.s",
            "faddv s0, p1, z0.s",
            "fadd z4.s, z4.s, z5.s",
            "fadd z6.s, z6.s, z7.s",
            "fadd z4.s, z4.s, z6.s",
            "faddv s4, p1, z4.s",
            "fadd z16.s, z16.s, z17.s",
            "fadd z18.s, z18.s, z19.s",
            "fadd z16.s, z16.s, z18.s",
            "faddv s16, p1, z16.s",
            a = inout(reg) a.as_ptr() => _,
            b = inout(reg) b.as_ptr() => _,
            n = inout(reg) n => _,
            step = out(reg) _,
            i = out(reg) _,
            out("v0") dot,
            out("v4") norm_a_sq,
            out("v16") norm_b_sq,
            out("v1") _, out("v2") _, out("v3") _, out("v5") _, out("v6") _, out("v7") _,
            out("v17") _, out("v18") _, out("v19") _, out("v20") _, out("v21") _,
            out("v22") _, out("v23") _, out("v24") _, out("v25") _, out("v26") _,
            out("v27") _,
            out("p0") _, out("p1") _,
            options(pure, readonly, nostack),
        );
    }
    super::cosine_from_parts(dot, norm_a_sq, norm_b_sq)
}

/// Int8 inner product: `sdot` adds four i8 products into each i32 lane of z0-z3, and
/// `uaddv` sums the lanes in 64 bits, of which the low 32 are the wrapping i32 sum.
#[target_feature(enable = "sve")]
unsafe fn dot_i8_sve(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let sum: u64;
    // SAFETY: as in `dot_f32_sve`, counted in bytes: four whole vectors only while at
    // least that many bytes are left, then predicated loads of lanes `i < n` only. The
    // block writes only the registers declared below and no memory.
    unsafe {
        asm!(
            "ptrue p1.b",
            "mov z0.s, #0",
            "mov z1.s, #0",
            "mov z2.s, #0",
            "mov z3.s, #0",
            // Bytes in four vectors.
            "cntb {step}, all, mul #4",
            "cmp {n}, {step}",
            "b.lo 2f",
            "1:",
            "ld1b {{ z4.b }}, p1/z, [{a}]",
            "ld1b {{ z5.b }}, p1/z, [{b}]",
            "ld1b {{ z6.b }}, p1/z, [{a}, #1, mul vl]",
            "ld1b {{ z7.b }}, p1/z, [{b}, #1, mul vl]",
            "ld1b {{ z16.b }}, p1/z, [{a}, #2, mul vl]",
            "ld1b {{ z17.b }}, p1/z, [{b}, #2, mul vl]",
            "ld1b {{ z18.b }}, p1/z, [{a}, #3, mul vl]",
            "ld1b {{ z19.b }}, p1/z, [{b}, #3, mul vl]",
            "sdot z0.s, z4.b, z5.b",
            "sdot z1.s, z6.b, z7.b",
            "sdot z2.s, z16.b, z17.b",
            "sdot z3.s, z18.b, z19.b",
            "addvl {a}, {a}, #4",
            "addvl {b}, {b}, #4",
            "sub {n}, {n}, {step}",
            "cmp {n}, {step}",
            "b.hs 1b",
            // Tail: inactive lanes load as zero and add zero products, so `sdot` needs no
            // predicate.
            "2:",
            "mov {i}, #0",
            "whilelo p0.b, {i}, {n}",
            "b.none 4f",
            "3:",
            "ld1b {{ z4.b }}, p0/z, [{a}, {i}]",
            "ld1b {{ z5.b }}, p0/z, [{b}, {i}]",
            "sdot z0.s, z4.b, z5.b",
            "incb {i}",
            "whilelo p0.b, {i}, {n}",
            "b.first 3b",
            "4:",
            "add z0.s, z0.s, z1.s",
            "add z2.s, z2.s, z3.s",
            "add z0.s, z0.s, z2.s",
            "uaddv d0, p1, z0.s",
            a = inout(reg) a.as_ptr() => _,
            b = inout(reg) b.as_ptr() => _,
            n = inout(reg) n => _,
            step = out(reg) _,
            i = out(reg) _,
            out("v0") sum,
            out("v1") _, out("v2") _, out("v3") _, out("v4") _, out("v5") _, out("v6") _,
            out("v7") _, out("v16") _, out("v17") _, out("v18") _, out("v19") _,
            out("p0") _, out("p1") _,
            options(pure, readonly, nostack),
        );
    }
    // Truncation keeps the low 32 bits: the lane sum modulo 2^32, as the reference wraps.
    sum as i32
}
