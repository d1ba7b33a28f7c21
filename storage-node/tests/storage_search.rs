//! Search results checked against a brute-force reference, for every metric and filter,
//! and int8 recall after the f32 re-rank.

use std::path::Path;

use sutra_storage::simd::{Metric, scalar};
use sutra_storage::storage::{Hit, Record, SearchFilter, Store, StoreConfig};

fn config(dir: &Path, dimension: u32, metric: Metric) -> StoreConfig {
    let mut cfg = StoreConfig::new(dir, dimension, metric);
    cfg.page_size = 4096;
    cfg.segment_bytes = 16 * 4096;
    cfg
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }

    fn vector(&mut self, dim: usize) -> Vec<f32> {
        (0..dim).map(|_| self.unit()).collect()
    }
}

fn reference_score(metric: Metric, query: &[f32], values: &[f32]) -> f32 {
    match metric {
        Metric::Dot => scalar::dot_f32(query, values),
        Metric::Cosine => scalar::cosine_f32(query, values),
        Metric::L2 => -scalar::l2sq_f32(query, values),
    }
}

fn admitted(filter: &SearchFilter, record: &Record) -> bool {
    let in_range = filter
        .id_range
        .as_ref()
        .is_none_or(|r| r.contains(&record.id));
    let prefixed = filter
        .payload_prefix
        .as_ref()
        .is_none_or(|p| record.payload.starts_with(p));
    in_range && prefixed
}

fn brute_force(
    metric: Metric,
    data: &[Record],
    query: &[f32],
    k: usize,
    filter: &SearchFilter,
) -> Vec<Hit> {
    let mut all: Vec<Hit> = data
        .iter()
        .filter(|r| admitted(filter, r))
        .map(|r| Hit {
            id: r.id,
            score: reference_score(metric, query, &r.values),
        })
        .collect();
    all.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
    all.truncate(k);
    all
}

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() <= 1e-4 * a.abs().max(b.abs()).max(1.0)
}

/// The hits are a correct top-k: same length, every score matches the reference score of
/// its id, and rank by rank the scores equal the reference's (ties may swap ids).
fn assert_exact_top_k(
    metric: Metric,
    data: &[Record],
    query: &[f32],
    got: &[Hit],
    filter: &SearchFilter,
) {
    let expected = brute_force(metric, data, query, got.len().max(1), filter);
    for (rank, (hit, want)) in got.iter().zip(expected).enumerate() {
        let record = data
            .iter()
            .find(|r| r.id == hit.id)
            .expect("hit id is stored");
        assert!(
            admitted(filter, record),
            "{metric:?}: hit {} violates the filter",
            hit.id
        );
        let own = reference_score(metric, query, &record.values);
        assert!(
            close(hit.score, own),
            "{metric:?}: hit {} scored {} but its reference score is {own}",
            hit.id,
            hit.score
        );
        assert!(
            close(hit.score, want.score),
            "{metric:?} rank {rank}: score {} vs reference {}",
            hit.score,
            want.score
        );
    }
    let ids: Vec<u64> = got.iter().map(|h| h.id).collect();
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        unique.len(),
        ids.len(),
        "{metric:?}: duplicate ids in {ids:?}"
    );
}

fn dataset(rng: &mut Rng, n: u64, dim: usize) -> Vec<Record> {
    (0..n)
        .map(|id| {
            let tag = if id % 3 == 0 { "red" } else { "blue" };
            Record {
                id,
                values: rng.vector(dim),
                payload: format!("{tag}:{id}").into_bytes(),
            }
        })
        .collect()
}

fn filters() -> Vec<SearchFilter> {
    vec![
        SearchFilter::default(),
        SearchFilter {
            id_range: Some(100..=700),
            payload_prefix: None,
        },
        SearchFilter {
            id_range: None,
            payload_prefix: Some(b"red".to_vec()),
        },
        SearchFilter {
            id_range: Some(50..=400),
            payload_prefix: Some(b"blue:1".to_vec()),
        },
        SearchFilter {
            id_range: Some(5000..=6000),
            payload_prefix: None,
        },
    ]
}

#[test]
fn exact_search_matches_brute_force_for_every_metric_and_filter() {
    const DIM: usize = 24;
    for metric in [Metric::Dot, Metric::Cosine, Metric::L2] {
        let dir = tempdir();
        let store = Store::open(config(dir.path(), DIM as u32, metric)).unwrap();
        let mut rng = Rng(10);
        let mut data = dataset(&mut rng, 1000, DIM);
        store.upsert(data[..600].to_vec()).unwrap();
        store.upsert(data[600..].to_vec()).unwrap();
        store
            .delete(&(0..1000).step_by(7).collect::<Vec<_>>())
            .unwrap();
        data.retain(|r| r.id % 7 != 0);
        for filter in filters() {
            for k in [1, 10, 57] {
                let query = rng.vector(DIM);
                let got = store.search(&query, k, &filter).unwrap();
                let expected_len = brute_force(metric, &data, &query, k, &filter).len();
                assert_eq!(got.hits.len(), expected_len, "{metric:?}: hit count");
                assert_exact_top_k(metric, &data, &query, &got.hits, &filter);
                let in_range = data
                    .iter()
                    .filter(|r| filter.id_range.as_ref().is_none_or(|x| x.contains(&r.id)))
                    .count();
                assert_eq!(
                    got.scanned, in_range as u64,
                    "{metric:?}: scanned counts live vectors in the id range"
                );
            }
        }
    }
}

#[test]
fn batch_search_equals_single_searches() {
    const DIM: usize = 32;
    let dir = tempdir();
    let store = Store::open(config(dir.path(), DIM as u32, Metric::Cosine)).unwrap();
    let mut rng = Rng(11);
    store.upsert(dataset(&mut rng, 700, DIM)).unwrap();
    let queries: Vec<Vec<f32>> = (0..16).map(|_| rng.vector(DIM)).collect();
    let refs: Vec<&[f32]> = queries.iter().map(Vec::as_slice).collect();
    let filter = SearchFilter {
        id_range: Some(10..=650),
        payload_prefix: Some(b"blue".to_vec()),
    };
    let batch = store.search_batch(&refs, 10, &filter).unwrap();
    assert_eq!(batch.len(), 16);
    for (query, result) in refs.iter().zip(&batch) {
        assert_eq!(&store.search(query, 10, &filter).unwrap(), result);
    }
    assert_eq!(store.metrics().searches, 32);
}

/// Points around a few random centres, as embeddings of related items tend to be.
fn clustered(rng: &mut Rng, n: u64, dim: usize) -> Vec<Record> {
    let centres: Vec<Vec<f32>> = (0..20).map(|_| rng.vector(dim)).collect();
    (0..n)
        .map(|id| {
            let centre = &centres[(rng.next() % 20) as usize];
            let values = centre.iter().map(|c| c + 0.35 * rng.unit()).collect();
            Record {
                id,
                values,
                payload: vec![],
            }
        })
        .collect()
}

#[test]
fn int8_search_recall_after_rerank_is_at_least_95_percent() {
    const DIM: usize = 96;
    const K: usize = 10;
    for metric in [Metric::Dot, Metric::Cosine, Metric::L2] {
        let dir = tempdir();
        let mut cfg = config(dir.path(), DIM as u32, metric);
        cfg.compression = true;
        let store = Store::open(cfg).unwrap();
        let mut rng = Rng(12);
        let data = clustered(&mut rng, 6000, DIM);
        for chunk in data.chunks(1000) {
            store.upsert(chunk.to_vec()).unwrap();
        }
        let queries: Vec<Vec<f32>> = (0..40)
            .map(|i| {
                data[i * 131]
                    .values
                    .iter()
                    .map(|v| v + 0.2 * rng.unit())
                    .collect()
            })
            .collect();
        let mut found = 0;
        for query in &queries {
            let got = store.search(query, K, &SearchFilter::default()).unwrap();
            let expected = brute_force(metric, &data, query, K, &SearchFilter::default());
            found += got
                .hits
                .iter()
                .filter(|h| expected.iter().any(|e| e.id == h.id))
                .count();
            for hit in &got.hits {
                let exact = reference_score(metric, query, &data[hit.id as usize].values);
                assert!(
                    close(hit.score, exact),
                    "{metric:?}: re-ranked scores are exact f32 scores"
                );
            }
        }
        let recall = found as f64 / (K * queries.len()) as f64;
        println!("{metric:?}: int8 recall@10 after re-rank = {recall}");
        assert!(recall >= 0.95, "{metric:?}: recall@10 {recall}");
    }
}

#[test]
fn turning_compression_on_for_an_existing_store_builds_the_int8_copies() {
    const DIM: usize = 32;
    let dir = tempdir();
    let mut rng = Rng(13);
    let data = clustered(&mut rng, 500, DIM);
    let plain = Store::open(config(dir.path(), DIM as u32, Metric::L2)).unwrap();
    plain.upsert(data.clone()).unwrap();
    let query = rng.vector(DIM);
    let exact = plain.search(&query, 5, &SearchFilter::default()).unwrap();
    plain.close().unwrap();

    let mut cfg = config(dir.path(), DIM as u32, Metric::L2);
    cfg.compression = true;
    let compressed = Store::open(cfg).unwrap();
    assert!(compressed.stats().compression);
    assert_eq!(
        compressed
            .search(&query, 5, &SearchFilter::default())
            .unwrap()
            .hits,
        exact.hits
    );
}
