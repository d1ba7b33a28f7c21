//! AVX2 + FMA kernels. f32: 8 lanes, four independent FMA chains (32 floats per step) so the
//! FMA latency is hidden, then single-vector steps, then a scalar tail of at most 7 elements.
//! int8: 16 bytes at a time sign-extended to i16 (`vpmovsxbw`) and multiplied pairwise into
//! i32 (`vpmaddwd`); |x*y| <= 2^14, so a pair sum (<= 2^15) never saturates.
//!
//! Loads are unaligned (`loadu`): callers pass slices at any offset. The `unsafe fn`s need
//! AVX2 and FMA; the safe wrappers are stored only in tables built after detection.

use std::arch::x86_64::*;

const F32_LANES: usize = 8;
const F32_STEP: usize = 4 * F32_LANES;
const I8_LANES: usize = 16;
const I8_STEP: usize = 4 * I8_LANES;

pub(in crate::simd) fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: only reachable through the avx2+fma table, which `simd::available()` builds
    // after `is_x86_feature_detected!` confirmed avx2 and fma.
    unsafe { dot_f32_avx2(a, b) }
}

pub(in crate::simd) fn cosine_f32(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: as in `dot_f32`: the table holding this wrapper exists only when avx2 and fma
    // were detected.
    unsafe { cosine_f32_avx2(a, b) }
}

pub(in crate::simd) fn l2sq_f32(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: as in `dot_f32`: the table holding this wrapper exists only when avx2 and fma
    // were detected.
    unsafe { l2sq_f32_avx2(a, b) }
}

pub(in crate::simd) fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    // SAFETY: as in `dot_f32`: the table holding this wrapper exists only when avx2 was
    // detected.
    unsafe { dot_i8_avx2(a, b) }
}

/// Sum of the 8 lanes.
#[inline]
#[target_feature(enable = "avx")]
fn sum_lanes(v: __m256) -> f32 {
    let halves = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let pairs = _mm_add_ps(halves, _mm_movehl_ps(halves, halves));
    let one = _mm_add_ss(pairs, _mm_shuffle_ps::<0b01>(pairs, pairs));
    _mm_cvtss_f32(one)
}

#[inline]
#[target_feature(enable = "avx")]
fn sum4(s: [__m256; 4]) -> __m256 {
    _mm256_add_ps(_mm256_add_ps(s[0], s[1]), _mm256_add_ps(s[2], s[3]))
}

#[target_feature(enable = "avx2,fma")]
unsafe fn dot_f32_avx2(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut s = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i + F32_STEP <= n {
        for (k, acc) in s.iter_mut().enumerate() {
            let at = i + k * F32_LANES;
            // SAFETY: at + 8 <= i + 32 <= n, within both slices; loadu takes any alignment.
            let (x, y) = unsafe { (_mm256_loadu_ps(pa.add(at)), _mm256_loadu_ps(pb.add(at))) };
            *acc = _mm256_fmadd_ps(x, y, *acc);
        }
        i += F32_STEP;
    }
    while i + F32_LANES <= n {
        // SAFETY: i + 8 <= n, within both slices; loadu takes any alignment.
        let (x, y) = unsafe { (_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i))) };
        s[0] = _mm256_fmadd_ps(x, y, s[0]);
        i += F32_LANES;
    }
    let tail: f32 = a[i..n].iter().zip(&b[i..n]).map(|(x, y)| x * y).sum();
    sum_lanes(sum4(s)) + tail
}

#[target_feature(enable = "avx2,fma")]
unsafe fn l2sq_f32_avx2(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut s = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i + F32_STEP <= n {
        for (k, acc) in s.iter_mut().enumerate() {
            let at = i + k * F32_LANES;
            // SAFETY: at + 8 <= i + 32 <= n, within both slices; loadu takes any alignment.
            let (x, y) = unsafe { (_mm256_loadu_ps(pa.add(at)), _mm256_loadu_ps(pb.add(at))) };
            let d = _mm256_sub_ps(x, y);
            *acc = _mm256_fmadd_ps(d, d, *acc);
        }
        i += F32_STEP;
    }
    while i + F32_LANES <= n {
        // SAFETY: i + 8 <= n, within both slices; loadu takes any alignment.
        let (x, y) = unsafe { (_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i))) };
        let d = _mm256_sub_ps(x, y);
        s[0] = _mm256_fmadd_ps(d, d, s[0]);
        i += F32_LANES;
    }
    let tail: f32 = a[i..n]
        .iter()
        .zip(&b[i..n])
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    sum_lanes(sum4(s)) + tail
}

#[target_feature(enable = "avx2,fma")]
unsafe fn cosine_f32_avx2(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    // Three quantities with four chains each: 12 of the 16 ymm registers.
    let mut ab = [_mm256_setzero_ps(); 4];
    let mut aa = [_mm256_setzero_ps(); 4];
    let mut bb = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i + F32_STEP <= n {
        for k in 0..4 {
            let at = i + k * F32_LANES;
            // SAFETY: at + 8 <= i + 32 <= n, within both slices; loadu takes any alignment.
            let (x, y) = unsafe { (_mm256_loadu_ps(pa.add(at)), _mm256_loadu_ps(pb.add(at))) };
            ab[k] = _mm256_fmadd_ps(x, y, ab[k]);
            aa[k] = _mm256_fmadd_ps(x, x, aa[k]);
            bb[k] = _mm256_fmadd_ps(y, y, bb[k]);
        }
        i += F32_STEP;
    }
    while i + F32_LANES <= n {
        // SAFETY: i + 8 <= n, within both slices; loadu takes any alignment.
        let (x, y) = unsafe { (_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i))) };
        ab[0] = _mm256_fmadd_ps(x, y, ab[0]);
        aa[0] = _mm256_fmadd_ps(x, x, aa[0]);
        bb[0] = _mm256_fmadd_ps(y, y, bb[0]);
        i += F32_LANES;
    }
    let (mut dot, mut na, mut nb) = (
        sum_lanes(sum4(ab)),
        sum_lanes(sum4(aa)),
        sum_lanes(sum4(bb)),
    );
    for (x, y) in a[i..n].iter().zip(&b[i..n]) {
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    crate::simd::cosine_from_parts(dot, na, nb)
}

#[target_feature(enable = "avx2")]
unsafe fn dot_i8_avx2(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut s = [_mm256_setzero_si256(); 4];
    let mut i = 0;
    while i + I8_STEP <= n {
        for (k, acc) in s.iter_mut().enumerate() {
            let at = i + k * I8_LANES;
            // SAFETY: at + 16 <= i + 64 <= n, within both slices; loadu takes any alignment.
            let (x, y) = unsafe {
                (
                    _mm_loadu_si128(pa.add(at).cast()),
                    _mm_loadu_si128(pb.add(at).cast()),
                )
            };
            let products = _mm256_madd_epi16(_mm256_cvtepi8_epi16(x), _mm256_cvtepi8_epi16(y));
            *acc = _mm256_add_epi32(*acc, products);
        }
        i += I8_STEP;
    }
    while i + I8_LANES <= n {
        // SAFETY: i + 16 <= n, within both slices; loadu takes any alignment.
        let (x, y) = unsafe {
            (
                _mm_loadu_si128(pa.add(i).cast()),
                _mm_loadu_si128(pb.add(i).cast()),
            )
        };
        let products = _mm256_madd_epi16(_mm256_cvtepi8_epi16(x), _mm256_cvtepi8_epi16(y));
        s[0] = _mm256_add_epi32(s[0], products);
        i += I8_LANES;
    }
    let total = _mm256_add_epi32(_mm256_add_epi32(s[0], s[1]), _mm256_add_epi32(s[2], s[3]));
    let tail = a[i..n].iter().zip(&b[i..n]).fold(0i32, |acc, (&x, &y)| {
        acc.wrapping_add(i32::from(x) * i32::from(y))
    });
    sum_lanes_i32(total).wrapping_add(tail)
}

/// Wrapping sum of the 8 i32 lanes.
#[inline]
#[target_feature(enable = "avx2")]
fn sum_lanes_i32(v: __m256i) -> i32 {
    let halves = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let pairs = _mm_add_epi32(halves, _mm_unpackhi_epi64(halves, halves));
    let one = _mm_add_epi32(pairs, _mm_shuffle_epi32::<0b01>(pairs));
    _mm_cvtsi128_si32(one)
}
