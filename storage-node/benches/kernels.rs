//! Distance kernels at embedding sizes: scalar reference, the simsimd crate, every SIMD
//! table this CPU can run, and the dispatched table, measured in one run so the ratios in
//! `docs/PERFORMANCE.md` compare like with like.
//!
//! `cargo bench -p sutra-storage --bench kernels`

#[path = "../tests/xorshift/mod.rs"]
mod xorshift;

use std::hint::black_box;
use std::time::Duration;

use criterion::{
    BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime,
};
use simsimd::SpatialSimilarity;
use sutra_storage::simd::{self, Kernels, SCALAR};
use xorshift::xorshift;

const DIMS: [usize; 2] = [768, 1536];

/// Deterministic values in [-1, 1) (xorshift), the range of normalised embeddings.
fn vector_f32(len: usize, seed: u64) -> Vec<f32> {
    xorshift(seed)
        .take(len)
        .map(|state| (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0)
        .collect()
}

fn vector_i8(len: usize, seed: u64) -> Vec<i8> {
    vector_f32(len, seed)
        .iter()
        .map(|x| (x * 127.0) as i8)
        .collect()
}

/// SIMD tables to measure. The avx512-vnni table shares its f32 kernels with avx512, so it
/// is measured for int8 only.
fn simd_tables(for_int8: bool) -> Vec<Kernels> {
    simd::available()
        .into_iter()
        .filter(|k| k.isa != SCALAR.isa && (for_int8 || k.isa != "avx512-vnni"))
        .collect()
}

fn bench<T, R>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    id: &str,
    a: &[T],
    b: &[T],
    f: impl Fn(&[T], &[T]) -> R,
) {
    group.bench_function(id, |bencher| bencher.iter(|| f(black_box(a), black_box(b))));
}

type F32Kernel = fn(&[f32], &[f32]) -> f32;

struct F32Metric {
    name: &'static str,
    entry: fn(&Kernels) -> F32Kernel,
    simsimd: fn(&[f32], &[f32]) -> Option<f64>,
}

const F32_METRICS: [F32Metric; 3] = [
    F32Metric {
        name: "dot_f32",
        entry: |k| k.dot_f32,
        simsimd: <f32 as SpatialSimilarity>::dot,
    },
    F32Metric {
        name: "cosine_f32",
        entry: |k| k.cosine_f32,
        simsimd: <f32 as SpatialSimilarity>::cos,
    },
    F32Metric {
        name: "l2sq_f32",
        entry: |k| k.l2sq_f32,
        simsimd: <f32 as SpatialSimilarity>::sqeuclidean,
    },
];

/// The two dispatchers being compared, printed so a results table can name them.
fn report_dispatch() {
    use simsimd::capabilities as simsimd_cpu;
    println!(
        "sutra dispatched table: {}; simsimd backends available: haswell={} skylake={} ice={} genoa={} sapphire={} turin={}",
        simd::kernels().isa,
        simsimd_cpu::uses_haswell(),
        simsimd_cpu::uses_skylake(),
        simsimd_cpu::uses_ice(),
        simsimd_cpu::uses_genoa(),
        simsimd_cpu::uses_sapphire(),
        simsimd_cpu::uses_turin(),
    );
}

fn f32_kernels(c: &mut Criterion) {
    report_dispatch();
    for metric in &F32_METRICS {
        for dim in DIMS {
            let (a, b) = (vector_f32(dim, 1), vector_f32(dim, 2));
            let mut group = c.benchmark_group(format!("{}/{dim}", metric.name));
            bench(&mut group, "scalar", &a, &b, (metric.entry)(&SCALAR));
            bench(&mut group, "simsimd", &a, &b, metric.simsimd);
            for table in simd_tables(false) {
                bench(&mut group, table.isa, &a, &b, (metric.entry)(&table));
            }
            bench(
                &mut group,
                "dispatched",
                &a,
                &b,
                (metric.entry)(simd::kernels()),
            );
            group.finish();
        }
    }
}

fn i8_kernels(c: &mut Criterion) {
    for dim in DIMS {
        let (a, b) = (vector_i8(dim, 3), vector_i8(dim, 4));
        let mut group = c.benchmark_group(format!("dot_i8/{dim}"));
        bench(&mut group, "scalar", &a, &b, SCALAR.dot_i8);
        bench(
            &mut group,
            "simsimd",
            &a,
            &b,
            <i8 as SpatialSimilarity>::dot,
        );
        for table in simd_tables(true) {
            bench(&mut group, table.isa, &a, &b, table.dot_i8);
        }
        bench(&mut group, "dispatched", &a, &b, simd::kernels().dot_i8);
        group.finish();
    }
}

fn quick() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
}

criterion_group! {
    name = kernels;
    config = quick();
    targets = f32_kernels, i8_kernels
}
criterion_main!(kernels);
