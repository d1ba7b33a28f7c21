#!/usr/bin/env bash
# Pushes an OCI image index archive (scripts/image_index.py) with the command README.md
# documents, `skopeo copy --all`, to a distribution registry started here on loopback, then
# checks that the one tag resolves per platform:
#   - the registry serves an image index with linux/amd64 and linux/arm64/v8;
#   - `docker pull --platform linux/<arch>` of that tag gets the local per-platform image
#     (same image ID: the config blob is Docker's own) with that os/architecture/variant.
#     Where the Docker engine runs on another host than this script (a CI job container
#     talking to the runner's engine), it cannot reach this loopback registry; skopeo then
#     pulls the platform (`--override-arch`) into the engine instead, and says so;
#   - the pulled image's binary runs `sutra-storage detect` (arm64 under qemu) and says it is
#     that architecture and built as the variant.
#
# usage: scripts/test-image-push.sh ARCHIVE REFERENCE    e.g. target/image/sutra-storage-0.1.0-universal.oci.tar 0.1.0-universal
# env: IMAGE_REPOSITORY (default ghcr.io/sutra-ai/sutra-storage); IMAGE_PULLERS, the pullers
#      to pull each platform with after the one push, `docker` and/or `skopeo` (default:
#      docker where the engine runs on this host, else skopeo); needs skopeo and
#      docker-registry (scripts/deps-images.sh, `make deps-images`)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/arch.sh
source scripts/arch.sh

archive="$1" reference="$2"
repository="${IMAGE_REPOSITORY:-ghcr.io/sutra-ai/sutra-storage}"
variant="${reference#*-}"
if [[ -z "${IMAGE_PULLERS:-}" ]]; then
    IMAGE_PULLERS=skopeo
    [[ "$(docker info --format '{{.Name}}')" != "$(hostname)" ]] || IMAGE_PULLERS=docker
fi
read -r -a pullers <<<"$IMAGE_PULLERS"
for puller in "${pullers[@]}"; do
    [[ "$puller" == docker || "$puller" == skopeo ]] || {
        echo "error: IMAGE_PULLERS: '$puller': expected docker or skopeo" >&2
        exit 2
    }
done
work="$(mktemp -d)"
registry_pid=""
pulled=()
cleanup() {
    [[ -z "$registry_pid" ]] || kill "$registry_pid" 2>/dev/null || true
    [[ ${#pulled[@]} -eq 0 ]] || docker image rm "${pulled[@]}" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
cat >"$work/config.yml" <<CONFIG
version: 0.1
log: {level: warn}
storage: {filesystem: {rootdirectory: $work/blobs}}
http: {addr: "127.0.0.1:$port"}
CONFIG
docker-registry serve "$work/config.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null || { cat "$work/registry.log" >&2; echo "FAIL the registry did not start" >&2; exit 1; }

# Docker treats registries on 127.0.0.0/8 as plain HTTP; skopeo is told so.
remote="127.0.0.1:$port/${repository##*/}:$reference"
skopeo copy --quiet --all --dest-tls-verify=false "oci-archive:$archive" "docker://$remote"
echo "ok   skopeo copy --all oci-archive:$archive docker://$remote"

# `pull PULLER ARCH`: the tag for linux/ARCH into the local engine, as a puller on that
# platform: `docker pull`, or skopeo, which pulls into an engine on another host that
# cannot reach this loopback registry itself.
pull() {
    case "$1" in
        docker) docker pull --quiet --platform "linux/$2" "$remote" >/dev/null ;;
        skopeo)
            skopeo copy --quiet --src-tls-verify=false --override-os linux --override-arch "$2" \
                "docker://$remote" "docker-daemon:$remote"
            ;;
    esac
}
failed=0
platforms="$(skopeo inspect --raw --tls-verify=false "docker://$remote" | python3 -c '
import json, sys
index = json.load(sys.stdin)
assert index["mediaType"] == "application/vnd.oci.image.index.v1+json", index["mediaType"]
print(" ".join(sorted("/".join(v for v in (m["platform"]["os"], m["platform"]["architecture"], m["platform"].get("variant")) if v) for m in index["manifests"])))')"
if [[ "$platforms" == "linux/amd64 linux/arm64/v8" ]]; then
    echo "ok   $remote is an image index: $platforms"
else
    echo "FAIL $remote: platforms '$platforms', expected 'linux/amd64 linux/arm64/v8'" >&2
    failed=1
fi

# `check_pull PULLER ARCH`: pulls linux/ARCH with PULLER; the image must be the local one
# of that platform, and its binary must detect that architecture and the variant.
check_pull() {
    local puller="$1" arch="$2" how got local_id variant_of_arch expected container detect table
    case "$puller" in
        docker) how="docker pull --platform" ;;
        skopeo) how="skopeo copy --override-arch (as for an engine on another host)" ;;
    esac
    pull "$puller" "$arch"
    pulled=("$remote")
    got="$(image_platform "$remote") $(docker image inspect --format '{{.Id}}' "$remote")"
    local_id="$(docker image inspect --format '{{.Id}}' "$repository:$reference-$arch")"
    variant_of_arch=""
    [[ $arch != arm64 ]] || variant_of_arch=v8
    expected="linux/$arch/$variant_of_arch $local_id"
    if [[ "$got" != "$expected" ]]; then
        echo "FAIL $how linux/$arch $remote: got $got, expected $expected" >&2
        failed=1
        docker image rm "$remote" >/dev/null
        pulled=()
        return
    fi
    container="$(docker create --platform "linux/$arch" "$remote")"
    docker cp --quiet "$container:/sutra-storage" "$work/sutra-storage"
    docker rm --force "$container" >/dev/null
    if [[ $arch == arm64 ]]; then
        detect="$(scripts/check-aarch64-detect.sh "$work/sutra-storage" "$(variant_cpu "$variant")" "$variant")" || failed=1
        detect="${detect#ok   }"
    else
        table="$("$work/sutra-storage" detect)"
        detect="detect runs natively: arch $(sed -n 's/^arch   *//p' <<<"$table"), built as $(sed -n 's/^built as   *//p' <<<"$table")"
        [[ "$detect" == *"arch amd64, built as $variant" ]] || { echo "FAIL $detect" >&2; failed=1; }
    fi
    echo "ok   $how linux/$arch: ${got%% *}, image ${local_id:0:19} (the local $arch image); $detect"
    docker image rm "$remote" >/dev/null
    pulled=()
    rm -f "$work/sutra-storage"
}
for puller in "${pullers[@]}"; do
    for arch in amd64 arm64; do
        check_pull "$puller" "$arch"
    done
done
exit $failed
