//! Every kind of bad input gets its exact gRPC code and a message naming the field and
//! what was expected, and leaves the stored data exactly as it was.

mod server_support;

use server_support::*;
use sutra_api::proto::storage_client::StorageClient;
use sutra_api::proto::{DeleteRequest, GetRequest, IdRange, SearchRequest, UpsertRequest, Vector};
use sutra_core::vector::Metric;
use tonic::Code;
use tonic::transport::Channel;

const DIM: u32 = 8;
/// Ids stored before each bad request, and an id the bad requests try to add.
const STORED: std::ops::RangeInclusive<u64> = 1..=20;
const PROBED: [u64; 4] = [1, 7, 20, 500];

async fn seeded_server() -> TestServer {
    seeded_server_with(|_| {}).await
}

async fn seeded_server_with(
    adjust: impl FnOnce(&mut sutra_storage::server::ServerSettings),
) -> TestServer {
    let mut node = start_with(DIM, Metric::Cosine, adjust).await;
    node.client.upsert(batch(STORED, DIM)).await.unwrap();
    node
}

/// The request failed with `code`, its message contains every fragment, and the store
/// looks the same as before it.
async fn assert_rejected<T: std::fmt::Debug>(
    client: &mut StorageClient<Channel>,
    before: &Snapshot,
    result: Result<T, tonic::Status>,
    code: Code,
    fragments: &[&str],
) {
    let status = result.expect_err("the request must be rejected");
    assert_eq!(status.code(), code, "{status:?}");
    for fragment in fragments {
        assert!(
            status.message().contains(fragment),
            "{fragment:?} missing from {:?}",
            status.message()
        );
    }
    let after = snapshot(client, &PROBED).await;
    assert_eq!(&after, before, "a rejected request changed the store");
}

fn with_values(id: u64, values: Vec<f32>) -> Vector {
    Vector {
        id,
        values,
        payload: Vec::new(),
        values_le: Vec::new(),
    }
}

#[tokio::test]
async fn a_vector_of_the_wrong_dimension_is_rejected() {
    let mut node = seeded_server().await;
    let before = snapshot(&mut node.client, &PROBED).await;
    let request = UpsertRequest {
        vectors: vec![vector(500, DIM), with_values(7, vec![0.5; 5])],
    };
    let result = node.client.upsert(request).await;
    assert_rejected(
        &mut node.client,
        &before,
        result,
        Code::InvalidArgument,
        &["vectors[1].values", "expected 8 values, got 5"],
    )
    .await;
    node.server.shutdown().await.unwrap();
}

/// `values_le` carries the values as packed little-endian f32: a length that is not whole
/// floats, both encodings at once, or the wrong dimension are each rejected.
#[tokio::test]
async fn malformed_values_le_is_rejected() {
    let mut node = seeded_server().await;
    let before = snapshot(&mut node.client, &PROBED).await;
    let le = |values: &[f32]| {
        values
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect::<Vec<u8>>()
    };
    let packed = |id: u64, values_le: Vec<u8>| Vector {
        id,
        values: Vec::new(),
        payload: Vec::new(),
        values_le,
    };
    let mut ragged = le(&values(500, DIM));
    ragged.pop();
    let mut both = packed(500, le(&values(500, DIM)));
    both.values = values(500, DIM);
    let cases = [
        (
            packed(500, ragged),
            vec![
                "vectors[1].values_le",
                "multiple of 4 bytes",
                "got 31 bytes",
            ],
        ),
        (both, vec!["vectors[1]", "both values and values_le"]),
        (
            packed(500, le(&[0.5; 5])),
            vec!["vectors[1].values", "expected 8 values, got 5"],
        ),
    ];
    for (bad, fragments) in cases {
        let request = UpsertRequest {
            vectors: vec![vector(501, DIM), bad],
        };
        let result = node.client.upsert(request).await;
        assert_rejected(
            &mut node.client,
            &before,
            result,
            Code::InvalidArgument,
            &fragments,
        )
        .await;
    }
    node.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn nan_and_infinite_values_are_rejected() {
    let mut node = seeded_server().await;
    let before = snapshot(&mut node.client, &PROBED).await;
    for (bad, shown) in [
        (f32::NAN, "NaN"),
        (f32::INFINITY, "inf"),
        (f32::NEG_INFINITY, "-inf"),
    ] {
        let mut values = values(500, DIM);
        values[3] = bad;
        let request = UpsertRequest {
            vectors: vec![vector(501, DIM), with_values(500, values)],
        };
        let result = node.client.upsert(request).await;
        assert_rejected(
            &mut node.client,
            &before,
            result,
            Code::InvalidArgument,
            &["vectors[1].values[3]", shown, "not a finite number"],
        )
        .await;
    }
    node.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_empty_batch_is_rejected() {
    let mut node = seeded_server().await;
    let before = snapshot(&mut node.client, &PROBED).await;
    let result = node.client.upsert(UpsertRequest { vectors: vec![] }).await;
    assert_rejected(
        &mut node.client,
        &before,
        result,
        Code::InvalidArgument,
        &["vectors", "empty", "at least one"],
    )
    .await;
    node.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn duplicate_ids_in_one_batch_are_rejected() {
    let mut node = seeded_server().await;
    let before = snapshot(&mut node.client, &PROBED).await;
    let request = UpsertRequest {
        vectors: vec![vector(500, DIM), vector(7, DIM), vector(500, DIM)],
    };
    let result = node.client.upsert(request).await;
    assert_rejected(
        &mut node.client,
        &before,
        result,
        Code::InvalidArgument,
        &[
            "vectors[2].id",
            "id 500 already appears at vectors[0]",
            "unique",
        ],
    )
    .await;
    node.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn k_of_zero_or_above_the_limit_is_rejected() {
    let mut node = seeded_server().await;
    let before = snapshot(&mut node.client, &PROBED).await;
    let cases: [(u32, &[&str]); 2] = [
        (0, &["k", "must be at least 1"]),
        (10_001, &["k", "10001 exceeds the limit of 10000"]),
    ];
    for (k, fragments) in cases {
        let request = SearchRequest {
            query: values(1, DIM),
            k,
            ..SearchRequest::default()
        };
        let result = node.client.search(request).await;
        assert_rejected(
            &mut node.client,
            &before,
            result,
            Code::InvalidArgument,
            fragments,
        )
        .await;
    }
    node.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_bad_query_is_rejected() {
    let mut node = seeded_server().await;
    let before = snapshot(&mut node.client, &PROBED).await;
    let mut nan = values(1, DIM);
    nan[0] = f32::NAN;
    let cases: [(Vec<f32>, &[&str]); 3] = [
        (vec![1.0; 3], &["query", "expected 8 values, got 3"]),
        (nan, &["query[0]", "not a finite number"]),
        (vec![0.0; DIM as usize], &["query", "non-zero"]),
    ];
    for (query, fragments) in cases {
        let request = SearchRequest {
            query,
            k: 3,
            ..SearchRequest::default()
        };
        let result = node.client.search(request).await;
        assert_rejected(
            &mut node.client,
            &before,
            result,
            Code::InvalidArgument,
            fragments,
        )
        .await;
    }
    node.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_inverted_id_range_is_rejected() {
    let mut node = seeded_server().await;
    let before = snapshot(&mut node.client, &PROBED).await;
    let request = SearchRequest {
        query: values(1, DIM),
        k: 3,
        id_range: Some(IdRange { start: 9, end: 2 }),
        ..SearchRequest::default()
    };
    let result = node.client.search(request).await;
    assert_rejected(
        &mut node.client,
        &before,
        result,
        Code::InvalidArgument,
        &["id_range", "start 9 is after end 2"],
    )
    .await;
    node.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn get_and_delete_without_ids_are_rejected() {
    let mut node = seeded_server().await;
    let before = snapshot(&mut node.client, &PROBED).await;
    let result = node.client.get(GetRequest { ids: vec![] }).await;
    assert_rejected(
        &mut node.client,
        &before,
        result,
        Code::InvalidArgument,
        &["ids", "at least one"],
    )
    .await;
    let result = node.client.delete(DeleteRequest { ids: vec![] }).await;
    assert_rejected(
        &mut node.client,
        &before,
        result,
        Code::InvalidArgument,
        &["ids", "at least one"],
    )
    .await;
    node.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_oversized_message_gets_resource_exhausted() {
    let mut node = seeded_server_with(|settings| settings.max_message_bytes = 64 << 10).await;
    let before = snapshot(&mut node.client, &PROBED).await;
    // 3,000 vectors of 8 floats: about 110 KiB encoded, over the 64 KiB limit.
    let oversized = batch(1_000..4_000, DIM);
    let result = node.client.upsert(oversized.clone()).await;
    assert_rejected(
        &mut node.client,
        &before,
        result,
        Code::ResourceExhausted,
        &["message length too large", "--max-message-bytes"],
    )
    .await;

    let result = node
        .client
        .upsert_stream(tokio_stream::iter(vec![oversized]))
        .await;
    assert_rejected(
        &mut node.client,
        &before,
        result,
        Code::ResourceExhausted,
        &["batch 0", "message length too large"],
    )
    .await;
    node.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_bad_batch_in_a_stream_names_its_index_and_keeps_the_batches_before_it() {
    let mut node = seeded_server().await;
    let good_ids: Vec<u64> = (100..110).chain(110..120).collect();
    let mut probed: Vec<u64> = PROBED.to_vec();
    probed.extend(&good_ids);
    probed.push(125);
    let before = snapshot(&mut node.client, &probed).await;
    let batches = vec![
        batch(100..110, DIM),
        batch(110..120, DIM),
        UpsertRequest {
            vectors: vec![vector(125, DIM), with_values(126, vec![1.0; 2])],
        },
        batch(130..140, DIM),
    ];
    let status = node
        .client
        .upsert_stream(tokio_stream::iter(batches))
        .await
        .expect_err("batch 2 is bad");
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status
            .message()
            .starts_with("batch 2: vectors[1].values: expected 8 values, got 2"),
        "{status:?}"
    );

    let after = snapshot(&mut node.client, &probed).await;
    assert_eq!(after.vectors, before.vectors + good_ids.len() as u64);
    let expected: Vec<Vector> = [1, 7, 20]
        .into_iter()
        .chain(good_ids.iter().copied())
        .map(|id| vector(id, DIM))
        .collect();
    assert_eq!(after.records, expected, "batches 0 and 1 stay, whole");
    assert_eq!(after.missing, vec![500, 125], "nothing of batch 2 or later");
    node.server.shutdown().await.unwrap();
}
