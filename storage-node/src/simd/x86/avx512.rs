//! AVX-512 kernels (F + BW + VL, and VNNI for one int8 variant).
//!
//! f32: 16 lanes, four independent FMA chains (64 floats per step), single-vector steps,
//! then one masked load for the last 1..15 elements (masked-off lanes read as 0 and are
//! never touched in memory, so the tail costs one step and cannot fault).
//!
//! int8 without VNNI: 32 bytes sign-extended to i16 (`vpmovsxbw`) and `vpmaddwd` into i32.
//! int8 with VNNI: `vpdpbusd` multiplies u8 by i8, so `a` is shifted into u8 by flipping its
//! sign bit (a + 128) and the surplus 128 * sum(b) is subtracted at the end, sum(b) coming
//! from a second `vpdpbusd` against a vector of ones. Lane arithmetic wraps modulo 2^32, and
//! so does the correction; the result equals the exact dot product whenever that fits in i32,
//! which is guaranteed for any input of length <= 131_071 (|x*y| <= 2^14).

use std::arch::x86_64::*;

const F32_LANES: usize = 16;
const F32_STEP: usize = 4 * F32_LANES;
const I8_HALF: usize = 32;
const I8_LANES: usize = 64;
const I8_STEP: usize = 2 * I8_LANES;

pub(in crate::simd) fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: only reachable through the avx512 tables, which `simd::available()` builds
    // after `is_x86_feature_detected!` confirmed avx512f, avx512bw and avx512vl.
    unsafe { dot_f32_avx512(a, b) }
}

pub(in crate::simd) fn cosine_f32(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: as in `dot_f32`: the tables holding this wrapper exist only when avx512f was
    // detected.
    unsafe { cosine_f32_avx512(a, b) }
}

pub(in crate::simd) fn l2sq_f32(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: as in `dot_f32`: the tables holding this wrapper exist only when avx512f was
    // detected.
    unsafe { l2sq_f32_avx512(a, b) }
}

pub(in crate::simd) fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    // SAFETY: as in `dot_f32`: the tables holding this wrapper exist only when avx512f,
    // avx512bw and avx512vl were detected.
    unsafe { dot_i8_avx512bw(a, b) }
}

pub(in crate::simd) fn dot_i8_vnni(a: &[i8], b: &[i8]) -> i32 {
    // SAFETY: only reachable through the avx512-vnni table, built after detection confirmed
    // avx512f, avx512bw, avx512vl and avx512vnni.
    unsafe { dot_i8_avx512vnni(a, b) }
}

/// Mask selecting the first `count` (< 16) lanes.
fn lanes16(count: usize) -> __mmask16 {
    debug_assert!(count < 16);
    (1u16 << count) - 1
}

/// Mask selecting the first `min(count, 32)` bytes.
fn first_bytes32(count: usize) -> __mmask32 {
    if count >= 32 {
        u32::MAX
    } else {
        (1u32 << count) - 1
    }
}

/// Mask selecting the first `min(count, 64)` bytes.
fn first_bytes64(count: usize) -> __mmask64 {
    if count >= 64 {
        u64::MAX
    } else {
        (1u64 << count) - 1
    }
}

#[inline]
#[target_feature(enable = "avx512f")]
fn sum4(s: [__m512; 4]) -> f32 {
    _mm512_reduce_add_ps(_mm512_add_ps(
        _mm512_add_ps(s[0], s[1]),
        _mm512_add_ps(s[2], s[3]),
    ))
}

#[target_feature(enable = "avx512f")]
unsafe fn dot_f32_avx512(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut s = [_mm512_setzero_ps(); 4];
    let mut i = 0;
    while i + F32_STEP <= n {
        for (k, acc) in s.iter_mut().enumerate() {
            let at = i + k * F32_LANES;
            // SAFETY: at + 16 <= i + 64 <= n, within both slices; loadu takes any alignment.
            let (x, y) = unsafe { (_mm512_loadu_ps(pa.add(at)), _mm512_loadu_ps(pb.add(at))) };
            *acc = _mm512_fmadd_ps(x, y, *acc);
        }
        i += F32_STEP;
    }
    while i + F32_LANES <= n {
        // SAFETY: i + 16 <= n, within both slices; loadu takes any alignment.
        let (x, y) = unsafe { (_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i))) };
        s[0] = _mm512_fmadd_ps(x, y, s[0]);
        i += F32_LANES;
    }
    if i < n {
        let m = lanes16(n - i);
        // SAFETY: the mask enables only lanes i..n, inside both slices; masked-off lanes
        // are not read.
        let (x, y) = unsafe {
            (
                _mm512_maskz_loadu_ps(m, pa.add(i)),
                _mm512_maskz_loadu_ps(m, pb.add(i)),
            )
        };
        s[1] = _mm512_fmadd_ps(x, y, s[1]);
    }
    sum4(s)
}

#[target_feature(enable = "avx512f")]
unsafe fn l2sq_f32_avx512(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut s = [_mm512_setzero_ps(); 4];
    let mut i = 0;
    while i + F32_STEP <= n {
        for (k, acc) in s.iter_mut().enumerate() {
            let at = i + k * F32_LANES;
            // SAFETY: at + 16 <= i + 64 <= n, within both slices; loadu takes any alignment.
            let (x, y) = unsafe { (_mm512_loadu_ps(pa.add(at)), _mm512_loadu_ps(pb.add(at))) };
            let d = _mm512_sub_ps(x, y);
            *acc = _mm512_fmadd_ps(d, d, *acc);
        }
        i += F32_STEP;
    }
    while i + F32_LANES <= n {
        // SAFETY: i + 16 <= n, within both slices; loadu takes any alignment.
        let (x, y) = unsafe { (_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i))) };
        let d = _mm512_sub_ps(x, y);
        s[0] = _mm512_fmadd_ps(d, d, s[0]);
        i += F32_LANES;
    }
    if i < n {
        let m = lanes16(n - i);
        // SAFETY: the mask enables only lanes i..n, inside both slices; masked-off lanes
        // are not read.
        let (x, y) = unsafe {
            (
                _mm512_maskz_loadu_ps(m, pa.add(i)),
                _mm512_maskz_loadu_ps(m, pb.add(i)),
            )
        };
        let d = _mm512_sub_ps(x, y);
        s[1] = _mm512_fmadd_ps(d, d, s[1]);
    }
    sum4(s)
}

#[target_feature(enable = "avx512f")]
unsafe fn cosine_f32_avx512(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut ab = [_mm512_setzero_ps(); 4];
    let mut aa = [_mm512_setzero_ps(); 4];
    let mut bb = [_mm512_setzero_ps(); 4];
    let mut i = 0;
    while i + F32_STEP <= n {
        for k in 0..4 {
            let at = i + k * F32_LANES;
            // SAFETY: at + 16 <= i + 64 <= n, within both slices; loadu takes any alignment.
            let (x, y) = unsafe { (_mm512_loadu_ps(pa.add(at)), _mm512_loadu_ps(pb.add(at))) };
            ab[k] = _mm512_fmadd_ps(x, y, ab[k]);
            aa[k] = _mm512_fmadd_ps(x, x, aa[k]);
            bb[k] = _mm512_fmadd_ps(y, y, bb[k]);
        }
        i += F32_STEP;
    }
    while i + F32_LANES <= n {
        // SAFETY: i + 16 <= n, within both slices; loadu takes any alignment.
        let (x, y) = unsafe { (_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i))) };
        ab[0] = _mm512_fmadd_ps(x, y, ab[0]);
        aa[0] = _mm512_fmadd_ps(x, x, aa[0]);
        bb[0] = _mm512_fmadd_ps(y, y, bb[0]);
        i += F32_LANES;
    }
    if i < n {
        let m = lanes16(n - i);
        // SAFETY: the mask enables only lanes i..n, inside both slices; masked-off lanes
        // are not read.
        let (x, y) = unsafe {
            (
                _mm512_maskz_loadu_ps(m, pa.add(i)),
                _mm512_maskz_loadu_ps(m, pb.add(i)),
            )
        };
        ab[1] = _mm512_fmadd_ps(x, y, ab[1]);
        aa[1] = _mm512_fmadd_ps(x, x, aa[1]);
        bb[1] = _mm512_fmadd_ps(y, y, bb[1]);
    }
    crate::simd::cosine_from_parts(sum4(ab), sum4(aa), sum4(bb))
}

/// 32 sign-extended products summed pairwise into 16 i32 lanes.
#[inline]
#[target_feature(enable = "avx512bw")]
fn madd_i8(x: __m256i, y: __m256i) -> __m512i {
    _mm512_madd_epi16(_mm512_cvtepi8_epi16(x), _mm512_cvtepi8_epi16(y))
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn dot_i8_avx512bw(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut s = [_mm512_setzero_si512(); 2];
    let mut i = 0;
    while i + I8_LANES <= n {
        for (k, acc) in s.iter_mut().enumerate() {
            let at = i + k * I8_HALF;
            // SAFETY: at + 32 <= i + 64 <= n, within both slices; loadu takes any alignment.
            let (x, y) = unsafe {
                (
                    _mm256_loadu_si256(pa.add(at).cast()),
                    _mm256_loadu_si256(pb.add(at).cast()),
                )
            };
            *acc = _mm512_add_epi32(*acc, madd_i8(x, y));
        }
        i += I8_LANES;
    }
    while i < n {
        let m = first_bytes32(n - i);
        // SAFETY: the mask enables only bytes i..min(i + 32, n), inside both slices;
        // masked-off bytes are not read.
        let (x, y) = unsafe {
            (
                _mm256_maskz_loadu_epi8(m, pa.add(i)),
                _mm256_maskz_loadu_epi8(m, pb.add(i)),
            )
        };
        s[0] = _mm512_add_epi32(s[0], madd_i8(x, y));
        i += I8_HALF;
    }
    _mm512_reduce_add_epi32(_mm512_add_epi32(s[0], s[1]))
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn dot_i8_avx512vnni(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let sign_bit = _mm512_set1_epi8(i8::MIN);
    let ones = _mm512_set1_epi8(1);
    // Two chains each for sum((a + 128) * b) and sum(b).
    let mut dot = [_mm512_setzero_si512(); 2];
    let mut sum_b = [_mm512_setzero_si512(); 2];
    let mut i = 0;
    while i + I8_STEP <= n {
        for k in 0..2 {
            let at = i + k * I8_LANES;
            // SAFETY: at + 64 <= i + 128 <= n, within both slices; loadu takes any alignment.
            let (x, y) = unsafe {
                (
                    _mm512_loadu_si512(pa.add(at).cast()),
                    _mm512_loadu_si512(pb.add(at).cast()),
                )
            };
            dot[k] = _mm512_dpbusd_epi32(dot[k], _mm512_xor_si512(x, sign_bit), y);
            sum_b[k] = _mm512_dpbusd_epi32(sum_b[k], ones, y);
        }
        i += I8_STEP;
    }
    while i < n {
        let m = first_bytes64(n - i);
        // SAFETY: the mask enables only bytes i..min(i + 64, n), inside both slices;
        // masked-off bytes are not read. They load as 0: (0 + 128) * 0 adds nothing.
        let (x, y) = unsafe {
            (
                _mm512_maskz_loadu_epi8(m, pa.add(i)),
                _mm512_maskz_loadu_epi8(m, pb.add(i)),
            )
        };
        dot[0] = _mm512_dpbusd_epi32(dot[0], _mm512_xor_si512(x, sign_bit), y);
        sum_b[0] = _mm512_dpbusd_epi32(sum_b[0], ones, y);
        i += I8_LANES;
    }
    let shifted = _mm512_reduce_add_epi32(_mm512_add_epi32(dot[0], dot[1]));
    let sum_b = _mm512_reduce_add_epi32(_mm512_add_epi32(sum_b[0], sum_b[1]));
    shifted.wrapping_sub(sum_b.wrapping_mul(128))
}
