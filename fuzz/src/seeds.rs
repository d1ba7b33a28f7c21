//! The seed corpus of every target, taken from the real stores the targets start from.

use std::path::Path;

use prost::Message;
use sutra_api::proto::{UpsertRequest, Vector};

use super::manifest::manifest_body;
use super::store::{Flavour, StoreCopy, values};
use super::wal::{framed_wal_input, unseal_records};

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
