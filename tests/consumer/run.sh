#!/usr/bin/env bash
# Installs the build into a scratch prefix, then builds the consumer project
# with find_package and a one-line program with pkg-config, and runs both.
set -euo pipefail
SRC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$SRC_DIR/../consumer_common.sh"
install_and_build_consumer "$1" "$SRC_DIR" consumer
export PKG_CONFIG_PATH="$WORK/prefix/lib/pkgconfig:$WORK/prefix/lib/x86_64-linux-gnu/pkgconfig"
c++ "$SRC_DIR/main.cpp" -o "$WORK/consumer_pc" $(pkg-config --cflags --libs tensortier)
"$WORK/consumer_pc"
