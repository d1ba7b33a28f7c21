//! Every kernel table this CPU can run must agree with the scalar reference.
//!
//! f32 tolerance: the SIMD kernels sum the same products in a different order (one partial
//! sum per lane, 4 to 64 lanes per chain, four chains, FMA without intermediate rounding). Each
//! ordering of an n-term sum is within about n * eps * sum(|terms|) of the exact value, with
//! eps = 2^-24 ~ 6e-8; for n <= 2100 that bound is ~1.3e-4 * sum(|terms|) in the worst case
//! and orders of magnitude smaller in practice (errors cancel, pairwise sums grow slowly), so
//!   |simd - scalar| <= 1e-4 * sum(|terms|) + 1e-5
//! catches any wrong lane, tail or chain (those errors are whole terms, not eps-sized) while
//! tolerating legitimate reordering. Cosine is compared after the division:
//!   |simd - scalar| <= 1e-4 * (sum|x*y| / (|x| |y|)) + 1e-5,
//! which follows from the dot bound because the norms are sums of positive terms.
//! int8 results must be exactly equal.

mod xorshift;

use proptest::prelude::*;
use sutra_storage::simd::{self, Isa, Kernels, SCALAR, scalar};
use xorshift::xorshift;

const MAX_LEN: usize = 2100;
/// Slices start at up to this many elements into a larger buffer, so loads are unaligned.
const MAX_OFFSET: usize = 17;

fn simd_tables() -> Vec<Kernels> {
    simd::available()
        .into_iter()
        .filter(|k| k.isa != SCALAR.isa)
        .collect()
}

fn sum_abs_products(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x * y).abs()).sum()
}

fn sum_abs_sq_diffs(a: &[f32], b: &[f32]) -> f32 {
    scalar::l2sq_f32(a, b)
}

fn assert_close(what: &str, isa: &str, got: f32, want: f32, scale: f32) {
    let tolerance = 1e-4 * scale + 1e-5;
    assert!(
        (got - want).abs() <= tolerance,
        "{isa} {what}: got {got}, scalar {want}, |diff| {} > tolerance {tolerance}",
        (got - want).abs()
    );
}

fn check_f32(k: &Kernels, a: &[f32], b: &[f32]) {
    let norms = scalar::dot_f32(a, a).sqrt() * scalar::dot_f32(b, b).sqrt();
    let cosine_scale = if norms == 0.0 {
        0.0
    } else {
        sum_abs_products(a, b) / norms
    };
    type F32Kernel = fn(&[f32], &[f32]) -> f32;
    let kernels: [(&str, F32Kernel, F32Kernel, f32); 3] = [
        (
            "dot_f32",
            k.dot_f32,
            scalar::dot_f32,
            sum_abs_products(a, b),
        ),
        (
            "l2sq_f32",
            k.l2sq_f32,
            scalar::l2sq_f32,
            sum_abs_sq_diffs(a, b),
        ),
        ("cosine_f32", k.cosine_f32, scalar::cosine_f32, cosine_scale),
    ];
    for (what, kernel, reference, scale) in kernels {
        assert_close(what, k.isa, kernel(a, b), reference(a, b), scale);
    }
}

fn check_i8(k: &Kernels, a: &[i8], b: &[i8]) {
    assert_eq!(
        (k.dot_i8)(a, b),
        scalar::dot_i8(a, b),
        "{} dot_i8 differs from scalar at len {}",
        k.isa,
        a.len()
    );
}

/// Two buffers and, for each, an offset and a common length that fit inside them.
type Case<T> = (Vec<T>, Vec<T>, usize, usize, usize);

fn case<T: std::fmt::Debug>(
    element: impl Strategy<Value = T> + Clone,
) -> impl Strategy<Value = Case<T>> {
    (0..=MAX_LEN, 0..=MAX_OFFSET, 0..=MAX_OFFSET).prop_flat_map(move |(len, off_a, off_b)| {
        (
            prop::collection::vec(element.clone(), len + off_a),
            prop::collection::vec(element.clone(), len + off_b),
            Just(off_a),
            Just(off_b),
            Just(len),
        )
    })
}

/// Runs `check` on the case's slices with every kernel table this CPU can run, and with
/// the one dispatch picked.
fn check_case<T>((a, b, off_a, off_b, len): Case<T>, check: fn(&Kernels, &[T], &[T])) {
    let (a, b) = (&a[off_a..off_a + len], &b[off_b..off_b + len]);
    for k in simd_tables() {
        check(&k, a, b);
    }
    check(simd::kernels(), a, b);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn f32_kernels_match_scalar(case in case(-100.0f32..100.0)) {
        check_case(case, check_f32);
    }

    #[test]
    fn i8_kernels_match_scalar_exactly(case in case(any::<i8>())) {
        check_case(case, check_i8);
    }
}

/// Deterministic pseudo-random values (xorshift), so edge-case tests need no strategy.
fn pseudo_random(len: usize, seed: u64) -> Vec<f32> {
    xorshift(seed)
        .take(len)
        .map(|state| (state % 2001) as f32 / 100.0 - 10.0)
        .collect()
}

fn pseudo_random_i8(len: usize, seed: u64) -> Vec<i8> {
    pseudo_random(len, seed)
        .iter()
        .map(|&x| (x * 12.7) as i8)
        .collect()
}

const BOUNDARY_LENGTHS: [usize; 15] = [0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65];
const MORE_BOUNDARY_LENGTHS: [usize; 6] = [127, 128, 129, 255, 768, 1536];

/// `check` on `len` elements of two pseudo-random arrays drawn by `make` from `seeds`, the
/// first starting at each offset 0..=MAX_OFFSET and the second at the mirrored one, so a
/// kernel meets both inputs at every alignment.
fn at_every_offset<T>(
    len: usize,
    seeds: (u64, u64),
    make: fn(usize, u64) -> Vec<T>,
    check: impl Fn(&[T], &[T]),
) {
    let a = make(len + MAX_OFFSET, seeds.0);
    let b = make(len + MAX_OFFSET, seeds.1);
    for offset in 0..=MAX_OFFSET {
        check(&a[offset..offset + len], &b[MAX_OFFSET - offset..][..len]);
    }
}

#[test]
fn boundary_lengths_match_scalar_at_every_offset() {
    for len in BOUNDARY_LENGTHS.into_iter().chain(MORE_BOUNDARY_LENGTHS) {
        let n = len as u64;
        for k in simd_tables() {
            at_every_offset(len, (1 + n, 1000 + n), pseudo_random, |a, b| {
                check_f32(&k, a, b)
            });
            at_every_offset(len, (7 + n, 70 + n), pseudo_random_i8, |a, b| {
                check_i8(&k, a, b)
            });
        }
    }
}

#[test]
fn empty_inputs_give_zero() {
    for k in simd::available() {
        assert_eq!((k.dot_f32)(&[], &[]), 0.0, "{}", k.isa);
        assert_eq!((k.cosine_f32)(&[], &[]), 0.0, "{}", k.isa);
        assert_eq!((k.l2sq_f32)(&[], &[]), 0.0, "{}", k.isa);
        assert_eq!((k.dot_i8)(&[], &[]), 0, "{}", k.isa);
    }
}

#[test]
fn single_element_is_exact() {
    for k in simd::available() {
        assert_eq!((k.dot_f32)(&[3.0], &[-2.5]), -7.5, "{}", k.isa);
        assert_eq!((k.l2sq_f32)(&[3.0], &[-2.5]), 30.25, "{}", k.isa);
        assert_eq!((k.cosine_f32)(&[3.0], &[-2.5]), -1.0, "{}", k.isa);
        assert_eq!((k.dot_i8)(&[-128], &[-128]), 16384, "{}", k.isa);
    }
}

#[test]
fn cosine_of_a_zero_vector_is_zero() {
    for len in BOUNDARY_LENGTHS.into_iter().chain(MORE_BOUNDARY_LENGTHS) {
        let zeros = vec![0.0f32; len];
        let other = pseudo_random(len, 5);
        for k in simd::available() {
            assert_eq!((k.cosine_f32)(&zeros, &other), 0.0, "{} len {len}", k.isa);
            assert_eq!((k.cosine_f32)(&other, &zeros), 0.0, "{} len {len}", k.isa);
            assert_eq!((k.cosine_f32)(&zeros, &zeros), 0.0, "{} len {len}", k.isa);
        }
    }
}

#[test]
fn cosine_of_parallel_vectors_is_one_and_opposite_is_minus_one() {
    let a = pseudo_random(1000, 9);
    let doubled: Vec<f32> = a.iter().map(|x| 2.0 * x).collect();
    let negated: Vec<f32> = a.iter().map(|x| -x).collect();
    for k in simd::available() {
        assert!(
            ((k.cosine_f32)(&a, &doubled) - 1.0).abs() < 1e-5,
            "{}",
            k.isa
        );
        assert!(
            ((k.cosine_f32)(&a, &negated) + 1.0).abs() < 1e-5,
            "{}",
            k.isa
        );
    }
}

#[test]
fn large_magnitudes_stay_within_relative_tolerance() {
    for len in [33, 1536, 2100] {
        let a: Vec<f32> = pseudo_random(len, 11).iter().map(|x| x * 1e15).collect();
        let b: Vec<f32> = pseudo_random(len, 12).iter().map(|x| x * 1e15).collect();
        for k in simd_tables() {
            check_f32(&k, &a, &b);
        }
    }
}

#[test]
fn int8_extremes_are_exact() {
    for len in [1, 31, 32, 33, 64, 65, 129, 2100] {
        let min = vec![i8::MIN; len];
        let max = vec![i8::MAX; len];
        let expected_min_min = 16384 * len as i32;
        let expected_min_max = -16256 * len as i32;
        for k in simd::available() {
            assert_eq!(
                (k.dot_i8)(&min, &min),
                expected_min_min,
                "{} len {len}",
                k.isa
            );
            assert_eq!(
                (k.dot_i8)(&min, &max),
                expected_min_max,
                "{} len {len}",
                k.isa
            );
            assert_eq!(
                (k.dot_i8)(&max, &min),
                expected_min_max,
                "{} len {len}",
                k.isa
            );
        }
    }
}

#[test]
fn int8_is_exact_at_the_stated_length_bound() {
    // 131_071 * 16384 = 2_147_467_264 <= i32::MAX: the longest input whose worst case fits.
    let len = 131_071;
    let min = vec![i8::MIN; len];
    for k in simd::available() {
        assert_eq!((k.dot_i8)(&min, &min), 2_147_467_264, "{}", k.isa);
    }
}

/// The SVE table when this CPU has SVE, with its vector length in bytes. The SVE kernels
/// run here at any vector length, also at 128 bits where dispatch keeps NEON. Without
/// SVE the skip is written to stderr directly, past the test harness's output capture,
/// so a log shows that these tests checked nothing on this CPU; it names the test from
/// the thread, which the harness names after the test it runs.
fn sve_table() -> Option<(Kernels, usize)> {
    let features = simd::CpuFeatures::detect();
    match simd::table_for(Isa::Sve) {
        Some(k) => Some((k, features.sve_vector_bytes as usize)),
        None => {
            use std::io::Write;
            let thread = std::thread::current();
            let test = thread.name().unwrap_or("an SVE test");
            let _ = writeln!(
                std::io::stderr(),
                "simd_props: {test}: SVE kernels skipped, this CPU has no SVE"
            );
            None
        }
    }
}

/// Lengths around multiples of `lanes` (elements per SVE vector): the main loop takes four
/// vectors per step, the predicated tail takes what is left.
fn lengths_around(lanes: usize) -> Vec<usize> {
    let mut lengths = vec![0, 1, 2, 3];
    for vectors in [1, 2, 3, 4, 5, 8, 9] {
        let at = vectors * lanes;
        lengths.extend([at - 1, at, at + 1]);
    }
    lengths.extend([4 * lanes + lanes / 2, 768, 1536, 2099, 2100]);
    lengths.sort_unstable();
    lengths.dedup();
    lengths
}

#[test]
fn sve_kernels_match_scalar_around_the_vector_length_at_every_offset() {
    let Some((k, vector_bytes)) = sve_table() else {
        return;
    };
    assert!(
        vector_bytes >= 16 && vector_bytes.is_power_of_two(),
        "SVE vector length {vector_bytes} bytes"
    );
    for len in lengths_around(vector_bytes / 4) {
        let n = len as u64;
        at_every_offset(len, (3 + n, 3000 + n), pseudo_random, |a, b| {
            check_f32(&k, a, b)
        });
    }
    for len in lengths_around(vector_bytes) {
        let n = len as u64;
        at_every_offset(len, (5 + n, 500 + n), pseudo_random_i8, |a, b| {
            check_i8(&k, a, b)
        });
    }
}

#[test]
fn sve_int8_is_exact_at_the_extremes_around_the_vector_length() {
    let Some((k, vector_bytes)) = sve_table() else {
        return;
    };
    for len in lengths_around(vector_bytes) {
        let min = vec![i8::MIN; len];
        let max = vec![i8::MAX; len];
        assert_eq!((k.dot_i8)(&min, &min), 16384 * len as i32, "len {len}");
        assert_eq!((k.dot_i8)(&min, &max), -16256 * len as i32, "len {len}");
    }
}

#[test]
fn dispatch_picks_sve_only_where_it_is_wider_than_neon() {
    let features = simd::CpuFeatures::detect();
    let chosen = simd::kernels().isa;
    if features.sve && features.sve_vector_bytes > 16 {
        assert_eq!(
            chosen, "sve",
            "SVE of {} bytes beats NEON's 16",
            features.sve_vector_bytes
        );
    } else {
        assert!(!chosen.contains("sve"), "chose {chosen} on {features:?}");
        if features.neon {
            assert!(chosen.contains("neon"), "chose {chosen} on {features:?}");
        }
    }
}

#[test]
fn available_lists_exactly_the_families_this_cpu_runs() {
    let features = simd::CpuFeatures::detect();
    let names: Vec<&str> = simd::available().iter().map(|k| k.isa).collect();
    for isa in Isa::ALL {
        assert_eq!(
            names.contains(&isa.name()),
            isa.runs_on(&features),
            "{} offered: {names:?}",
            isa.name()
        );
    }
    assert_eq!(names.first(), Some(&"scalar"));
}

#[test]
fn chosen_table_names_the_plan_for_this_cpu() {
    let plan = simd::dispatch::plan(&simd::CpuFeatures::detect());
    assert_eq!(simd::kernels().isa, plan.describe());
    assert_eq!(
        simd::table_for(plan.dot_i8).map(|k| k.isa),
        Some(plan.dot_i8.name())
    );
}
