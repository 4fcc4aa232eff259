#!/usr/bin/env bash
# `cmake --install` of this build into a temporary prefix, then a separate project that finds it
# with find_package(adallava), builds a C program against it and runs it on a model.
#   tests/capi/find_package_test.sh BUILD_DIR MODEL_DIR
set -euo pipefail
build=$1 model=$2
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
test -f "$tmp/prefix/include/adallava.h"
test -f "$tmp/prefix/lib/cmake/adallava/adallava-config.cmake" || test -f "$tmp/prefix/lib64/cmake/adallava/adallava-config.cmake"
flags=()  # a sanitized library needs a sanitized program (the runtime must come first)
if grep -q '^ADALLAVA_SANITIZE:BOOL=ON' "$build/CMakeCache.txt"; then
  flags=(-DCMAKE_C_FLAGS=-fsanitize=address,undefined -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address,undefined)
fi
cmake -S "$here/consumer" -B "$tmp/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$tmp/prefix" "${flags[@]}" >/dev/null
cmake --build "$tmp/consumer" >/dev/null
out=$("$tmp/consumer/consumer" "$model")
echo "$out"
case $out in *tokens:*) ;; *) echo "unexpected output: $out" >&2; exit 1 ;; esac
