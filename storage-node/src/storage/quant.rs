//! Scalar quantisation to int8, one scale per vector.
//!
//! Each vector `v` is stored as codes `c = round(v / s)` with `s = max|v_i| / 127`, so
//! `v ≈ s·c` and `q·v ≈ s_q·s_v·(c_q·c_v)`, an exact integer dot product times two floats.
//! A per-vector scale needs no training pass and never goes stale when the data
//! distribution drifts (a per-dimension scale would fit anisotropic data more tightly, but
//! must be learnt from a sample and re-learnt, re-quantising everything, as data changes).
//! Each element errs by at most half a step (`s/2`); the search turns that into a margin
//! per vector, and its f32 re-rank of the vectors within the margin recovers the exact
//! result.

/// Largest code magnitude; symmetric so that negation is exact.
const CODE_MAX: f32 = 127.0;

/// Writes the int8 codes of `values` into `codes` (same length) and returns the scale.
/// An all-zero vector gets scale 0 and zero codes.
pub fn quantize(values: &[f32], codes: &mut [i8]) -> f32 {
    let max_abs = values.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    if max_abs == 0.0 {
        codes.fill(0);
        return 0.0;
    }
    let scale = max_abs / CODE_MAX;
    let inverse = 1.0 / scale;
    for (code, value) in codes.iter_mut().zip(values) {
        *code = (value * inverse).round().clamp(-CODE_MAX, CODE_MAX) as i8;
    }
    scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_reconstruct_values_within_half_a_step() {
        let values = [0.5f32, -1.0, 0.25, 0.0, 0.999];
        let mut codes = [0i8; 5];
        let scale = quantize(&values, &mut codes);
        assert_eq!(codes[1], -127);
        for (v, c) in values.iter().zip(codes) {
            assert!((v - scale * f32::from(c)).abs() <= scale / 2.0 + 1e-6);
        }
    }

    #[test]
    fn zero_vector_has_zero_scale() {
        let mut codes = [5i8; 3];
        assert_eq!(quantize(&[0.0; 3], &mut codes), 0.0);
        assert_eq!(codes, [0; 3]);
    }
}
