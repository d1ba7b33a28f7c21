"""config/samples/: every custom resource validates against its CRD's schema from crds/.

kubernetes-validate knows only built-in kinds, so custom resources are checked with
`jsonschema` against the `openAPIV3Schema` of the matching CRD version, read the way the API
server does with strict field validation (kubectl's default): unknown fields are errors
unless the schema preserves them, and `nullable` admits null. CEL rules
(`x-kubernetes-validations`) need a CEL evaluator and are covered by the Rust CRD tests.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from conftest import REPO_ROOT

SAMPLES_DIR = REPO_ROOT / "config" / "samples"

# Fields the API server accepts at the root of every object; CRD schemas may leave them out.
OBJECT_ROOT_FIELDS = {
    "apiVersion": {"type": "string"},
    "kind": {"type": "string"},
    "metadata": {"type": "object"},
}


def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> JSON schema, for every served version of every CRD in crds/."""
    schemas = {}
    for path in sorted((REPO_ROOT / "crds").glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if version["served"]:
                schema = as_strict_json_schema(version["schema"]["openAPIV3Schema"])
                schema["properties"] = {**OBJECT_ROOT_FIELDS, **schema["properties"]}
                schemas[(f"{group}/{version['name']}", kind)] = schema
    return schemas


def as_strict_json_schema(node: Any) -> Any:
    """The OpenAPI v3 structural schema as a JSON schema that rejects unknown fields."""
    if isinstance(node, list):
        return [as_strict_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    schema = {key: as_strict_json_schema(value) for key, value in node.items()}
    if schema.pop("nullable", False) and "type" in schema:
        schema["type"] = [schema["type"], "null"]
    if "properties" in schema and not node.get("x-kubernetes-preserve-unknown-fields"):
        schema.setdefault("additionalProperties", False)
    return schema


def custom_resources(path: Path) -> list[dict[str, Any]]:
    schemas = crd_schemas()
    docs = [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return [doc for doc in docs if (doc.get("apiVersion"), doc.get("kind")) in schemas]


def validate(resource: dict[str, Any]) -> None:
    schema = crd_schemas()[(resource["apiVersion"], resource["kind"])]
    jsonschema.Draft7Validator(schema).validate(resource)


def sample_grid() -> dict[str, Any]:
    (grid,) = custom_resources(SAMPLES_DIR / "storagegrid.yaml")
    return grid


def test_crds_have_schemas_for_both_kinds() -> None:
    assert {kind for _, kind in crd_schemas()} == {"StorageGrid", "StorageNode"}


@pytest.mark.parametrize("path", sorted(SAMPLES_DIR.glob("*.yaml")), ids=lambda path: path.name)
def test_every_sample_custom_resource_validates(path: Path) -> None:
    for resource in custom_resources(path):
        validate(resource)


def test_sample_grid_is_three_auto_variant_nodes_of_768_cosine_vectors() -> None:
    grid = sample_grid()
    validate(grid)
    assert grid["apiVersion"] == "grid.sutra.ai/v1alpha1"
    assert "namespace" not in grid["metadata"], "the sample must apply into any namespace"
    assert grid["spec"]["replicas"] == 3
    assert grid["spec"]["variant"] == "auto"
    assert grid["spec"]["vector"] == {"dimension": 768, "metric": "cosine"}


def test_sample_grid_leaves_image_to_the_operator_defaults() -> None:
    # The chart's default operator image tag is its appVersion; the grid's image defaults
    # follow the operator's, so the sample pins no image.
    assert "image" not in sample_grid()["spec"]


@pytest.mark.parametrize(
    "path, value",
    [
        (("spec", "vectors"), {"dimension": 768}),
        (("spec", "vector", "dimension"), "768"),
        (("spec", "vector", "metric"), "manhattan"),
        (("spec", "replicas"), -1),
    ],
    ids=["unknown field", "dimension as string", "unknown metric", "negative replicas"],
)
def test_schema_check_rejects_a_broken_grid(path: tuple[str, ...], value: Any) -> None:
    broken = copy.deepcopy(sample_grid())
    parent = broken
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    with pytest.raises(jsonschema.ValidationError):
        validate(broken)


def test_schema_check_requires_the_vector_dimension() -> None:
    broken = copy.deepcopy(sample_grid())
    del broken["spec"]["vector"]["dimension"]
    with pytest.raises(jsonschema.ValidationError, match="dimension"):
        validate(broken)
