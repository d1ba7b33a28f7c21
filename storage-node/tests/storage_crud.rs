//! CRUD, validation and reopen behaviour of the storage engine, on real files.

mod storage_support;

use std::collections::BTreeMap;
use std::path::Path;

use storage_support::{Rng, tempdir};
use sutra_core::vector::Metric;
use sutra_storage::storage::{Record, SearchFilter, Store, StoreConfig, StoreError, StoreStats};

const DIM: u32 = 16;

/// Small segments (64 slots of 64 bytes) so a few hundred vectors span many segments.
fn config(dir: &Path, metric: Metric) -> StoreConfig {
    let mut cfg = StoreConfig::new(dir, DIM, metric);
    cfg.page_size = 4096;
    cfg.segment_bytes = 4096;
    cfg.checkpoint_wal_bytes = 1 << 30;
    cfg
}

fn record(rng: &mut Rng, id: u64) -> Record {
    Record {
        id,
        values: rng.vector(DIM as usize),
        payload: format!("payload-{id}").into_bytes(),
    }
}

fn all(store: &Store, ids: impl IntoIterator<Item = u64>) -> Vec<Option<Record>> {
    store.get(&ids.into_iter().collect::<Vec<_>>()).unwrap()
}

fn field_of(error: StoreError) -> String {
    match error {
        StoreError::InvalidArgument { field, .. } => field,
        other => panic!("expected InvalidArgument, got {other}"),
    }
}

#[test]
fn upsert_get_replace_delete() {
    let dir = tempdir();
    let store = Store::open(config(dir.path(), Metric::Dot)).unwrap();
    let mut rng = Rng(1);
    let batch: Vec<Record> = (0..300).map(|id| record(&mut rng, id)).collect();
    assert_eq!(store.upsert(batch.clone()).unwrap(), 300);

    let got = all(&store, [0, 150, 299, 1000]);
    assert_eq!(got[0].as_ref(), Some(&batch[0]));
    assert_eq!(got[1].as_ref(), Some(&batch[150]));
    assert_eq!(got[2].as_ref(), Some(&batch[299]));
    assert_eq!(got[3], None);

    let replacement = Record {
        id: 150,
        values: vec![0.5; DIM as usize],
        payload: vec![],
    };
    store.upsert(vec![replacement.clone()]).unwrap();
    assert_eq!(store.get(&[150]).unwrap()[0].as_ref(), Some(&replacement));

    assert_eq!(store.delete(&[1, 2, 2, 5000]).unwrap(), 2);
    assert_eq!(store.get(&[1, 2]).unwrap(), vec![None, None]);
    let stats = store.stats();
    assert_eq!(stats.vectors, 298);
    assert_eq!(
        stats.deleted, 3,
        "two deleted ids, and the slot id 150 moved out of (upserts copy on write)"
    );
    assert_eq!(stats.segments, 5, "301 slots in segments of 64");
    assert_eq!(stats.dimension, DIM);

    let hits = store
        .search(&replacement.values, 1, &SearchFilter::default())
        .unwrap();
    assert_eq!(hits.scanned, 298);
}

#[test]
fn reopen_after_close_keeps_everything() {
    let dir = tempdir();
    let mut rng = Rng(2);
    let batch: Vec<Record> = (0..200).map(|id| record(&mut rng, id * 3)).collect();
    let store = Store::open(config(dir.path(), Metric::L2)).unwrap();
    store.upsert(batch.clone()).unwrap();
    store.delete(&[0, 3]).unwrap();
    let before = all(&store, (0..600).step_by(3));
    store.close().unwrap();

    let store = Store::open(config(dir.path(), Metric::L2)).unwrap();
    assert_eq!(all(&store, (0..600).step_by(3)), before);
    assert_eq!(store.stats().vectors, 198);
    assert_eq!(
        store.stats().wal_bytes,
        0,
        "close checkpoints, so nothing is left to replay"
    );
}

#[test]
fn reopen_after_drop_without_close_replays_every_acknowledged_write() {
    let dir = tempdir();
    let mut rng = Rng(3);
    let mut model: BTreeMap<u64, Record> = BTreeMap::new();
    {
        let store = Store::open(config(dir.path(), Metric::Cosine)).unwrap();
        let first: Vec<Record> = (0..150).map(|id| record(&mut rng, id)).collect();
        store.upsert(first.clone()).unwrap();
        model.extend(first.into_iter().map(|r| (r.id, r)));
        store.checkpoint().unwrap();

        // After the checkpoint: replace in place, delete, append, delete-then-reinsert.
        let replaced: Vec<Record> = (0..20).map(|id| record(&mut rng, id)).collect();
        store.upsert(replaced.clone()).unwrap();
        model.extend(replaced.into_iter().map(|r| (r.id, r)));
        store.delete(&[30, 31, 32]).unwrap();
        for id in [30, 31, 32] {
            model.remove(&id);
        }
        let appended: Vec<Record> = (150..230).map(|id| record(&mut rng, id)).collect();
        store.upsert(appended.clone()).unwrap();
        model.extend(appended.into_iter().map(|r| (r.id, r)));
        let again = record(&mut rng, 31);
        store.upsert(vec![again.clone()]).unwrap();
        model.insert(31, again);
        assert!(store.stats().wal_bytes > 0);
    }
    let store = Store::open(config(dir.path(), Metric::Cosine)).unwrap();
    let expected: Vec<Option<Record>> = (0..240).map(|id| model.get(&id).cloned()).collect();
    assert_eq!(all(&store, 0..240), expected);
    assert_eq!(store.stats().vectors, model.len() as u64);
}

#[test]
fn second_open_of_the_same_dir_is_refused() {
    let dir = tempdir();
    let _store = Store::open(config(dir.path(), Metric::Dot)).unwrap();
    let error = Store::open(config(dir.path(), Metric::Dot))
        .err()
        .expect("second open must fail");
    assert_eq!(field_of(error), "dir");
}

#[test]
fn reopen_with_another_dimension_or_metric_is_refused() {
    let dir = tempdir();
    Store::open(config(dir.path(), Metric::Dot))
        .unwrap()
        .close()
        .unwrap();
    let error = Store::open(config(dir.path(), Metric::L2))
        .err()
        .expect("metric changed");
    assert!(error.to_string().contains("created with dot"), "{error}");
    let mut other_dim = config(dir.path(), Metric::Dot);
    other_dim.dimension = 8;
    assert_eq!(
        field_of(Store::open(other_dim).err().expect("dimension changed")),
        "dimension"
    );
}

#[test]
fn invalid_config_names_the_field() {
    let dir = tempdir();
    let mut cfg = config(dir.path(), Metric::Dot);
    cfg.alignment = 24;
    assert_eq!(field_of(Store::open(cfg).err().unwrap()), "alignment");
    let mut cfg = config(dir.path(), Metric::Dot);
    cfg.segment_bytes = 5000;
    assert_eq!(field_of(Store::open(cfg).err().unwrap()), "segment_bytes");
}

fn snapshot(store: &Store) -> (StoreStats, Vec<Option<Record>>) {
    let mut stats = store.stats();
    stats.wal_bytes = 0;
    (stats, all(store, 0..120))
}

#[test]
fn every_rejected_call_leaves_the_store_unchanged() {
    let dir = tempdir();
    let store = Store::open(config(dir.path(), Metric::Cosine)).unwrap();
    let mut rng = Rng(4);
    store
        .upsert((0..100).map(|id| record(&mut rng, id)).collect())
        .unwrap();
    let before = snapshot(&store);
    let good = |rng: &mut Rng, id| record(rng, id);

    let mut short = good(&mut rng, 110);
    short.values.truncate(12);
    let error = store
        .upsert(vec![
            good(&mut rng, 111),
            good(&mut rng, 112),
            good(&mut rng, 113),
            short,
        ])
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "vectors[3].values: expected 16 values, got 12"
    );

    let mut nan = good(&mut rng, 5);
    nan.values[7] = f32::NAN;
    assert_eq!(
        field_of(store.upsert(vec![good(&mut rng, 114), nan]).unwrap_err()),
        "vectors[1].values[7]"
    );
    let mut infinite = good(&mut rng, 6);
    infinite.values[0] = f32::INFINITY;
    assert!(
        store
            .upsert(vec![infinite])
            .unwrap_err()
            .to_string()
            .contains("inf is not a finite number")
    );

    assert_eq!(field_of(store.upsert(vec![]).unwrap_err()), "vectors");
    let duplicate = store
        .upsert(vec![
            good(&mut rng, 115),
            good(&mut rng, 116),
            good(&mut rng, 115),
        ])
        .unwrap_err();
    assert_eq!(
        duplicate.to_string(),
        "vectors[2].id: id 115 already appears at vectors[0]; ids within one batch must be unique"
    );
    let mut big = good(&mut rng, 117);
    big.payload = vec![0; 65_537];
    assert_eq!(
        field_of(store.upsert(vec![big]).unwrap_err()),
        "vectors[0].payload"
    );

    assert_eq!(field_of(store.delete(&[]).unwrap_err()), "ids");
    let query = rng.vector(DIM as usize);
    let none = SearchFilter::default();
    assert_eq!(field_of(store.search(&query, 0, &none).unwrap_err()), "k");
    assert_eq!(
        field_of(store.search(&query, 10_001, &none).unwrap_err()),
        "k"
    );
    assert_eq!(
        field_of(store.search(&query[..3], 5, &none).unwrap_err()),
        "query"
    );
    assert_eq!(
        field_of(store.search(&[0.0; DIM as usize], 5, &none).unwrap_err()),
        "query"
    );
    let backwards = SearchFilter {
        id_range: Some(std::ops::RangeInclusive::new(9, 3)),
        payload_prefix: None,
    };
    assert_eq!(
        field_of(store.search(&query, 5, &backwards).unwrap_err()),
        "id_range"
    );
    assert_eq!(
        field_of(
            store
                .search_batch(&[&query, &query[..2]], 5, &none)
                .unwrap_err()
        ),
        "queries[1]"
    );
    assert_eq!(
        field_of(store.search_batch(&[], 5, &none).unwrap_err()),
        "queries"
    );

    assert_eq!(snapshot(&store), before);
    drop(store);
    let reopened = Store::open(config(dir.path(), Metric::Cosine)).unwrap();
    let (mut stats, records) = snapshot(&reopened);
    stats.last_lsn = before.0.last_lsn;
    stats.checkpoint_lsn = before.0.checkpoint_lsn;
    assert_eq!(
        (stats, records),
        before,
        "nothing rejected reached the WAL either"
    );
}
