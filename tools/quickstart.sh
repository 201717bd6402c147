#!/usr/bin/env bash
# The README's main command: installs the dependencies (Debian bookworm, root), builds, runs the
# embedded default experiment (experiments/quickstart.json: FeatJND on Fashion-MNIST), prints its
# tables and writes its figures. Running it again resumes; finished runs are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install_deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
start=$(date +%s)
build/featjnd-engine run experiments/quickstart.json
build/featjnd-engine report results/quickstart.db
# Debian's python3 (python3-matplotlib), whatever python3 comes first on PATH.
/usr/bin/python3 tools/plot_figures.py results/quickstart.db results/quickstart-figures
echo "quickstart: $(( $(date +%s) - start )) s from the first run to the figures"
