#!/usr/bin/env bash
# Installs what is needed, builds and runs the whole test suite through CTest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/tools/install-deps.sh"
"$ROOT/tools/build.sh"
cd "${BUILD_DIR:-$ROOT/build}"
ctest --output-on-failure -j "$(nproc)" --timeout 600
