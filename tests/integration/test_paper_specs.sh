# The paper's ImageNet and COCO experiments validate and dry-run here; run for real without the data or
# weights they stop at once, naming the missing path, and write nothing.
source "$(dirname "$0")/lib.sh"
cd "$TMP"
# The quantization specs and the Mask R-CNN cases of Figs. 5/6 are generated from one description.
"$PYTHON" "$SOURCE_DIR/tools/make_paper_specs.py" --check || fail "experiments/ differ from tools/make_paper_specs.py"
for spec in fig4_classification fig8_alpha fig10_quant_classification; do
  out=$("$ENGINE" run "$SOURCE_DIR/experiments/$spec.json" --dry-run) || fail "$spec does not validate"
  contains "$out" "6 prepare"
  expect_error "does not exist" "$ENGINE" run "$SOURCE_DIR/experiments/$spec.json" --devices cpu
  grep -qE "weights/(resnet(18|34|50)|swin_[tsb]).safetensors|data/imagenet" "$TMP/err" || { cat "$TMP/err"; fail "$spec: the error does not name the path"; }
  [[ ! -e results ]] || fail "$spec wrote results although its inputs are missing"
done
for spec in fig5_detection fig6_segmentation; do
  out=$("$ENGINE" run "$SOURCE_DIR/experiments/$spec.json" --dry-run) || fail "$spec does not validate"
  contains "$out" "6 prepare"
  expect_error "does not exist" "$ENGINE" run "$SOURCE_DIR/experiments/$spec.json" --devices cpu
  grep -qE "weights/(maskrcnn_r50|mrcnn_(swin_[ts]|pvt_v2_b[123])).safetensors|data/coco" "$TMP/err" || { cat "$TMP/err"; fail "$spec: the error does not name the path"; }
  [[ ! -e results ]] || fail "$spec wrote results although its inputs are missing"
done
# Table 2 and Fig. 11: the whole paper grid; without data or weights, the first missing file is named.
out=$("$ENGINE" run "$SOURCE_DIR/experiments/table2.json" --dry-run) || fail "table2 does not validate"
contains "$out" "experiment table2: 562 runs (11 prepare, 16 fit, 535 evaluate)"
contains "$out" "quant-random-det.seed=4"
contains "$out" "det-task.discrepancy=segm"
expect_error "does not exist" "$ENGINE" run "$SOURCE_DIR/experiments/table2.json" --devices cpu
grep -qF "weights/swin_t.safetensors" "$TMP/err" || { cat "$TMP/err"; fail "table2: the error does not name the first missing file"; }
[[ ! -e results ]] || fail "table2 wrote results although its inputs are missing"
out=$("$ENGINE" run "$SOURCE_DIR/experiments/fig11_quant_detection.json" --dry-run) || fail "fig11 does not validate"
contains "$out" "340 runs (5 prepare, 10 fit, 325 evaluate)"
# Rate-accuracy (the codec): the paper-scale grid and its offline counterpart.
out=$("$ENGINE" run "$SOURCE_DIR/experiments/rate.json" --dry-run) || fail "rate does not validate"
contains "$out" "experiment rate: 447 runs (11 prepare, 16 fit, 420 evaluate)"
contains "$out" "quant-minmax"
expect_error "does not exist" "$ENGINE" run "$SOURCE_DIR/experiments/rate.json" --devices cpu
grep -qF "weights/swin_t.safetensors" "$TMP/err" || { cat "$TMP/err"; fail "rate: the error does not name the first missing file"; }
[[ ! -e results ]] || fail "rate wrote results although its inputs are missing"
out=$("$ENGINE" run "$SOURCE_DIR/experiments/rate_offline.json" --dry-run) || fail "rate_offline does not validate"
contains "$out" "experiment rate_offline: 166 runs (4 prepare, 6 fit, 156 evaluate)"
# --set points a spec at a user's files without editing it; the override is checked like the file.
expect_error "does not exist" "$ENGINE" run "$SOURCE_DIR/experiments/table2.json" --devices cpu \
  --set components.cls-task.params.root=/nonexistent/imagenet --set /cases/classifier/0/cls-backbone/params/weights=/nonexistent/w.safetensors
grep -qF "/nonexistent/w.safetensors" "$TMP/err" || { cat "$TMP/err"; fail "--set did not reach the case"; }
expect_error "is not" "$ENGINE" run "$SOURCE_DIR/experiments/table2.json" --dry-run --set components.det-task.params.batch_size=0
grep -qF "(set by --set components.det-task.params.batch_size)" "$TMP/err" || { cat "$TMP/err"; fail "the override's error does not say it came from --set"; }
out=$("$ENGINE" run "$SOURCE_DIR/experiments/quickstart_detection.json" --dry-run)
contains "$out" "1 prepare, 1 fit"
out=$("$ENGINE" run "$SOURCE_DIR/experiments/quickstart.json" --dry-run)
contains "$out" "1 prepare, 2 fit"
echo "paper specs: ok"
