"""The RBAC rules the operator's controllers use, and rules flattened into single grants."""

from __future__ import annotations

import subprocess
import warnings
from typing import Any, Iterator

import yaml
from conftest import REPO_ROOT

RBAC_COMMAND = ["cargo", "run", "--quiet", "-p", "sutra-grid", "--", "rbac"]

# The reference while the operator cannot print its rules (`sutra-grid rbac`), kept in step
# with operator/src/controller by hand. Once the subcommand exists its output is used and
# this list is no longer read.
EXPECTED_RULES: list[dict[str, Any]] = [
    {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]},
    {
        "apiGroups": [""],
        "resources": ["pods", "persistentvolumeclaims", "services"],
        "verbs": ["get", "list", "watch", "create", "patch", "delete"],
    },
    {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create", "patch"]},
    {"apiGroups": ["grid.sutra.ai"], "resources": ["storagegrids"], "verbs": ["get", "list", "watch", "patch"]},
    {
        "apiGroups": ["grid.sutra.ai"],
        "resources": ["storagenodes"],
        "verbs": ["get", "list", "watch", "create", "patch", "delete"],
    },
    {"apiGroups": ["grid.sutra.ai"], "resources": ["storagegrids/status", "storagenodes/status"], "verbs": ["get", "patch"]},
    {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "patch"]},
]


def controller_rules() -> list[dict[str, Any]]:
    """The PolicyRules the controllers use, as `sutra-grid rbac` prints them."""
    result = subprocess.run(RBAC_COMMAND, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0 and "unrecognized subcommand 'rbac'" in result.stderr:
        warnings.warn("`sutra-grid rbac` does not exist yet: comparing with EXPECTED_RULES", stacklevel=1)
        return EXPECTED_RULES
    assert result.returncode == 0, f"{' '.join(RBAC_COMMAND)} failed: {result.stderr}"
    return policy_rules(result.stdout)


def policy_rules(text: str) -> list[dict[str, Any]]:
    """PolicyRules from YAML or JSON: a list of rules, or documents (Role, ClusterRole, or
    any mapping) that carry `rules`."""
    rules: list[dict[str, Any]] = []
    for doc in yaml.safe_load_all(text):
        if isinstance(doc, list):
            rules.extend(doc)
        elif isinstance(doc, dict) and "items" in doc:
            rules.extend(rule for item in doc["items"] for rule in item["rules"])
        elif isinstance(doc, dict):
            rules.extend(doc["rules"])
    assert rules, f"no PolicyRules in the output of {' '.join(RBAC_COMMAND)}:\n{text}"
    return rules


def rule_grants(rule: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """Every (apiGroup, resource, verb) a PolicyRule allows; rules naming objects are refused
    because the chart never narrows by name and a flattened grant would overstate them."""
    assert "resourceNames" not in rule and "nonResourceURLs" not in rule, f"unexpected rule shape: {rule}"
    for group in rule["apiGroups"]:
        for resource in rule["resources"]:
            for verb in rule["verbs"]:
                yield group, resource, verb
