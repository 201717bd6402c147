#!/usr/bin/env bash
# Frozen-backbone throughput, one machine, one run: for ResNet-50 and Swin-T at 224x224 (random
# weights, fp32, batch 32 by default) the engine's own C++ modules (featjnd-bench-model with the
# resnet/swin plugins), the same torchvision model packaged by tools/export_model.py and run by the
# packaged plugin as TorchScript and as an AOTInductor package (runtime aoti), and PyTorch eager and
# torch.compile in Python (tools/bench/torch_peer.py). Each line: img/s at the fastest / median call.
#
#   bash tools/bench/backbone_bench.sh [BATCH] [ITERS]      (from the repository root, after a build)
#
# The packages have 10 classes, as the engine's head on the default task (Fashion-MNIST); PyTorch's
# models keep 1000 (a 2048 x 1000 matrix beside ResNet-50's 4 GFLOPs per image).
# Run it on a quiet machine: nothing else may use the CPUs while it measures.
set -euo pipefail
cd "$(dirname "$0")/../.."
BATCH=${1:-32} ITERS=${2:-10}
PY=${FEATJND_PYTHON:-.venv/bin/python}
PKG=${BACKBONE_BENCH_DIR:-/tmp/featjnd-backbone-bench}
mkdir -p "$PKG"
# name  engine plugin  its params  torchvision model  split module
for case in "resnet50 resnet {\"arch\":\"resnet50\"} resnet50 layer4" \
            "swin_t swin {\"arch\":\"swin_t\"} swin_t permute"; do
  read -r name plugin params model split <<<"$case"
  echo "== $name, batch $BATCH, 224x224, fp32, $(nproc) CPUs"
  line() { grep -E "frozen backbone\+head inference|FeatJND training step|sweep over" | sed "s/^/  $1: /"; }
  build/featjnd-bench-model --backbone "$plugin" --backbone-params "$params" --batch "$BATCH" --iters "$ITERS" | line "engine modules"
  if [[ ! -e "$PKG/$name/package.json" ]]; then
    "$PY" tools/export_model.py --torchvision "$model" --split "$split" --num-classes 10 --out "$PKG/$name" >/dev/null
  fi
  build/featjnd-bench-model --backbone packaged --backbone-params "{\"package\":\"$PKG/$name\"}" --batch "$BATCH" \
    --iters "$ITERS" | line "TorchScript package"
  if [[ -e "$PKG/$name/trunk-cpu.pt2" ]] || "$PY" tools/export_model.py --torchvision "$model" --split "$split" --num-classes 10 \
       --aoti --out "$PKG/$name-aoti" >"$PKG/$name-aoti.log" 2>&1; then
    build/featjnd-bench-model --backbone packaged --backbone-params "{\"package\":\"$PKG/$name-aoti\",\"runtime\":\"aoti\"}" \
      --batch "$BATCH" --iters "$ITERS" | line "AOTInductor package"
  else
    echo "  AOTInductor package: export failed: $(grep -v '^\s*$' "$PKG/$name-aoti.log" | tail -1 | cut -c1-200)"
  fi
  "$PY" tools/bench/torch_peer.py --model "$model" --batch "$BATCH" --iters "$ITERS" | tail -n +2 | sed 's/^ */  PyTorch /'
done
