#!/usr/bin/env bash
# Installs the Debian 12 packages tensortier needs. Idempotent and
# non-interactive: does nothing when everything is already installed.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config git
  libhwloc-dev hwloc          # topology discovery (+ lstopo for humans)
  libpmem2-dev                # file / devdax PMem backend
  libmemkind-dev              # KMEM-DAX backend
  libnuma-dev numactl         # NUMA binding of DRAM
  libcli11-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev   # tests
  libbenchmark-dev libjemalloc-dev  # benchmarks and their baselines
  libdnnl-dev                 # oneDNN: the 3D convolution runtime
  python3-torch python3-numpy # the LD_PRELOAD library tests (tests/preload)
  libnifti2-dev               # NIfTI images in and out (docs/nifti.md)
  python3-nibabel             # cross-checks the NIfTI files we write (tests/cli_nifti_test.cpp)
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
