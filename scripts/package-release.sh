#!/usr/bin/env bash
# Release tarballs of the binaries, taken out of the images the build scripts made, so a
# released binary is byte for byte the one its image runs (static, built with the
# variant's target-cpu).
#
# usage:
#   scripts/package-release.sh storage VARIANT  dist/sutra-storage-<version>-<variant>-<arch>-linux.tar.gz
#                                               from the image `make image VARIANT=...` built
#   scripts/package-release.sh grid             dist/sutra-grid-<version>-<arch>-linux.tar.gz
#                                               from the image scripts/build-operator-image.sh built
#   scripts/package-release.sh sums             dist/SHA256SUMS over every tarball in dist/
#   scripts/package-release.sh notes            dist/RELEASE-NOTES.md: how to install this release
# env: PYTHON, a Python with PyYAML (default .venv/bin/python, from `make deps-python`);
#      DIST (default dist)
set -euo pipefail
cd "$(dirname "$0")/.."

python="${PYTHON:-.venv/bin/python}"
dist="${DIST:-dist}"
eval "$("$python" scripts/release_names.py)"

# x86_64 or aarch64, from the image's platform.
image_arch() {
    case "$(docker image inspect --format '{{.Architecture}}' "$1")" in
        amd64) echo x86_64 ;;
        arm64) echo aarch64 ;;
        *) echo "error: $1 has an architecture no release names" >&2; return 1 ;;
    esac
}

# package IMAGE BINARY NAME: dist/NAME-<arch>-linux.tar.gz holding NAME-<arch>-linux/BINARY
# and the README.
package() {
    local image="$1" binary="$2" name="$3"
    if ! docker image inspect "$image" >/dev/null 2>&1; then
        echo "error: image $image not found; build it first (make image VARIANT=<variant>, scripts/build-operator-image.sh)" >&2
        exit 1
    fi
    local folder
    folder="$name-$(image_arch "$image")-linux"
    local staging="target/release-staging/$folder"
    rm -rf "$staging"
    mkdir -p "$staging" "$dist"
    local container
    container="$(docker create "$image")"
    docker cp "$container:/$binary" "$staging/$binary"
    docker rm "$container" >/dev/null
    cp README.md "$staging/"
    tar -C "$(dirname "$staging")" --owner=0 --group=0 --numeric-owner -czf "$dist/$folder.tar.gz" "$folder"
    echo "$dist/$folder.tar.gz"
}

release_notes() {
    cat <<EOF
## Install

\`\`\`sh
helm install sutra-grid $CHART_REPOSITORY/sutra-grid --version $VERSION \\
  --namespace sutra-system --create-namespace
kubectl apply -f config/samples/storagegrid.yaml    # from a checkout of v$VERSION
\`\`\`

Images: \`$OPERATOR_REPOSITORY:$VERSION\` (amd64, arm64) and
\`$STORAGE_REPOSITORY:$VERSION-<variant>\`, one per variant of config/variants.yaml
(\`universal\` for amd64 and arm64 under one tag).

Binaries: \`sutra-grid-$VERSION-<arch>-linux.tar.gz\` and
\`sutra-storage-$VERSION-<variant>-<arch>-linux.tar.gz\` below, static Linux executables for
x86_64 and aarch64. Check them with \`sha256sum --ignore-missing -c SHA256SUMS\`, and their
build provenance with \`gh attestation verify <file> --repo sutra-ai/sutra-grid\`.
EOF
}

case "${1:-}" in
    storage)
        variant="${2:?usage: scripts/package-release.sh storage VARIANT}"
        package "$STORAGE_REPOSITORY:$VERSION-$variant" sutra-storage "sutra-storage-$VERSION-$variant"
        ;;
    grid)
        package "$OPERATOR_REPOSITORY:$VERSION" sutra-grid "sutra-grid-$VERSION"
        ;;
    sums)
        shopt -s nullglob
        tarballs=("$dist"/*.tar.gz)
        if ((${#tarballs[@]} == 0)); then
            echo "error: no tarball in $dist/" >&2
            exit 1
        fi
        (cd "$dist" && sha256sum -- *.tar.gz >SHA256SUMS)
        cat "$dist/SHA256SUMS"
        ;;
    notes)
        mkdir -p "$dist"
        release_notes >"$dist/RELEASE-NOTES.md"
        cat "$dist/RELEASE-NOTES.md"
        ;;
    *)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
        exit 2
        ;;
esac
