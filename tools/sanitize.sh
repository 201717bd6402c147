#!/usr/bin/env bash
# The whole test suite (unit, runtime, plugin, parity and integration tests) against a build of the
# engine, every plugin and the tests with ASan+UBSan (GCC, -O1; LibTorch itself is not
# instrumented). Too slow for CI on two cores (15 minutes to build there, and the LibTorch-heavy
# tests run ten times slower: every tensor allocation goes through ASan's allocator), so it is run
# by hand and before releases: `bash tools/sanitize.sh [ctest arguments]`.
# Leak detection is off: LibTorch and OpenMP keep allocations until exit by design.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g0" \
  -DFEATJND_SANITIZE=ON -DFEATJND_WERROR=ON >/dev/null
cmake --build build-asan -j"$(nproc)"
export ASAN_OPTIONS=detect_leaks=0:halt_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir build-asan --output-on-failure -j"$(nproc)" "$@"
