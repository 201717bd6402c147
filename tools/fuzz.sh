#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, Debian's clang-14 and libfuzzer-14-dev, ASan+UBSan) —
# the feature-bitstream decoder, the COCO readers and evaluator, the spec parser, the safetensors
# and IDX header checks — and runs each for
# SECONDS seconds (default 60) from its seed corpus; before them, the unit tests and the front end
# (featjnd-engine without LibTorch) built with the same sanitizers, and the integration tests of
# the front end's commands run against it (needs the main build in build/: toy plugins,
# featjnd-engine-torch). Exit status: a target's
# failure (a crash, a sanitizer report, a hang) fails the script; its reproducer is left in build-fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
# The main build's Python (the project's environment), for the seeds and the integration tests.
PYTHON=${PYTHON:-$(sed -n 's/^FEATJND_PYTHON:FILEPATH=//p' build/CMakeCache.txt 2>/dev/null)}
export PYTHON=${PYTHON:-python3}
CC=clang-14 CXX=clang++-14 cmake -S tests/fuzz -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-fuzz -j"$(nproc)"
# The unit tests once under ASan+UBSan (they load the main build's toy plugins).
(cd build-fuzz && ./unit_tests_sanitized 2>&1 | tail -3)
# The integration tests of the LibTorch-free commands (query, status, export, merge, report,
# coco-eval and the errors of each) against the sanitized front end; it hands run to the main
# build's featjnd-engine-torch.
for t in light_cli shard_merge db_hardening coco_eval; do
  echo "integration.$t with the sanitized featjnd-engine"
  rc=0
  ENGINE=$PWD/build-fuzz/light/featjnd-engine BUILD_DIR=$PWD/build SOURCE_DIR=$PWD TEST_PLUGINS=$PWD/build/tests/plugins \
    bash "tests/integration/test_$t.sh" >build-fuzz/integration_$t.log 2>&1 || rc=$?
  if [[ $rc -ne 0 && $rc -ne 77 ]]; then
    tail -30 "build-fuzz/integration_$t.log"
    echo "integration.$t failed under ASan+UBSan"
    exit 1
  fi
  tail -1 "build-fuzz/integration_$t.log"
done
mkdir -p build-fuzz/corpus/codec build-fuzz/corpus/coco build-fuzz/corpus/spec build-fuzz/corpus/safetensors \
  build-fuzz/corpus/idx
build-fuzz/make_codec_seeds build-fuzz/corpus/codec
# Seeds from the test inputs: the experiment specs, and COCO files written the way each fuzzer
# reads them (first byte: bit 0 results, bit 1 segm).
cp experiments/*.json tests/specs/*.json build-fuzz/corpus/spec/
"$PYTHON" - build-fuzz/corpus/coco <<'PY'
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
# Small well-formed safetensors files (two dtypes, metadata, an empty tensor) and IDX files (plain
# and gzip, one and three dimensions, and Fashion-MNIST's test labels as Debian ships them).
"$PYTHON" - build-fuzz/corpus <<'PY'
import gzip, json, os, struct, sys
root = sys.argv[1]
def safetensors(name, tensors, metadata=None):
    header, data = {}, b""
    for key, (dtype, shape, raw) in tensors.items():
        header[key] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if metadata is not None:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    text += b" " * (-(8 + len(text)) % 8)
    with open(os.path.join(root, "safetensors", name), "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)
safetensors("two", {"w": ("F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4)), "b": ("I64", [1], struct.pack("<q", 7))},
            {"format": "pt", "num_classes": "10"})
safetensors("empty", {"e": ("BF16", [0, 3], b""), "u": ("U8", [3], b"abc")})
def idx(dims, shape, payload):
    return bytes([0, 0, 8, dims]) + b"".join(struct.pack(">I", d) for d in shape) + payload
for name, blob in (("labels", idx(1, [5], bytes(range(5)))), ("images", idx(3, [2, 2, 3], bytes(12)))):
    open(os.path.join(root, "idx", name), "wb").write(blob)
    open(os.path.join(root, "idx", name + ".gz"), "wb").write(gzip.compress(blob))
PY
cp /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz build-fuzz/corpus/idx/
# One target for SECONDS from its corpus, its output in build-fuzz/<name>.log. A fixed seed: CI
# explores the same inputs every time, so a finding replays.
fuzz() {
  (cd build-fuzz && "./$1" -seed=1 -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      "corpus/$2" >"$1.log" 2>&1)
}
# The targets are single-threaded: as many at a time as there are cores, each checked.
targets=(fuzz_codec_decode:codec fuzz_coco:coco fuzz_spec:spec fuzz_safetensors:safetensors fuzz_idx:idx)
failed=0
for ((i = 0; i < ${#targets[@]}; i += $(nproc))); do
  pids=() names=()
  for target in "${targets[@]:i:$(nproc)}"; do
    echo "fuzzing ${target%%:*} for ${seconds} s"
    fuzz "${target%%:*}" "${target##*:}" &
    pids+=($!) names+=("${target%%:*}")
  done
  for j in "${!pids[@]}"; do
    if wait "${pids[j]}"; then
      grep -E "^Done|exec_per_sec" "build-fuzz/${names[j]}.log" | sed "s/^/${names[j]}: /"
    else
      tail -30 "build-fuzz/${names[j]}.log"
      echo "${names[j]} failed; its reproducer is in build-fuzz/"
      failed=1
    fi
  done
done
exit "$failed"
