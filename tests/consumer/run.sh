#!/usr/bin/env bash
# Installs the build into a scratch prefix, then builds the consumer project
# with find_package and a one-line program with pkg-config, and runs both.
set -euo pipefail
BUILD_DIR="$1"
SRC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cmake --install "$BUILD_DIR" --prefix "$WORK/prefix" >/dev/null
cmake -S "$SRC_DIR" -B "$WORK/build" -DCMAKE_PREFIX_PATH="$WORK/prefix" >/dev/null
cmake --build "$WORK/build" >/dev/null
"$WORK/build/consumer"
export PKG_CONFIG_PATH="$WORK/prefix/lib/pkgconfig:$WORK/prefix/lib/x86_64-linux-gnu/pkgconfig"
c++ "$SRC_DIR/main.cpp" -o "$WORK/consumer_pc" $(pkg-config --cflags --libs tensortier)
"$WORK/consumer_pc"
