#!/usr/bin/env bash
# The chart through a real helm binary: `helm lint --strict`, then `helm template` with the
# defaults and with a watched namespace (namespaced RBAC), every rendered object validated
# against the Kubernetes API schemas (scripts/validate_manifests.py, kubernetes-validate).
# `make test-chart` checks the same chart through Helm's Go SDK without a binary.
#
# usage: scripts/chart-check.sh
# env: HELM (default helm); PYTHON (default .venv/bin/python, from `make deps-python`)
set -euo pipefail
cd "$(dirname "$0")/.."

helm="${HELM:-helm}"
python="${PYTHON:-.venv/bin/python}"
chart=charts/sutra-grid
rendered=target/chart-check
if ! command -v "$helm" >/dev/null; then
    echo "error: $helm not found: install helm 3 or set HELM" >&2
    exit 2
fi

"$helm" version --short
"$helm" lint --strict "$chart"

rm -rf "$rendered"
mkdir -p "$rendered"
"$helm" template sutra-grid "$chart" --namespace sutra-system >"$rendered/defaults.yaml"
"$helm" template sutra-grid "$chart" --namespace sutra-system \
    --set watchNamespace=grids >"$rendered/watch-namespace.yaml"
"$python" scripts/validate_manifests.py "$rendered"/*.yaml
