#!/usr/bin/env bash
# The offline detection experiment (experiments/quickstart_detection.json): generates the
# Fashion-MNIST scenes, trains a small Mask R-CNN, fits FeatJND over the five FPN levels, runs
# the alpha sweep with its controls and Gaussian noise, inspects four scenes (tolerance maps on
# FPN level 0, attributions), prints the bbox and segm tables, writes the figures and the HTML page. Assumes tools/quickstart.sh (or tools/test.sh) installed and built once.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
start=$(date +%s)
build/featjnd-engine run experiments/quickstart_detection.json
for metric in bbox.AP segm.AP; do
  build/featjnd-engine report results/quickstart_detection.db --metric "$metric"
done
build/featjnd-engine figures results/quickstart_detection.db --out results/quickstart_detection-figures
build/featjnd-engine report results/quickstart_detection.db --html results/quickstart_detection.html >/dev/null
echo "quickstart_detection: $(( $(date +%s) - start )) s from the first run to the figures"
echo "the whole experiment on one page: $(pwd)/results/quickstart_detection.html"
