//! The fuzz targets' inputs in `cargo test`: every committed seed and every input that
//! once crashed a target (`fuzz/seeds/<target>/`, `fuzz/regressions/<target>/`) goes
//! through the same harness function the fuzzer calls (`fuzz/src/`, compiled in
//! here). Seeds fresh from a real store must be accepted, so the harness's framing of WAL
//! records and resealing of the MANIFEST stay true to the engine's formats.
//! `SUTRA_FUZZ_WRITE_SEEDS=1` also writes those fresh seeds over `fuzz/seeds/`.

#[path = "../../fuzz/src/lib.rs"]
#[allow(dead_code)] // the fuzz targets use parts of the harness these tests do not
mod harness;

use std::path::{Path, PathBuf};

use harness::{Outcome, TARGETS, Target};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn target(name: &str) -> Target {
    TARGETS
        .iter()
        .find(|(target, _)| *target == name)
        .unwrap_or_else(|| panic!("no fuzz target {name}"))
        .1
}

/// The inputs under `dir`, per target directory, as (target, file, bytes); none when
/// `dir` does not exist (no crash input has been committed yet).
fn inputs(dir: &Path) -> Vec<(String, PathBuf, Vec<u8>)> {
    let mut inputs = Vec::new();
    if !dir.exists() {
        return inputs;
    }
    for target_dir in std::fs::read_dir(dir).unwrap() {
        let target_dir = target_dir.unwrap().path();
        let name = target_dir
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        for file in std::fs::read_dir(&target_dir).unwrap() {
            let file = file.unwrap().path();
            let bytes = std::fs::read(&file).unwrap();
            inputs.push((name.clone(), file, bytes));
        }
    }
    inputs.sort();
    inputs
}

#[test]
fn every_committed_seed_and_crash_input_runs_through_its_target_without_panicking() {
    let mut seen = std::collections::BTreeSet::new();
    for kind in ["seeds", "regressions"] {
        for (name, file, bytes) in inputs(&fuzz_dir().join(kind)) {
            let outcome = target(&name)(&bytes);
            println!("{}: {outcome:?}", file.display());
            seen.insert(name);
        }
    }
    let every: std::collections::BTreeSet<String> =
        TARGETS.iter().map(|(name, _)| name.to_string()).collect();
    assert_eq!(seen, every, "every target has committed seeds");
}

#[test]
fn seeds_taken_from_a_real_store_are_accepted_by_their_targets() {
    let fresh = tempfile::tempdir().unwrap();
    harness::seeds::write_seeds(fresh.path());
    for (name, file, bytes) in inputs(fresh.path()) {
        let outcome = target(&name)(&bytes);
        let refused_by_design = name == "values_le" && file.ends_with("both");
        if refused_by_design {
            assert!(
                matches!(&outcome, Outcome::Refused(why) if why.contains("both values and values_le")),
                "{}: {outcome:?}",
                file.display()
            );
        } else {
            assert_eq!(outcome, Outcome::Accepted, "{}", file.display());
        }
    }
    if std::env::var_os("SUTRA_FUZZ_WRITE_SEEDS").is_some() {
        harness::seeds::write_seeds(&fuzz_dir().join("seeds"));
    }
}

/// A record with a good checksum whose body the decoder cannot read (a delete of one id
/// without the id) is corruption; were the harness's sealing off, it would be taken for a
/// torn tail and cut off instead.
#[test]
fn a_sealed_record_that_does_not_decode_is_refused_as_corruption() {
    let delete_without_its_id = (2u8, vec![1, 0, 0, 0]);
    let input =
        harness::wal::framed_wal_input(harness::store::Flavour::Plain, &[delete_without_its_id]);
    let outcome = harness::wal::wal_replay(&input);
    assert!(
        matches!(&outcome, Outcome::Refused(why) if why.contains("corrupt data in") && why.contains("wal-")),
        "{outcome:?}"
    );
}
