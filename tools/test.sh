#!/usr/bin/env bash
# Installs what is needed, builds and runs the whole test suite through CTest,
# then the allocator's unit tests again under AddressSanitizer + UBSan
# (TENSORTIER_SKIP_ASAN=1 skips that second pass).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/tools/install-deps.sh"
"$ROOT/tools/build.sh"
(cd "${BUILD_DIR:-$ROOT/build}" && ctest --output-on-failure -j "$(nproc)" --timeout 900)

if [ "${TENSORTIER_SKIP_ASAN:-0}" != 1 ]; then
  echo "== unit tests under ASan/UBSan"
  # tt_asan_suite (tests/CMakeLists.txt): the binaries whose tests carry the "asan" label.
  BUILD_DIR="$ROOT/build-asan" BUILD_TARGETS=tt_asan_suite \
    "$ROOT/tools/build.sh" -DTENSORTIER_ENABLE_ASAN=ON -DTENSORTIER_BUILD_BENCH=OFF
  # The write barrier needs its SIGSEGV handler: ASan must let it install one.
  export ASAN_OPTIONS=handle_segv=1:allow_user_segv_handler=1:detect_leaks=1
  export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
  (cd "$ROOT/build-asan" && ctest --output-on-failure -j "$(nproc)" --timeout 900 -L asan)
fi
