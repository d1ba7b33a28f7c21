use proptest::prelude::*;

use super::*;

fn entry(score: f32, id: u64) -> Entry {
    Entry {
        score,
        id,
        at: SlotLoc {
            segment: 0,
            slot: 0,
        },
    }
}

/// Reshapes `v` (elements in [-1, 1)) into one of several shapes that stress the bound
/// differently, scaled to `magnitude`.
fn shaped(mut v: Vec<f32>, shape: u8, magnitude: f32) -> Vec<f32> {
    v.iter_mut().for_each(|x| *x *= magnitude);
    match shape {
        // One element dominates: the step is coarse for all the others.
        0 => {
            let middle = v.len() / 2;
            v[middle] = magnitude * 40.0;
        }
        // Every element nearly half a step off a code.
        1 => half_steps(&mut v, magnitude),
        // Mostly zeros.
        2 => v.iter_mut().step_by(3).for_each(|x| *x = 0.0),
        // All non-negative, so the errors cannot cancel in sign.
        3 => v.iter_mut().for_each(|x| *x = x.abs()),
        _ => {}
    }
    v
}

/// Moves every element to just under half a step above a code (away from zero), and
/// the first to `magnitude` (so that the scale is `magnitude / 127`): every element
/// rounds towards zero by nearly the most rounding allows, and scaling the vector
/// (as cosine does to the query) keeps it so.
fn half_steps(v: &mut [f32], magnitude: f32) {
    for x in v.iter_mut() {
        let steps = (x.abs() / magnitude * 126.0).floor() + 0.49;
        *x = (magnitude * steps / 127.0).copysign(*x);
    }
    v[0] = magnitude;
}

/// The int8 and f32 scores of `values` for `query` under `metric`, and the margin.
fn scores(metric: Metric, query: &[f32], values: &[f32]) -> (f32, f32, f32) {
    let mut codes = vec![0i8; values.len()];
    let mut meta = SlotMeta::default();
    meta.code_scale = quant::quantize(values, &mut codes);
    meta.norm = (crate::simd::kernels().dot_f32)(values, values).sqrt();
    let q = PreparedQuery::new(query, metric, true);
    let scorer = Scorer {
        metric,
        kernels: crate::simd::kernels(),
    };
    (
        scorer.approximate(&q, &codes, &meta),
        scorer.exact(&q, values, &meta),
        q.bounds.margin(metric, &meta),
    )
}

fn pair() -> impl Strategy<Value = (Vec<f32>, Vec<f32>)> {
    (1usize..1600).prop_flat_map(|dim| {
        let element = -1.0f32..1.0;
        (
            prop::collection::vec(element.clone(), dim),
            prop::collection::vec(element, dim),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn the_margin_contains_the_gap_between_int8_and_f32_scores(
        (query, values) in pair(),
        shapes in (0u8..6, 0u8..6),
        magnitudes in (prop::sample::select(vec![1e-3f32, 1.0, 37.0, 1e4]), 0.5f32..2.0),
        same in prop::bool::weighted(0.1),
    ) {
        let query = shaped(query, shapes.0, magnitudes.0);
        let values = if same {
            query.clone()
        } else {
            shaped(values, shapes.1, magnitudes.0 * magnitudes.1)
        };
        for metric in [Metric::Dot, Metric::Cosine, Metric::L2] {
            if metric == Metric::Cosine && query.iter().all(|x| *x == 0.0) {
                continue;
            }
            let (approximate, exact, margin) = scores(metric, &query, &values);
            prop_assert!(
                (exact - approximate).abs() <= margin,
                "{:?}: int8 {} and f32 {} differ by more than the margin {}",
                metric, approximate, exact, margin
            );
        }
    }
}

#[test]
fn the_margin_is_within_a_factor_of_two_of_the_worst_case() {
    // Every element nearly half a step off its code, the query the vector itself:
    // every rounding error has the sign that adds up.
    for dim in [96, 768, 1536] {
        let mut v: Vec<f32> = (0..dim)
            .map(|i| ((i * 37 % 101) as f32 / 101.0 - 0.5) * 2.0)
            .collect();
        half_steps(&mut v, 1.0);
        for metric in [Metric::Dot, Metric::Cosine, Metric::L2] {
            let (approximate, exact, margin) = scores(metric, &v, &v);
            let gap = (exact - approximate).abs();
            assert!(gap <= margin, "{metric:?}, dim {dim}: {gap} > {margin}");
            assert!(
                gap > margin / 2.0,
                "{metric:?}, dim {dim}: the gap {gap} is under half the margin {margin}"
            );
        }
    }
}

#[test]
fn a_vector_without_codes_is_always_reranked_and_a_zero_vector_is_exact_under_cosine() {
    let q = PreparedQuery::new(&[0.5, -0.25, 1.0], Metric::Dot, true);
    let mut uncoded = SlotMeta::default();
    uncoded.norm = 2.0;
    assert_eq!(q.bounds.margin(Metric::Dot, &uncoded), f32::INFINITY);
    let zero = SlotMeta::default();
    assert_eq!(q.bounds.margin(Metric::Cosine, &zero), 0.0);
    assert_eq!(q.bounds.margin(Metric::L2, &zero), f32::INFINITY);
}

#[test]
fn keeps_the_best_k_with_ties_to_the_lower_id() {
    let mut top = TopK::new(3);
    for (score, id) in [(1.0, 1), (5.0, 2), (3.0, 3), (5.0, 0), (2.0, 4), (0.5, 5)] {
        if top.accepts(score, id) {
            top.push(entry(score, id));
        }
    }
    let ids: Vec<u64> = top.into_best_first().iter().map(|e| e.id).collect();
    assert_eq!(ids, [0, 2, 3]);
}
