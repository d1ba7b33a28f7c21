#!/usr/bin/env bash
# `make test-guard`: the start-up guard of each variant binary on emulated CPUs. On a CPU
# that lacks a variant's features the binary must exit with the guard's message and exit
# code 3, never die of SIGILL; on a CPU that has them `sutra-storage detect` must succeed
# and name the variant the binary was built as.
#
# qemu raises SIGILL at the first instruction the emulated CPU lacks, so a clean exit 3
# also shows the guard ran before any instruction of the variant's extra features.
#
# The binaries are the image builds (scripts/build-variant.sh, reused when already built).
# x86-64-v4 runs natively where this host has AVX-512 (qemu's TCG emulates no AVX-512).
#
# usage: scripts/test-guard.sh [VARIANT...]   (default: every variant of the catalog)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/arch.sh
source scripts/arch.sh

variants=("$@")
if [[ ${#variants[@]} -eq 0 ]]; then
    mapfile -t variants < <("${PYTHON:-python3}" scripts/catalog.py names | cut -d' ' -f1)
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=0
pass() { echo "ok   $*"; }
fail() { echo "FAIL $*" >&2; failed=1; }

# `binary VARIANT ARCH`: the variant's sutra-storage, built once.
binary() {
    local dir
    dir="$(scripts/build-variant.sh "$1" "$2")"
    echo "$dir/sutra-storage"
}

# `refuses BINARY RUNNER... -- MESSAGE`: exit 3 and exactly MESSAGE on stderr.
refuses() {
    local binary="$1" expected="${*: -1}" runner=("${@:2:$#-3}")
    local stderr status=0
    "${runner[@]}" "$binary" detect >/dev/null 2>"$work/stderr" || status=$?
    # qemu warns on stderr about CPU model features its translator lacks (TSX, ...).
    stderr="$(grep -v '^qemu-[a-z0-9_]*-static: warning: ' "$work/stderr" || true)"
    if [[ $status -eq 3 && "$stderr" == "$expected" ]]; then
        pass "${runner[*]}: exit 3: $stderr"
    else
        fail "${runner[*]} $binary: exit $status (expected 3, 132 is SIGILL), stderr: $stderr"
        echo "     expected: $expected" >&2
    fi
}

# `runs BINARY VARIANT RUNNER...` (x86): detect succeeds and names the variant.
runs_x86() {
    local binary="$1" variant="$2" runner=("${@:3}")
    local table status=0
    table="$("${runner[@]}" "$binary" detect 2>&1)" || status=$?
    local built
    built="$(sed -n 's/^built as   *//p' <<<"$table")"
    if [[ $status -eq 0 && "$built" == "$variant" && "$table" == *"arch "*amd64* ]]; then
        pass "${runner[*]:-native}: detect of $variant runs (built as $built)"
    else
        fail "${runner[*]:-native} $binary detect: exit $status: $table"
    fi
}

message() {
    echo "error: this sutra-storage binary was built for $1 ($2) but this CPU lacks: $3; use the $4 image variant"
}
V3="sse42, avx, avx2, fma"
V4="$V3, avx512f, avx512bw, avx512vl, avx512dq, avx512cd"

for variant in "${variants[@]}"; do
    echo "== $variant"
    case "$variant" in
        universal)
            runs_x86 "$(binary universal amd64)" universal qemu-x86_64-static -cpu Nehalem
            scripts/check-aarch64-detect.sh "$(binary universal arm64)" "$(variant_cpu universal)" universal || failed=1
            ;;
        x86-64-v3)
            bin="$(binary x86-64-v3 amd64)"
            refuses "$bin" qemu-x86_64-static -cpu Nehalem -- "$(message x86-64-v3 "$V3" "avx, avx2, fma" universal)"
            runs_x86 "$bin" x86-64-v3 qemu-x86_64-static -cpu Haswell
            ;;
        x86-64-v4)
            bin="$(binary x86-64-v4 amd64)"
            refuses "$bin" qemu-x86_64-static -cpu Haswell -- "$(message x86-64-v4 "$V4" "avx512f, avx512bw, avx512vl, avx512dq, avx512cd" x86-64-v3)"
            refuses "$bin" qemu-x86_64-static -cpu EPYC-Rome -- "$(message x86-64-v4 "$V4" "avx512f, avx512bw, avx512vl, avx512dq, avx512cd" x86-64-v3)"
            if grep -qw avx512bw /proc/cpuinfo; then
                runs_x86 "$bin" x86-64-v4
            else
                echo "skipped: x86-64-v4 detect needs an AVX-512 host (qemu emulates none)"
            fi
            ;;
        graviton2)
            bin="$(binary graviton2 arm64)"
            refuses "$bin" qemu-aarch64-static -cpu cortex-a72 -- "$(message graviton2 "neon, dotprod, lse" "dotprod, lse" universal)"
            scripts/check-aarch64-detect.sh "$bin" "$(variant_cpu graviton2)" graviton2 || failed=1
            ;;
        graviton3)
            bin="$(binary graviton3 arm64)"
            refuses "$bin" qemu-aarch64-static -cpu neoverse-n1 -- "$(message graviton3 "neon, dotprod, i8mm, sve, lse" "i8mm, sve" graviton2)"
            scripts/check-aarch64-detect.sh "$bin" "$(variant_cpu graviton3)" graviton3 || failed=1
            ;;
        graviton4)
            bin="$(binary graviton4 arm64)"
            refuses "$bin" qemu-aarch64-static -cpu neoverse-n1 -- "$(message graviton4 "neon, dotprod, i8mm, sve, sve2, lse" "i8mm, sve, sve2" graviton2)"
            refuses "$bin" qemu-aarch64-static -cpu neoverse-v1 -- "$(message graviton4 "neon, dotprod, i8mm, sve, sve2, lse" "sve2" graviton3)"
            scripts/check-aarch64-detect.sh "$bin" "$(variant_cpu graviton4)" graviton4 || failed=1
            ;;
        pi4)
            # Every arm64 CPU has NEON, so no emulated CPU lacks pi4's features.
            scripts/check-aarch64-detect.sh "$(binary pi4 arm64)" "$(variant_cpu pi4)" pi4 || failed=1
            ;;
        pi5)
            bin="$(binary pi5 arm64)"
            refuses "$bin" qemu-aarch64-static -cpu cortex-a72 -- "$(message pi5 "neon, dotprod, lse" "dotprod, lse" pi4)"
            scripts/check-aarch64-detect.sh "$bin" "$(variant_cpu pi5)" pi5 || failed=1
            ;;
        *)
            fail "no guard cases for variant $variant: add them to $0"
            ;;
    esac
done
exit $failed
