#!/usr/bin/env bash
# Compiles the static sutra-storage and sutra-pause binaries of one catalog variant for one
# architecture, natively on amd64 or arm64 hosts and cross on amd64 for arm64 (Debian's
# toolchain, `make deps-aarch64`), and prints the directory that holds both.
#
# sutra-storage gets the RUSTFLAGS scripts/catalog.py computes from config/variants.yaml
# (static, with the variant's target-features and target-cpu), its name
# (SUTRA_BUILD_VARIANT) and its fallback chain (SUTRA_BUILD_FALLBACKS, which the start-up
# guard names from). sutra-pause is always the baseline build: the local agent's
# Docker backend runs it on whatever host it lands on, and it has no guard.
# Each (architecture, flags) pair has its own CARGO_TARGET_DIR under target/variants/, so
# building one variant never invalidates another, nor the host's debug build.
#
# usage: scripts/build-variant.sh VARIANT [ARCH]
#   ARCH  amd64 or arm64; only for `arch: any` variants (default: this host's)
# env: PYTHON, a Python with PyYAML (default python3; `make deps-python` makes .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."

variant="$1"
requested_arch="${2:-}"

# shellcheck source=scripts/arch.sh
source scripts/arch.sh

settings="$("${PYTHON:-python3}" scripts/catalog.py build "$variant")"
IFS='|' read -r arch rustflags fallbacks <<<"$settings"

host="$(host_arch)"
if [[ "$arch" == any ]]; then
    arch="${requested_arch:-$host}"
elif [[ -n "$requested_arch" && "$requested_arch" != "$arch" ]]; then
    echo "error: $variant is $arch only, not $requested_arch (config/variants.yaml)" >&2
    exit 2
fi

cargo=cargo
case "$arch" in
    amd64) triple=x86_64-unknown-linux-gnu ;;
    arm64) triple=aarch64-unknown-linux-gnu ;;
    *) echo "error: unknown architecture $arch: expected amd64 or arm64" >&2; exit 2 ;;
esac
if [[ "$arch" != "$host" ]]; then
    if [[ "$arch/$host" != arm64/amd64 ]]; then
        echo "error: $variant is $arch: build it on an $arch host (this host is $host; only arm64 cross-builds on amd64)" >&2
        exit 2
    fi
    use_aarch64_toolchain
    cargo="$AARCH64_CARGO"
fi

# `build NAME RUSTFLAGS PACKAGE`: the release binary of PACKAGE in target/variants/NAME.
build() {
    local dir="target/variants/$1"
    echo "== $3 $1: RUSTFLAGS=\"$2\" --target $triple ($dir)" >&2
    # The explicit --target keeps RUSTFLAGS away from build scripts and proc-macros, which
    # must stay dynamically linked host programs.
    RUSTFLAGS="$2" CARGO_TARGET_DIR="$dir" \
        "$cargo" build --release --target "$triple" -p "$3" --bin "$3" >&2
    local binary="$dir/$triple/release/$3"
    # A dynamic executable has an interpreter (PT_INTERP); a FROM scratch image has none.
    if readelf --program-headers "$binary" | grep -q INTERP; then
        echo "error: $binary is dynamically linked; a FROM scratch image needs a static binary" >&2
        exit 1
    fi
    echo "$binary"
}

storage="$(SUTRA_BUILD_VARIANT="$variant" SUTRA_BUILD_FALLBACKS="$fallbacks" \
    build "$arch-$variant" "$rustflags" sutra-storage)"
pause="$(build "$arch-universal" "-C target-feature=+crt-static" sutra-pause)"

out="target/variants/bin/$arch-$variant"
mkdir -p "$out"
# -p keeps cargo's modification times, so a binary cargo did not relink does not look newer
# than the image built from it (tests rebuild an image only when it is older).
cp -p "$storage" "$pause" "$out/"
echo "$out"
