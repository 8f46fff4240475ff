#!/usr/bin/env bash
# The main job on the embedded default: installs what is needed, builds, shows
# the tiers, spills past a small DRAM budget into an emulated PMem file in
# $TMPDIR (removed at exit), and trains a small 3D U-Net for a few steps on
# synthetic brain-tumour volumes under a DRAM budget with the schedule-aware
# tier plan, infers with the trained weights and prints the planner's figures
# for the published BraTS configuration (< 1 min after the build). Set
# TENSORTIER_* to run on real PMem.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/tools/install-deps.sh"
"$ROOT/tools/build.sh"
TT="${BUILD_DIR:-$ROOT/build}/tools/tensortier"
echo "== tensortier topo"
"$TT" topo
echo "== tensortier demo"
"$TT" demo --bytes 256M --block 16M --dram-limit 64M
echo "== tensortier plan (the published BraTS training configuration, with 256 GiB of PMem)"
"$TT" plan --size 240x240x144 --batch 16 --levels 5 --base-filters 32 --pmem 256G
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "== tensortier train (DRAM budget about half the footprint; the tier plan moves the rest to PMem)"
"$TT" train --size 32 --levels 3 --base-filters 8 --steps 20 --eval-cases 2 --dram-limit 10M \
  --save "$work/unet.ckpt"
echo "== tensortier infer (the trained weights, buffer-reuse plan)"
"$TT" infer --size 32 --levels 3 --base-filters 8 --weights "$work/unet.ckpt"
