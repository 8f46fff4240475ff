# Sourced by the install-consumer tests: installs the build in $1 into a
# scratch prefix ($WORK/prefix, removed at exit), builds the CMake project in
# $2 against it with find_package, and runs its executable $3.
install_and_build_consumer() {
  local build_dir="$1" src_dir="$2" exe="$3"
  WORK="$(mktemp -d)"
  trap 'rm -rf "$WORK"' EXIT
  cmake --install "$build_dir" --prefix "$WORK/prefix" >/dev/null
  cmake -S "$src_dir" -B "$WORK/build" -DCMAKE_PREFIX_PATH="$WORK/prefix" >/dev/null
  cmake --build "$WORK/build" >/dev/null
  "$WORK/build/$exe"
}
