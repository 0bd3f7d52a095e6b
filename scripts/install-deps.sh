#!/usr/bin/env bash
# Installs the Debian packages jsd's tests and benchmarks use: the reference
# daemon and the real clients (qemu-img, qemu-io, nbdinfo, nbdsh, fio,
# nbdkit, fuse3, openssl, certtool), and Maven. Does nothing when all are there.
set -euo pipefail
packages=(maven socat strace qemu-utils qemu-system-common libnbd-bin python3-libnbd nbdkit fio fuse3 openssl gnutls-bin)
# the vhost-user-blk guest harness (../shared/guest): QEMU, a guest kernel, its userland, a compiler for its tool
packages+=(qemu-system-x86 linux-image-cloud-amd64 busybox-static gcc libc6-dev python3)
# the VDUSE guest harness (vduse-guest): the vdpa tool, and what vduse-kernel builds its kernel with
packages+=(iproute2 linux-source-6.1 make flex bison bc perl xz-utils libelf-dev libssl-dev)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
. "$(dirname "$0")/find-java.sh"
echo "using $JAVA_HOME"
