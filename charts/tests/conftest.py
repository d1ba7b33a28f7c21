"""Shared fixtures: the chart rendered by Helm's Go SDK (helm-python-sdk, no helm binary)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "charts" / "sutra-grid"
KUBE_VERSION = "1.33"

# Every toggle of values.yaml, each rendered, linted and validated on its own.
# name -> (values, release name, release namespace)
SCENARIOS: dict[str, tuple[dict[str, Any], str, str]] = {
    "defaults": ({}, "sutra-grid", "sutra-system"),
    "service-monitor": (
        {"serviceMonitor": {"enabled": True, "interval": "15s", "labels": {"release": "prom"}}},
        "sutra-grid",
        "sutra-system",
    ),
    "no-crds": ({"crds": {"create": False}}, "sutra-grid", "sutra-system"),
    "no-rbac": (
        {"rbac": {"create": False}, "serviceAccount": {"create": False, "name": "grid-operator"}},
        "sutra-grid",
        "sutra-system",
    ),
    "custom-namespace": ({}, "edge", "grid-ops"),
    "single-namespace-no-election": (
        {
            "watchNamespace": "vectors",
            "leaderElection": {"enabled": False},
            "logFormat": "text",
            "metrics": {"port": 9443},
            "image": {"repository": "registry.example/sutra-grid", "tag": "dev", "pullPolicy": "Always"},
        },
        "sutra-grid",
        "sutra-system",
    ),
}


class Rendered:
    """One render of the chart: its manifests by template and the parsed objects."""

    def __init__(self, manifests: dict[str, str], namespace: str) -> None:
        self.manifests = manifests
        self.namespace = namespace
        self.objects: list[dict[str, Any]] = []
        for template, text in sorted(manifests.items()):
            if template.endswith("NOTES.txt"):
                continue
            self.objects.extend(doc for doc in yaml.safe_load_all(text) if doc)

    @property
    def notes(self) -> str:
        return next(text for name, text in self.manifests.items() if name.endswith("NOTES.txt"))

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [obj for obj in self.objects if obj["kind"] == kind]

    def one(self, kind: str) -> dict[str, Any]:
        found = self.of_kind(kind)
        assert len(found) == 1, f"expected exactly one {kind}, rendered {len(found)}"
        return found[0]

    def kinds(self) -> set[str]:
        return {obj["kind"] for obj in self.objects}


def render(values: dict[str, Any] | None = None, name: str = "sutra-grid", namespace: str = "sutra-system") -> Rendered:
    with helm.Chart.load(CHART_DIR) as chart:
        manifests = chart.render(values or {}, name=name, namespace=namespace, is_install=True)
    return Rendered(manifests, namespace)


@pytest.fixture(scope="session")
def rendered() -> dict[str, Rendered]:
    """Every scenario rendered once per test session."""
    return {scenario: render(values, name, namespace) for scenario, (values, name, namespace) in SCENARIOS.items()}


@pytest.fixture(scope="session")
def defaults(rendered: dict[str, Rendered]) -> Rendered:
    return rendered["defaults"]
