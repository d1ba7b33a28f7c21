//! `scripts/validate_manifests.py` (the CI check of the CRD YAML against the Kubernetes 1.33
//! API schemas) accepts the generated CRDs and rejects broken ones.
//!
//! Needs `python3` with the packages of `scripts/requirements.txt`: `make test` runs it with the
//! project venv (`make deps-python`) first on PATH.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sutra_core::crd::crd_files;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn validate(files: &[&Path]) -> Output {
    let output = Command::new("python3")
        .arg(repo_root().join("scripts/validate_manifests.py"))
        .args(files)
        .output()
        .expect("python3 runs; install it to validate manifests");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("ModuleNotFoundError"),
        "missing Python packages; run: pip install -r scripts/requirements.txt\n{stderr}"
    );
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Validates `files`, which must fail (exit code 1), and returns what was printed.
fn validate_failing(files: &[&Path]) -> String {
    let output = validate(files);
    let printed = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{printed}");
    printed
}

/// Validates the generated StorageGrid CRD with `from` replaced by `to`, which must fail;
/// returns what was printed.
fn broken_grid_crd_fails(from: &str, to: &str) -> String {
    let original = &crd_files()[0].contents;
    assert!(original.contains(from), "fixture needs {from:?} in the CRD");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.yaml");
    std::fs::write(&path, original.replacen(from, to, 1)).unwrap();
    validate_failing(&[&path])
}

#[test]
fn checked_in_crds_pass_one_line_per_document() {
    let files: Vec<PathBuf> = crd_files()
        .iter()
        .map(|f| repo_root().join("crds").join(&f.file_name))
        .collect();
    let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let output = validate(&paths);
    let printed = stdout(&output);
    assert!(output.status.success(), "{printed}");
    assert_eq!(printed.lines().count(), 2, "{printed}");
    assert!(
        printed.lines().all(|line| line.starts_with("ok ")),
        "{printed}"
    );
    assert!(printed.contains("Kubernetes 1.33, strict"), "{printed}");
}

#[test]
fn unknown_field_in_a_crd_fails() {
    let printed = broken_grid_crd_fails(
        "    served: true\n",
        "    served: true\n    servedd: true\n",
    );
    assert!(printed.starts_with("FAIL "), "{printed}");
    assert!(printed.contains("servedd"), "{printed}");
}

#[test]
fn wrongly_typed_field_in_a_crd_fails() {
    let printed = broken_grid_crd_fails("    shortNames:\n    - sg\n", "    shortNames: sg\n");
    assert!(printed.contains("spec.names.shortNames"), "{printed}");
}

#[test]
fn one_bad_document_fails_the_file_and_the_good_one_still_reports() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.yaml");
    let good = &crd_files()[1].contents;
    let bad = crd_files()[0]
        .contents
        .replacen("  scope: Namespaced\n", "  scope: 7\n", 1);
    std::fs::write(&path, format!("{good}---\n{bad}")).unwrap();
    let printed = validate_failing(&[&path]);
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 2, "{printed}");
    assert!(
        lines[0].starts_with("ok ") && lines[0].contains("storagenodes"),
        "{printed}"
    );
    assert!(
        lines[1].starts_with("FAIL ") && lines[1].contains("spec.scope"),
        "{printed}"
    );
}

#[test]
fn a_kind_without_a_schema_fails_instead_of_being_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grid.yaml");
    std::fs::write(
        &path,
        "apiVersion: grid.sutra.ai/v1alpha1\nkind: StorageGrid\nmetadata:\n  name: g\nspec:\n  vector:\n    dimension: 3\n",
    )
    .unwrap();
    let printed = validate_failing(&[&path]);
    assert!(
        printed.contains("no schema to validate against"),
        "{printed}"
    );
}
