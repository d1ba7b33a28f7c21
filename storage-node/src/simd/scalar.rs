//! Scalar reference kernels. Plain loops in f64-free f32 arithmetic, the ground truth
//! every SIMD kernel is compared with.

pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

pub fn cosine_f32(a: &[f32], b: &[f32]) -> f32 {
    let (mut dot, mut na, mut nb) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    super::cosine_from_parts(dot, na, nb)
}

pub fn l2sq_f32(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Wrapping i32 accumulation, like the SIMD kernels: exact whenever the true dot product
/// fits in i32, which any pair of length <= 131_071 guarantees (|x*y| <= 2^14).
pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    a.iter().zip(b).fold(0i32, |acc, (&x, &y)| {
        acc.wrapping_add(i32::from(x) * i32::from(y))
    })
}
