//! Durability of acknowledged writes across SIGKILL of the real binary.
//!
//! Each round, client tasks send upserts of fresh ids (two writers with unary calls, one
//! with `UpsertStream`s of several batches, which the server pipelines) and record which
//! batches were acknowledged; the server is killed with SIGKILL after a random delay (seeded), restarted
//! on the same directory (without `--dimension`: it is read from the collection), and
//! checked: every acknowledged vector is present and bit-equal, and every batch sent but
//! not acknowledged is either wholly present and equal or wholly absent.

mod server_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use server_support::{ServeProcess, connect, get, spawn_serve, stats, values};
use sutra_api::proto::storage_client::StorageClient;
use sutra_api::proto::{UpsertRequest, Vector};
use tonic::transport::Channel;

const ROUNDS: u64 = 20;
const WRITERS: u64 = 3;
/// Writers from this index on send streams.
const FIRST_STREAMING_WRITER: u64 = 2;
const DIM: u32 = 16;
/// Ids of writer `w` in round `r` start at `r * ROUND_SPAN + w * WRITER_SPAN`.
const ROUND_SPAN: u64 = 1 << 32;
const WRITER_SPAN: u64 = 1 << 28;

/// Batches sent, by first id, and whether the server acknowledged each.
#[derive(Default)]
struct Ledger {
    sent: BTreeMap<u64, Vec<u64>>,
    acked: Vec<u64>,
    /// Streams acknowledged.
    streams_acked: usize,
}

async fn start_node(data: &Path, first_start: bool) -> ServeProcess {
    let dimension = DIM.to_string();
    let mut args = vec!["--compression", "none"];
    if first_start {
        args.extend(["--dimension", &dimension, "--metric", "dot"]);
    }
    spawn_serve(data, &args).await
}

fn record(id: u64) -> Vector {
    Vector {
        id,
        values: values(id, DIM),
        payload: id.to_le_bytes().to_vec(),
        values_le: Vec::new(),
    }
}

/// Sends batches of fresh ids until a call fails (the server died).
async fn write_until_killed(
    mut client: StorageClient<Channel>,
    first_id: u64,
    seed: u64,
    streaming: bool,
    ledger: Arc<Mutex<Ledger>>,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut next = first_id;
    if streaming {
        loop {
            // One stream of 2..=8 batches; its single acknowledgement covers all of them.
            // Most batches are small, with their values inline in the WAL record; one in
            // four is over the 128 KiB inline limit (2,049+ vectors of 64 bytes), so its
            // values are written and synced into their slots before the record is logged.
            let mut batches = Vec::new();
            for _ in 0..rng.random_range(2..=8) {
                let len = if rng.random_range(0..4) == 0 {
                    rng.random_range(2049..=2300u64)
                } else {
                    rng.random_range(1..=32u64)
                };
                let ids: Vec<u64> = (next..next + len).collect();
                next += ids.len() as u64;
                batches.push(ids);
            }
            {
                let mut ledger = ledger.lock().unwrap();
                for ids in &batches {
                    ledger.sent.insert(ids[0], ids.clone());
                }
            }
            let requests: Vec<UpsertRequest> = batches
                .iter()
                .map(|ids| UpsertRequest {
                    vectors: ids.iter().map(|&id| record(id)).collect(),
                })
                .collect();
            match client.upsert_stream(tokio_stream::iter(requests)).await {
                Ok(reply) => {
                    let total: usize = batches.iter().map(Vec::len).sum();
                    assert_eq!(reply.into_inner().upserted, total as u64);
                    let mut ledger = ledger.lock().unwrap();
                    ledger.acked.extend(batches.iter().map(|ids| ids[0]));
                    ledger.streams_acked += 1;
                }
                Err(_) => return,
            }
        }
    }
    loop {
        let ids: Vec<u64> = (next..next + rng.random_range(1..=32u64)).collect();
        next += ids.len() as u64;
        ledger.lock().unwrap().sent.insert(ids[0], ids.clone());
        let request = UpsertRequest {
            vectors: ids.iter().map(|&id| record(id)).collect(),
        };
        match client.upsert(request).await {
            Ok(reply) => {
                assert_eq!(reply.into_inner().upserted, ids.len() as u64);
                ledger.lock().unwrap().acked.push(ids[0]);
            }
            Err(_) => return,
        }
    }
}

async fn fetch(client: &mut StorageClient<Channel>, ids: &[u64]) -> BTreeMap<u64, Vector> {
    let mut found = BTreeMap::new();
    for chunk in ids.chunks(4096) {
        let reply = get(client, chunk).await;
        found.extend(reply.vectors.into_iter().map(|v| (v.id, v)));
    }
    found
}

fn bit_equal(a: &Vector, b: &Vector) -> bool {
    a.id == b.id
        && a.payload == b.payload
        && a.values.len() == b.values.len()
        && a.values
            .iter()
            .zip(&b.values)
            .all(|(x, y)| x.to_bits() == y.to_bits())
}

/// Checks the restarted store against the ledger; returns how many vectors must be there.
async fn verify(
    client: &mut StorageClient<Channel>,
    ledger: &Ledger,
    durable: &mut Vec<u64>,
    round: u64,
) {
    let acked: std::collections::BTreeSet<u64> = ledger.acked.iter().copied().collect();
    for first in &ledger.acked {
        durable.extend(&ledger.sent[first]);
    }
    let mut unacked_present = Vec::new();
    for (first, ids) in &ledger.sent {
        if acked.contains(first) {
            continue;
        }
        let found = fetch(client, ids).await;
        match found.len() {
            0 => {}
            n if n == ids.len() => unacked_present.extend(ids.iter().copied()),
            n => panic!(
                "round {round}: unacknowledged batch at id {first} is half-present ({n} of {})",
                ids.len()
            ),
        }
        for (id, stored) in &found {
            assert!(
                bit_equal(stored, &record(*id)),
                "round {round}: unacknowledged id {id} differs"
            );
        }
    }
    // Batches sent but never acknowledged yet stored count as acknowledged from now on.
    durable.extend(unacked_present);
    let found = fetch(client, durable).await;
    for id in durable.iter() {
        let stored = found
            .get(id)
            .unwrap_or_else(|| panic!("round {round}: acknowledged id {id} is missing"));
        assert!(
            bit_equal(stored, &record(*id)),
            "round {round}: id {id} differs"
        );
    }
    let stats = stats(client).await;
    assert_eq!(
        stats.vectors,
        durable.len() as u64,
        "round {round}: the store holds vectors nobody wrote"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_upserts_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut rng = StdRng::seed_from_u64(0x5eed_c0de);
    let mut node = start_node(&data, true).await;
    let mut durable: Vec<u64> = Vec::new();
    let mut acknowledged_total = 0;
    let mut streams_acked = 0;

    for round in 0..ROUNDS {
        let channel = connect(node.grpc).await;
        let ledger = Arc::new(Mutex::new(Ledger::default()));
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                tokio::spawn(write_until_killed(
                    StorageClient::new(channel.clone()),
                    round * ROUND_SPAN + w * WRITER_SPAN,
                    rng.random(),
                    w >= FIRST_STREAMING_WRITER,
                    Arc::clone(&ledger),
                ))
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(rng.random_range(50..=400))).await;
        node.child.kill().await.expect("SIGKILL the server");
        for writer in writers {
            writer.await.unwrap();
        }
        drop(channel);

        node = start_node(&data, false).await;
        let mut client = StorageClient::new(connect(node.grpc).await);
        let ledger = std::mem::take(&mut *ledger.lock().unwrap());
        acknowledged_total += ledger.acked.len();
        streams_acked += ledger.streams_acked;
        verify(&mut client, &ledger, &mut durable, round).await;
    }
    node.child.kill().await.unwrap();
    assert!(
        acknowledged_total >= ROUNDS as usize,
        "the writers got too few acknowledgements ({acknowledged_total}) for the test to mean anything"
    );
    assert!(
        streams_acked >= ROUNDS as usize,
        "too few streams were acknowledged ({streams_acked}) for the test to cover them"
    );
}
