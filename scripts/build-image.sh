#!/usr/bin/env bash
# Builds the sutra-storage image of a variant without a registry or a builder image: the
# binaries are compiled on this host as static executables by scripts/build-variant.sh
# (arm64 ones cross-compiled on amd64 hosts), then copied into a `FROM scratch` image for
# the variant's platform (`linux/amd64`, `linux/arm64/v8`), tagged
# `sutra-storage:<tag>-<variant>`: `sutra-storage`, and `sutra-pause`, which the local
# agent's Docker backend runs to hold each node's network namespace.
#
# A variant built for any architecture (`universal`) is tagged per platform,
# `<tag>-universal-amd64` and `<tag>-universal-arm64`, and also `<tag>-universal` for this
# host's; scripts/image_index.py (`make image-index`) joins the two into one OCI image index.
#
# usage: scripts/build-image.sh [--arch amd64|arm64] [VARIANT] [TAG]
#        scripts/build-image.sh --all [TAG]     every variant of the catalog, universal for
#                                               both architectures
#   VARIANT  a name from config/variants.yaml (default: universal)
#   TAG      the tag before the variant suffix (default: the workspace version)
#   --arch   the architecture of an `any` variant (default: this host's)
# env: IMAGE_REPOSITORY (default ghcr.io/sutra-ai/sutra-storage); PYTHON, a Python with PyYAML (default python3;
#      `make deps-python` makes .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/arch.sh
source scripts/arch.sh

if [[ "${1:-}" == --all ]]; then
    shift
    variants="$("${PYTHON:-python3}" scripts/catalog.py names)"
    while read -r name arch; do
        if [[ "$arch" == any ]]; then
            "$0" --arch amd64 "$name" "$@"
            "$0" --arch arm64 "$name" "$@"
        else
            "$0" "$name" "$@"
        fi
    done <<<"$variants"
    exit 0
fi

requested_arch=""
if [[ "${1:-}" == --arch ]]; then
    requested_arch="${2:?--arch needs amd64 or arm64}"
    shift 2
fi
variant="${1:-universal}"
tag="${2:-$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)}"
repository="${IMAGE_REPOSITORY:-ghcr.io/sutra-ai/sutra-storage}"

binaries="$(scripts/build-variant.sh "$variant" $requested_arch)"
arch="${binaries##*/}"
arch="${arch%%-*}"
case "$arch" in
    amd64) platform=linux/amd64 ;;
    arm64) platform=linux/arm64/v8 ;;
esac

tags=("${repository}:${tag}-${variant}")
if [[ "$("${PYTHON:-python3}" scripts/catalog.py arch "$variant")" == any ]]; then
    tags=("${repository}:${tag}-${variant}-${arch}")
    [[ "$arch" != "$(host_arch)" ]] || tags+=("${repository}:${tag}-${variant}")
fi

# The build context is the variant's binaries directory, with an empty directory that
# becomes /data owned by the image user (named volumes copy the ownership on first mount).
mkdir -p "$binaries/data"

echo "== image ${tags[*]} ($platform)"
# The legacy builder needs no buildx plugin; BuildKit is used where the plugin exists.
if ! docker buildx version >/dev/null 2>&1; then
    export DOCKER_BUILDKIT=0
fi
tag_args=()
for t in "${tags[@]}"; do tag_args+=(--tag "$t"); done
# --platform sets the image config's os, architecture and variant (arm64 images say `v8`).
# --no-cache: the legacy builder's cache ignores the platform, so the arm64 and amd64 builds
# of one variant would share steps and one of them would carry the other's architecture. A
# FROM scratch image of two copied binaries takes a second to build without a cache.
if ! build_output="$(docker build --quiet \
    --no-cache \
    --platform "$platform" \
    --file Dockerfile \
    --build-arg "VARIANT=$variant" \
    --build-arg "VERSION=$tag" \
    "${tag_args[@]}" \
    "$binaries" 2>&1)"; then
    echo "$build_output" >&2
    echo "error: docker build of ${tags[0]} failed" >&2
    exit 1
fi
echo "built ${tags[*]} ($platform, $(docker image inspect --format '{{.Size}}' "${tags[0]}") bytes)"
