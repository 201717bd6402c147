#!/usr/bin/env bash
# The README's main command: installs the dependencies (Debian bookworm, root), builds, runs the
# embedded default experiment (experiments/quickstart.json: FeatJND on Fashion-MNIST), prints its
# tables, writes its figures and one HTML page. Running it again resumes; finished runs are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install_deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
start=$(date +%s)
build/featjnd-engine run experiments/quickstart.json
build/featjnd-engine report results/quickstart.db
build/featjnd-engine figures results/quickstart.db --out results/quickstart-figures
build/featjnd-engine report results/quickstart.db --html results/quickstart.html >/dev/null
echo "quickstart: $(( $(date +%s) - start )) s from the first run to the figures"
echo "the whole experiment on one page: $(pwd)/results/quickstart.html"
