//! The reopen matrix with the real binary: `sutra-storage serve` with each compression
//! setting (none, int8, auto), metric and dimension, real upserts over gRPC, then SIGTERM
//! (a graceful stop) or SIGKILL, and a restart on the same directory with no collection
//! flags: it must start and serve exactly what was acknowledged, in particular a store
//! created with `--compression int8`, whose restart derives the int8 file size from the
//! stored layout. Every page size and SIMD alignment is covered in-process by
//! `storage_reopen.rs`; a process uses this host's.

mod server_support;

use server_support::{connect, get, spawn_serve, stats};
use sutra_api::proto::storage_client::StorageClient;
use sutra_api::proto::{SearchRequest, UpsertRequest, Vector};

const DIMENSIONS: [u32; 9] = [1, 3, 8, 64, 100, 128, 768, 1536, 4096];
const COMPRESSIONS: [&str; 3] = ["none", "int8", "auto"];
const METRICS: [&str; 3] = ["cosine", "dot", "l2"];

fn vector(id: u64, dimension: u32) -> Vector {
    Vector {
        id,
        values: (0..u64::from(dimension))
            .map(|d| ((id * 7919 + d * 104_729) % 1000) as f32 / 1000.0 - 0.5)
            .collect(),
        payload: format!("doc-{id}").into_bytes(),
        values_le: Vec::new(),
    }
}

#[derive(Debug, PartialEq)]
struct Seen {
    vectors: Vec<Vector>,
    top: Vec<u64>,
    count: u64,
}

async fn observe(client: &mut StorageClient<tonic::transport::Channel>, dimension: u32) -> Seen {
    let ids: Vec<u64> = (0..40).collect();
    let mut vectors = get(client, &ids).await.vectors;
    vectors.sort_by_key(|v| v.id);
    let top = client
        .search(SearchRequest {
            query: vector(17, dimension).values,
            k: 5,
            ..SearchRequest::default()
        })
        .await
        .unwrap()
        .into_inner()
        .hits
        .iter()
        .map(|hit| hit.id)
        .collect();
    let count = stats(client).await.vectors;
    Seen {
        vectors,
        top,
        count,
    }
}

/// One case: create, write, stop with `signal`, restart bare, compare.
async fn case(compression: &str, metric: &str, dimension: u32, signal: i32) -> Result<(), String> {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let dimension_flag = dimension.to_string();
    let mut node = spawn_serve(
        &data,
        &[
            "--dimension",
            &dimension_flag,
            "--metric",
            metric,
            "--compression",
            compression,
        ],
    )
    .await;
    let mut client = StorageClient::new(connect(node.grpc).await);
    for batch in [0..25u64, 25..40] {
        client
            .upsert(UpsertRequest {
                vectors: batch.map(|id| vector(id, dimension)).collect(),
            })
            .await
            .map_err(|e| format!("upsert: {e}"))?;
    }
    let before = observe(&mut client, dimension).await;
    drop(client);
    let pid = node.child.id().expect("running") as i32;
    // SAFETY: sends a signal to our own child process, which has not been reaped.
    unsafe { libc::kill(pid, signal) };
    let status = node.child.wait().await.unwrap();
    if signal == libc::SIGTERM && !status.success() {
        return Err(format!("the graceful stop exited with {status}"));
    }

    let mut node = spawn_serve(&data, &[]).await;
    let mut client = StorageClient::new(connect(node.grpc).await);
    let after = observe(&mut client, dimension).await;
    node.child.kill().await.unwrap();
    if after != before {
        return Err(format!(
            "after the restart: {} vectors, top {:?}; before: {} vectors, top {:?}",
            after.count, after.top, before.count, before.top
        ));
    }
    if before.count != 40 || before.vectors.len() != 40 {
        return Err(format!("{} of 40 vectors stored", before.count));
    }
    Ok(())
}

/// Every compression setting and dimension, each metric in turn, SIGTERM and SIGKILL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_server_restarts_on_every_store_it_creates() {
    let mut failures = Vec::new();
    let mut cases = 0;
    for (c, compression) in COMPRESSIONS.iter().enumerate() {
        for (d, dimension) in DIMENSIONS.iter().enumerate() {
            let metric = METRICS[(c + d) % METRICS.len()];
            for (signal, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGKILL, "SIGKILL")] {
                cases += 1;
                if let Err(error) = case(compression, metric, *dimension, signal).await {
                    failures.push(format!(
                        "--compression {compression} --metric {metric} --dimension {dimension}, {name}: {error}"
                    ));
                }
            }
        }
    }
    assert_eq!(cases, 54);
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
