#!/usr/bin/env python3
"""Prints the release build matrix of sutra-storage, generated from the variant catalog.

One entry per (variant, architecture) pair: a variant of `arch: any` gets one entry per
architecture, built natively on that architecture's GitHub runner, and is later joined into
one multi-arch image index; every other variant gets one entry on its own architecture.

usage: scripts/variant_matrix.py [--catalog config/variants.yaml] [--github-output]
                                 [--multi-arch]
  --github-output  append `matrix=<json>` to the file named by $GITHUB_OUTPUT as well
  --multi-arch     print only the names of the variants built for every architecture
"""

import argparse
import json
import os
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "config" / "variants.yaml"

# The GitHub-hosted runner that builds each architecture natively.
RUNNERS = {"amd64": "ubuntu-latest", "arm64": "ubuntu-24.04-arm"}
ANY_ARCH = "any"


def load_variants(catalog: Path) -> list[dict]:
    with catalog.open() as f:
        document = yaml.safe_load(f)
    variants = document.get("variants") if isinstance(document, dict) else None
    if not isinstance(variants, list) or not variants:
        raise ValueError(f"{catalog}: variants: expected a non-empty list of variants")
    for index, variant in enumerate(variants):
        arch = variant.get("arch")
        if arch != ANY_ARCH and arch not in RUNNERS:
            expected = ", ".join([*RUNNERS, ANY_ARCH])
            raise ValueError(f"{catalog}: variants[{index}].arch: {arch!r}, expected one of {expected}")
    return variants


def matrix_entries(variants: list[dict]) -> list[dict]:
    entries = []
    for variant in variants:
        multi_arch = variant["arch"] == ANY_ARCH
        for arch in RUNNERS if multi_arch else [variant["arch"]]:
            entries.append({"variant": variant["name"], "arch": arch, "multiArch": multi_arch, "runner": RUNNERS[arch]})
    return entries


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", type=Path, default=CATALOG)
    parser.add_argument("--github-output", action="store_true")
    parser.add_argument("--multi-arch", action="store_true")
    args = parser.parse_args()
    try:
        variants = load_variants(args.catalog)
    except (OSError, ValueError, yaml.YAMLError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.multi_arch:
        print("\n".join(v["name"] for v in variants if v["arch"] == ANY_ARCH))
        return 0
    matrix = json.dumps({"include": matrix_entries(variants)}, separators=(",", ":"))
    print(matrix)
    if args.github_output:
        with open(os.environ["GITHUB_OUTPUT"], "a") as output:
            output.write(f"matrix={matrix}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
