#!/usr/bin/env bash
# Installs what building and testing the arm64 half on an amd64 Debian bookworm host needs,
# all from Debian's archive:
#   rustc-web, cargo-web           Rust at /usr/bin/rustc and /usr/bin/cargo, which ship the
#   libstd-rust-web-dev:arm64      aarch64-unknown-linux-gnu standard library (rustup's does not)
#   gcc-aarch64-linux-gnu,         the linker and the static glibc for aarch64
#   libc6-dev-arm64-cross
#   qemu-user-static               from bookworm-backports: bookworm's own qemu lacks the
#                                  Neoverse-V CPU models the SVE variants are tested on
# Idempotent: does nothing when everything is present; adds the arm64 architecture and the
# backports source only once. Needs root (CI runs as root).
set -euo pipefail

packages=(rustc-web cargo-web libstd-rust-web-dev:arm64 gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
backports_packages=(qemu-user-static)
backports_source=/etc/apt/sources.list.d/sutra-bookworm-backports.sources

installed() {
    local state
    state="$(dpkg-query --show --showformat='${db:Status-Status}' "$1" 2>/dev/null || true)"
    [[ "$state" == installed ]]
}

# qemu from bookworm itself (7.2) would satisfy "installed" but lacks neoverse-v1.
qemu_has_neoverse_v1() {
    local models
    # `-cpu help` lists the models and exits 1.
    models="$(qemu-aarch64-static -cpu help 2>/dev/null || true)"
    grep -qw neoverse-v1 <<<"$models"
}

missing=()
for package in "${packages[@]}"; do
    installed "$package" || missing+=("$package")
done
if [[ ${#missing[@]} -eq 0 ]] && qemu_has_neoverse_v1; then
    echo "deps-aarch64: already installed: $(/usr/bin/rustc --version); $(qemu-aarch64-static --version | sed -n 1p)"
    exit 0
fi

if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    dpkg --add-architecture arm64
fi
if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    cat >"$backports_source" <<'SOURCES'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
apt-get install -y -qq --no-install-recommends -t bookworm-backports "${backports_packages[@]}" >/dev/null

/usr/bin/rustc --version
qemu-aarch64-static --version | sed -n 1p
qemu_has_neoverse_v1 || { echo "error: qemu-aarch64-static has no neoverse-v1 CPU model" >&2; exit 1; }
