"""The RBAC rules the operator's controllers use, and rules flattened into single grants."""

from __future__ import annotations

from typing import Any, Iterator

# PolicyRules of operator/src/controller: what the chart must grant, nothing more.
# The operator will print these itself (`sutra-grid rbac`); until it does, this list is the
# reference, kept in step with the controllers by hand.
CONTROLLER_RULES: list[dict[str, Any]] = [
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
    return CONTROLLER_RULES


def rule_grants(rule: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """Every (apiGroup, resource, verb) a PolicyRule allows; rules naming objects are refused
    because the chart never narrows by name and a flattened grant would overstate them."""
    assert "resourceNames" not in rule and "nonResourceURLs" not in rule, f"unexpected rule shape: {rule}"
    for group in rule["apiGroups"]:
        for resource in rule["resources"]:
            for verb in rule["verbs"]:
                yield group, resource, verb
