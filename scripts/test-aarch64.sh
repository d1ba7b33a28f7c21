#!/usr/bin/env bash
# `make test-aarch64`: the test suites of sutra-api, sutra-core and sutra-storage,
# cross-built for aarch64 once, then run under qemu-user on each emulated CPU given (default
# below), with the counts per CPU at the end. Then `sutra-storage detect` on each CPU must
# show that CPU's features, SVE vector length and the kernels dispatch picks for them.
#
# Run: sutra-api (lib: the hand-written Vector against prost's), sutra-core (lib, every
# tests/ suite) and sutra-storage (lib, every tests/ suite, including the servers on
# loopback and the child processes they start, which run under the same emulated CPU
# through SUTRA_TEST_RUNNER). Left out: sutra-grid, e2e and
# sutra-pause (Docker, a cluster, the host's container runtime), doctests (not
# cross-built) and the other benchmarks.
#
# On the CPUs in AARCH64_SIMD_CPUS only the SIMD property tests and the detect check run:
# they add SVE at 128 bits (neoverse-n2, where dispatch keeps NEON but the tests call the
# SVE kernels) and at 512 bits (a64fx), which the full suites would not test any further.
#
# usage: [AARCH64_SIMD_CPUS="CPU..."] scripts/test-aarch64.sh [CPU...]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/arch.sh
source scripts/arch.sh
use_aarch64_toolchain

cpus=("$@")
[[ ${#cpus[@]} -gt 0 ]] || cpus=(neoverse-n1 neoverse-v1 cortex-a76)
read -r -a simd_cpus <<<"${AARCH64_SIMD_CPUS-neoverse-n2 a64fx}"
export CARGO_TARGET_DIR="${AARCH64_TARGET_DIR:-target/aarch64}"
# Optimised test builds: under qemu every instruction is translated, and unoptimised code
# made one CPU's run take 12 minutes. Debug assertions and overflow checks stay on.
export CARGO_PROFILE_DEV_OPT_LEVEL=1 CARGO_PROFILE_DEV_DEBUG=line-tables-only
logs="$CARGO_TARGET_DIR/test-logs"
mkdir -p "$logs"
# `--bench kernels` runs each kernel benchmark once, as a smoke test: timings under qemu
# are not figures (docs/PERFORMANCE.md).
suites=(--target "$AARCH64_TRIPLE" -p sutra-api -p sutra-core -p sutra-storage --lib --tests --bench kernels)

started=$SECONDS
echo "== build the aarch64 test suites once ($CARGO_TARGET_DIR)"
"$AARCH64_CARGO" test --no-run "${suites[@]}" 2>&1 | tee "$logs/build.log"
echo "   built in $((SECONDS - started)) s"
simd_props="$(sed -n 's/^ *Executable tests\/simd_props\.rs (\(.*\))$/\1/p' "$logs/build.log")"
[[ -x "$simd_props" ]] || { echo "error: no simd_props test binary in the build output" >&2; exit 1; }

summary=()
failed=0
# `run_on CPU WHAT LOG SCOPE COMMAND...`: runs COMMAND with CPU's qemu runner as cargo's target
# runner and as SUTRA_TEST_RUNNER (the child processes tests start), its output into LOG;
# prints the failures and result lines of LOG and adds CPU's counts to the summary. SCOPE
# says what ran (`%d suites` takes the suite count).
run_on() {
    local cpu="$1" what="$2" log="$3" scope="$4" runner status=0 counts started=$SECONDS
    shift 4
    runner="$(qemu_runner "$cpu")"
    echo "== aarch64 $what under $runner (log: $log)"
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="$runner" SUTRA_TEST_RUNNER="$runner" \
        "$@" >"$log" 2>&1 || status=$?
    grep -E '^(test result|failures:|    [a-z_:]+$)|panicked|FAILED|SVE kernels skipped' "$log" || true
    counts="$(awk -v scope="$scope" '/^test result:/ { suites++; p += $4; f += $6; i += $8 }
        END { printf "%d passed, %d failed, %d ignored in " scope, p, f, i, suites }' "$log")"
    summary+=("$(printf '%-12s %s (%d s)' "$cpu" "$counts" $((SECONDS - started)))")
    [[ $status -eq 0 ]] || failed=1
}
for cpu in "${cpus[@]}"; do
    run_on "$cpu" tests "$logs/$cpu.log" "%d suites" \
        "$AARCH64_CARGO" test --no-fail-fast "${suites[@]}"
done
for cpu in "${simd_cpus[@]}"; do
    # The binary itself, under the runner (cargo is not involved).
    # shellcheck disable=SC2046 # the runner is a command and its arguments
    run_on "$cpu" "SIMD property tests" "$logs/$cpu-simd.log" "simd_props only" \
        $(qemu_runner "$cpu") "$simd_props"
done

echo "== live detection and dispatch on each CPU"
binary="$CARGO_TARGET_DIR/$AARCH64_TRIPLE/debug/sutra-storage"
for cpu in "${cpus[@]}" "${simd_cpus[@]}"; do
    scripts/check-aarch64-detect.sh "$binary" "$cpu" || failed=1
done

echo "== aarch64 test counts per CPU"
printf '%s\n' "${summary[@]}"
exit $failed
