#!/usr/bin/env bash
# Installs the build into a scratch prefix, then builds a C program against
# the installed libtensortier.so twice — with find_package
# (tensortier::tensortier_shared) and with a plain `cc ... -ltensortier` — and
# runs both.
set -euo pipefail
BUILD_DIR="$1"
SRC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cmake --install "$BUILD_DIR" --prefix "$WORK/prefix" >/dev/null
cmake -S "$SRC_DIR" -B "$WORK/build" -DCMAKE_PREFIX_PATH="$WORK/prefix" >/dev/null
cmake --build "$WORK/build" >/dev/null
"$WORK/build/c_consumer"
LIBDIR=$(dirname "$(find "$WORK/prefix" -name 'libtensortier.so' | head -n 1)")
cc -std=c99 -pedantic-errors "$SRC_DIR/main.c" -o "$WORK/c_consumer_cc" -I"$WORK/prefix/include" \
   -L"$LIBDIR" -ltensortier -Wl,-rpath,"$LIBDIR"
"$WORK/c_consumer_cc"
