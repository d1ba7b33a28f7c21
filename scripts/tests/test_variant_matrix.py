"""The release build matrix is generated from config/variants.yaml and covers it exactly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from conftest import SCRIPTS


def coverage_problems(variants: list[dict[str, Any]], entries: list[dict[str, Any]]) -> list[str]:
    """What a build matrix gets wrong about a catalog: a variant or architecture it misses,
    a variant the catalog lacks, a duplicate, or an entry on the wrong runner."""
    expected = {
        (v["name"], arch)
        for v in variants
        for arch in (["amd64", "arm64"] if v["arch"] == "any" else [v["arch"]])
    }
    built = [(e["variant"], e["arch"]) for e in entries]
    runners = {"amd64": "ubuntu-latest", "arm64": "ubuntu-24.04-arm"}
    problems = [f"missing from the matrix: {v} ({a})" for v, a in sorted(expected - set(built))]
    problems += [f"not in the catalog: {v} ({a})" for v, a in sorted(set(built) - expected)]
    problems += [f"built twice: {v} ({a})" for v, a in sorted({b for b in built if built.count(b) > 1})]
    problems += [
        f"{e['variant']} ({e['arch']}) runs on {e['runner']}, expected {runners[e['arch']]}"
        for e in entries
        if runners.get(e["arch"]) != e["runner"]
    ]
    return problems


def run_matrix_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPTS / "variant_matrix.py"), *args],
        capture_output=True,
        text=True,
        check=False,
    )


def printed_matrix(*args: str) -> list[dict[str, Any]]:
    result = run_matrix_script(*args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["include"]


def test_the_printed_matrix_builds_every_catalog_variant_on_its_architectures(catalog_variants: list[dict[str, Any]]) -> None:
    assert coverage_problems(catalog_variants, printed_matrix()) == []


def test_a_variant_built_for_any_architecture_is_built_on_both(catalog_variants: list[dict[str, Any]]) -> None:
    entries = printed_matrix()
    universal = sorted(e["arch"] for e in entries if e["variant"] == "universal")
    assert universal == ["amd64", "arm64"]
    assert all(e["multiArch"] for e in entries if e["variant"] == "universal")
    multi_arch = run_matrix_script("--multi-arch").stdout.split()
    assert multi_arch == [v["name"] for v in catalog_variants if v["arch"] == "any"]


def test_the_coverage_check_names_a_missing_and_an_unknown_variant(catalog_variants: list[dict[str, Any]]) -> None:
    entries = [e for e in printed_matrix() if e["variant"] != "graviton3"]
    entries.append({"variant": "graviton9", "arch": "arm64", "runner": "ubuntu-24.04-arm"})
    entries.append({"variant": "pi5", "arch": "arm64", "runner": "ubuntu-latest"})
    assert coverage_problems(catalog_variants, entries) == [
        "missing from the matrix: graviton3 (arm64)",
        "not in the catalog: graviton9 (arm64)",
        "built twice: pi5 (arm64)",
        "pi5 (arm64) runs on ubuntu-latest, expected ubuntu-24.04-arm",
    ]


def test_a_variant_added_to_the_catalog_joins_the_matrix(tmp_path: Path, variant_matrix: ModuleType) -> None:
    catalog = yaml.safe_load(variant_matrix.CATALOG.read_text())
    catalog["variants"].append({"name": "graviton5", "arch": "arm64", "requires": [], "targetFeatures": []})
    copy = tmp_path / "variants.yaml"
    copy.write_text(yaml.safe_dump(catalog))
    entries = printed_matrix("--catalog", str(copy))
    assert coverage_problems(catalog["variants"], entries) == []
    assert {"variant": "graviton5", "arch": "arm64"}.items() <= next(e for e in entries if e["variant"] == "graviton5").items()


def test_an_unknown_architecture_is_refused_with_its_field_path(tmp_path: Path, variant_matrix: ModuleType) -> None:
    catalog = yaml.safe_load(variant_matrix.CATALOG.read_text())
    catalog["variants"][2]["arch"] = "riscv64"
    copy = tmp_path / "variants.yaml"
    copy.write_text(yaml.safe_dump(catalog))
    result = run_matrix_script("--catalog", str(copy))
    assert result.returncode == 1
    assert "variants[2].arch: 'riscv64', expected one of amd64, arm64, any" in result.stderr


def test_github_output_gets_the_same_matrix(tmp_path: Path) -> None:
    output = tmp_path / "github_output"
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / "variant_matrix.py"), "--github-output"],
        capture_output=True,
        text=True,
        check=True,
        env={"GITHUB_OUTPUT": str(output), "PATH": "/usr/bin:/bin"},
    )
    assert output.read_text() == f"matrix={result.stdout}"
