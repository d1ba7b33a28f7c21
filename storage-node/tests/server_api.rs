//! The gRPC API of a real server on loopback: CRUD, exact search against a brute-force
//! reference, stats, platform, health, reflection, metrics and graceful shutdown.

mod server_support;

use server_support::*;
use sutra_api::proto::storage_client::StorageClient;
use sutra_api::proto::{
    GetRequest, IdRange, PlatformRequest, SearchRequest, UpsertRequest, Vector,
};
use sutra_core::platform::{Arch, PlatformConfig, PlatformReport};
use sutra_core::vector::Metric;
use sutra_storage::storage::{CompactionPolicy, Store, StoreConfig};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

const DIM: u32 = 24;

/// Scores as the API defines them: higher is more similar for every metric.
fn reference_score(metric: Metric, query: &[f32], stored: &[f32]) -> f64 {
    let dot: f64 = query
        .iter()
        .zip(stored)
        .map(|(a, b)| *a as f64 * *b as f64)
        .sum();
    let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    match metric {
        Metric::Dot => dot,
        Metric::Cosine => dot / (norm(query) * norm(stored)),
        Metric::L2 => -query
            .iter()
            .zip(stored)
            .map(|(a, b)| (*a as f64 - *b as f64).powi(2))
            .sum::<f64>(),
    }
}

fn brute_force_top_k(metric: Metric, query: &[f32], ids: &[u64], k: usize) -> Vec<(u64, f64)> {
    let mut scored: Vec<(u64, f64)> = ids
        .iter()
        .map(|&id| (id, reference_score(metric, query, &values(id, DIM))))
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1));
    scored.truncate(k);
    scored
}

#[tokio::test]
async fn search_returns_the_exact_top_k_for_every_metric() {
    for metric in [Metric::Cosine, Metric::Dot, Metric::L2] {
        let mut node = start_server(DIM, metric).await;
        let ids: Vec<u64> = (1..=600).collect();
        for chunk in ids.chunks(200) {
            let reply = node
                .client
                .upsert(batch(chunk.iter().copied(), DIM))
                .await
                .unwrap();
            assert_eq!(reply.into_inner().upserted, chunk.len() as u64);
        }
        for query_seed in [10_001, 10_002, 10_003] {
            let query = values(query_seed, DIM);
            let expected = brute_force_top_k(metric, &query, &ids, 10);
            let reply = search(&mut node.client, query.clone(), 10).await;
            assert_eq!(reply.scanned, ids.len() as u64, "{metric:?}");
            let got: Vec<u64> = reply.hits.iter().map(|hit| hit.id).collect();
            let want: Vec<u64> = expected.iter().map(|(id, _)| *id).collect();
            assert_eq!(got, want, "{metric:?} query {query_seed}");
            for (hit, (_, score)) in reply.hits.iter().zip(&expected) {
                let tolerance = 1e-4 * score.abs().max(1.0);
                assert!(
                    (hit.score as f64 - score).abs() <= tolerance,
                    "{metric:?}: score {} for id {} but the reference says {score}",
                    hit.score,
                    hit.id
                );
            }
        }
        node.server.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn search_filters_by_id_range_and_payload_prefix_and_returns_vectors() {
    let mut node = start_server(DIM, Metric::Dot).await;
    node.client.upsert(batch(1..=100, DIM)).await.unwrap();
    let query = values(777, DIM);

    let in_range = node
        .client
        .search(SearchRequest {
            query: query.clone(),
            k: 5,
            id_range: Some(IdRange { start: 20, end: 29 }),
            with_vectors: true,
            ..SearchRequest::default()
        })
        .await
        .unwrap()
        .into_inner();
    let range_ids: Vec<u64> = (20..=29).collect();
    let want: Vec<u64> = brute_force_top_k(Metric::Dot, &query, &range_ids, 5)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let got: Vec<u64> = in_range.hits.iter().map(|hit| hit.id).collect();
    assert_eq!(got, want);
    for hit in &in_range.hits {
        assert_eq!(hit.vector.as_ref(), Some(&vector(hit.id, DIM)));
    }

    // Payloads are `doc-<id>`: the prefix `doc-7` admits 7 and 70..=79.
    let prefixed = node
        .client
        .search(SearchRequest {
            query,
            k: 100,
            payload_prefix: b"doc-7".to_vec(),
            ..SearchRequest::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut got: Vec<u64> = prefixed.hits.iter().map(|hit| hit.id).collect();
    got.sort_unstable();
    let mut want: Vec<u64> = (70..=79).collect();
    want.insert(0, 7);
    assert_eq!(got, want);
    assert!(prefixed.hits.iter().all(|hit| hit.vector.is_none()));
    node.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn get_delete_and_stats_follow_the_writes() {
    let mut node = start_server(DIM, Metric::Cosine).await;
    node.client.upsert(batch(1..=10, DIM)).await.unwrap();

    let got = get(&mut node.client, &[3, 42, 1]).await;
    assert_eq!(got.vectors, vec![vector(3, DIM), vector(1, DIM)]);
    assert_eq!(got.missing, vec![42]);

    let replaced = UpsertRequest {
        vectors: vec![sutra_api::proto::Vector {
            id: 3,
            values: values(333, DIM),
            payload: b"replaced".to_vec(),
            values_le: Vec::new(),
        }],
    };
    node.client.upsert(replaced.clone()).await.unwrap();
    let got = get(&mut node.client, &[3]).await;
    assert_eq!(got.vectors, replaced.vectors);

    // The same vector sent as packed little-endian bytes reads back as `values`.
    let packed_values = values(111, DIM);
    let packed = sutra_api::proto::Vector {
        id: 1,
        values: Vec::new(),
        payload: b"packed".to_vec(),
        values_le: packed_values.iter().flat_map(|v| v.to_le_bytes()).collect(),
    };
    node.client
        .upsert(UpsertRequest {
            vectors: vec![packed],
        })
        .await
        .unwrap();
    let got = get(&mut node.client, &[1]).await;
    let expected = sutra_api::proto::Vector {
        id: 1,
        values: packed_values,
        payload: b"packed".to_vec(),
        values_le: Vec::new(),
    };
    assert_eq!(got.vectors, vec![expected]);

    let deleted = delete(&mut node.client, vec![2, 4, 99]).await;
    assert_eq!(deleted, 2);

    let stats = stats(&mut node.client).await;
    assert_eq!(stats.vectors, 8);
    assert_eq!(
        stats.deleted, 4,
        "2 deleted ids and 2 slots that replaced vectors moved out of (copy on write)"
    );
    assert_eq!(stats.dimension, DIM);
    assert_eq!(stats.metric, "cosine");
    assert!(stats.segments >= 1);
    assert!(stats.bytes_mapped > 0);

    let got = get(&mut node.client, &[2, 4]).await;
    assert!(got.vectors.is_empty());
    assert_eq!(got.missing, vec![2, 4]);
    node.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn upsert_stream_stores_every_batch_and_acks_the_total() {
    let mut node = start_server(DIM, Metric::L2).await;
    let batches: Vec<UpsertRequest> = (0..5u64)
        .map(|b| batch(b * 100 + 1..=b * 100 + 100, DIM))
        .collect();
    let upserted = upsert_stream(&mut node.client, batches).await;
    assert_eq!(upserted, 500);
    let stats = stats(&mut node.client).await;
    assert_eq!(stats.vectors, 500);
    let got = get(&mut node.client, &[1, 250, 500]).await;
    assert_eq!(
        got.vectors,
        vec![vector(1, DIM), vector(250, DIM), vector(500, DIM)]
    );
    node.server.shutdown().await.unwrap();
}

/// Bulk batches (values over the 128 KiB inline limit: written into their slots and
/// synced a group at a time) and small ones (values inside their WAL record) mixed in one
/// stream that fills many 1 MiB segments: every vector is stored whole, later batches win
/// over earlier ones for the same id, and all of it is the same after a restart.
#[tokio::test]
async fn a_stream_of_bulk_and_small_batches_stores_every_vector_whole_in_order() {
    const BULK: u64 = 1500; // 1500 x 24 x 4 bytes = 144,000 bytes, over 128 KiB
    let mut node = start_server(DIM, Metric::L2).await;
    let mut next_id = 1u64;
    let mut batches: Vec<UpsertRequest> = (0..24)
        .map(|b| {
            let len = if b % 3 == 0 { 10 } else { BULK };
            let ids = next_id..next_id + len;
            next_id += len;
            batch(ids, DIM)
        })
        .collect();
    let stored = next_id - 1;
    // The last batch, bulk itself, rewrites ids 1..=1500 of the first two.
    let rewrite = |id: u64| Vector {
        payload: format!("again-{id}").into_bytes(),
        values: values(id + 1_000_000, DIM),
        ..vector(id, DIM)
    };
    batches.push(UpsertRequest {
        vectors: (1..=BULK).map(rewrite).collect(),
    });
    let expected = |id: u64| {
        if id <= BULK {
            rewrite(id)
        } else {
            vector(id, DIM)
        }
    };

    let upserted = upsert_stream(&mut node.client, batches).await;
    assert_eq!(upserted, stored + BULK);
    let ids: Vec<u64> = (1..=stored).collect();
    // In chunks: one reply for every id would pass the client's 4 MiB message limit.
    for chunk in ids.chunks(4000) {
        let got = snapshot(&mut node.client, chunk).await;
        assert_eq!(got.vectors, stored);
        assert!(got.missing.is_empty(), "missing {:?}", got.missing);
        let want: Vec<Vector> = chunk.iter().map(|&id| expected(id)).collect();
        assert!(
            got.records == want,
            "ids {}..={} differ",
            chunk[0],
            chunk[chunk.len() - 1]
        );
    }
    let dir = node.dir.path().to_path_buf();
    node.server.shutdown().await.unwrap();

    let store = Store::open(settings(&dir, DIM, Metric::L2).store).unwrap();
    assert_eq!(store.stats().vectors, stored);
    for (id, record) in ids.iter().zip(store.get(&ids).unwrap()) {
        let record = record.unwrap_or_else(|| panic!("id {id} lost at restart"));
        let want = expected(*id);
        assert_eq!(
            (record.values, record.payload),
            (want.values, want.payload),
            "id {id}"
        );
    }
}

#[tokio::test]
async fn platform_serves_the_detected_report_and_the_variant_verdict() {
    let mut node = start_server(DIM, Metric::Cosine).await;
    let reply = node
        .client
        .platform(PlatformRequest {})
        .await
        .unwrap()
        .into_inner();
    let report: PlatformReport = serde_json::from_str(&reply.report_json).unwrap();
    assert_eq!(report.arch, Arch::current());
    let config: PlatformConfig = serde_json::from_str(&reply.config_json).unwrap();
    assert_eq!(config.page_size, report.page_size);
    assert_eq!(reply.variant, "universal");
    assert_eq!(reply.best_variant, config.best_variant);
    assert_eq!(reply.built_variant, "universal");
    let config_json: serde_json::Value = serde_json::from_str(&reply.config_json).unwrap();
    assert_eq!(config_json["bestVariant"], reply.best_variant.as_str());
    assert!(
        config_json.get("variant").is_none(),
        "configJson names a variant without saying which: {config_json}"
    );
    // universal is every chain's last fallback, so it always matches.
    assert!(reply.variant_matched, "{}", reply.variant_message);
    node.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn health_reports_serving_for_the_server_and_the_storage_service() {
    let node = start_server(DIM, Metric::Cosine).await;
    let mut health = HealthClient::new(node.channel.clone());
    for service in ["", "sutra.storage.v1.Storage"] {
        let reply = health
            .check(HealthCheckRequest {
                service: service.to_string(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            reply.status(),
            ServingStatus::Serving,
            "service {service:?}"
        );
    }
    let unknown = health
        .check(HealthCheckRequest {
            service: "no.such.Service".to_string(),
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    node.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn reflection_lists_the_services_and_describes_the_storage_api() {
    let node = start_server(DIM, Metric::Cosine).await;
    let mut reflection = ServerReflectionClient::new(node.channel.clone());
    let requests = vec![
        ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        },
        ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileContainingSymbol(
                "sutra.storage.v1.Storage".to_string(),
            )),
        },
    ];
    let mut replies = reflection
        .server_reflection_info(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();

    let listed = replies.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = listed.message_response else {
        panic!("expected a service list, got {listed:?}");
    };
    let names: Vec<&str> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"sutra.storage.v1.Storage"), "{names:?}");
    assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");

    let described = replies.message().await.unwrap().unwrap();
    let Some(MessageResponse::FileDescriptorResponse(files)) = described.message_response else {
        panic!("expected file descriptors, got {described:?}");
    };
    // The serialised FileDescriptorProto of storage.proto names its package and methods.
    let file = String::from_utf8_lossy(&files.file_descriptor_proto[0]).into_owned();
    assert!(file.contains("sutra.storage.v1"), "{file:?}");
    assert_contains_all(
        &file,
        &[
            "Upsert",
            "UpsertStream",
            "Get",
            "Delete",
            "Search",
            "Stats",
            "Platform",
        ],
    );
    node.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_metrics_port_serves_probes_and_request_metrics() {
    let mut node = start_server(DIM, Metric::Cosine).await;
    node.client.upsert(batch(1..=7, DIM)).await.unwrap();
    search(&mut node.client, values(1, DIM), 3).await;
    let metrics_addr = node.server.metrics_addr();
    assert_eq!(http_get(metrics_addr, "/healthz").await.0, 200);
    assert_eq!(http_get(metrics_addr, "/readyz").await.0, 200);
    let (status, text) = http_get(metrics_addr, "/metrics").await;
    assert_eq!(status, 200);
    assert_contains_all(
        &text,
        &[
            "sutra_storage_requests_total{code=\"OK\",rpc=\"Upsert\"} 1",
            "sutra_storage_requests_total{code=\"OK\",rpc=\"Search\"} 1",
            "sutra_storage_request_duration_seconds_count{rpc=\"Upsert\"} 1",
            "sutra_storage_vectors 7",
            "sutra_storage_search_vectors_scanned_total 7",
            "sutra_storage_search_vectors_reranked_total 0",
            "sutra_storage_wal_batch_size_sum 1",
            "sutra_storage_wal_batch_size_bucket{le=\"1\"} 1",
            "sutra_storage_wal_batch_size_bucket{le=\"+Inf\"} 1",
            "# TYPE sutra_storage_wal_fsync_seconds histogram",
            "sutra_storage_wal_fsync_seconds_bucket{le=\"2.5\"} 1",
            "sutra_storage_wal_fsync_seconds_count 1",
            "sutra_storage_bytes_mapped",
            "sutra_storage_checkpoints_total 0",
            "sutra_storage_compactions_total 0",
            "# TYPE sutra_storage_scrubbed_vectors_total counter",
            "sutra_storage_platform_info{arch=",
        ],
    );
    node.server.shutdown().await.unwrap();
}

/// Deletes and overwrites past the compaction policy start a compaction in the background:
/// the dead slots go, every live vector reads back unchanged, and the metrics count it.
/// Writes below the policy's byte floor start none.
#[tokio::test]
async fn writes_past_the_compaction_policy_compact_in_the_background() {
    let slot_bytes = u64::from(DIM) * 4;
    let mut node = start_with(DIM, Metric::Dot, |settings| {
        settings.compaction = CompactionPolicy {
            dead_ratio: 0.5,
            min_dead_bytes: 40 * slot_bytes,
        };
    })
    .await;
    node.client.upsert(batch(1..=100, DIM)).await.unwrap();
    // 30 dead of 100: under both the ratio and the 40-slot floor.
    delete(&mut node.client, (1..=30).collect()).await;
    let metrics_addr = node.server.metrics_addr();
    let (_, text) = http_get(metrics_addr, "/metrics").await;
    assert!(
        text.contains("sutra_storage_compactions_total 0"),
        "compacted below the policy:\n{text}"
    );
    assert_eq!(snapshot(&mut node.client, &[1]).await.deleted, 30);

    // 10 overwrites (copy on write) and 40 more deletes: 80 dead of 110 slots.
    let overwritten = UpsertRequest {
        vectors: (91..=100)
            .map(|id| sutra_api::proto::Vector {
                id,
                values: values(id + 1000, DIM),
                payload: format!("new-{id}").into_bytes(),
                values_le: Vec::new(),
            })
            .collect(),
    };
    node.client.upsert(overwritten.clone()).await.unwrap();
    delete(&mut node.client, (31..=70).collect()).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let ids: Vec<u64> = (1..=100).collect();
    let after = loop {
        let seen = snapshot(&mut node.client, &ids).await;
        if seen.deleted == 0 {
            break seen;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no compaction within 30 s: {} dead slots left",
            seen.deleted
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(after.vectors, 30);
    assert_eq!(after.missing, (1..=70).collect::<Vec<u64>>());
    let mut expected: Vec<_> = (71..=90).map(|id| vector(id, DIM)).collect();
    expected.extend(overwritten.vectors);
    assert_eq!(after.records, expected);
    let (_, text) = http_get(metrics_addr, "/metrics").await;
    assert!(
        text.contains("sutra_storage_compactions_total 1"),
        "one compaction expected:\n{text}"
    );
    assert!(text.contains("# TYPE sutra_storage_compactions_total counter"));
    node.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_checkpoints_the_store_and_keeps_every_write() {
    let mut node = start_server(DIM, Metric::Dot).await;
    node.client.upsert(batch(1..=50, DIM)).await.unwrap();
    delete(&mut node.client, vec![10]).await;
    let dir = node.dir.path().to_path_buf();
    node.server.shutdown().await.unwrap();

    let mut config = StoreConfig::new(&dir, DIM, Metric::Dot);
    config.segment_bytes = 1 << 20;
    let store = Store::open(config).unwrap();
    let stats = store.stats();
    assert_eq!(stats.vectors, 49);
    assert_eq!(
        stats.checkpoint_lsn, stats.last_lsn,
        "nothing left to replay"
    );
    let records = store.get(&[1, 10, 50]).unwrap();
    assert_eq!(records[0].as_ref().unwrap().values, values(1, DIM));
    assert!(records[1].is_none());
    assert_eq!(records[2].as_ref().unwrap().payload, b"doc-50");
}

/// A node started over values damaged at rest starts fast (it reads no vector to open),
/// then its background scrub finds the damage: `/readyz` answers 503 naming the file, the
/// gRPC health turns `NOT_SERVING`, and calls fail `DATA_LOSS` with the report rather
/// than serve damaged data.
#[tokio::test]
async fn the_background_scrub_stops_a_node_serving_damaged_values() {
    let dir = store_with_damaged_id_20().await;
    let server = sutra_storage::server::start(settings(dir.path(), DIM, Metric::Dot))
        .await
        .expect("the server starts: open reads no vector");
    let channel = connect(server.grpc_addr()).await;
    let mut readyz = (0, String::new());
    for _ in 0..200 {
        readyz = http_get(server.metrics_addr(), "/readyz").await;
        if readyz.0 == 503 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(readyz.0, 503, "{readyz:?}");
    assert!(
        readyz.1.contains("seg-000001.vec") && readyz.1.contains("id 20"),
        "{readyz:?}"
    );
    let health = HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(health.status(), ServingStatus::NotServing);
    let refused = StorageClient::new(channel)
        .get(GetRequest { ids: vec![1] })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::DataLoss);
    assert!(refused.message().contains("seg-000001.vec"), "{refused:?}");
    assert!(
        !refused.message().contains("reopen"),
        "a restart does not repair damage: {refused:?}"
    );
    assert!(
        server.shutdown().await.is_err(),
        "a stopped store is not checkpointed"
    );
}

/// Ids 1..=50 stored by a server and checkpointed, then one bit of id 20's values flipped
/// on disk.
async fn store_with_damaged_id_20() -> tempfile::TempDir {
    let node = start_server(DIM, Metric::Dot).await;
    let mut client = node.client.clone();
    client.upsert(batch(1..=50, DIM)).await.unwrap();
    let dir = node.dir;
    node.server.shutdown().await.unwrap();
    let alignment = sutra_storage::storage::stored_layout(dir.path())
        .unwrap()
        .unwrap()
        .alignment;
    let slot_bytes = (DIM as usize * 4).div_ceil(alignment) * alignment;
    let vectors = dir.path().join("seg-000001.vec");
    let mut bytes = std::fs::read(&vectors).unwrap();
    bytes[19 * slot_bytes + 1] ^= 0x40; // id 20, in slot 19
    std::fs::write(&vectors, bytes).unwrap();
    dir
}

/// With the start-up scrub off (`--scrub-mib-per-second 0`) the node serves, and the read
/// that meets the damage fails `DATA_LOSS` naming the file, after which the node stops:
/// every later call, reads of undamaged ids too, fails `DATA_LOSS` with the same report,
/// and gRPC health agrees with `/readyz` (`NOT_SERVING`, 503).
#[tokio::test]
async fn a_get_that_meets_damaged_values_fails_data_loss() {
    let dir = store_with_damaged_id_20().await;
    let mut settings = settings(dir.path(), DIM, Metric::Dot);
    settings.scrub_mib_per_second = 0;
    let server = sutra_storage::server::start(settings).await.unwrap();
    let mut client = StorageClient::new(connect(server.grpc_addr()).await);
    let metrics = server.metrics_addr();
    assert_eq!(http_get(metrics, "/readyz").await.0, 200, "no scrub ran");
    let good = client.get(GetRequest { ids: vec![19, 21] }).await.unwrap();
    assert_eq!(good.into_inner().vectors.len(), 2);

    let damaged = client.get(GetRequest { ids: vec![20] }).await.unwrap_err();
    assert_eq!(damaged.code(), tonic::Code::DataLoss, "{damaged:?}");
    assert!(
        damaged.message().contains("seg-000001.vec") && damaged.message().contains("id 20"),
        "{damaged:?}"
    );
    let (status, body) = http_get(metrics, "/readyz").await;
    assert_eq!(status, 503, "{body}");
    let after = client.get(GetRequest { ids: vec![19] }).await.unwrap_err();
    assert_eq!(after.code(), tonic::Code::DataLoss, "{after:?}");
    assert!(
        after.message().contains("seg-000001.vec") && after.message().contains("restore"),
        "{after:?}"
    );
    let mut health = HealthClient::new(connect(server.grpc_addr()).await);
    let mut status = ServingStatus::Serving;
    for _ in 0..100 {
        status = health
            .check(HealthCheckRequest {
                service: "sutra.storage.v1.Storage".into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status();
        if status == ServingStatus::NotServing {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        status,
        ServingStatus::NotServing,
        "health agrees with /readyz"
    );
    let (_, text) = http_get(metrics, "/metrics").await;
    assert!(
        text.contains("sutra_storage_scrubbed_vectors_total 0"),
        "{text}"
    );
    assert!(server.shutdown().await.is_err());
}
