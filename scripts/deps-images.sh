#!/usr/bin/env bash
# Installs what checking the built images needs, from Debian's archive:
#   skopeo            reads and copies the OCI image index (the documented push command)
#   docker-registry   the CNCF distribution registry, started on loopback by
#                     scripts/test-images.sh so the push and a per-platform pull run for real
# Idempotent: does nothing when both are present. Needs root (CI runs as root).
set -euo pipefail

if command -v skopeo >/dev/null && command -v docker-registry >/dev/null; then
    echo "deps-images: already installed: $(skopeo --version), $(docker-registry --version | cut -d' ' -f3)"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# The package's start script is refused in containers (no init); the tests start their own.
apt-get install -y -qq --no-install-recommends skopeo docker-registry >/dev/null
skopeo --version
docker-registry --version
