#!/usr/bin/env python3
"""Prints, as shell assignments, the names a release publishes under.

They are read from the defaults a user gets, so what the release pushes is what a default
install pulls: the operator image from the chart's `image.repository`, the storage image
from the StorageGrid CRD's default `spec.image.repository`, the chart's OCI repository
beside them, and the one version the workspace, the chart and its appVersion share.

usage: scripts/release_names.py [--tag vX.Y.Z]
  --tag  also check that a release tag names that version (fails naming both otherwise)
"""

import argparse
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
CARGO_TOML = ROOT / "Cargo.toml"
CHART = ROOT / "charts" / "sutra-grid"
GRID_CRD = ROOT / "crds" / "storagegrids.grid.sutra.ai.yaml"


def workspace_version() -> str:
    section = re.search(r"^\[workspace\.package\]\n(.*?)(?=^\[|\Z)", CARGO_TOML.read_text(), re.M | re.S)
    version = section and re.search(r'^version\s*=\s*"([^"]+)"', section.group(1), re.M)
    if not version:
        raise ValueError(f"{CARGO_TOML}: [workspace.package] version: not found")
    return version.group(1)


def storage_repository() -> str:
    crd = yaml.safe_load(GRID_CRD.read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return spec["properties"]["image"]["default"]["repository"]


def release_names() -> dict[str, str]:
    version = workspace_version()
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    for field in ("version", "appVersion"):
        if str(chart[field]) != version:
            raise ValueError(f"{CHART}/Chart.yaml: {field}: {chart[field]!r}, expected the workspace version {version!r}")
    operator = yaml.safe_load((CHART / "values.yaml").read_text())["image"]["repository"]
    storage = storage_repository()
    registry, _, _ = operator.rpartition("/")
    if storage.rpartition("/")[0] != registry:
        raise ValueError(f"the storage image {storage} and the operator image {operator} are not in one registry namespace")
    return {
        "VERSION": version,
        "OPERATOR_REPOSITORY": operator,
        "STORAGE_REPOSITORY": storage,
        "CHART_REPOSITORY": f"oci://{registry}/charts",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag")
    args = parser.parse_args()
    try:
        names = release_names()
    except (OSError, KeyError, ValueError, yaml.YAMLError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if args.tag is not None and args.tag != f"v{names['VERSION']}":
        print(f"error: tag {args.tag!r} does not name the version {names['VERSION']!r} (expected v{names['VERSION']})", file=sys.stderr)
        return 1
    for key, value in names.items():
        print(f"{key}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
