#!/usr/bin/env bash
# Runs `sutra-storage detect` of an aarch64 BINARY on the emulated CPU and checks what the
# live detection found against what that CPU model offers: the SIMD features (HWCAPs via
# is_aarch64_feature_detected!), the SVE vector length (prctl), the kernels dispatch picks,
# the page size and cache line (under qemu-user: the host kernel's). With VARIANT it also
# checks the binary was built as that variant.
#
# usage: scripts/check-aarch64-detect.sh BINARY CPU [VARIANT]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/arch.sh
source scripts/arch.sh

binary="$1" cpu="$2" variant="${3:-}"

# What each qemu CPU model offers, as `detect` names it: simd | SVE bytes | kernels.
case "$cpu" in
    cortex-a72) expected="neon|-|neon" ;;
    cortex-a76 | neoverse-n1) expected="neon dotprod lse|-|f32:neon i8:neon-dotprod" ;;
    # SVE serves every kernel where it is wider than NEON's 16 bytes; at 16, NEON stays.
    neoverse-v1) expected="neon dotprod i8mm sve lse|32|sve" ;;
    a64fx) expected="neon sve lse|64|sve" ;;
    neoverse-n2) expected="neon dotprod i8mm sve sve2 lse|16|f32:neon i8:neon-dotprod" ;;
    *) echo "error: no expectations for CPU $cpu: add it to $0" >&2; exit 2 ;;
esac
IFS='|' read -r simd sve kernels <<<"$expected"

# shellcheck disable=SC2046 # the runner is a command and its arguments
table="$($(qemu_runner "$cpu") "$binary" detect)"
# Rows are padded to the longest key plus two spaces, so "simd" never matches "simd alignment".
row() { sed -n "s/^$1   *//p" <<<"$table"; }
failures=()
check() {
    local got
    got="$(row "$1")"
    [[ "$got" == "$2" ]] || failures+=("$1: got '$got', expected '$2'")
}
check arch arm64
check simd "$simd"
check "sve vector bytes" "$sve"
check kernels "$kernels"
check "page size" "$(getconf PAGESIZE)"
[[ "$(row "cache line")" =~ ^(32|64|128|256)$ ]] || failures+=("cache line: got '$(row "cache line")'")
[[ -z "$variant" ]] || check "built as" "$variant"

if [[ ${#failures[@]} -gt 0 ]]; then
    echo "FAIL detect under -cpu $cpu ($binary):" >&2
    printf '  %s\n' "${failures[@]}" >&2
    echo "$table" >&2
    exit 1
fi
echo "ok   detect under -cpu $cpu: simd '$simd', sve bytes $sve, kernels '$kernels', page $(row "page size"), cache line $(row "cache line")${variant:+, built as $variant}"
