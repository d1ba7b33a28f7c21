#!/usr/bin/env bash
# Checks built sutra-storage images: each image's platform (os, architecture, variant) is
# its variant's, and the binary inside runs `sutra-storage detect` on that architecture
# (arm64 under qemu, on a CPU with the variant's features) and says it was built as the
# image's variant. Then, when scripts/image_index.py has written the universal index, its
# blobs, platforms and images are checked again, and it is pushed to a registry on loopback
# and pulled back per platform, once by `docker pull` and once by skopeo (scripts/test-image-push.sh).
#
# usage: scripts/test-images.sh [IMAGE...]   (default: every local ghcr.io/sutra-ai/sutra-storage:<tag>-* image)
# env: IMAGE_REPOSITORY (default ghcr.io/sutra-ai/sutra-storage), PYTHON (with PyYAML)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/arch.sh
source scripts/arch.sh

repository="${IMAGE_REPOSITORY:-ghcr.io/sutra-ai/sutra-storage}"
tag="$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)"
images=("$@")
if [[ ${#images[@]} -eq 0 ]]; then
    mapfile -t images < <(docker image ls --format '{{.Repository}}:{{.Tag}}' "$repository" | grep ":$tag-" | sort)
fi
[[ ${#images[@]} -gt 0 ]] || { echo "error: no $repository:$tag-* image; build some with make images" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
failed=0
for image in "${images[@]}"; do
    variant="$(docker image inspect --format '{{index .Config.Labels "ai.sutra.grid.variant"}}' "$image")"
    platform="$(image_platform "$image")"
    arch="$("${PYTHON:-python3}" scripts/catalog.py arch "$variant")"
    if [[ "$arch" == any ]]; then
        case "$image" in *-arm64) arch=arm64 ;; *) arch=amd64 ;; esac
    fi
    case "$arch" in
        amd64) expected=linux/amd64/ ;;
        arm64) expected=linux/arm64/v8 ;;
    esac
    if [[ "$platform" != "$expected" ]]; then
        echo "FAIL $image: platform $platform, expected $expected" >&2
        failed=1
        continue
    fi
    container="$(docker create --platform "${platform%/}" "$image")"
    docker cp --quiet "$container:/sutra-storage" "$work/sutra-storage"
    docker rm --force "$container" >/dev/null
    if [[ "$arch" == arm64 ]]; then
        if scripts/check-aarch64-detect.sh "$work/sutra-storage" "$(variant_cpu "$variant")" "$variant" >"$work/detect" 2>&1; then
            echo "ok   $image: $platform; $(sed 's/^ok   //' "$work/detect")"
        else
            cat "$work/detect" >&2
            echo "FAIL $image: its binary" >&2
            failed=1
        fi
    elif [[ "$variant" == x86-64-v4 ]] && ! grep -qw avx512bw /proc/cpuinfo; then
        echo "ok   $image: $platform; binary not run: this host has no AVX-512 (qemu emulates none)"
    else
        table="$("$work/sutra-storage" detect)"
        built="$(sed -n 's/^built as   *//p' <<<"$table")"
        if [[ "$built" == "$variant" && "$(sed -n 's/^arch   *//p' <<<"$table")" == amd64 ]]; then
            echo "ok   $image: $platform; detect runs natively: arch amd64, built as $built"
        else
            echo "FAIL $image: detect says built as '$built': $table" >&2
            failed=1
        fi
    fi
    rm -f "$work/sutra-storage"
done

index="target/image/${repository##*/}-$tag-universal.oci.tar"
if [[ -f "$index" ]]; then
    echo "== $index"
    "${PYTHON:-python3}" scripts/image_index.py --check universal "$tag" || failed=1
    # One push, pulled back by both pullers: docker for an engine on this host, skopeo for
    # one on another host (a CI job container talking to the runner's engine).
    echo "== push $index to a registry on loopback, pull each platform of one tag (docker, skopeo)"
    IMAGE_PULLERS="docker skopeo" scripts/test-image-push.sh "$index" "$tag-universal" || failed=1
fi
exit $failed
