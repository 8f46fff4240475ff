#!/usr/bin/env bash
# The main job on the embedded default: installs what is needed, builds, shows
# the tiers, spills past a small DRAM budget into an emulated PMem file in
# $TMPDIR (removed at exit), and trains a small 3D U-Net for a few steps on
# synthetic brain-tumour volumes (< 1 min). Set TENSORTIER_* to run on real PMem.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/tools/install-deps.sh"
"$ROOT/tools/build.sh"
TT="${BUILD_DIR:-$ROOT/build}/tools/tensortier"
echo "== tensortier topo"
"$TT" topo
echo "== tensortier demo"
"$TT" demo --bytes 256M --block 16M --dram-limit 64M
echo "== tensortier train"
"$TT" train --size 32 --levels 3 --base-filters 8 --steps 20 --eval-cases 2
