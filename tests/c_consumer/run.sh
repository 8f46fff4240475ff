#!/usr/bin/env bash
# Installs the build into a scratch prefix, then builds a C program against
# the installed libtensortier.so twice — with find_package
# (tensortier::tensortier_shared) and with a plain `cc ... -ltensortier` — and
# runs both.
set -euo pipefail
SRC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$SRC_DIR/../consumer_common.sh"
install_and_build_consumer "$1" "$SRC_DIR" c_consumer
LIBDIR=$(dirname "$(find "$WORK/prefix" -name 'libtensortier.so' | head -n 1)")
cc -std=c99 -pedantic-errors "$SRC_DIR/main.c" -o "$WORK/c_consumer_cc" -I"$WORK/prefix/include" \
   -L"$LIBDIR" -ltensortier -Wl,-rpath,"$LIBDIR"
"$WORK/c_consumer_cc"
