#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, Debian's clang-14 and libfuzzer-14-dev, ASan+UBSan) —
# the feature-bitstream decoder, the COCO readers and evaluator, the spec parser — and runs each for
# SECONDS seconds (default 60) from its seed corpus; before them, the unit tests built with the same
# sanitizers (needs the main build in build/ for the toy plugins). Exit status: a target's
# failure (a crash, a sanitizer report, a hang) fails the script; its reproducer is left in build-fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
CC=clang-14 CXX=clang++-14 cmake -S tests/fuzz -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-fuzz -j"$(nproc)"
# The unit tests once under ASan+UBSan (they load the main build's toy plugins).
(cd build-fuzz && ./unit_tests_sanitized 2>&1 | tail -3)
mkdir -p build-fuzz/corpus/codec build-fuzz/corpus/coco build-fuzz/corpus/spec
build-fuzz/make_codec_seeds build-fuzz/corpus/codec
# Seeds from the test inputs: the experiment specs, and COCO files written the way each fuzzer
# reads them (first byte: bit 0 results, bit 1 segm).
cp experiments/*.json tests/specs/*.json build-fuzz/corpus/spec/
/usr/bin/python3 - build-fuzz/corpus/coco <<'PY'
import json, os, sys
gt = {"images": [{"id": 1, "height": 40, "width": 50}], "categories": [{"id": 1}],
      "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 3, 10, 12], "area": 120, "iscrowd": 0,
                       "segmentation": [[2, 3, 12, 3, 12, 15, 2, 15]]},
                      {"id": 2, "image_id": 1, "category_id": 1, "bbox": [0, 0, 50, 40], "area": 2000, "iscrowd": 1,
                       "segmentation": {"size": [40, 50], "counts": [0, 2000]}}]}
dt = [{"image_id": 1, "category_id": 1, "bbox": [2, 3, 10, 12], "score": 0.9},
      {"image_id": 2, "category_id": 2, "score": 0.5, "segmentation": {"size": [20, 20], "counts": "0`0"}}]
for name, first, doc in (("gt_bbox", 0, gt), ("gt_segm", 2, gt), ("dt_bbox", 1, dt), ("dt_segm", 3, dt)):
    with open(os.path.join(sys.argv[1], name), "wb") as f:
        f.write(bytes([first]) + json.dumps(doc).encode())
PY
for target in fuzz_codec_decode:codec fuzz_coco:coco fuzz_spec:spec; do
  name=${target%%:*} corpus=${target##*:}
  echo "fuzzing $name for ${seconds} s"
  # A fixed seed: CI explores the same inputs every time, so a finding replays.
  (cd build-fuzz && "./$name" -seed=1 -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      "corpus/$corpus" 2>&1 | tail -12)
done
