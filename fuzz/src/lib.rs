//! The fuzz targets of sutra-storage as plain functions of the input bytes. `fuzz_targets/`
//! hands each libFuzzer input to one of them; `storage-node/tests/fuzz_regressions.rs`
//! compiles this file too and replays the committed seeds and crash inputs through the
//! same functions in `cargo test`, and writes the seeds (see `docs/FUZZING.md`).
//!
//! The store targets are black-box: an input replaces or patches one file of a real store
//! (built once per process in a scratch directory, on tmpfs when there is one), which is
//! then opened (replaying its write-ahead log) and read and written through the public
//! API. The property: nothing panics, hangs or aborts; every call ends in `Ok` or a
//! `StoreError`. The wire targets decode client bytes and hold the result to prost and to
//! what the store gives back.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use prost::Message;
use prost::bytes::Buf;
use sutra_core::platform::detect;
use sutra_core::variant::VariantCatalog;
use sutra_storage::metrics::Metrics;
use sutra_storage::proto::storage_server::Storage;
use sutra_storage::proto::{GetRequest, UpsertRequest, Vector};
use sutra_storage::server::StorageService;
use sutra_storage::simd::Metric;
use sutra_storage::status::PlatformStatus;
use sutra_storage::storage::{CompactionPolicy, Record, SearchFilter, Store, StoreConfig};

/// libFuzzer's `-malloc_limit_mb` needs a sanitizer's allocator, which the stable toolchain
/// does not build; this one plays its part, in the fuzz targets and in the regression
/// tests that replay their inputs: a single allocation of more than 256 MiB, which no
/// input of a few KB justifies, aborts, so the input counts as a crash instead of the run
/// going on under a 1 GiB buffer that a small node could not give.
mod allocation_limit {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::io::Write;

    const LIMIT_BYTES: usize = 256 << 20;

    struct Limited;

    fn check(bytes: usize) {
        if bytes > LIMIT_BYTES {
            // An allocator must not unwind, so no panic; and straight to stderr, past the
            // test harness's capture, which the abort would lose.
            let _ = writeln!(
                std::io::stderr(),
                "allocation of {bytes} bytes, over the fuzzing limit of {LIMIT_BYTES}"
            );
            std::process::abort();
        }
    }

    // SAFETY: every call goes to the system allocator with the caller's arguments; the
    // size check before it allocates nothing.
    unsafe impl GlobalAlloc for Limited {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            check(layout.size());
            // SAFETY: the caller upholds `alloc`'s contract, passed on unchanged.
            unsafe { System.alloc(layout) }
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            check(layout.size());
            // SAFETY: as in `alloc`.
            unsafe { System.alloc_zeroed(layout) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            check(new_size);
            // SAFETY: the caller upholds `realloc`'s contract, passed on unchanged.
            unsafe { System.realloc(ptr, layout, new_size) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: `ptr` came from this allocator, so from the system's.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    #[global_allocator]
    static ALLOCATOR: Limited = Limited;
}

/// How a store target's run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The store opened and every call on it succeeded.
    Accepted,
    /// A call refused the input with this error.
    Refused(String),
}

/// A fuzz target: runs one input.
pub type Target = fn(&[u8]) -> Outcome;

/// Every target, by the name of its `fuzz_targets/` file.
pub const TARGETS: [(&str, Target); 6] = [
    ("wal_replay", wal_replay),
    ("manifest", manifest),
    ("segment_meta", segment_meta),
    ("payloads", payloads),
    ("proto_vector", proto_vector),
    ("values_le", values_le),
];

const DIMENSION: u32 = 8;

/// The two stores an input can damage: cosine without compression, and L2 with int8 codes.
/// Bit 1 of an input's first byte picks one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    Plain,
    Int8,
}

impl Flavour {
    fn of(mode: u8) -> Flavour {
        if mode & 2 == 0 {
            Flavour::Plain
        } else {
            Flavour::Int8
        }
    }

    fn mode_bit(self) -> u8 {
        match self {
            Flavour::Plain => 0,
            Flavour::Int8 => 2,
        }
    }
}

/// The store's config: small slots and one-page segments, so a store of 150 vectors spans
/// two segments in a few KiB; batches of more than four vectors are placed, smaller ones
/// ride in their WAL record, so the log holds both kinds of place record.
pub fn config(dir: &Path, flavour: Flavour) -> StoreConfig {
    let metric = match flavour {
        Flavour::Plain => Metric::Cosine,
        Flavour::Int8 => Metric::L2,
    };
    let mut config = StoreConfig::new(dir, DIMENSION, metric);
    config.alignment = 16;
    config.segment_bytes = config.page_size;
    config.compression = flavour == Flavour::Int8;
    config.inline_value_bytes = 4 * DIMENSION as usize * 4;
    config.read_ahead_bytes = 0;
    config
}

fn values(seed: u64) -> Vec<f32> {
    (0..DIMENSION as u64)
        .map(|i| ((seed * 7 + i * 3) % 23) as f32 / 11.0 - 1.0)
        .collect()
}

fn record(id: u64, payload: &[u8]) -> Record {
    Record {
        id,
        values: values(id),
        payload: payload.to_vec(),
    }
}

fn records(ids: std::ops::RangeInclusive<u64>) -> Vec<Record> {
    ids.map(|id| record(id, format!("p{id}").as_bytes()))
        .collect()
}

/// Builds the store every store target starts from: 130 vectors checkpointed (placed in
/// batches, one replaced inline, two deleted), then a WAL tail written after the
/// checkpoint and never checkpointed, as a crash leaves it (inline and placed upserts, a
/// replaced payload, deletes), so every open replays it.
fn build_store(dir: &Path, flavour: Flavour) {
    let store = Store::open(config(dir, flavour)).expect("a new store opens");
    for first in (1..=130).step_by(10) {
        store.upsert(records(first..=first + 9)).expect("upsert");
    }
    store.delete(&[3, 4]).expect("delete");
    store.upsert(vec![record(5, b"")]).expect("upsert");
    store.close().expect("close");
    let store = Store::open(config(dir, flavour)).expect("the store reopens");
    store.upsert(records(131..=133)).expect("upsert");
    store.upsert(vec![record(7, b"replaced")]).expect("upsert");
    store.upsert(records(140..=149)).expect("upsert");
    store.delete(&[9, 200]).expect("delete");
    drop(store);
}

static SCRATCH: OnceLock<PathBuf> = OnceLock::new();

/// A directory of this process's own, removed at exit (libFuzzer ends with `exit`).
fn scratch() -> &'static Path {
    SCRATCH.get_or_init(|| {
        let base = Path::new("/dev/shm");
        let base = if base.is_dir() {
            base.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let root = base.join(format!("sutra-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&root).expect("create the scratch directory");
        // SAFETY: registers a function without arguments that only touches a static.
        unsafe { libc::atexit(remove_scratch) };
        root
    })
}

extern "C" fn remove_scratch() {
    if let Some(root) = SCRATCH.get() {
        let _ = std::fs::remove_dir_all(root);
    }
}

fn template(flavour: Flavour) -> &'static Path {
    static PLAIN: OnceLock<PathBuf> = OnceLock::new();
    static INT8: OnceLock<PathBuf> = OnceLock::new();
    let cell = match flavour {
        Flavour::Plain => &PLAIN,
        Flavour::Int8 => &INT8,
    };
    cell.get_or_init(|| {
        let dir = scratch().join(format!("template-{flavour:?}"));
        build_store(&dir, flavour);
        dir
    })
}

/// A fresh copy of a template store, removed on drop.
struct StoreCopy {
    dir: PathBuf,
}

impl StoreCopy {
    fn of(flavour: Flavour) -> StoreCopy {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = scratch().join(format!("run-{}", NEXT.fetch_add(1, Ordering::Relaxed)));
        std::fs::create_dir(&dir).expect("create a run directory");
        for entry in std::fs::read_dir(template(flavour)).expect("list the template") {
            let from = entry.expect("template entry").path();
            // Read and write rather than `fs::copy`: its `copy_file_range` fails with EINTR
            // when libFuzzer's timeout alarm goes off, where these retry.
            let bytes = std::fs::read(&from).expect("read a template file");
            std::fs::write(dir.join(from.file_name().expect("a file name")), bytes)
                .expect("copy a template file");
        }
        StoreCopy { dir }
    }

    /// The file of the store whose name starts with `prefix` (the last in name order:
    /// for the WAL, the newest).
    fn file(&self, prefix: &str) -> PathBuf {
        let mut names: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .expect("list the store")
            .map(|entry| entry.expect("store entry").path())
            .filter(|path| {
                path.file_name()
                    .and_then(|name| name.to_str())
                    .is_some_and(|name| name.starts_with(prefix))
            })
            .collect();
        names.sort();
        names
            .pop()
            .unwrap_or_else(|| panic!("the store has no {prefix}* file"))
    }

    /// Opens the store and uses it through every public call that reads or writes it.
    fn open_and_use(&self, flavour: Flavour) -> Outcome {
        match Store::open(config(&self.dir, flavour)).and_then(exercise) {
            Ok(()) => Outcome::Accepted,
            Err(error) => Outcome::Refused(error.to_string()),
        }
    }
}

impl Drop for StoreCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn exercise(store: Store) -> Result<(), sutra_storage::storage::StoreError> {
    let ids: Vec<u64> = (0..=12).chain([131, 140, 149, 200, u64::MAX]).collect();
    store.get(&ids)?;
    let query = values(2);
    store.search(&query, 5, &SearchFilter::default())?;
    let filter = SearchFilter {
        id_range: Some(1..=140),
        payload_prefix: Some(b"p1".to_vec()),
    };
    store.search(&query, 3, &filter)?;
    store.stats();
    store.scrub(&AtomicBool::new(false), None)?;
    store.upsert(vec![record(7, b"after")])?;
    store.delete(&[8])?;
    store.compact()?;
    store.get(&ids)?;
    store.close()
}

fn overwrite(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).expect("write the fuzzed file");
}

/// Writes `bytes` over the start of the file (growing it when they run past its end).
fn patch(path: &Path, bytes: &[u8]) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|file| file.write_all_at(bytes, 0))
        .expect("patch the fuzzed file");
}

/// WAL replay. Input: a mode byte, then the newest WAL file's content. Mode bit 0 clear:
/// the bytes as they are (reaching framing, checksums and torn-tail handling); set: a
/// list of records `[kind u8][body length u16 LE][body]` that the harness seals as the
/// engine does, with LSNs following the checkpoint and good checksums, so the input
/// reaches the record decoder and replay itself; bytes after the last whole record are
/// appended as they are (a torn tail).
pub fn wal_replay(data: &[u8]) -> Outcome {
    let Some((&mode, rest)) = data.split_first() else {
        return Outcome::Refused("empty input".into());
    };
    let flavour = Flavour::of(mode);
    let copy = StoreCopy::of(flavour);
    let wal = copy.file("wal-");
    let content = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        seal_records(first_lsn(&wal), rest)
    };
    overwrite(&wal, &content);
    copy.open_and_use(flavour)
}

/// The LSN in a WAL file's name, `wal-<first LSN, 20 digits>.log`.
fn first_lsn(wal: &Path) -> u64 {
    let name = wal.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.trim_start_matches("wal-")
        .trim_end_matches(".log")
        .parse()
        .unwrap_or_else(|_| panic!("WAL file name {name:?} does not carry an LSN"))
}

/// Bytes of a WAL record header: `[len u32][crc u32][lsn u64][kind u8]`.
const WAL_HEADER_BYTES: usize = 17;

/// One WAL record as the engine writes it: the CRC-32 covers length, LSN, kind and body.
pub fn seal_record(lsn: u64, kind: u8, body: &[u8]) -> Vec<u8> {
    let len = (body.len() as u32).to_le_bytes();
    let mut crc = crc32fast::Hasher::new();
    crc.update(&len);
    crc.update(&lsn.to_le_bytes());
    crc.update(&[kind]);
    crc.update(body);
    let mut record = Vec::with_capacity(WAL_HEADER_BYTES + body.len());
    record.extend_from_slice(&len);
    record.extend_from_slice(&crc.finalize().to_le_bytes());
    record.extend_from_slice(&lsn.to_le_bytes());
    record.push(kind);
    record.extend_from_slice(body);
    record
}

fn seal_records(first_lsn: u64, mut input: &[u8]) -> Vec<u8> {
    let mut wal = Vec::new();
    let mut lsn = first_lsn;
    while input.len() >= 3 {
        let kind = input[0];
        let len = u16::from_le_bytes([input[1], input[2]]) as usize;
        let Some(body) = input.get(3..3 + len) else {
            break;
        };
        wal.extend(seal_record(lsn, kind, body));
        lsn += 1;
        input = &input[3 + len..];
    }
    wal.extend_from_slice(input);
    wal
}

/// The records of a WAL file, as (kind, body), for the framed WAL seeds.
pub fn unseal_records(mut wal: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut records = Vec::new();
    while wal.len() >= WAL_HEADER_BYTES {
        let len = u32::from_le_bytes(wal[0..4].try_into().expect("4 bytes")) as usize;
        let Some(body) = wal.get(WAL_HEADER_BYTES..WAL_HEADER_BYTES + len) else {
            break;
        };
        records.push((wal[16], body.to_vec()));
        wal = &wal[WAL_HEADER_BYTES + len..];
    }
    records
}

/// Encodes records in the framed input format of [`wal_replay`].
pub fn framed_wal_input(flavour: Flavour, records: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut input = vec![1 | flavour.mode_bit()];
    for (kind, body) in records {
        input.push(*kind);
        input.extend_from_slice(&(body.len() as u16).to_le_bytes());
        input.extend_from_slice(body);
    }
    input
}

/// MANIFEST parsing. Input: a mode byte, then the file. Mode bit 0 clear: the bytes as
/// they are; set: the bytes are the body, and the harness writes the store's own header
/// line before it with the body's CRC-32 in place of the header's (the 8 hex digits after
/// `crc32=`), so the input reaches the body's parser and what open does with its fields.
pub fn manifest(data: &[u8]) -> Outcome {
    let Some((&mode, rest)) = data.split_first() else {
        return Outcome::Refused("empty input".into());
    };
    let flavour = Flavour::of(mode);
    let copy = StoreCopy::of(flavour);
    let path = copy.dir.join("MANIFEST");
    let content = if mode & 1 == 0 {
        rest.to_vec()
    } else {
        let stored = std::fs::read(&path).expect("read the MANIFEST");
        reseal_manifest(&stored, rest)
    };
    overwrite(&path, &content);
    copy.open_and_use(flavour)
}

/// `body` under `stored`'s header line, with the header's checksum replaced by `body`'s.
pub fn reseal_manifest(stored: &[u8], body: &[u8]) -> Vec<u8> {
    let header_end = stored.iter().position(|&b| b == b'\n').unwrap_or(0);
    let mut header = stored[..header_end].to_vec();
    let crc = format!("{:08x}", crc32fast::hash(body));
    if let Some(at) = header.windows(6).position(|w| w == b"crc32=") {
        let digits = at + 6..(at + 14).min(header.len());
        header.splice(digits, crc.into_bytes());
    }
    header.push(b'\n');
    header.extend_from_slice(body);
    header
}

/// Splits a MANIFEST into (header line, body) for the resealed manifest seeds.
pub fn manifest_body(stored: &[u8]) -> &[u8] {
    let header_end = stored
        .iter()
        .position(|&b| b == b'\n')
        .map_or(0, |at| at + 1);
    &stored[header_end..]
}

/// `.meta` slot metadata. Input: a mode byte, then bytes written over the start of the
/// first segment's `.meta` file.
pub fn segment_meta(data: &[u8]) -> Outcome {
    patched_store(data, "seg-000001.meta")
}

/// Payload bytes. Input: a mode byte, then bytes written over the start of the payload
/// file (`payloads-*.dat`).
pub fn payloads(data: &[u8]) -> Outcome {
    patched_store(data, "payloads-")
}

fn patched_store(data: &[u8], file_prefix: &str) -> Outcome {
    let Some((&mode, rest)) = data.split_first() else {
        return Outcome::Refused("empty input".into());
    };
    let flavour = Flavour::of(mode);
    let copy = StoreCopy::of(flavour);
    patch(&copy.file(file_prefix), rest);
    copy.open_and_use(flavour)
}

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

/// Writes the seed corpus of every target into `seeds/<target>/`, taken from the real
/// stores the targets start from: their WAL (as it is and as framed records), MANIFEST
/// (as it is and resealed), the first segment's `.meta` file, the payload file,
/// and requests and vectors as clients encode them.
pub fn write_seeds(seeds: &Path) {
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = seeds.join(target);
        std::fs::create_dir_all(&dir).expect("create a seed directory");
        std::fs::write(dir.join(name), bytes).expect("write a seed");
    };
    for flavour in [Flavour::Plain, Flavour::Int8] {
        let copy = StoreCopy::of(flavour);
        let name = |what: &str| format!("{}-{what}", format!("{flavour:?}").to_lowercase());
        let mode = flavour.mode_bit();
        let wal = std::fs::read(copy.file("wal-")).expect("read the WAL");
        write(
            "wal_replay",
            &name("raw"),
            &[&[mode], wal.as_slice()].concat(),
        );
        let framed = framed_wal_input(flavour, &unseal_records(&wal));
        write("wal_replay", &name("framed"), &framed);
        let stored = std::fs::read(copy.dir.join("MANIFEST")).expect("read the MANIFEST");
        write(
            "manifest",
            &name("raw"),
            &[&[mode], stored.as_slice()].concat(),
        );
        let body = manifest_body(&stored);
        write("manifest", &name("resealed"), &[&[mode | 1], body].concat());
        let meta = std::fs::read(copy.file("seg-000001.meta")).expect("read the .meta");
        write(
            "segment_meta",
            &name("slots"),
            &[&[mode], meta.as_slice()].concat(),
        );
        let payloads = std::fs::read(copy.file("payloads-")).expect("read the payloads");
        write(
            "payloads",
            &name("file"),
            &[&[mode], payloads.as_slice()].concat(),
        );
    }
    for (name, vector) in sample_vectors() {
        let wire = vector.encode_to_vec();
        write(
            "proto_vector",
            name,
            &[&[wire.len() as u8 / 3], wire.as_slice()].concat(),
        );
        let other = Vector {
            id: 10,
            ..sample_vectors()[0].1.clone()
        };
        let request = UpsertRequest {
            vectors: vec![vector, other],
        };
        write("values_le", name, &request.encode_to_vec());
    }
}

fn sample_vectors() -> [(&'static str, Vector); 3] {
    let le: Vec<u8> = values(1).iter().flat_map(|v| v.to_le_bytes()).collect();
    [
        (
            "values",
            Vector {
                id: 1,
                values: values(1),
                payload: b"p1".to_vec(),
                values_le: Vec::new(),
            },
        ),
        (
            "values_le",
            Vector {
                id: 2,
                values: Vec::new(),
                payload: Vec::new(),
                values_le: le.clone(),
            },
        ),
        (
            "both",
            Vector {
                id: 3,
                values: values(3),
                payload: vec![0xff; 3],
                values_le: le,
            },
        ),
    ]
}
