"""The RBAC rules the operator's controllers use, and rules flattened into single grants."""

from __future__ import annotations

import subprocess
from typing import Any, Iterator

import yaml
from conftest import REPO_ROOT

RBAC_COMMAND = ["cargo", "run", "--quiet", "-p", "sutra-grid", "--", "rbac"]


def controller_rules(*flags: str) -> list[dict[str, Any]]:
    """The PolicyRules `sutra-grid rbac [flags]` prints: the operator's cluster rules, or with
    `--leader-election` its Lease rules, or with `--storage-node` the storage nodes' rules."""
    command = [*RBAC_COMMAND, *flags]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{' '.join(command)} failed: {result.stderr}"
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
