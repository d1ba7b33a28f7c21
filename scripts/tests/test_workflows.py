"""The workflows keep what they promise: triggers, both architectures, the kind e2e's waits,
every catalog variant released under the names a default install pulls, thin steps, and
actions pinned by commit."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from conftest import REPO_ROOT, SCRIPTS, WORKFLOWS, load_script

X86_RUNNER = "ubuntu-latest"
ARM_RUNNER = "ubuntu-24.04-arm"
PINNED_ACTION = re.compile(r"^\s*(?:-\s+)?uses:\s+[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+)*\s*$")
# A step either uses an action or calls a make target or a script, or one of these setup or
# publishing commands with no logic of its own.
THIN_RUN = re.compile(
    r"^(make [\w-]+( VARIANT=[\w${}. -]+)?"
    r"|scripts/[\w-]+\.(sh|py)( [\w${}. -]+)?"
    r"|\.venv/bin/python scripts/[\w-]+\.py .*"
    r"|apt-get update && apt-get install -y --no-install-recommends [\w. -]+"
    r"|gh release create .*)$"
)


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return job["steps"]


def runs(job: dict[str, Any]) -> list[str]:
    return [" ".join(step["run"].split()) for step in steps(job) if "run" in step]


def uses(job: dict[str, Any]) -> list[str]:
    return [step["uses"].split("@")[0] for step in steps(job) if "uses" in step]


def runners(job: dict[str, Any]) -> set[str]:
    runs_on = job["runs-on"]
    if runs_on.startswith("${{ matrix."):
        key = runs_on.removeprefix("${{ matrix.").removesuffix(" }}")
        return {entry[key] for entry in job["strategy"]["matrix"]["include"]}
    return {runs_on}


def all_jobs() -> list[tuple[str, str, dict[str, Any]]]:
    jobs = []
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for name, job in yaml.safe_load(path.read_text())["jobs"].items():
            jobs.append((path.name, name, job))
    return jobs


def test_ci_runs_on_push_and_pull_request_and_cancels_superseded_runs(ci: dict[str, Any]) -> None:
    assert {"push", "pull_request"} <= set(ci["on"])
    assert ci["concurrency"]["cancel-in-progress"] is True
    assert "github.ref" in ci["concurrency"]["group"]


def test_ci_lints_with_fmt_clippy_and_actionlint(ci: dict[str, Any]) -> None:
    assert runs(ci["jobs"]["lint"]) == ["make lint"]
    makefile = (REPO_ROOT / "Makefile").read_text()
    lint = re.search(r"^lint: (.*)\n((?:\t.*\n)+)", makefile, re.M)
    assert lint is not None
    assert "lint-workflows" in lint.group(1)
    assert "fmt --all -- --check" in lint.group(2) and "clippy --workspace --all-targets -- -D warnings" in lint.group(2)
    assert re.search(r"^lint-workflows:.*\n\tactionlint\b", makefile, re.M)


def test_ci_tests_on_x86_on_native_arm64_and_on_emulated_aarch64(ci: dict[str, Any]) -> None:
    jobs = ci["jobs"]
    assert runners(jobs["test"]) == {X86_RUNNER} and "make test" in runs(jobs["test"])
    assert runners(jobs["test-arm64"]) == {ARM_RUNNER} and "make test" in runs(jobs["test-arm64"])
    emulated = runs(jobs["test-aarch64-emulated"])
    assert {"make deps-aarch64", "make test-aarch64", "make test-guard"} <= set(emulated)


def test_ci_checks_the_chart_with_a_real_helm(ci: dict[str, Any]) -> None:
    chart = ci["jobs"]["chart"]
    assert "azure/setup-helm" in uses(chart)
    assert runs(chart) == ["make chart-check"]
    script = (SCRIPTS / "chart-check.sh").read_text()
    assert '"$helm" lint --strict' in script and '"$helm" template' in script
    assert "scripts/validate_manifests.py" in script


def test_ci_runs_the_kind_e2e_on_both_architectures_and_keeps_failure_artifacts(ci: dict[str, Any]) -> None:
    e2e = ci["jobs"]["e2e-kind"]
    assert runners(e2e) == {X86_RUNNER, ARM_RUNNER}
    assert e2e["strategy"]["fail-fast"] is False
    assert "make e2e-kind" in runs(e2e)
    upload = next(step for step in steps(e2e) if step.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["if"] == "failure()"
    assert upload["with"]["path"].rstrip("/") == "target/e2e-kind/artifacts"


def test_the_kind_e2e_script_installs_the_chart_and_waits_on_every_condition() -> None:
    script = (SCRIPTS / "e2e-kind.sh").read_text()
    for step in [
        "kind create cluster",
        "kind load docker-image",
        "helm upgrade --install \"$release\" charts/sutra-grid",
        "kubectl apply -n \"$grid_namespace\" -f \"$sample\"",
        "cargo test -p sutra-e2e --test cluster_e2e",
        'artifacts="$work/artifacts"',
    ]:
        assert step in script, step
    assert re.search(r"for condition in VariantMatched PlatformDetected Ready; do\n\s+kubectl wait storagenodes --all", script)
    assert '--for=condition="$condition"=True' in script
    assert "kubectl logs -n \"$operator_namespace\"" in script and "kubectl get events" in script
    assert "kubectl describe" in script


def test_every_rust_job_caches_cargo() -> None:
    for workflow, name, job in all_jobs():
        builds_rust = any(r.startswith(("make test", "make lint", "make image", "make e2e-kind", "scripts/build-")) for r in runs(job))
        if builds_rust:
            assert "Swatinem/rust-cache" in uses(job), f"{workflow}: {name} builds Rust without a cargo cache"


def test_release_runs_on_version_tags_only(release: dict[str, Any]) -> None:
    assert release["on"] == {"push": {"tags": ["v*"]}}
    assert release["concurrency"]["cancel-in-progress"] is False


def test_release_builds_every_catalog_variant_from_the_generated_matrix(release: dict[str, Any], catalog_variants: list[dict[str, Any]]) -> None:
    jobs = release["jobs"]
    prepare = jobs["prepare"]
    assert prepare["outputs"]["matrix"] == "${{ steps.matrix.outputs.matrix }}"
    matrix_step = next(step for step in steps(prepare) if step.get("id") == "matrix")
    assert matrix_step["run"] == "make release-matrix"
    assert re.search(r"^release-matrix:.*\n\t@\$\(PYTHON\) scripts/variant_matrix\.py", (REPO_ROOT / "Makefile").read_text(), re.M)

    storage = jobs["storage"]
    assert storage["strategy"]["matrix"] == "${{ fromJSON(needs.prepare.outputs.matrix) }}"
    assert storage["runs-on"] == "${{ matrix.runner }}"
    assert runs(storage) == [
        "make deps-python",
        "make image VARIANT=${{ matrix.variant }}",
        "scripts/package-release.sh storage ${{ matrix.variant }}",
        "scripts/publish-release.sh storage ${{ matrix.variant }}",
    ]
    entries = load_script("variant_matrix").matrix_entries(catalog_variants)
    assert {e["variant"] for e in entries} == {v["name"] for v in catalog_variants}
    assert {e["runner"] for e in entries} == {X86_RUNNER, ARM_RUNNER}


def test_release_ships_the_operator_for_both_architectures_the_indexes_the_chart_and_a_release(release: dict[str, Any]) -> None:
    jobs = release["jobs"]
    assert runners(jobs["operator"]) == {X86_RUNNER, ARM_RUNNER}
    assert runs(jobs["operator"])[-3:] == [
        "scripts/build-operator-image.sh",
        "scripts/package-release.sh grid",
        "scripts/publish-release.sh grid",
    ]
    assert set(jobs["multi-arch"]["needs"]) == {"storage", "operator"}
    assert "scripts/publish-release.sh index" in runs(jobs["multi-arch"])
    assert jobs["chart"]["needs"] == "multi-arch"
    assert "scripts/publish-release.sh chart" in runs(jobs["chart"])
    publish = (SCRIPTS / "publish-release.sh").read_text()
    assert 'helm push "dist/sutra-grid-$VERSION.tgz" "$CHART_REPOSITORY"' in publish
    assert "docker buildx imagetools create" in publish

    github_release = jobs["github-release"]
    assert set(github_release["needs"]) == {"storage", "operator", "chart"}
    assert github_release["permissions"]["contents"] == "write"
    assert runs(github_release)[-3:-1] == ["scripts/package-release.sh sums", "scripts/package-release.sh notes"]
    create = runs(github_release)[-1]
    assert create.startswith("gh release create") and "dist/*.tar.gz dist/SHA256SUMS" in create
    for job in ("storage", "operator"):
        assert "actions/attest-build-provenance" in uses(jobs[job])
        assert jobs[job]["permissions"]["packages"] == "write"


def test_release_names_are_what_a_default_install_pulls() -> None:
    names = load_script("release_names").release_names()
    assert names["OPERATOR_REPOSITORY"].startswith("ghcr.io/")
    assert names["CHART_REPOSITORY"] == f"oci://{names['OPERATOR_REPOSITORY'].rpartition('/')[0]}/charts"
    values = yaml.safe_load((REPO_ROOT / "charts/sutra-grid/values.yaml").read_text())
    assert values["image"]["repository"] == names["OPERATOR_REPOSITORY"]
    common = (REPO_ROOT / "core/src/crd/common.rs").read_text()
    assert f'pub const DEFAULT_IMAGE_REPOSITORY: &str = "{names["STORAGE_REPOSITORY"]}";' in common
    # The local build scripts tag images with the same names, so what a release job builds
    # is what it pushes.
    assert f'IMAGE_REPOSITORY:-{names["STORAGE_REPOSITORY"]}' in (SCRIPTS / "build-image.sh").read_text()
    assert f'IMAGE_REPOSITORY:-{names["OPERATOR_REPOSITORY"]}' in (SCRIPTS / "build-operator-image.sh").read_text()


def test_a_tag_that_is_not_the_version_is_refused() -> None:
    version = load_script("release_names").workspace_version()
    script = [sys.executable, str(SCRIPTS / "release_names.py")]
    assert subprocess.run([*script, "--tag", f"v{version}"], capture_output=True, check=False).returncode == 0
    refused = subprocess.run([*script, "--tag", "v0.0.0-other"], capture_output=True, text=True, check=False)
    assert refused.returncode == 1
    assert f"tag 'v0.0.0-other' does not name the version '{version}'" in refused.stderr


def test_every_step_is_a_make_target_a_script_or_a_pinned_action() -> None:
    for workflow, name, job in all_jobs():
        for command in runs(job):
            assert THIN_RUN.match(command), f"{workflow}: {name}: inline logic in a run step: {command}"


def test_every_action_is_pinned_by_commit_with_its_version() -> None:
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if re.match(r"^\s*(-\s+)?uses:", line):
                assert PINNED_ACTION.match(line), f"{path.name}:{number}: not pinned by commit with a version comment: {line.strip()}"


def test_dependabot_watches_cargo_actions_and_docker() -> None:
    config = yaml.safe_load((REPO_ROOT / ".github/dependabot.yml").read_text())
    assert config["version"] == 2
    assert {u["package-ecosystem"] for u in config["updates"]} == {"cargo", "github-actions", "docker"}


def test_the_workflows_only_call_make_targets_that_exist() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    defined = set(re.findall(r"^([\w-]+):", makefile, re.M))
    for workflow, name, job in all_jobs():
        for command in runs(job):
            if command.startswith("make "):
                target = command.split()[1]
                assert target in defined, f"{workflow}: {name}: make {target} is not a target"
            if command.startswith("scripts/"):
                assert Path(REPO_ROOT / command.split()[0]).is_file(), f"{workflow}: {name}: {command}"
