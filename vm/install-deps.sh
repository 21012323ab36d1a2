#!/usr/bin/env bash
# Installs the Debian packages that vm/ and test-matrix/ need on the host, as root.
# Kernels are not among them: vm/lib/cache.mjs downloads those with apt-get download
# into the kernel cache and never installs them.
#   bash vm/install-deps.sh          install (runs apt-get update first)
#   source vm/install-deps.sh; echo "${VM_APT_PACKAGES[@]}"   only read the list
# qemu-system-x86: the qemu provider. busybox-static: the initramfs's only binary, and
# poweroff in the guest. cpio: packs the initramfs. xz-utils and zstd: unpack vmlinuz and
# compressed modules. kmod: depmod, for modules.dep of the unpacked kernels. apt and
# dpkg (apt-get download, dpkg-deb -x) are part of every Debian system.
VM_APT_PACKAGES=(
  qemu-system-x86
  busybox-static
  cpio
  xz-utils
  zstd
  kmod
)

install_vm_deps() {
  DEBIAN_FRONTEND=noninteractive apt-get -q update
  DEBIAN_FRONTEND=noninteractive apt-get -q install -y --no-install-recommends "${VM_APT_PACKAGES[@]}"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  set -euo pipefail
  [[ $(id -u) -eq 0 ]] || { echo "vm/install-deps.sh: must run as root (apt-get install needs it)" >&2; exit 1; }
  install_vm_deps
fi
