#!/usr/bin/env bash
# mmdetection as the oracle of the engine's Mask R-CNN with Swin and PVTv2 backbones (what CI cannot
# afford: mmcv has no wheel for torch 2.11, and building its compiled ops takes about 17 minutes on
# two cores).
#
#   tools/mmdet_check.sh            (after the main build in build/)
#
# 1. an environment with mmdetection 3.3.0, mmengine 0.10.7 and mmcv 2.1.0 built from source with
#    its CPU ops, beside the pinned torch (MMDET_PYTHON names an existing one; else it is made in
#    build-mmdet/venv once, and reused);
# 2. tools/mmdet_parity.py builds Mask R-CNN Swin-T from mmdetection's own config and the same
#    Mask R-CNN with its PVTv2-b1 backbone, random weights, saves their checkpoints, exports them with
#    tools/export_weights.py --mmdet and records mmdetection's outputs on an 800x1216 input;
# 3. the engine's plugins load those exports and compare (tests/plugin_units/test_parity.cpp, suite
#    mmdet): backbone stages, FPN levels, proposals, detections, masks.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=$root/build-mmdet
mkdir -p "$out"
if [[ -z ${MMDET_PYTHON:-} ]]; then
  venv=$out/venv
  if ! "$venv/bin/python" -c "import mmdet, mmcv.ops" 2>/dev/null; then
    echo "mmdet_check: making $venv (mmcv 2.1.0 builds from source: about 17 minutes on two cores)"
    python3 -m venv "$venv"
    torch_pin=$(grep -E '^(torch|torchvision|numpy|timm)==' tools/python/requirements.txt)
    # shellcheck disable=SC2086
    "$venv/bin/pip" install -q $torch_pin "setuptools<70" wheel ninja mmengine==0.10.7 "opencv-python-headless==4.10.0.84"
    MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=$(nproc) "$venv/bin/pip" install -q --no-build-isolation mmcv==2.1.0
    "$venv/bin/pip" install -q mmdet==3.3.0
  fi
  MMDET_PYTHON=$venv/bin/python
fi
"$MMDET_PYTHON" tools/mmdet_parity.py "$out/ref" 2>&1 | grep -E "proposals,|Error|error" || true
[[ -s $out/ref/mrcnn_swin_t_reference.safetensors && -s $out/ref/mrcnn_pvt_v2_b1_reference.safetensors ]] ||
  { echo "mmdet_check: tools/mmdet_parity.py wrote no references" >&2; exit 1; }
FEATJND_MMDET_DIR=$out/ref FEATJND_PARITY_DIR=$out/ref build/tests/featjnd-plugin-tests --test-suite=mmdet >"$out/check.log" 2>&1 ||
  { cat "$out/check.log"; echo "mmdet_check: the engine differs from mmdetection" >&2; exit 1; }
grep "^parity" "$out/check.log"
echo "mmdet_check: ok, against $(cat "$out/ref/mmdet_versions.json")"
