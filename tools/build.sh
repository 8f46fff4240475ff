#!/usr/bin/env bash
# Configures and builds tensortier into ${BUILD_DIR:-build}. Extra arguments go
# to cmake's configure step (e.g. -DTENSORTIER_ENABLE_ASAN=ON); BUILD_TARGETS
# (space separated) limits what is built.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" "$@" >/dev/null
targets=()
for t in ${BUILD_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$BUILD_DIR" -j "$(nproc)" "${targets[@]}"
