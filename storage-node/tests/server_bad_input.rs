//! Every kind of bad input gets its exact gRPC code and a message naming the field and
//! what was expected, and leaves the stored data exactly as it was.

mod server_support;

use server_support::*;
use sutra_api::proto::{DeleteRequest, GetRequest, IdRange, SearchRequest, UpsertRequest, Vector};
use sutra_core::vector::Metric;
use tonic::Code;

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

/// One bad request.
enum Call {
    Upsert(UpsertRequest),
    Stream(Vec<UpsertRequest>),
    Search(SearchRequest),
    Get(Vec<u64>),
    Delete(Vec<u64>),
}

/// Sends each call to `node`: each must fail with its code and a message that contains
/// every fragment, and leave the store looking the same as before it.
async fn assert_rejected(node: &mut TestServer, cases: Vec<(Call, Code, Vec<&str>)>) {
    let before = snapshot(&mut node.client, &PROBED).await;
    for (call, code, fragments) in cases {
        let client = &mut node.client;
        let result = match call {
            Call::Upsert(request) => client.upsert(request).await.map(drop),
            Call::Stream(batches) => client
                .upsert_stream(tokio_stream::iter(batches))
                .await
                .map(drop),
            Call::Search(request) => client.search(request).await.map(drop),
            Call::Get(ids) => client.get(GetRequest { ids }).await.map(drop),
            Call::Delete(ids) => client.delete(DeleteRequest { ids }).await.map(drop),
        };
        let status = result.expect_err("the request must be rejected");
        assert_eq!(status.code(), code, "{status:?}");
        assert_contains_all(status.message(), &fragments);
        let after = snapshot(&mut node.client, &PROBED).await;
        assert_eq!(after, before, "a rejected request changed the store");
    }
}

fn with_values(id: u64, values: Vec<f32>) -> Vector {
    Vector {
        id,
        values,
        payload: Vec::new(),
        values_le: Vec::new(),
    }
}

/// `values_le` holding `values_le`, and no `values`.
fn packed(id: u64, values_le: Vec<u8>) -> Vector {
    Vector {
        values_le,
        ..with_values(id, Vec::new())
    }
}

fn le(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A good vector, then `bad` at index 1.
fn upsert_second(bad: Vector) -> Call {
    Call::Upsert(UpsertRequest {
        vectors: vec![vector(501, DIM), bad],
    })
}

fn invalid(call: Call, fragments: &[&'static str]) -> (Call, Code, Vec<&'static str>) {
    (call, Code::InvalidArgument, fragments.to_vec())
}

/// Wrong dimensions, malformed `values_le` (a length that is not whole floats, both
/// encodings at once, the wrong dimension), NaN and infinite values, an empty batch and
/// an id twice in one batch.
#[tokio::test]
async fn bad_vectors_in_an_upsert_are_rejected() {
    let mut node = seeded_server().await;
    let mut ragged = le(&values(500, DIM));
    ragged.pop();
    let mut both = packed(500, le(&values(500, DIM)));
    both.values = values(500, DIM);
    let mut cases = vec![
        invalid(
            Call::Upsert(UpsertRequest {
                vectors: vec![vector(500, DIM), with_values(7, vec![0.5; 5])],
            }),
            &["vectors[1].values", "expected 8 values, got 5"],
        ),
        invalid(
            upsert_second(packed(500, ragged)),
            &[
                "vectors[1].values_le",
                "multiple of 4 bytes",
                "got 31 bytes",
            ],
        ),
        invalid(
            upsert_second(both),
            &["vectors[1]", "both values and values_le"],
        ),
        invalid(
            upsert_second(packed(500, le(&[0.5; 5]))),
            &["vectors[1].values", "expected 8 values, got 5"],
        ),
        invalid(
            Call::Upsert(UpsertRequest { vectors: vec![] }),
            &["vectors", "empty", "at least one"],
        ),
        invalid(
            Call::Upsert(UpsertRequest {
                vectors: vec![vector(500, DIM), vector(7, DIM), vector(500, DIM)],
            }),
            &[
                "vectors[2].id",
                "id 500 already appears at vectors[0]",
                "unique",
            ],
        ),
    ];
    for (bad, shown) in [
        (f32::NAN, "NaN"),
        (f32::INFINITY, "inf"),
        (f32::NEG_INFINITY, "-inf"),
    ] {
        let mut values = values(500, DIM);
        values[3] = bad;
        cases.push((
            upsert_second(with_values(500, values)),
            Code::InvalidArgument,
            vec!["vectors[1].values[3]", shown, "not a finite number"],
        ));
    }
    assert_rejected(&mut node, cases).await;
    node.server.shutdown().await.unwrap();
}

/// `k` of zero or above the limit, a query of the wrong dimension, not finite or all
/// zero, and an inverted id range.
#[tokio::test]
async fn bad_searches_are_rejected() {
    let mut node = seeded_server().await;
    let search = |query: Vec<f32>, k: u32, id_range: Option<IdRange>| {
        Call::Search(SearchRequest {
            query,
            k,
            id_range,
            ..SearchRequest::default()
        })
    };
    let mut nan = values(1, DIM);
    nan[0] = f32::NAN;
    let cases = vec![
        invalid(
            search(values(1, DIM), 0, None),
            &["k", "must be at least 1"],
        ),
        invalid(
            search(values(1, DIM), 10_001, None),
            &["k", "10001 exceeds the limit of 10000"],
        ),
        invalid(
            search(vec![1.0; 3], 3, None),
            &["query", "expected 8 values, got 3"],
        ),
        invalid(search(nan, 3, None), &["query[0]", "not a finite number"]),
        invalid(
            search(vec![0.0; DIM as usize], 3, None),
            &["query", "non-zero"],
        ),
        invalid(
            search(values(1, DIM), 3, Some(IdRange { start: 9, end: 2 })),
            &["id_range", "start 9 is after end 2"],
        ),
    ];
    assert_rejected(&mut node, cases).await;
    node.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn get_and_delete_without_ids_are_rejected() {
    let mut node = seeded_server().await;
    let cases = vec![
        invalid(Call::Get(vec![]), &["ids", "at least one"]),
        invalid(Call::Delete(vec![]), &["ids", "at least one"]),
    ];
    assert_rejected(&mut node, cases).await;
    node.server.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_oversized_message_gets_resource_exhausted() {
    let mut node = seeded_server_with(|settings| settings.max_message_bytes = 64 << 10).await;
    // 3,000 vectors of 8 floats: about 110 KiB encoded, over the 64 KiB limit.
    let oversized = batch(1_000..4_000, DIM);
    let cases = vec![
        (
            Call::Upsert(oversized.clone()),
            Code::ResourceExhausted,
            vec!["message length too large", "--max-message-bytes"],
        ),
        (
            Call::Stream(vec![oversized]),
            Code::ResourceExhausted,
            vec!["batch 0", "message length too large"],
        ),
    ];
    assert_rejected(&mut node, cases).await;
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
