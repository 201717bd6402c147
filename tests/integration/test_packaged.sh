# Bring your own model. (1) Parity: six timm/torchvision models (five families and Swin's NHWC
# layout), packaged by tools/export_model.py, against eager PyTorch, and a packaged detector
# (torchvision's Mask R-CNN on ResNet-18 + FPN) whose levels feed the engine's heads, against
# torchvision's detections (test_packaged.cpp); the detector then runs through the detection task.
# (2) A user's own model (examples/byom/small_net.py) trained here on Fashion-MNIST, exported from
# its checkpoint and swept through the engine: prepare -> fit -> an alpha sweep and a quantization
# sweep, its clean accuracy the one PyTorch measures on the same images.
source "$(dirname "$0")/lib.sh"
cd "$TMP"
"$PYTHON" "$SOURCE_DIR/tools/make_package_fixtures.py" "$TMP/pkgs" >"$TMP/fixtures.log" 2>&1 ||
  { cat "$TMP/fixtures.log"; fail "cannot package the reference models with $PYTHON"; }
FEATJND_PACKAGE_DIR="$TMP/pkgs" "$BUILD_DIR/tests/featjnd-plugin-tests" --test-suite=packaged >"$TMP/parity" 2>&1 ||
  { cat "$TMP/parity"; fail "a packaged model differs from eager PyTorch"; }
grep -Eq "test cases: +3 \\| +3 passed" "$TMP/parity" || { cat "$TMP/parity"; fail "not every packaged case ran"; }
# convnext, efficientnet, regnet, mobilenet, swin: one level + logits; vit: patches, prefix, logits;
# the detector: five levels, proposals, boxes, scores, masks.
[[ $(grep -c "^packaged " "$TMP/parity") -eq 22 ]] || { cat "$TMP/parity"; fail "expected 22 comparisons"; }
grep "^packaged " "$TMP/parity" | sed "s/^/packaged parity: /"   # each comparison, the largest relative difference

# --- a user's model, from its checkpoint to a sweep ---------------------------------------------
NET="$SOURCE_DIR/examples/byom/small_net.py"
"$PYTHON" - "$NET" "$TMP/small_net.pth" <<'PY' || fail "training the example model failed"
import importlib.util, sys
spec = importlib.util.spec_from_file_location("small_net", sys.argv[1])
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
m.train(sys.argv[2], epochs=1, samples=10000)
PY
export_model() { "$PYTHON" "$SOURCE_DIR/tools/export_model.py" --module "$NET:build" --checkpoint "$TMP/small_net.pth" \
  --input-size 1,28,28 "$@"; }
# A split inside a residual block has no head that takes the split alone; an unknown module neither.
expect_error "the split is crossed" export_model --split stage1.conv1 --out "$TMP/bad"
[[ $(wc -l <"$TMP/err") -eq 1 ]] || { cat "$TMP/err"; fail "a crossed split takes more than one line"; }
expect_error "names no module of the model; its top-level modules: fc, stage1, stage2, stem" \
  export_model --split stage9 --out "$TMP/bad"
[[ ! -e "$TMP/bad/package.json" ]] || fail "a refused export left a package behind"
export_model --split stage1 --out "$TMP/small_net" >"$TMP/export.log" 2>&1 || { cat "$TMP/export.log"; fail "export failed"; }
grep -q "stage1 32x14x14; 10 classes" "$TMP/export.log" || { cat "$TMP/export.log"; fail "unexpected export summary"; }

cat >"$TMP/byom.json" <<JSON
{
  "name": "byom-test", "seed": 0, "devices": ["cpu"],
  "components": {
    "backbone": {"plugin": "packaged", "params": {"package": "$TMP/small_net"}},
    "task": {"plugin": "classification", "params": {"dataset": "fashion-mnist", "batch_size": 250}},
    "featjnd": {"plugin": "featjnd", "params": {"epochs": 1, "fit_samples": 2000, "width": 16, "lambda": 0.1}},
    "quant-featjnd": {"plugin": "quant-featjnd"},
    "quant-uniform": {"plugin": "quant-uniform"}
  },
  "stages": [
    {"name": "prepare", "type": "prepare", "backbone": "backbone", "task": "task"},
    {"name": "fit-featjnd", "type": "fit", "after": "prepare", "distortion": "featjnd"},
    {"name": "eval-featjnd", "type": "evaluate", "after": "fit-featjnd", "distortion": "featjnd"},
    {"name": "eval-quant-featjnd", "type": "evaluate", "after": "fit-featjnd", "distortion": "quant-featjnd"},
    {"name": "eval-quant-uniform", "type": "evaluate", "after": "fit-featjnd", "distortion": "quant-uniform"}
  ],
  "sweep": {"featjnd": {"alpha": [0.5, 4]}, "quant-featjnd": {"sigma_q": [0.8, 3.2]},
            "quant-uniform": {"sigma_q": [0.8, 3.2]}}
}
JSON
DB="$TMP/byom.db"
"$ENGINE" run "$TMP/byom.json" --db "$DB" >"$TMP/run.log" 2>&1 || { cat "$TMP/run.log"; fail "the sweep failed"; }
[[ $(sql "$DB" "SELECT COUNT(*) FROM runs WHERE status='finished'") == 8 ]] || { "$ENGINE" status "$DB"; fail "expected 8 finished runs"; }
# The engine's clean accuracy on the 10,000 test images is PyTorch's, up to two images that a
# different convolution algorithm may tip (batch 250 here, 500 there).
clean=$(sql "$DB" "SELECT value FROM metrics m JOIN runs r ON r.id=m.run_id WHERE r.stage='eval-featjnd' AND m.key='clean.top1' LIMIT 1")
"$PYTHON" - "$NET" "$TMP/small_net.pth" "$clean" <<'PY' || fail "the engine's clean accuracy is not PyTorch's"
import importlib.util, sys, torch
spec = importlib.util.spec_from_file_location("small_net", sys.argv[1])
m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
net = m.build(); net.load_state_dict(torch.load(sys.argv[2])); net.eval()
x, y = m.fashion_mnist("/usr/share/datasets/fashion-mnist", "test")
with torch.no_grad():
    hits = sum(int((net(x[i:i + 500]).argmax(1) == y[i:i + 500]).sum()) for i in range(0, len(y), 500))
ours = float(sys.argv[3])
print(f"clean top-1: engine {ours:.4f}, PyTorch {hits / len(y):.4f}")
assert abs(ours * len(y) - hits) <= 2, (ours, hits)
assert hits / len(y) > 0.6, "the example model did not learn (chance is 0.1)"
PY
# More alpha, more distortion, less accuracy; a coarser quantizer, a larger error.
q() { sql "$DB" "SELECT m.value FROM metrics m JOIN params p ON p.run_id=m.run_id WHERE p.key='$1' AND p.value=$2 AND m.key='$3' AND m.run_id IN (SELECT id FROM runs WHERE stage='$4')"; }
"$PYTHON" - "$(q featjnd.alpha 0.5 nrmse eval-featjnd)" "$(q featjnd.alpha 4 nrmse eval-featjnd)" \
  "$(q featjnd.alpha 0.5 top1 eval-featjnd)" "$(q featjnd.alpha 4 top1 eval-featjnd)" "$clean" <<'PY' || fail "the alpha sweep is not monotone"
import sys
n05, n4, t05, t4, clean = map(float, sys.argv[1:])
assert 0 < n05 < n4, (n05, n4)
assert t4 <= t05 <= clean + 0.01, (t4, t05, clean)
PY
for s in eval-quant-featjnd eval-quant-uniform; do
  "$PYTHON" -c "import sys; a, b = map(float, sys.argv[1:]); assert 0 < a < b, (a, b)" \
    "$(q "${s#eval-}.sigma_q" 0.8 quant.rmse "$s")" "$(q "${s#eval-}.sigma_q" 3.2 quant.rmse "$s")" ||
    fail "$s: a coarser step did not raise the quantization error"
done

# --- the frozen trunk compiled ahead of time (AOTInductor) -----------------------------------------
# The same model exported with --aoti and run by the packaged plugin's aoti runtime: the clean
# accuracy and a quantizer's error equal the TorchScript runtime's (compiled kernels may round
# differently: within 2 images and 1e-3 relative).
export_model --split stage1 --aoti --out "$TMP/small_net_aoti" >"$TMP/aoti.log" 2>&1 || { cat "$TMP/aoti.log"; fail "the AOTInductor export failed"; }
[[ -s "$TMP/small_net_aoti/trunk-cpu.pt2" ]] || fail "the AOTInductor export wrote no trunk-cpu.pt2"
"$PYTHON" - "$TMP/byom.json" "$TMP/small_net_aoti" >"$TMP/aoti.json" <<'PY'
import json, sys
spec = json.load(open(sys.argv[1]))
spec["name"] = "byom-aoti"
spec["components"]["backbone"]["params"] = {"package": sys.argv[2], "runtime": "aoti"}
spec["stages"] = [s for s in spec["stages"] if s["name"] in ("prepare", "eval-quant-uniform")]
spec["stages"][1]["after"] = "prepare"
spec["sweep"] = {"quant-uniform": {"sigma_q": [0.8]}}
for unused in ("featjnd", "quant-featjnd"):
    del spec["components"][unused]
json.dump(spec, sys.stdout)
PY
"$ENGINE" run "$TMP/aoti.json" --db "$TMP/aoti.db" >"$TMP/aoti-run.log" 2>&1 || { cat "$TMP/aoti-run.log"; fail "the aoti runtime failed"; }
a_top1=$(sql "$TMP/aoti.db" "SELECT value FROM metrics m JOIN runs r ON r.id=m.run_id WHERE r.stage='eval-quant-uniform' AND m.key='clean.top1'")
a_rmse=$(sql "$TMP/aoti.db" "SELECT value FROM metrics m JOIN runs r ON r.id=m.run_id WHERE r.stage='eval-quant-uniform' AND m.key='quant.rmse'")
"$PYTHON" - "$clean" "$a_top1" "$(q quant-uniform.sigma_q 0.8 quant.rmse eval-quant-uniform)" "$a_rmse" <<'PY' ||
import sys
t_ts, t_aoti, r_ts, r_aoti = map(float, sys.argv[1:])
print(f"aoti runtime: clean top-1 {t_aoti:.4f} (TorchScript {t_ts:.4f}), quant.rmse {r_aoti:.6g} (TorchScript {r_ts:.6g})")
assert abs(t_ts - t_aoti) * 10000 <= 2, (t_ts, t_aoti)
assert abs(r_ts - r_aoti) <= 1e-3 * r_ts, (r_ts, r_aoti)
PY
  fail "the AOTInductor trunk differs from the TorchScript one"

# --- the fitted estimator outside the engine ------------------------------------------------------
fit=$(sql "$DB" "SELECT id FROM runs WHERE stage='fit-featjnd'")
prep=$(sql "$DB" "SELECT id FROM runs WHERE stage='prepare'")
expect_error "is of type prepare; an estimator is fitted by a run of type fit" "$ENGINE" export-estimator "$DB" "$prep" --out "$TMP/est"
[[ ! -e "$TMP/est" && ! -e "$TMP/est.partial" ]] || fail "a refused export left a folder behind"
"$ENGINE" export-estimator "$DB" "$fit" --out "$TMP/est" >"$TMP/est.log" 2>&1 || { cat "$TMP/est.log"; fail "export-estimator failed"; }
expect_error "exists; name a new folder" "$ENGINE" export-estimator "$DB" "$fit" --out "$TMP/est"
# PyTorch alone (no engine code, its own safetensors reader) loads the package; on the features the
# engine computed it gives the engine's J, and the README's function turns them into steps.
"$PYTHON" - "$TMP/est" "$SOURCE_DIR/README.md" "$fit" <<'PY' || fail "the exported estimator does not reproduce the engine's J"
import json, re, struct, sys, torch
pkg, readme, fit = sys.argv[1], open(sys.argv[2]).read(), int(sys.argv[3])
blob = open(f"{pkg}/sample.safetensors", "rb").read()
n = struct.unpack("<Q", blob[:8])[0]
header = json.loads(blob[8:8 + n]); data = blob[8 + n:]
t = {k: torch.frombuffer(bytearray(data[e["data_offsets"][0]:e["data_offsets"][1]]), dtype=torch.float32).reshape(e["shape"])
     for k, e in header.items() if k != "__metadata__"}
meta = json.load(open(f"{pkg}/estimator.json"))
assert meta["fitted"]["run_id"] == fit and meta["fitted"]["backbone"]["plugin"] == "packaged", meta["fitted"]
assert meta["alpha_evaluated"] == [0.5, 4.0], meta["alpha_evaluated"]
assert meta["check"]["max_relative_difference"] <= 1e-5, meta["check"]
snippet = re.search(r"<!-- estimator-snippet -->\s*```python\n(.*?)```", readme, re.S).group(1)
scope = {}
exec(snippet, scope)
feats = [t["feature.0"]]
J, steps = scope["featjnd_steps"](feats, package=pkg, sigma_q=0.8)
d = ((J[0] - t["J.0"]).abs().max() / t["J.0"].abs().max()).item()
print(f"estimator.pt: J within {d:.2e} of the engine's on {feats[0].shape[0]} images")
assert d <= 1e-5, d
# The steps meet the budget exactly: mean over tokens of step^2 / 12 = sigma_q^2, per image.
budget = (steps[0].pow(2).mean((1, 2, 3)) / 12).sqrt()
assert torch.allclose(budget, torch.full_like(budget, 0.8), rtol=1e-5), budget
PY
echo "packaged: parity, a user's model through prepare, fit, alpha and quantization sweeps, the estimator exported"

# --- a packaged detector through the detection task --------------------------------------------
# prepare loads the heads (and checks the trunk's tensors) from the package's maskrcnn.safetensors
# instead of training; FeatJND fits on the trunk's five levels (D_det through the engine's heads);
# quant-featjnd codes those levels. Random weights: the AP says nothing, the path is what is tested.
PK="$TMP/pkgs/maskrcnn_r18"
cat >"$TMP/det.json" <<JSON
{
  "name": "byom-detector", "seed": 0, "devices": ["cpu"],
  "components": {
    "backbone": {"plugin": "packaged", "params": {"package": "$PK", "weights": "$PK/maskrcnn.safetensors"}},
    "task": {"plugin": "detection", "params": {"dataset": "fashion-mnist-scenes", "channels": 3, "train_samples": 8,
                                               "eval_samples": 8, "batch_size": 4, "detections_per_img": 20}},
    "featjnd": {"plugin": "featjnd", "params": {"epochs": 1, "fit_samples": 8, "width": 8, "blocks": 1}},
    "quant-featjnd": {"plugin": "quant-featjnd", "params": {"codec": true, "sigma_q": 0.5}}
  },
  "stages": [
    {"name": "prepare", "type": "prepare", "backbone": "backbone", "task": "task"},
    {"name": "fit", "type": "fit", "after": "prepare", "distortion": "featjnd"},
    {"name": "eval", "type": "evaluate", "after": "fit", "distortion": "quant-featjnd"}
  ]
}
JSON
"$ENGINE" run "$TMP/det.json" --db "$TMP/det.db" >"$TMP/det-run.log" 2>&1 || { cat "$TMP/det-run.log"; fail "the packaged detector's sweep failed"; }
[[ $(sql "$TMP/det.db" "SELECT COUNT(*) FROM runs WHERE status='finished'") == 3 ]] || fail "expected 3 finished runs"
[[ $(sql "$TMP/det.db" "SELECT COUNT(*) FROM metrics m JOIN runs r ON r.id=m.run_id WHERE r.stage='prepare' AND m.key LIKE 'train.%'") == 0 ]] ||
  fail "prepare trained the packaged detector instead of loading its heads"
for key in bbox.AP segm.AP codec.bytes fit.loss; do
  [[ $(sql "$TMP/det.db" "SELECT COUNT(*) FROM metrics WHERE key='$key'") -ge 1 ]] || fail "no $key recorded"
done
echo "packaged detector: prepare (heads loaded), fit and a coded evaluation finished"
