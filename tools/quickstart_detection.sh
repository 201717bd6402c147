#!/usr/bin/env bash
# The offline detection experiment (experiments/quickstart_detection.json): generates the
# Fashion-MNIST scenes, trains a small Mask R-CNN, fits FeatJND over the five FPN levels, runs
# the alpha sweep with its controls and Gaussian noise, prints the bbox and segm tables and
# writes the figures. Assumes tools/quickstart.sh (or tools/test.sh) installed and built once.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
start=$(date +%s)
build/featjnd-engine run experiments/quickstart_detection.json
for metric in bbox.AP segm.AP; do
  build/featjnd-engine report results/quickstart_detection.db --metric "$metric"
done
for metric in bbox.AP segm.AP; do
  /usr/bin/python3 tools/plot_figures.py results/quickstart_detection.db "results/quickstart_detection-figures/$metric" --metric "$metric"
done
echo "quickstart_detection: $(( $(date +%s) - start )) s from the first run to the figures"
