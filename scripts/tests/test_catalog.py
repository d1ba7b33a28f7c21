"""scripts/catalog.py: what scripts/build-variant.sh builds each catalog variant with."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO_ROOT, SCRIPTS


def build(variant: str) -> list[str]:
    """`catalog.py build VARIANT` as build-variant.sh runs it: arch, RUSTFLAGS, fallbacks."""
    printed = subprocess.run(
        [sys.executable, str(SCRIPTS / "catalog.py"), "build", variant],
        cwd=REPO_ROOT, check=True, capture_output=True, text=True,
    ).stdout
    return printed.rstrip("\n").split("|")


@pytest.mark.parametrize(
    ("variant", "arch", "rustflags"),
    [
        ("universal", "any", "-C target-feature=+crt-static"),
        ("x86-64-v4", "amd64", "-C target-feature=+crt-static -C target-cpu=x86-64-v4"),
        (
            "graviton3",
            "arm64",
            "-C target-feature=+crt-static,+neon,+dotprod,+lse,+sve,+i8mm -C target-cpu=neoverse-v1",
        ),
        ("pi4", "arm64", "-C target-feature=+crt-static,+neon -C target-cpu=cortex-a72"),
    ],
)
def test_each_variant_is_built_static_with_its_cpu_and_features(variant: str, arch: str, rustflags: str) -> None:
    assert build(variant)[:2] == [arch, rustflags]


def test_the_fallback_chain_names_each_step_with_what_it_requires() -> None:
    assert build("x86-64-v4")[2] == "x86-64-v3:sse42,avx,avx2,fma;universal:"
    assert build("universal")[2] == ""


def test_an_unknown_variant_names_the_known_ones() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / "catalog.py"), "build", "nonexistent"],
        cwd=REPO_ROOT, capture_output=True, text=True,
    )
    assert result.returncode != 0
    assert "unknown variant 'nonexistent'" in result.stderr
    assert "graviton3" in result.stderr
