//! `sutra-grid agent up` refuses bad input before anything starts: each bad manifest (and a
//! taken port) exits non-zero, names the field path, the value and what was expected on
//! stderr (the message only, no backtrace even with `RUST_BACKTRACE=1`), and leaves no
//! state directory and no process behind, on the process and the Docker backend.
//!
//! Run it: `cargo test -p sutra-e2e --test agent_manifest`

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use sutra_e2e::{Profile, bin, build_binaries, workspace_root};

#[test]
fn unknown_field_is_named_with_the_fields_expected() {
    let spec = "  replica: 3\n  vector:\n    dimension: 128\n";
    refused(
        spec,
        &[
            "spec.replica: got an unknown field `replica`",
            "expected one of the fields",
            "`replicas`",
        ],
    );
}

#[test]
fn nested_unknown_field_is_named_with_its_path_and_line() {
    let spec = "  vector:\n    dimension: 128\n    metrik: l2\n";
    refused(
        spec,
        &[
            "spec.vector.metrik: got an unknown field `metrik`, expected one of the fields `compression`, `dimension`, `metric` (line 8)",
        ],
    );
}

#[test]
fn a_word_for_replicas_names_the_path_value_and_line() {
    let spec = "  replicas: three\n  vector:\n    dimension: 128\n";
    refused(
        spec,
        &[
            "grid.yaml: invalid StorageGrid: spec.replicas: got \"three\", expected an integer >= 0 (line 6)",
        ],
    );
}

#[test]
fn an_unknown_metric_lists_the_metrics_without_calling_them_variants() {
    let spec = "  vector:\n    dimension: 128\n    metric: manhattan\n";
    let stderr = refused(
        spec,
        &["spec.vector.metric: got \"manhattan\", expected one of `cosine`, `dot`, `l2`"],
    );
    assert!(!stderr.contains("variant"), "{stderr}");
}

#[test]
fn memory_limits_that_are_not_quantities_are_refused() {
    for memory in ["12 apples", "2GB"] {
        let spec = format!(
            "  vector:\n    dimension: 128\n  resources:\n    limits:\n      memory: \"{memory}\"\n"
        );
        refused(
            &spec,
            &[
                &format!(
                    "spec.resources.limits.memory: got \"{memory}\", expected a Kubernetes quantity"
                ),
                "e.g. 512Mi, 2G, 1.5Gi",
            ],
        );
    }
}

#[test]
fn a_name_that_is_not_a_dns_label_is_refused_on_every_backend() {
    for backend in ["process", "docker"] {
        let stderr = refused_as(
            "Local_Grid!",
            "  vector:\n    dimension: 128\n",
            &["--backend", backend],
            &[
                "metadata.name: got \"Local_Grid!\", expected a DNS-1123 label of 1 to 61 characters",
            ],
        );
        assert!(!stderr.contains("volume"), "{backend}: {stderr}");
    }
}

#[test]
fn negative_replicas_are_refused() {
    let spec = "  replicas: -1\n  vector:\n    dimension: 128\n";
    refused(spec, &["spec.replicas: got -1, expected an integer >= 0"]);
}

#[test]
fn unknown_variant_is_refused_with_the_catalog() {
    let spec = "  variant: turbo\n  vector:\n    dimension: 128\n";
    refused(
        spec,
        &[
            "spec.variant: got \"turbo\", expected `auto` or one of",
            "`universal`",
        ],
    );
}

#[test]
fn zero_dimension_is_refused() {
    let spec = "  vector:\n    dimension: 0\n";
    refused(
        spec,
        &["spec.vector.dimension: got 0, expected an integer from 1 to 65536"],
    );
}

#[test]
fn a_taken_port_is_named_before_anything_starts() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let spec = format!(
        "  replicas: 1\n  vector:\n    dimension: 8\n  ports:\n    grpc: {port}\n    metrics: 1\n"
    );
    refused(
        &spec,
        &[&format!(
            "port {port} (gRPC port of node bad-0) is already in use"
        )],
    );
}

#[test]
fn the_sample_manifest_passes_the_same_checks() {
    let sample = workspace_root().join("config/samples/local-grid.yaml");
    let text = std::fs::read_to_string(sample).unwrap();
    let grid = sutra_core::crd::parse_storage_grid_yaml(&text).unwrap();
    let names = sutra_core::crd::catalog_names();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    grid.validate(&names).unwrap();
    assert_eq!(grid.spec.replicas, 3);
    assert_eq!(grid.spec.vector.dimension, 128);
}

/// Runs `agent up --detach` on a grid named `bad` with `spec`, and checks the refusal.
fn refused(spec: &str, expected: &[&str]) -> String {
    refused_as("bad", spec, &[], expected)
}

/// Runs `agent up --detach` with extra `args` on a grid named `name` with `spec`, checks
/// the refusal and returns its stderr.
fn refused_as(name: &str, spec: &str, args: &[&str], expected: &[&str]) -> String {
    let temp = tempfile::tempdir().unwrap();
    let manifest = temp.path().join("grid.yaml");
    std::fs::write(
        &manifest,
        format!("apiVersion: grid.sutra.ai/v1alpha1\nkind: StorageGrid\nmetadata:\n  name: {name:?}\nspec:\n{spec}"),
    )
    .unwrap();
    let state_dir = temp.path().join("state");
    let output = up(&manifest, &state_dir, args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        !output.status.success(),
        "agent up accepted a bad manifest:\n{stderr}"
    );
    for needle in expected {
        assert!(
            stderr.contains(needle),
            "stderr lacks {needle:?}:\n{stderr}"
        );
    }
    assert!(
        !stderr.to_lowercase().contains("backtrace"),
        "a user error printed a backtrace:\n{stderr}"
    );
    assert!(
        !state_dir.exists(),
        "a refused manifest created {}",
        state_dir.display()
    );
    let leftovers = processes_mentioning(&state_dir);
    assert!(
        leftovers.is_empty(),
        "processes started for a refused manifest: {leftovers:?}"
    );
    stderr
}

/// `agent up` as a user with `RUST_BACKTRACE=1` in their environment runs it.
fn up(manifest: &Path, state_dir: &Path, args: &[&str]) -> Output {
    build_binaries(Profile::Debug);
    Command::new(bin(Profile::Debug, "sutra-grid"))
        .env("RUST_BACKTRACE", "1")
        .args(["agent", "up", "--detach", "-f"])
        .arg(manifest)
        .arg("--state-dir")
        .arg(state_dir)
        .arg("--storage-bin")
        .arg(bin(Profile::Debug, "sutra-storage"))
        .args(["--metrics-addr", "127.0.0.1:0"])
        .args(args)
        .output()
        .unwrap()
}

/// Pids whose command line names `path` (a node or supervisor of the refused grid).
fn processes_mentioning(path: &Path) -> Vec<String> {
    let needle = path.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter(|entry| {
            entry
                .file_name()
                .to_string_lossy()
                .chars()
                .all(|c| c.is_ascii_digit())
        })
        .filter(|entry| {
            std::fs::read(entry.path().join("cmdline")).is_ok_and(|cmdline| {
                String::from_utf8_lossy(&cmdline)
                    .replace('\0', " ")
                    .contains(&needle)
            })
        })
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect()
}
