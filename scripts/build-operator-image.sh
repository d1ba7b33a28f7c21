#!/usr/bin/env bash
# Builds the operator image `ghcr.io/sutra-ai/sutra-grid:<tag>` (default tag: the workspace version) from a
# static binary compiled on this host, like scripts/build-image.sh does for sutra-storage.
# The operator has no hot loops, so it is built for the baseline CPU of the host's arch.
set -euo pipefail
cd "$(dirname "$0")/.."

tag="${1:-$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)}"
repository="${IMAGE_REPOSITORY:-ghcr.io/sutra-ai/sutra-grid}"
image="${repository}:${tag}"

case "$(uname -m)" in
    x86_64) triple=x86_64-unknown-linux-gnu ;;
    aarch64 | arm64) triple=aarch64-unknown-linux-gnu ;;
    *) echo "error: no Rust target known for host architecture $(uname -m)" >&2; exit 2 ;;
esac

echo "== sutra-grid: static build for $triple"
RUSTFLAGS="-C target-feature=+crt-static" \
    cargo build --release --target "$triple" -p sutra-grid --bin sutra-grid

binary="${CARGO_TARGET_DIR:-target}/$triple/release/sutra-grid"
if ldd "$binary" 2>&1 | grep -q '=>'; then
    echo "error: $binary is dynamically linked; a FROM scratch image needs a static binary" >&2
    exit 1
fi

context="target/image/operator"
rm -rf "$context"
mkdir -p "$context"
cp "$binary" "$context/sutra-grid"

echo "== image $image"
if ! docker buildx version >/dev/null 2>&1; then
    export DOCKER_BUILDKIT=0
fi
if ! build_output="$(docker build --quiet \
    --file Dockerfile.operator \
    --build-arg "VERSION=$tag" \
    --tag "$image" \
    "$context" 2>&1)"; then
    echo "$build_output" >&2
    echo "error: docker build of $image failed" >&2
    exit 1
fi
echo "built $image ($(docker image inspect --format '{{.Size}}' "$image") bytes)"
