# Sourced by the build and test scripts: architectures, the aarch64 cross toolchain, qemu.

# `host_arch`: this machine's architecture as Docker and Kubernetes name it.
host_arch() {
    case "$(uname -m)" in
        x86_64) echo amd64 ;;
        aarch64 | arm64) echo arm64 ;;
        *) uname -m ;;
    esac
}

# `use_aarch64_toolchain`: exports how this project cross-builds for aarch64 on an amd64
# host with Debian's toolchain (installed by scripts/deps-aarch64.sh, `make deps-aarch64`).
#
# rustup's toolchain comes first on PATH and has no aarch64 standard library, so the cargo
# and rustc of Debian's rustc-web are named by path ($AARCH64_CARGO). Binaries link
# statically: in this kind of sandbox a dynamically linked aarch64 program hangs under
# qemu-user as soon as it starts a thread, and the images are FROM scratch anyway. Builds
# pass an explicit --target, which keeps these flags away from build scripts and
# proc-macros: those stay host programs.
use_aarch64_toolchain() {
    export AARCH64_TRIPLE=aarch64-unknown-linux-gnu
    export AARCH64_CARGO=/usr/bin/cargo
    export RUSTC=/usr/bin/rustc
    export RUSTDOC=/usr/bin/rustdoc
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
    export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C target-feature=+crt-static"
}

# `qemu_runner CPU`: the command that runs an aarch64 program on the emulated CPU model.
qemu_runner() {
    echo "qemu-aarch64-static -cpu $1"
}

# `variant_cpu VARIANT`: a qemu CPU model with every feature the arm64 VARIANT requires
# (qemu has no Neoverse-V2; Neoverse-N2 has Graviton4's SVE2 and i8mm).
variant_cpu() {
    case "$1" in
        graviton2) echo neoverse-n1 ;;
        graviton3) echo neoverse-v1 ;;
        graviton4) echo neoverse-n2 ;;
        pi5) echo cortex-a76 ;;
        *) echo cortex-a72 ;;
    esac
}

# `image_platform IMAGE`: `os/architecture/variant` of a local image (the variant may be empty;
# an image pulled from a registry has no Variant key at all, which --format cannot test).
image_platform() {
    docker image inspect --format '{{json .}}' "$1" |
        python3 -c 'import json, sys; i = json.load(sys.stdin); print("/".join([i["Os"], i["Architecture"], i.get("Variant") or ""]))'
}
