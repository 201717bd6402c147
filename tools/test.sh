#!/usr/bin/env bash
# Installs the dependencies (Debian bookworm, root), builds with warnings as errors and runs the
# whole test suite. This is the README's test command and what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install_deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DFEATJND_WERROR=ON
cmake --build build -j2
ctest --test-dir build --output-on-failure -j2
# The unit tests under ASan+UBSan, then the readers of untrusted bytes under libFuzzer with the
# same sanitizers, for a fixed time each.
bash tools/fuzz.sh 15
