#!/usr/bin/env bash
# The operator on a kind cluster, as a user installs it: build the operator image and the
# storage images this machine's nodes need, load them into kind, `helm install` the chart,
# apply config/samples/storagegrid.yaml, wait until every StorageNode is Ready with
# PlatformDetected=True and VariantMatched=True, then run e2e/'s cluster test against the
# cluster. On failure it collects the operator's log, `kubectl get/describe` and the events
# into target/e2e-kind/artifacts/.
#
# usage: scripts/e2e-kind.sh
# needs: docker, kind, kubectl, helm on PATH
# env: KIND_CLUSTER (default sutra-grid-e2e); KEEP_CLUSTER=1 keeps the cluster afterwards;
#      WAIT_TIMEOUT for each wait, in seconds (default 300s); PYTHON (default .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."

cluster="${KIND_CLUSTER:-sutra-grid-e2e}"
timeout="${WAIT_TIMEOUT:-300s}"
python="${PYTHON:-.venv/bin/python}"
work=target/e2e-kind
artifacts="$work/artifacts"
release=sutra-grid
operator_namespace=sutra-system
# The sample goes into its own namespace, the only one the installed operator watches, so
# it never races the operator that e2e/'s cluster test starts in a namespace of its own.
grid_namespace=sutra-sample
sample=config/samples/storagegrid.yaml

if [[ ! "$timeout" =~ ^[0-9]+s$ ]]; then
    echo "error: WAIT_TIMEOUT: $timeout, expected seconds such as 300s" >&2
    exit 2
fi
for tool in docker kind kubectl helm; do
    command -v "$tool" >/dev/null || { echo "error: $tool not found on PATH" >&2; exit 2; }
done
eval "$("$python" scripts/release_names.py)"
mkdir -p "$work"
export KUBECONFIG="$PWD/$work/kubeconfig"

collect_artifacts() {
    rm -rf "$artifacts"
    mkdir -p "$artifacts"
    echo "== collecting artifacts in $artifacts"
    kubectl get nodes,pods,services,storagegrids,storagenodes -A -o wide >"$artifacts/get.txt" 2>&1 || true
    kubectl get storagegrids,storagenodes -A -o yaml >"$artifacts/grid-objects.yaml" 2>&1 || true
    kubectl describe storagegrids,storagenodes,pods -n "$grid_namespace" >"$artifacts/describe-grid.txt" 2>&1 || true
    kubectl describe pods -n "$operator_namespace" >"$artifacts/describe-operator.txt" 2>&1 || true
    kubectl get events -A --sort-by=.lastTimestamp >"$artifacts/events.txt" 2>&1 || true
    kubectl logs -n "$operator_namespace" -l "app.kubernetes.io/instance=$release" --all-containers \
        --prefix --tail=-1 >"$artifacts/operator.log" 2>&1 || true
    kubectl logs -n "$grid_namespace" --all-containers --prefix --tail=-1 \
        -l "app.kubernetes.io/managed-by=sutra-grid" >"$artifacts/storage-nodes.log" 2>&1 || true
    kind export logs "$artifacts/kind" --name "$cluster" >/dev/null 2>&1 || true
}

finish() {
    local status=$?
    if ((status != 0)); then
        collect_artifacts
        echo "e2e-kind failed (exit $status); artifacts in $artifacts" >&2
    fi
    if [[ "${KEEP_CLUSTER:-0}" != 1 ]]; then
        kind delete cluster --name "$cluster" >/dev/null 2>&1 || true
    fi
    exit "$status"
}
trap finish EXIT

# The variant the storage nodes of this machine call for: `universal`, and the best variant
# the universal build detects here, which the operator moves a node to when `auto` learns
# from the node's report.
storage_variants() {
    echo universal
    docker run --rm "$STORAGE_REPOSITORY:$VERSION-universal" detect |
        awk '$1 == "best" && $2 == "variant" && $3 != "universal" && $3 != "-" { print $3 }'
}

echo "== images"
scripts/build-operator-image.sh
make image VARIANT=universal
variants=()
while read -r variant; do
    variants+=("$variant")
done < <(storage_variants)
images=("$OPERATOR_REPOSITORY:$VERSION")
for variant in "${variants[@]}"; do
    [[ "$variant" == universal ]] || make image VARIANT="$variant"
    images+=("$STORAGE_REPOSITORY:$VERSION-$variant")
done

echo "== kind cluster $cluster"
kind get clusters 2>/dev/null | grep -qx "$cluster" || kind create cluster --name "$cluster" --wait 120s
kind load docker-image --name "$cluster" "${images[@]}"

echo "== helm install $release"
helm upgrade --install "$release" charts/sutra-grid \
    --namespace "$operator_namespace" --create-namespace \
    --set watchNamespace="$grid_namespace" --wait --timeout "$timeout"

echo "== kubectl apply -f $sample"
kubectl create namespace "$grid_namespace" --dry-run=client -o yaml | kubectl apply -f -
kubectl apply -n "$grid_namespace" -f "$sample"

replicas="$("$python" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["spec"]["replicas"])' "$sample")"
echo "== waiting for $replicas StorageNodes"
deadline=$((SECONDS + ${timeout%s}))
until (($(kubectl get storagenodes -n "$grid_namespace" -o name | wc -l) >= replicas)); do
    ((SECONDS < deadline)) || { echo "error: fewer than $replicas StorageNodes after $timeout" >&2; exit 1; }
    sleep 3
done
for condition in VariantMatched PlatformDetected Ready; do
    kubectl wait storagenodes --all -n "$grid_namespace" \
        --for=condition="$condition"=True --timeout="$timeout"
done
kubectl wait storagegrids --all -n "$grid_namespace" --for=condition=Ready=True --timeout="$timeout"
kubectl get storagegrids,storagenodes -n "$grid_namespace" -o wide

echo "== e2e/ cluster test"
cargo test -p sutra-e2e --test cluster_e2e
