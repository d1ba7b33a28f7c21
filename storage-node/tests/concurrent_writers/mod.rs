//! Writers that upsert into one store at the same moment: the group-commit workload that
//! the durability tests check and the small-writes bench times.

#![allow(dead_code)] // the bench reads no record back, so it never needs `writer_id`

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use sutra_storage::storage::{Record, Store};

/// The id of writer `writer`'s `i`-th record; distinct across writers for fewer than a
/// million writes each.
pub fn writer_id(writer: u64, i: u64) -> u64 {
    writer * 1_000_000 + i
}

/// Starts `writers` threads at once, each upserting `writes` single records
/// (`record(writer_id(writer, i))`) into `store`; returns the time from their start to the
/// last acknowledged write.
pub fn upsert_concurrently(
    store: &Arc<Store>,
    writers: u64,
    writes: u64,
    record: fn(u64) -> Record,
) -> Duration {
    let start = Arc::new(Barrier::new(writers as usize + 1));
    let threads: Vec<_> = (0..writers)
        .map(|writer| {
            let (store, start) = (Arc::clone(store), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                for i in 0..writes {
                    store.upsert(vec![record(writer_id(writer, i))]).unwrap();
                }
            })
        })
        .collect();
    start.wait();
    let started = Instant::now();
    for thread in threads {
        thread.join().unwrap();
    }
    started.elapsed()
}
