"""Shared helpers: the workflows and scripts as parsed data, and the project's own scripts."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO_ROOT / ".github" / "workflows"
SCRIPTS = REPO_ROOT / "scripts"


def load_script(name: str) -> ModuleType:
    """Imports scripts/<name>.py as a module, so tests call its functions directly."""
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_workflow(name: str) -> dict[str, Any]:
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as the boolean true.
    if True in workflow:
        workflow["on"] = workflow.pop(True)
    return workflow


@pytest.fixture(scope="session")
def ci() -> dict[str, Any]:
    return load_workflow("ci.yml")


@pytest.fixture(scope="session")
def release() -> dict[str, Any]:
    return load_workflow("release.yml")


@pytest.fixture(scope="session")
def variant_matrix() -> ModuleType:
    return load_script("variant_matrix")


@pytest.fixture(scope="session")
def catalog_variants(variant_matrix: ModuleType) -> list[dict[str, Any]]:
    return variant_matrix.load_variants(variant_matrix.CATALOG)
