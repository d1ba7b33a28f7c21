//! The wire targets: `proto_vector` holds the hand-written `Vector` decoder to prost's
//! generated one, `values_le` sends client requests through the server's Upsert and Get.

use std::sync::{Arc, OnceLock};

use prost::Message;
use prost::bytes::Buf;
use sutra_api::proto::storage_server::Storage;
use sutra_api::proto::{GetRequest, UpsertRequest, Vector};
use sutra_core::platform::detect;
use sutra_core::variant::VariantCatalog;
use sutra_storage::metrics::Metrics;
use sutra_storage::report::PlatformStatus;
use sutra_storage::server::StorageService;
use sutra_storage::storage::{CompactionPolicy, Store};

use super::Outcome;
use super::store::{Flavour, StoreCopy, config};

/// The prost-generated twin of `sutra.storage.v1.Vector`, which the hand-written decoder
/// must agree with.
#[derive(Clone, PartialEq, prost::Message)]
pub struct GeneratedVector {
    #[prost(uint64, tag = "1")]
    pub id: u64,
    #[prost(float, repeated, tag = "2")]
    pub values: Vec<f32>,
    #[prost(bytes = "vec", tag = "3")]
    pub payload: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    pub values_le: Vec<u8>,
}

/// The hand-written `Vector` decoder. Input: a byte that says where to cut the rest, then
/// a protobuf message. The message is decoded from three pieces (so packed floats
/// straddle buffer chunks) and must decode exactly when prost's generated code decodes
/// it, to the same fields bit for bit; what it decodes to encodes to prost's bytes and
/// decodes back to itself.
pub fn proto_vector(data: &[u8]) -> Outcome {
    let Some((&cut, wire)) = data.split_first() else {
        return Outcome::Refused("empty input".into());
    };
    let first = cut as usize % (wire.len() + 1);
    let second = first + (wire.len() - first) / 2;
    let pieces = wire[..first]
        .chain(&wire[first..second])
        .chain(&wire[second..]);
    match (Vector::decode(pieces), GeneratedVector::decode(wire)) {
        (Ok(ours), Ok(generated)) => {
            assert_same(&ours, &generated);
            let encoded = ours.encode_to_vec();
            assert_eq!(encoded, generated.encode_to_vec(), "encodings differ");
            assert_eq!(ours.encoded_len(), encoded.len(), "encoded_len is wrong");
            let again = Vector::decode(encoded.as_slice()).expect("our encoding decodes");
            assert_same(&again, &generated);
            Outcome::Accepted
        }
        (Err(ours), Err(_)) => Outcome::Refused(ours.to_string()),
        (ours, generated) => {
            panic!("decoders disagree: hand-written {ours:?}, prost {generated:?}")
        }
    }
}

fn assert_same(ours: &Vector, generated: &GeneratedVector) {
    assert_eq!(ours.id, generated.id, "id");
    assert_eq!(bits(&ours.values), bits(&generated.values), "values");
    assert_eq!(ours.payload, generated.payload, "payload");
    assert_eq!(ours.values_le, generated.values_le, "values_le");
}

fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

/// `values_le` through the Upsert RPC. Input: an encoded `UpsertRequest`, handed to the
/// server's `Storage` service over a fresh store. The call must succeed or be refused as
/// INVALID_ARGUMENT (it is the client's input, the store is sound); on success, Get
/// returns each vector's values exactly as sent, in `values` or as the little-endian f32s
/// of `values_le`, and its payload.
pub fn values_le(data: &[u8]) -> Outcome {
    let Ok(request) = UpsertRequest::decode(data) else {
        return Outcome::Refused("not an UpsertRequest".into());
    };
    let copy = StoreCopy::of(Flavour::Plain);
    let store = Store::open(config(&copy.dir, Flavour::Plain)).expect("the template opens");
    let service = service(Arc::new(store));
    let expected = request.vectors.clone();
    let upserted = runtime().block_on(service.upsert(tonic::Request::new(request)));
    if let Err(status) = upserted {
        assert_eq!(
            status.code(),
            tonic::Code::InvalidArgument,
            "a sound store refused client input with {status:?}"
        );
        return Outcome::Refused(status.message().to_string());
    }
    let ids = expected.iter().map(|v| v.id).collect();
    let got = runtime()
        .block_on(service.get(tonic::Request::new(GetRequest { ids })))
        .expect("Get after a successful Upsert")
        .into_inner();
    assert!(
        got.missing.is_empty(),
        "upserted ids missing: {:?}",
        got.missing
    );
    for (sent, stored) in expected.iter().zip(&got.vectors) {
        assert_eq!(stored.id, sent.id, "Get answers in request order");
        assert_eq!(
            bits(&stored.values),
            bits(&sent_values(sent)),
            "values of {}",
            sent.id
        );
        assert_eq!(stored.payload, sent.payload, "payload of {}", sent.id);
    }
    Outcome::Accepted
}

fn sent_values(vector: &Vector) -> Vec<f32> {
    if vector.values_le.is_empty() {
        return vector.values.clone();
    }
    vector
        .values_le
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn service(store: Arc<Store>) -> StorageService {
    static PLATFORM: OnceLock<Arc<PlatformStatus>> = OnceLock::new();
    let platform = PLATFORM.get_or_init(|| {
        Arc::new(PlatformStatus::new(
            detect(),
            "universal",
            VariantCatalog::builtin(),
        ))
    });
    let metrics = Arc::new(Metrics::new(&platform.metric_labels("scalar")));
    StorageService::new(store, metrics, Arc::clone(platform), CompactionPolicy::OFF)
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}
