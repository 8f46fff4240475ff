#!/usr/bin/env bash
# The main job on the embedded default: installs what is needed, builds, shows
# the tiers and spills past a small DRAM budget into an emulated PMem file in
# $TMPDIR (removed at exit). Set TENSORTIER_* to run on real PMem.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/tools/install-deps.sh"
"$ROOT/tools/build.sh"
TT="${BUILD_DIR:-$ROOT/build}/tools/tensortier"
echo "== tensortier topo"
"$TT" topo
echo "== tensortier demo"
"$TT" demo --bytes 256M --block 16M --dram-limit 64M
