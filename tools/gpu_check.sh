#!/usr/bin/env bash
# The engine on a machine with an NVIDIA GPU, in one run (what CI cannot check: it has no GPU).
#
#   tools/gpu_check.sh [--skip-tests] [--skip-bench]
#
#   1. builds the engine against this machine's torch (PYTHON, default: .venv/bin/python, else
#      python3), warnings as errors, with build-gpu-deps/ (tools/pack_gpu_deps.sh, carried from a
#      Debian machine) for the C++ libraries a bare machine lacks;
#   2. runs the test suite with those binaries (its tests run on the CPU; those needing Chromium,
#      Slurm, LaTeX or pycocotools, which the machine may lack, are left out and named);
#   3. parity on CUDA: the paper's plugins on cuda:0 (TF32 off) against the libraries' references
#      computed on the CPU, within 1e-4 (tests/plugin_units/test_parity.cpp);
#   4. the quickstart's numbers on CUDA against the CPU's (a short classification experiment run
#      on both devices: clean top-1, FeatJND and Gaussian NRMSE and top-1);
#   5. throughput, ResNet-18/50 and Swin-T at 224, batch 256, bf16 and fp32: the engine's frozen
#      inference and FeatJND step (featjnd-bench-model) next to PyTorch eager and torch.compile
#      (tools/bench/torch_peer.py) on the same GPU.
# Everything it prints is also written to $OUT/gpu_check.log (or build-gpu/gpu_check.log). Without
# a CUDA device it says so in one line and exits 1. GPU_CHECK_DEVICE=cpu GPU_CHECK_BATCH=8 rehearses
# the whole script on the CPU (the device sections then compare the CPU with itself).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
skip_tests=0 skip_bench=0
for a in "$@"; do
  case $a in
    --skip-tests) skip_tests=1 ;;
    --skip-bench) skip_bench=1 ;;
    *) echo "gpu_check: unknown option $a (expected --skip-tests, --skip-bench)" >&2; exit 2 ;;
  esac
done
if [[ -z ${PYTHON:-} ]]; then
  if [[ -x .venv/bin/python ]]; then PYTHON=$root/.venv/bin/python; else PYTHON=$(command -v python3); fi
fi
device=${GPU_CHECK_DEVICE:-cuda:0}
batch=${GPU_CHECK_BATCH:-256}
if [[ $device == cpu ]]; then
  gpu="rehearsal on the CPU (GPU_CHECK_DEVICE=cpu)"
elif ! gpu=$("$PYTHON" -c "
import torch
assert torch.cuda.is_available(), f'torch {torch.__version__} (CUDA {torch.version.cuda}) sees no CUDA device'
print(f'{torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}')" 2>&1); then
  echo "gpu_check: no GPU to check: ${gpu##*$'\n'}" >&2
  exit 1
fi
mkdir -p build-gpu
log=${OUT:-$root/build-gpu}/gpu_check.log
exec > >(tee "$log") 2>&1
section() { printf '\n== %s (%s)\n' "$1" "$(date +%T)"; }
echo "gpu_check: $gpu; $(nproc) cores; $(uname -sr); $(c++ --version | head -1)"

section "build"
deps=()
if [[ -d build-gpu-deps/usr ]]; then
  export PKG_CONFIG_PATH=$root/build-gpu-deps/usr/lib/x86_64-linux-gnu/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
  deps=("$root/build-gpu-deps/usr")
fi
torch_prefix=$("$PYTHON" -c "import torch.utils; print(torch.utils.cmake_prefix_path)")
prefix=$(IFS=';'; echo "${deps[*]:+${deps[*]};}$torch_prefix")
t0=$SECONDS
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DFEATJND_WERROR=ON -DFEATJND_PYTHON="$PYTHON" \
  -DCMAKE_PREFIX_PATH="$prefix" >build-gpu/configure.log 2>&1 || { tail -30 build-gpu/configure.log; exit 1; }
grep "featjnd: LibTorch" build-gpu/configure.log
cmake --build build-gpu -j"$(nproc)" >build-gpu/build.log 2>&1 || { grep -E "error|FAILED" build-gpu/build.log | head -20; exit 1; }
echo "built in $((SECONDS - t0)) s"

status=0
if ((!skip_tests)); then
  section "test suite (CPU tests, these binaries)"
  missing=()
  command -v chromium >/dev/null || missing+=(html_report)
  command -v slurmctld >/dev/null || missing+=(slurm)
  command -v pdflatex >/dev/null || missing+=(classification_pipeline)
  "$PYTHON" -c "import pycocotools, faster_coco_eval" 2>/dev/null || missing+=(coco_oracle)
  exclude="parity|fuzz${missing[*]:+|$(IFS='|'; echo "${missing[*]}")}"
  ((${#missing[@]})) && echo "left out (this machine lacks what they need): ${missing[*]}"
  ctest --test-dir build-gpu -j8 -E "$exclude" --output-on-failure >build-gpu/ctest.log 2>&1 || status=1
  grep -E "tests passed|tests failed|\*\*\*|Total Test time" build-gpu/ctest.log
fi

section "parity on $device against the CPU references"
only=resnet18,resnet50,swin_t,swin_s,swin_b,pvt_v2_b1,pvt_v2_b2,pvt_v2_b3,maskrcnn,swin_t_fpn,pvt_v2_b1_fpn,roi_align
if "$PYTHON" -c "import captum" 2>/dev/null; then only+=,ig; else echo "captum is not importable: Integrated Gradients left out"; fi
CUDA_VISIBLE_DEVICES= "$PYTHON" tools/make_parity_fixtures.py build-gpu/parity --only "$only" | tail -1
if FEATJND_PARITY_DEVICE=$device FEATJND_PARITY_DIR=$root/build-gpu/parity build-gpu/tests/featjnd-plugin-tests \
     --test-suite=parity >build-gpu/parity.log 2>&1; then
  echo "parity on $device: $(grep -c '^parity ' build-gpu/parity.log) comparisons within tolerance"
else
  status=1
  grep -E "ERROR|values:|logged|what :=|tensor :=" build-gpu/parity.log | head -40
fi
grep '^parity ' build-gpu/parity.log | sort -t: -k2 -g | tail -3 | sed 's/^/  largest: /'

section "the quickstart's numbers: $device against the CPU"
"$PYTHON" - experiments/quickstart.json build-gpu/qs.json <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))  # the quickstart on a reduced budget, every stage type
spec["name"] = "gpu-check-quickstart"
spec["components"]["task"]["params"].update({"train_samples": 6000, "eval_samples": 2000, "epochs": 1})
spec["components"]["featjnd"]["params"].update({"fit_samples": 2000})
spec["sweep"] = {"featjnd": {"alpha": [0.5, 2]}, "gaussian": {"sigma": [1.6, 25.6]},
                 "quant-featjnd": {"sigma_q": [1.6]}, "quant-random": {"sigma_q": [1.6]}, "quant-uniform": {"sigma_q": [1.6]}}
json.dump(spec, open(sys.argv[2], "w"))
PY
for dev in cpu "$device"; do
  db=build-gpu/qs-${dev//:/}.db
  rm -f "$db"
  t0=$SECONDS
  build-gpu/featjnd-engine run build-gpu/qs.json --devices "$dev" --db "$db" >"${db%.db}.log" 2>&1 ||
    { tail -20 "${db%.db}.log"; status=1; }
  echo "-- $dev: $((SECONDS - t0)) s"
  build-gpu/featjnd-engine query "$db" "SELECT r.stage, m.key, ROUND(AVG(m.value), 4) AS mean, COUNT(*) AS n
    FROM metrics m JOIN runs r ON r.id = m.run_id WHERE m.key IN ('top1', 'clean.top1', 'nrmse', 'train.loss')
    GROUP BY r.stage, m.key ORDER BY r.stage, m.key" || status=1
done

if ((!skip_bench)); then
  section "throughput at 224, batch $batch (img/s; engine: mean of its iterations; PyTorch: best / median)"
  for model in resnet18 resnet50 swin_t; do
    case $model in swin_t) plugin=swin ;; *) plugin=resnet ;; esac
    for dtype in fp32 bf16; do
      flag=(); [[ $dtype == bf16 ]] && flag=(--bf16)
      build-gpu/featjnd-bench-model --backbone "$plugin" --backbone-params "{\"arch\":\"$model\"}" --device "$device" \
        --batch "$batch" --iters 20 --warmup 5 --sweep-points 4 --sweep-batches 2 "${flag[@]}" | sed -n '1,4p' || status=1
      "$PYTHON" tools/bench/torch_peer.py --model "$model" --device "$device" --batch "$batch" --dtype "$dtype" --mode both \
        --iters 20 --warmup 5 || status=1
    done
  done
fi
section "done: status $status"
exit "$status"
