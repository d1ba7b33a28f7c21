#!/usr/bin/env bash
# Builds the sutra-storage image for one variant without a registry or a builder image:
# the binaries are compiled on this host as static glibc executables with the variant's
# target-cpu/target-features from config/variants.yaml, then copied into a `FROM scratch`
# image tagged `sutra-storage:<tag>-<variant>`: `sutra-storage`, and `sutra-pause`, which
# the local agent's Docker backend runs to hold each node's network namespace.
#
# usage: scripts/build-image.sh [VARIANT] [TAG]
#   VARIANT  a name from config/variants.yaml (default: universal)
#   TAG      the tag before the variant suffix (default: the workspace version)
# env: IMAGE_REPOSITORY (default sutra-storage); PYTHON, a Python with PyYAML (default python3;
#      `make deps-python` makes .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."

variant="${1:-universal}"
tag="${2:-$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)}"
repository="${IMAGE_REPOSITORY:-sutra-storage}"
image="${repository}:${tag}-${variant}"

host_arch() {
    case "$(uname -m)" in
        x86_64) echo amd64 ;;
        aarch64 | arm64) echo arm64 ;;
        *) uname -m ;;
    esac
}

# Prints `arch|targetCpu|targetFeatures` (features comma-joined, empty fields kept) of the
# variant, or fails naming the known variants.
variant_settings() {
    "${PYTHON:-python3}" - "$1" <<'PY'
import sys
import yaml

name = sys.argv[1]
with open("config/variants.yaml") as f:
    catalog = yaml.safe_load(f)
variants = {v["name"]: v for v in catalog["variants"]}
if name not in variants:
    sys.exit(f"unknown variant {name!r}: expected one of {', '.join(variants)} (config/variants.yaml)")
v = variants[name]
print("|".join([v["arch"], v.get("targetCpu") or "", ",".join(v.get("targetFeatures") or [])]))
PY
}

settings="$(variant_settings "$variant")"
IFS='|' read -r arch target_cpu target_features <<<"$settings"

host="$(host_arch)"
if [[ "$arch" != any && "$arch" != "$host" ]]; then
    echo "error: $variant is $arch: build it on an $arch host (this host is $host)" >&2
    exit 2
fi

case "$host" in
    amd64) triple=x86_64-unknown-linux-gnu ;;
    arm64) triple=aarch64-unknown-linux-gnu ;;
    *) echo "error: no Rust target known for host architecture $host" >&2; exit 2 ;;
esac

features="+crt-static${target_features:+,$target_features}"
rustflags="-C target-feature=$features${target_cpu:+ -C target-cpu=$target_cpu}"

echo "== sutra-storage $variant: RUSTFLAGS=\"$rustflags\" --target $triple"
# The explicit --target keeps RUSTFLAGS away from build scripts and proc-macros, which
# must stay dynamically linked host programs.
RUSTFLAGS="$rustflags" SUTRA_BUILD_VARIANT="$variant" \
    cargo build --release --target "$triple" \
    -p sutra-storage --bin sutra-storage -p sutra-pause --bin sutra-pause

binaries="${CARGO_TARGET_DIR:-target}/$triple/release"
for binary in "$binaries/sutra-storage" "$binaries/sutra-pause"; do
    # A dynamic executable lists the shared libraries it loads (`libc.so.6 => ...`).
    if ldd "$binary" 2>&1 | grep -q '=>'; then
        echo "error: $binary is dynamically linked; a FROM scratch image needs a static binary" >&2
        exit 1
    fi
done

# The build context holds only this variant: the binaries and an empty directory that
# becomes /data owned by the image user (named volumes copy the ownership on first mount).
context="target/image"
rm -rf "$context/$variant"
mkdir -p "$context/$variant/data"
cp "$binaries/sutra-storage" "$binaries/sutra-pause" "$context/$variant/"
printf '*\n!%s/\n' "$variant" >"$context/.dockerignore"

echo "== image $image"
# The legacy builder needs no buildx plugin; BuildKit is used where the plugin exists.
if ! docker buildx version >/dev/null 2>&1; then
    export DOCKER_BUILDKIT=0
fi
if ! build_output="$(docker build --quiet \
    --file Dockerfile \
    --build-arg "VARIANT=$variant" \
    --build-arg "VERSION=$tag" \
    --tag "$image" \
    "$context" 2>&1)"; then
    echo "$build_output" >&2
    echo "error: docker build of $image failed" >&2
    exit 1
fi
echo "built $image ($(docker image inspect --format '{{.Size}}' "$image") bytes)"
