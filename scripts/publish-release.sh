#!/usr/bin/env bash
# Pushes a release to the registry the chart's and the CRD's defaults name
# (scripts/release_names.py), after `docker login` / `helm registry login` to it.
#
# usage:
#   scripts/publish-release.sh storage VARIANT  push the image `make image VARIANT=...` built; a
#                                               variant built for every architecture (universal)
#                                               goes to <tag>-<arch>, joined later by `index`
#   scripts/publish-release.sh grid             push the operator image as <version>-<arch>
#   scripts/publish-release.sh index            join the per-architecture images of the operator
#                                               and of every multi-arch variant into one tag each
#   scripts/publish-release.sh chart            helm package charts/sutra-grid, helm push it (OCI)
# Each push prints `digest=<sha256:...>` and `name=<repository>`, also appended to
# $GITHUB_OUTPUT when set, for the provenance attestation.
# env: PYTHON, a Python with PyYAML (default .venv/bin/python, from `make deps-python`);
#      GITHUB_TOKEN and GITHUB_ACTOR, when set, log helm in to the chart's registry
set -euo pipefail
cd "$(dirname "$0")/.."

python="${PYTHON:-.venv/bin/python}"
eval "$("$python" scripts/release_names.py)"
architectures=(amd64 arm64)

host_arch() {
    case "$(uname -m)" in
        x86_64) echo amd64 ;;
        aarch64 | arm64) echo arm64 ;;
        *) echo "error: no release architecture for $(uname -m)" >&2; return 1 ;;
    esac
}

is_multi_arch() {
    "$python" scripts/variant_matrix.py --multi-arch | grep -qx -- "$1"
}

# push LOCAL REMOTE: tag and push, then report the pushed manifest's digest.
push() {
    local local_image="$1" remote="$2"
    if ! docker image inspect "$local_image" >/dev/null 2>&1; then
        echo "error: image $local_image not found; build it first" >&2
        exit 1
    fi
    docker tag "$local_image" "$remote"
    local digest
    digest="$(docker push "$remote" | sed -n 's/.*digest: \(sha256:[0-9a-f]*\).*/\1/p')"
    report "${remote%:*}" "$digest"
}

# index TARGET: one tag for TARGET-<arch> of every architecture.
index() {
    local target="$1" sources=()
    for arch in "${architectures[@]}"; do
        sources+=("$target-$arch")
    done
    docker buildx imagetools create --tag "$target" "${sources[@]}"
    report "${target%:*}" "$(docker buildx imagetools inspect --format '{{json .Manifest.Digest}}' "$target" | tr -d '"')"
}

report() {
    echo "name=$1"
    echo "digest=$2"
    if [[ -n "${GITHUB_OUTPUT:-}" ]]; then
        printf 'name=%s\ndigest=%s\n' "$1" "$2" >>"$GITHUB_OUTPUT"
    fi
}

case "${1:-}" in
    storage)
        variant="${2:?usage: scripts/publish-release.sh storage VARIANT}"
        image="$STORAGE_REPOSITORY:$VERSION-$variant"
        if is_multi_arch "$variant"; then
            push "$image" "$image-$(host_arch)"
        else
            push "$image" "$image"
        fi
        ;;
    grid)
        image="$OPERATOR_REPOSITORY:$VERSION"
        push "$image" "$image-$(host_arch)"
        ;;
    index)
        index "$OPERATOR_REPOSITORY:$VERSION"
        for variant in $("$python" scripts/variant_matrix.py --multi-arch); do
            index "$STORAGE_REPOSITORY:$VERSION-$variant"
        done
        ;;
    chart)
        if [[ -n "${GITHUB_TOKEN:-}" && -n "${GITHUB_ACTOR:-}" ]]; then
            registry="${CHART_REPOSITORY#oci://}"
            helm registry login "${registry%%/*}" --username "$GITHUB_ACTOR" --password-stdin <<<"$GITHUB_TOKEN"
        fi
        mkdir -p dist
        helm package charts/sutra-grid --destination dist
        helm push "dist/sutra-grid-$VERSION.tgz" "$CHART_REPOSITORY"
        ;;
    *)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
        exit 2
        ;;
esac
